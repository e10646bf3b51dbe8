// Real redis-server processes for tests: one node, or a local Redis Cluster; loopback, free ports, no persistence.
import { spawn, type ChildProcess } from 'node:child_process'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { Redis } from 'ioredis'
import { inject } from 'vitest'
import { freePort } from '../../dev/free-port.ts'

const HOST = '127.0.0.1'
const CLUSTER_SLOTS = 16384
// Start-up and cluster convergence wait on events or state, never on a fixed sleep; these only bound the wait.
const START_TIMEOUT_MS = 20_000
const CLUSTER_READY_TIMEOUT_MS = 30_000
const STOP_TIMEOUT_MS = 10_000

export interface RedisServer {
  url: string
  host: string
  port: number
  /** Stops the process and removes its directory; `restart()` can still bring it back on the same port. */
  stop: () => Promise<void>
  /**
   * Stops it if running and starts it again on the same port: no data, but a cluster node keeps its id and slots.
   * `whileDown` runs after the process exited and before the new one starts.
   */
  restart: (whileDown?: () => Promise<void>) => Promise<void>
  /** Freezes the process (SIGSTOP): connections still open, nothing is answered, as with a hung server. */
  freeze: () => void
  /** Lets a frozen process go on (SIGCONT). */
  thaw: () => void
}

export interface RedisCluster {
  nodes: Array<{ host: string, port: number }>
  servers: RedisServer[]
  /** How long the processes took to start and the cluster to agree on every slot. */
  startedInMs: number
  stop: () => Promise<void>
}

export interface RedisServerOptions {
  /** Defaults to the path the global setup provided (test/setup/provision.ts). */
  redisServerPath?: string
  /** Extra `redis-server` arguments, e.g. `['--cluster-enabled', 'yes']`. */
  args?: readonly string[]
}

/** Starts `redis-server` on a free loopback port with no persistence; every test file stops what it started. */
export async function startRedisServer (options: RedisServerOptions = {}): Promise<RedisServer> {
  const path = options.redisServerPath ?? inject('redisServerPath')
  const extraArgs = options.args ?? []
  let port = 0
  let dir: string | undefined
  let child: ChildProcess | undefined

  const launch = async (): Promise<void> => {
    dir ??= await mkdtemp(join(tmpdir(), 'obo-relay-redis-'))
    child = await spawnRedis(path, port, dir, extraArgs)
  }
  const kill = async (): Promise<void> => {
    if (child !== undefined) await terminate(child)
    child = undefined
  }
  const stop = async (): Promise<void> => {
    await kill()
    if (dir !== undefined) await rm(dir, { recursive: true, force: true })
    dir = undefined
  }

  // Another process may take a free port between our probe and redis binding it: try another one.
  for (let attempt = 1; ; attempt++) {
    port = await freePort(HOST)
    try {
      await launch()
      break
    } catch (error) {
      if (attempt >= 5 || !(error instanceof PortInUseError)) {
        await stop()
        throw error
      }
    }
  }
  return {
    url: `redis://${HOST}:${port}`,
    host: HOST,
    port,
    stop,
    restart: async (whileDown) => {
      await kill()
      try {
        await whileDown?.()
      } finally {
        await launch()
      }
    },
    freeze: () => { child?.kill('SIGSTOP') },
    thaw: () => { child?.kill('SIGCONT') },
  }
}

/**
 * A local Redis Cluster of `size` masters (no replicas): slots split evenly by CLUSTER ADDSLOTSRANGE, nodes
 * joined by CLUSTER MEET, ready when every node reports the whole cluster and every slot.
 */
export async function startRedisCluster (size = 3, options: Omit<RedisServerOptions, 'args'> = {}): Promise<RedisCluster> {
  const started = performance.now()
  const servers: RedisServer[] = []
  const stop = async () => { await Promise.all(servers.map(async (server) => await server.stop())) }
  try {
    const args = ['--cluster-enabled', 'yes', '--cluster-config-file', 'nodes.conf', '--cluster-node-timeout', '5000']
    const starts = await Promise.allSettled(Array.from({ length: size }, async () => await startRedisServer({ ...options, args })))
    for (const start of starts) if (start.status === 'fulfilled') servers.push(start.value)
    const failed = starts.find((start) => start.status === 'rejected')
    if (failed !== undefined) throw failed.reason
    const admins = servers.map((server) => new Redis({ host: HOST, port: server.port, lazyConnect: true, maxRetriesPerRequest: 1 }))
    try {
      for (const [i, admin] of admins.entries()) {
        await admin.connect()
        const first = Math.floor((i * CLUSTER_SLOTS) / size)
        const last = Math.floor(((i + 1) * CLUSTER_SLOTS) / size) - 1
        await admin.call('CLUSTER', 'ADDSLOTSRANGE', String(first), String(last))
        // Distinct epochs, as `redis-cli --cluster create` sets, so no node waits on an epoch collision.
        await admin.call('CLUSTER', 'SET-CONFIG-EPOCH', String(i + 1))
      }
      for (const server of servers.slice(1)) await admins[0]!.call('CLUSTER', 'MEET', HOST, String(server.port))
      await waitFor(async () => {
        for (const admin of admins) {
          const info = String(await admin.call('CLUSTER', 'INFO'))
          if (!info.includes('cluster_state:ok') || !info.includes(`cluster_known_nodes:${size}`) || !info.includes(`cluster_slots_assigned:${CLUSTER_SLOTS}`)) return false
        }
        return true
      }, CLUSTER_READY_TIMEOUT_MS, `the ${size}-node Redis cluster did not become ready`)
    } finally {
      for (const admin of admins) admin.disconnect()
    }
  } catch (error) {
    await stop()
    throw error
  }
  return {
    nodes: servers.map((server) => ({ host: server.host, port: server.port })),
    servers,
    startedInMs: Math.round(performance.now() - started),
    stop,
  }
}

class PortInUseError extends Error {}

async function spawnRedis (path: string, port: number, dir: string, extraArgs: readonly string[]): Promise<ChildProcess> {
  const child = spawn(path, [
    '--port', String(port), '--bind', HOST, '--dir', dir,
    '--save', '', '--appendonly', 'no', '--daemonize', 'no', '--logfile', '', '--loglevel', 'notice',
    ...extraArgs,
  ], { stdio: ['ignore', 'pipe', 'pipe'] })
  // If the test process dies without its afterAll, the server must not outlive it.
  const killOnExit = () => child.kill('SIGKILL')
  process.once('exit', killOnExit)
  child.once('exit', () => process.off('exit', killOnExit))

  let output = ''
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => fail(new Error(`redis-server on port ${port} did not start within ${START_TIMEOUT_MS} ms:\n${output}`)), START_TIMEOUT_MS)
    const onData = (chunk: Buffer) => {
      output += chunk.toString('utf8')
      if (output.includes('Ready to accept connections')) done()
    }
    const onExit = (code: number | null) => {
      const message = `redis-server on port ${port} exited (${code ?? 'signal'}) before it was ready:\n${output}`
      fail(/Address already in use/i.test(output) ? new PortInUseError(message) : new Error(message))
    }
    const cleanup = () => {
      clearTimeout(timer)
      child.stdout!.off('data', onData)
      child.off('exit', onExit)
      child.off('error', fail)
    }
    function done () {
      cleanup()
      resolve()
    }
    function fail (error: Error) {
      cleanup()
      child.kill('SIGKILL')
      reject(error)
    }
    child.stdout!.on('data', onData)
    child.stderr!.on('data', (chunk: Buffer) => { output += chunk.toString('utf8') })
    child.once('exit', onExit)
    child.once('error', fail)
  })
  // Keep draining its output so a chatty server never blocks on a full pipe.
  child.stdout!.resume()
  return child
}

async function terminate (child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()))
  // A frozen process acts on SIGTERM only once it runs again.
  child.kill('SIGCONT')
  child.kill('SIGTERM')
  const timer = setTimeout(() => child.kill('SIGKILL'), STOP_TIMEOUT_MS)
  await exited
  clearTimeout(timer)
}

async function waitFor (condition: () => Promise<boolean>, timeoutMs: number, message: string): Promise<void> {
  const deadline = performance.now() + timeoutMs
  while (!await condition()) {
    if (performance.now() > deadline) throw new Error(message)
    await new Promise((resolve) => setTimeout(resolve, 50))
  }
}
