// Runs docker-compose.yml for real (DESIGN §10): Debian's podman behind its Docker API, driven by Debian's
// docker-compose, with locally built stand-ins for the Docker Hub base images. It provisions what is
// missing, brings up the `dev` profile (two relays behind the load balancer, Redis, the emulator and the
// sample MCP servers), calls a tool through the load-balanced port as alice, kills one replica, calls
// again, and tears everything down, also when a step fails. `npm run test:compose`: ~4 min cold, ~1 min warm.
import { spawn, spawnSync } from 'node:child_process'
import { mkdirSync, openSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest'
import { DEV_ALICE, DEV_CLI_CLIENT_ID, DEV_RELAY_SCOPE, DEV_TENANT_ID } from '../../dev/entra-emulator/index.ts'
import { freePort } from '../../dev/start-stack.ts'
import { createDispatcher, createFetch } from '../../src/net/http-client.ts'
import { Agent } from 'undici'
import { projectContainers, startHealthPump, startPodmanService, type PodmanService } from './podman.ts'
import { killActiveCommands, phase, progress, run, summary, waitFor } from './shell.ts'

const repo = fileURLToPath(new URL('../../', import.meta.url))
const project = 'obo-relay-compose-test'
const services = ['relay-a', 'relay-b', 'lb', 'redis', 'dev-services']
// The replicas share the compose network's Redis (sessions, OBO cache, MCP sessions).
const redisUrl = process.env.COMPOSE_TEST_REDIS_URL ?? 'redis://redis:6379'
const stateDir = join(tmpdir(), 'obo-relay-compose-test')
const logDir = join(repo, 'test-results', 'compose')

function skipReason (): string | undefined {
  if (process.platform !== 'linux') return `needs Linux (podman), this is ${process.platform}`
  if (process.getuid?.() !== 0) return 'needs root: it installs Debian packages and runs rootful podman'
  try {
    readFileSync('/etc/debian_version')
  } catch {
    return 'needs a Debian machine (apt-get, debootstrap)'
  }
  return undefined
}
const skip = skipReason()
if (skip !== undefined) process.stdout.write(`compose test skipped: ${skip}\n`)

// The caller's environment (its CA and proxy settings, which npm and apt need), less everything
// docker-compose.yml interpolates and docker-compose's own variables: the caller's relay settings
// (TENANT_ID, …) must not leak into the stack, nor a DOCKER_HOST into the commands.
const interpolated = new Set([...readFileSync(join(repo, 'docker-compose.yml'), 'utf8').matchAll(/\$\{([A-Za-z_][A-Za-z0-9_]*)/g)].map((m) => m[1]))
const baseEnv: NodeJS.ProcessEnv = Object.fromEntries(Object.entries(process.env).filter(([name]) =>
  !interpolated.has(name) && !/^(COMPOSE_|DOCKER_)/.test(name)))

/** Removes the project's containers, network and volumes with podman itself (no API service needed), then stops the service. */
function forceRemoveScript (servicePid: number | undefined): string {
  return [
    `ids=$(podman ps -aq --filter label=com.docker.compose.project=${project})`,
    '[ -z "$ids" ] || podman rm -f -t 2 $ids',
    `podman network rm -f ${project}_default`,
    `podman volume rm -f ${project}_redis-data ${project}_dev-certs`,
    ...(servicePid === undefined ? [] : [`kill ${servicePid}`]),
  ].join('; ')
}

function forceRemoveProject (): void {
  spawnSync('bash', ['-c', forceRemoveScript(undefined)], { stdio: 'ignore', timeout: 120_000, env: baseEnv })
}

describe.skipIf(skip !== undefined)('docker-compose.yml under podman', () => {
  let podman: PodmanService | undefined
  let healthPump: { stop: () => Promise<void> } | undefined
  let composeEnv: NodeJS.ProcessEnv = {}
  let relayPort = 0
  let emulatorPort = 0
  let trustedCaPem = ''
  let started = false
  // Calls through the load balancer on connections of their own, closed before the teardown: HAProxy's soft
  // stop waits for open keep-alive connections.
  const lbDispatcher = new Agent()
  const lbFetch = createFetch(lbDispatcher)

  const compose = async (args: string[], timeoutMs: number, logName?: string) =>
    await run('docker-compose', ['-p', project, '--env-file', 'deploy/compose/dev.env', '--profile', 'dev', ...args], {
      timeoutMs,
      env: composeEnv,
      cwd: repo,
      ...(logName === undefined
        ? {}
        // The build steps go to the log file; which image is building and which container starts, to the terminal.
        : { logFile: join(logDir, logName), onLine: (line: string) => { if (/^(Building|Successfully tagged|Creating|Recreating)\b/.test(line) && !line.includes('...')) progress(`  ${line}`) } }),
    })

  const describeStack = async (): Promise<string> => {
    const containers = await projectContainers(project, baseEnv).catch(() => [])
    const rows = containers.map((c) => `  ${c.service.padEnd(13)} ${c.state.padEnd(8)} ${(c.health || '-').padEnd(9)} restarts ${c.restarts}`)
    const logs = await compose(['logs', '--no-color', '--tail', '15'], 60_000).then((r) => r.stdout, () => '')
    return `containers:\n${rows.join('\n')}\nlast log lines:\n${logs}`
  }

  const containerOf = async (service: string): Promise<string> => {
    const container = (await projectContainers(project, baseEnv)).find((c) => c.service === service)
    if (container === undefined) throw new Error(`no ${service} container`)
    return container.id
  }

  /** The replicas' state in HAProxy (its stats CSV, read inside the lb container: the port is not published). */
  const balancedReplicas = async (): Promise<Record<string, string>> => {
    const script = 'exec 3<>/dev/tcp/127.0.0.1/8404 && printf "GET /stats;csv HTTP/1.0\\r\\n\\r\\n" >&3 && cat <&3'
    const { stdout } = await run('podman', ['exec', await containerOf('lb'), 'bash', '-c', script], { timeoutMs: 20_000, env: baseEnv })
    const rows = stdout.split('\n').map((line) => line.split(',')).filter((cells) => cells[0] === 'relays' && cells[1] !== 'BACKEND')
    return Object.fromEntries(rows.map((cells) => [cells[1] ?? '?', cells[17] ?? '?']))
  }

  const removeProject = async (): Promise<void> => {
    // Stop first, to tell which service (if any) ignored SIGTERM for 10 s and was killed.
    const running = (await projectContainers(project, baseEnv)).filter((c) => c.state === 'running').map((c) => c.service)
    await compose(['stop', '--timeout', '10'], 180_000)
    const killed = (await projectContainers(project, baseEnv)).filter((c) => running.includes(c.service) && c.exitCode === 137)
    if (killed.length > 0) {
      progress(`  not stopped within 10 s of SIGTERM, killed: ${killed.map((c) => c.service).join(', ')}`)
      for (const container of killed) {
        const logs = await run('podman', ['logs', '--tail', '15', container.id], { timeoutMs: 20_000, env: baseEnv }).catch(() => ({ stdout: '', stderr: '' }))
        for (const line of `${logs.stdout}\n${logs.stderr}`.split('\n').filter((l) => l !== '')) progress(`    ${container.service}: ${line.slice(0, 400)}`)
      }
    }
    await compose(['down', '--volumes', '--remove-orphans', '--timeout', '10'], 180_000)
    const left = await projectContainers(project, baseEnv)
    if (left.length > 0) throw new Error(`containers left after down: ${left.map((c) => c.service).join(', ')}`)
  }

  // Interrupted (Ctrl-C, a CI timeout): vitest ends this worker soon after the signal, so the clean-up
  // runs in a process of its own that outlives it.
  let interrupted = false
  const onSignal = (signal: NodeJS.Signals): void => {
    if (interrupted) return
    interrupted = true
    progress(`${signal}: removing the compose project and stopping the podman service in the background`)
    killActiveCommands()
    const log = openSync(join(stateDir, 'interrupted-cleanup.log'), 'w')
    const cleanup = spawn('bash', ['-c', forceRemoveScript(podman?.pid)], { detached: true, stdio: ['ignore', log, log], env: baseEnv })
    cleanup.unref()
    process.exit(130)
  }

  beforeAll(async () => {
    process.on('SIGINT', onSignal)
    process.on('SIGTERM', onSignal)
    mkdirSync(logDir, { recursive: true })
    rmSync(join(logDir, 'up.log'), { force: true })
    await phase('provision podman, runc, docker-compose, debootstrap (apt-get when missing; containers.conf)', async () => {
      await run('bash', ['deploy/podman/provision.sh'], { timeoutMs: 15 * 60_000, cwd: repo, env: baseEnv, onLine: (line) => progress(`  ${line}`) })
    })
    await phase('stand-in base images (built only when missing)', async () => {
      await run('bash', ['deploy/podman/base-images.sh'], { timeoutMs: 15 * 60_000, cwd: repo, env: baseEnv, onLine: (line) => progress(`  ${line}`) })
    })
    podman = await phase('start the podman API service', async () => await startPodmanService(stateDir, baseEnv))
    relayPort = await freePort('0.0.0.0')
    emulatorPort = await freePort('0.0.0.0')
    composeEnv = {
      ...baseEnv,
      DOCKER_HOST: podman.dockerHost,
      // Builds and `up` with healthy dependencies take longer than docker-compose's default 60 s read timeout.
      COMPOSE_HTTP_TIMEOUT: '600',
      RELAY_PORT: String(relayPort),
      EMULATOR_PORT: String(emulatorPort),
      PUBLIC_URL: `http://localhost:${relayPort}`,
      REDIS_URL: redisUrl,
    }
    await phase('remove what an interrupted run left', removeProject)
    started = true
    healthPump = startHealthPump(project, baseEnv)
    await phase(`docker-compose --profile dev up -d --build (log: ${join('test-results', 'compose', 'up.log')})`, async () => {
      await compose(['up', '-d', '--build'], 15 * 60_000, 'up.log')
    })
    await phase('wait until every service is healthy', async () => {
      await waitFor('all services healthy', 180_000, 1_000, async () => {
        const containers = await projectContainers(project, baseEnv)
        const unhealthy = services.filter((s) => containers.find((c) => c.service === s)?.health !== 'healthy')
        if (unhealthy.length > 0) throw new Error(`not healthy yet: ${unhealthy.join(', ')}`)
        return true
      }).catch(async (err: unknown) => {
        throw new Error(`${err instanceof Error ? err.message : String(err)}\n${await describeStack()}`)
      })
    })
    await phase('wait until the load balancer routes to both replicas', async () => {
      // A replica counts for HAProxy after two passed checks of /readyz (rise 2, every 2 s).
      await waitFor('relay-a and relay-b UP in HAProxy', 60_000, 1_000, async () => {
        const replicas = await balancedReplicas()
        if (replicas['relay-a'] !== 'UP' || replicas['relay-b'] !== 'UP') throw new Error(JSON.stringify(replicas))
        return true
      })
    })
    const caCopy = join(stateDir, 'ca.pem')
    await run('podman', ['cp', `${await containerOf('dev-services')}:/certs/ca.pem`, caCopy], { timeoutMs: 30_000, env: baseEnv })
    trustedCaPem = readFileSync(caCopy, 'utf8')
  }, 45 * 60_000)

  afterEach(async ({ task }) => {
    if (task.result?.state === 'fail') process.stdout.write(`${await describeStack()}\n`)
  })

  afterAll(async () => {
    await healthPump?.stop()
    await lbDispatcher.close()
    if (started) {
      await phase('docker-compose down --volumes (containers, network, volumes)', async () => {
        try {
          await removeProject()
        } catch (err) {
          progress(`down failed, removing by label: ${err instanceof Error ? err.message.split('\n')[0] : String(err)}`)
          forceRemoveProject()
        }
      })
    }
    if (podman !== undefined) await phase('stop the podman API service', podman.stop)
    process.off('SIGINT', onSignal)
    process.off('SIGTERM', onSignal)
    process.stdout.write(`compose test phases:\n${summary()}\n`)
  }, 10 * 60_000)

  const emulatorFetch = () => createFetch(createDispatcher({ trustedCaPem }))

  async function aliceToken (): Promise<string> {
    // Through the emulator's published port; the token's issuer is the in-compose https://emulator:8443.
    const response = await emulatorFetch()(`https://localhost:${emulatorPort}/${DEV_TENANT_ID}/oauth2/v2.0/token`, {
      method: 'POST',
      body: new URLSearchParams({ grant_type: 'password', client_id: DEV_CLI_CLIENT_ID, username: DEV_ALICE.username, password: DEV_ALICE.password, scope: DEV_RELAY_SCOPE }),
      signal: AbortSignal.timeout(15_000),
    })
    const body = await response.json() as { access_token?: string }
    if (body.access_token === undefined) throw new Error(`password grant failed: ${response.status} ${JSON.stringify(body)}`)
    return body.access_token
  }

  async function callWhoami (token: string): Promise<{ status: number, body: any }> {
    const response = await lbFetch(`http://127.0.0.1:${relayPort}/v1/servers/notes/tools/whoami`, {
      method: 'POST',
      headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
      body: JSON.stringify({ arguments: {} }),
      signal: AbortSignal.timeout(30_000),
    })
    const text = await response.text()
    let body: unknown = text
    try { body = JSON.parse(text) } catch {}
    return { status: response.status, body }
  }

  async function toolCallsServedBy (service: string): Promise<number> {
    const result = await compose(['logs', '--no-color', service], 60_000)
    return result.stdout.split('\n').filter((line) => line.includes('"url":"/v1/servers/notes/tools/whoami"')).length
  }

  let token = ''

  it('gives alice a token whose issuer is the in-compose emulator', async () => {
    token = await phase('alice\'s token from the emulator (password grant, published port)', aliceToken)
    const claims = JSON.parse(Buffer.from(token.split('.')[1] ?? '', 'base64url').toString()) as { iss: string, oid: string }
    progress(`  iss ${claims.iss}`)
    expect(claims.iss).toBe(`https://emulator:8443/${DEV_TENANT_ID}/v2.0`)
    expect(claims.oid).toBe(DEV_ALICE.oid)
  })

  it('calls whoami through the load-balanced port, served by both replicas in turn', async () => {
    const calls = await phase('4 × POST /v1/servers/notes/tools/whoami through the load balancer', async () => {
      const results = []
      for (let i = 0; i < 4; i++) results.push(await callWhoami(token))
      return results
    })
    for (const { status, body } of calls) {
      expect(status, JSON.stringify(body)).toBe(200)
      expect(body.structuredContent.oid).toBe(DEV_ALICE.oid)
    }
    const servedByA = await toolCallsServedBy('relay-a')
    const servedByB = await toolCallsServedBy('relay-b')
    progress(`  relay-a served ${servedByA}, relay-b served ${servedByB}`)
    expect(servedByA).toBeGreaterThan(0)
    expect(servedByB).toBeGreaterThan(0)

    const servers = await lbFetch(`http://127.0.0.1:${relayPort}/v1/servers`, { headers: { authorization: `Bearer ${token}` }, signal: AbortSignal.timeout(30_000) })
    const { servers: list } = await servers.json() as { servers: Array<{ id: string, scopeSource: string, status: string }> }
    // The relays discovered the sample servers' scopes from their PRM over TLS on the compose network.
    expect(list.map((s) => [s.id, s.scopeSource, s.status])).toEqual([['notes', 'prm', 'ok'], ['calendar', 'prm', 'ok']])
  })

  it('keeps answering through the same port after relay-a is killed', async () => {
    await phase('docker-compose kill relay-a', async () => { await compose(['kill', 'relay-a'], 60_000) })
    const relayA = (await projectContainers(project, baseEnv)).find((c) => c.service === 'relay-a')
    expect(relayA?.state).not.toBe('running')
    progress(`  relay-a is ${relayA?.state ?? 'gone'}; HAProxy still counts it ${(await balancedReplicas())['relay-a'] ?? '?'}`)
    const calls = await phase('3 × whoami through the load balancer with relay-a dead', async () => {
      const results = []
      for (let i = 0; i < 3; i++) results.push(await callWhoami(token))
      return results
    })
    for (const { status, body } of calls) {
      expect(status, JSON.stringify(body)).toBe(200)
      expect(body.structuredContent.oid).toBe(DEV_ALICE.oid)
    }
  })

  it('runs Redis with an append-only file on its named volume', async () => {
    const redis = await containerOf('redis')
    const appendonly = await run('podman', ['exec', redis, 'redis-cli', 'config', 'get', 'appendonly'], { timeoutMs: 30_000, env: baseEnv })
    expect(appendonly.stdout.split('\n').map((l) => l.trim())).toContain('yes')
    const mounts = await run('podman', ['inspect', '--format', '{{range .Mounts}}{{.Name}}={{.Destination}} {{end}}', redis], { timeoutMs: 30_000, env: baseEnv })
    expect(mounts.stdout).toContain(`${project}_redis-data=/data`)
  })
})
