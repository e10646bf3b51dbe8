// podman's Docker-compatible API for docker-compose, and what podman does not do by itself without systemd:
// running the containers' healthchecks.
import { spawn } from 'node:child_process'
import { existsSync, mkdirSync, openSync, readFileSync, rmSync, writeFileSync, closeSync } from 'node:fs'
import { request } from 'node:http'
import { join } from 'node:path'
import { progress, run, waitFor } from './shell.ts'

export interface PodmanService {
  /** For DOCKER_HOST. */
  dockerHost: string
  pid: number
  stop: () => Promise<void>
}

const isAlive = (pid: number): boolean => {
  try {
    process.kill(pid, 0)
    return true
  } catch {
    return false
  }
}

async function waitForExit (pid: number, timeoutMs: number): Promise<boolean> {
  const deadline = Date.now() + timeoutMs
  while (isAlive(pid) && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 100))
  return !isAlive(pid)
}

async function stopProcess (pid: number): Promise<void> {
  if (!isAlive(pid)) return
  process.kill(pid, 'SIGTERM')
  if (await waitForExit(pid, 10_000)) return
  process.kill(pid, 'SIGKILL')
  await waitForExit(pid, 5_000)
}

async function ping (socketPath: string): Promise<boolean> {
  return await new Promise((resolve) => {
    const req = request({ socketPath, path: '/_ping', timeout: 2_000 }, (res) => {
      res.resume()
      resolve(res.statusCode === 200)
    })
    req.on('timeout', () => req.destroy())
    req.on('error', () => resolve(false))
    req.end()
  })
}

/**
 * Starts `podman system service` on a socket of this test's own (not /run/podman/podman.sock, which may
 * be someone else's). A service left by an interrupted run is recognised by its pid file and stopped first.
 */
export async function startPodmanService (dir: string, env: NodeJS.ProcessEnv): Promise<PodmanService> {
  mkdirSync(dir, { recursive: true })
  const socketPath = join(dir, 'podman.sock')
  const pidFile = join(dir, 'service.pid')
  if (existsSync(pidFile)) {
    const stalePid = Number(readFileSync(pidFile, 'utf8'))
    const cmdline = Number.isInteger(stalePid) && stalePid > 0 && existsSync(`/proc/${stalePid}/cmdline`) ? readFileSync(`/proc/${stalePid}/cmdline`, 'utf8') : ''
    if (cmdline.includes('system\0service') && cmdline.includes(socketPath)) {
      progress(`stopping the podman service left by an earlier run (pid ${stalePid})`)
      await stopProcess(stalePid)
    }
    rmSync(pidFile, { force: true })
  }
  rmSync(socketPath, { force: true })
  const log = openSync(join(dir, 'service.log'), 'a')
  const child = spawn('podman', ['system', 'service', '--time=0', `unix://${socketPath}`], { stdio: ['ignore', log, log], env })
  closeSync(log)
  const pid = child.pid
  if (pid === undefined) throw new Error('podman system service did not start')
  writeFileSync(pidFile, String(pid))
  const stop = async (): Promise<void> => {
    await stopProcess(pid)
    rmSync(pidFile, { force: true })
    rmSync(socketPath, { force: true })
  }
  try {
    await waitFor('podman API service answering /_ping', 30_000, 200, async () => {
      if (child.exitCode !== null) throw new Error(`podman system service exited with ${child.exitCode} (see ${dir}/service.log)`)
      return (await ping(socketPath)) ? true : undefined
    })
  } catch (err) {
    await stop()
    throw err
  }
  return { dockerHost: `unix://${socketPath}`, pid, stop }
}

export interface ProjectContainer {
  id: string
  service: string
  state: string
  /** 'healthy' | 'unhealthy' | 'starting' | '' (no healthcheck) */
  health: string
  restarts: number
  exitCode: number
}

interface InspectedContainer {
  Id: string
  RestartCount?: number
  Config?: { Labels?: Record<string, string> }
  State?: { Status?: string, ExitCode?: number, Health?: { Status?: string }, Healthcheck?: { Status?: string } }
}

/** The containers docker-compose made for `project` (by its labels), as podman sees them. */
export async function projectContainers (project: string, env: NodeJS.ProcessEnv): Promise<ProjectContainer[]> {
  const ids = (await run('podman', ['ps', '-aq', '--filter', `label=com.docker.compose.project=${project}`], { timeoutMs: 30_000, env })).stdout.split('\n').filter(Boolean)
  if (ids.length === 0) return []
  // A container removed between the two calls makes inspect fail; the next poll sees the new list.
  const inspected = JSON.parse((await run('podman', ['inspect', ...ids], { timeoutMs: 30_000, env, allowFailure: true })).stdout || '[]') as InspectedContainer[]
  return inspected.map((c) => ({
    id: c.Id,
    service: c.Config?.Labels?.['com.docker.compose.service'] ?? '?',
    state: c.State?.Status ?? '?',
    health: c.State?.Health?.Status ?? c.State?.Healthcheck?.Status ?? '',
    restarts: c.RestartCount ?? 0,
    exitCode: c.State?.ExitCode ?? 0,
  }))
}

/**
 * Runs every running project container's healthcheck every `intervalMs` (podman schedules them with
 * systemd timers, which these machines lack), so `depends_on: condition: service_healthy` and the
 * health states mean what they mean under Docker.
 */
export function startHealthPump (project: string, env: NodeJS.ProcessEnv, intervalMs = 2_000): { stop: () => Promise<void> } {
  const stopping = new AbortController()
  const loop = (async () => {
    while (!stopping.signal.aborted) {
      const round = Date.now()
      try {
        const running = (await projectContainers(project, env)).filter((c) => c.state === 'running')
        await Promise.all(running.map(async (c) => await run('podman', ['healthcheck', 'run', c.id], { timeoutMs: 20_000, env, allowFailure: true }).catch(() => {})))
      } catch {
        // The next round tries again; a broken podman shows up in the waits that need health.
      }
      const pause = Math.max(0, intervalMs - (Date.now() - round))
      await new Promise((resolve) => setTimeout(resolve, pause))
    }
  })()
  return {
    stop: async () => {
      stopping.abort()
      await loop
    },
  }
}
