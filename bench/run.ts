// The relay's cost against a direct call, nginx and a minimal Node proxy, side by side in one run.
//   npm run bench                 full run (a few minutes)
//   npm run bench -- --quick      every scenario, short runs (under 90 s)
//   npm run bench -- --only S2,S7 some scenarios (the BENCH line then lacks the others' keys)
//   npm run bench -- --profile S2 CPU profiles of the relay during those scenarios' relay rows (bench-profiles/);
//   --heap-profile S2 sampled allocations instead (collected ones included; --promoted: only what outlived a
//   scavenge); --gc collections per row; --relay-node-args '--trace-gc-nvp' (relay stdout to bench-profiles/)
//   --paths 'relay /mcp/trivial|direct' only those rows; --relay-cpu-prof relays under --cpu-prof; --run-sec N;
//   --relay-dir DIR another checkout's relay (before/after comparisons)
// Every server runs in its own process on loopback: the Entra emulator, the notes MCP server, the trivial
// upstream, nginx, the minimal proxy (node:http and on Fastify), the relay (and two Redis-backed replicas for S4), the load generator
// (autocannon) and the in-process harness of S3 and S5. Heap and CPU of a relay are read inside it over IPC
// (bench/relay-probe.ts). Every loop is bounded; every process stops on exit, failure or Ctrl-C.
// The last line printed is `BENCH {…}`: the ratios (relay ÷ baseline) and figures of the issue.
import { mkdir } from 'node:fs/promises'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { Agent } from 'undici'
import { DEV_CLI_CLIENT_ID, DEV_RELAY_CLIENT_ID, DEV_RELAY_CLIENT_SECRET, DEV_RELAY_SCOPE } from '../dev/entra-emulator/index.ts'
import { freePort } from '../dev/start-stack.ts'
import { provisionNginx } from '../test/setup/nginx.ts'
import { provisionRedisServer } from '../test/setup/redis.ts'
import { startRedisServer, type RedisServer } from '../test/helpers/redis-server.ts'
import { procCpuMicros, startChild, stopAllChildren, stopChildrenOnExit, type BenchChild } from './lib/children.ts'
import { BENCH_TOKEN_ENCRYPTION_KEY, NOTES_SCOPE, TRIVIAL_API, TRIVIAL_TOOL } from './lib/constants.ts'
import { callToolOnce, firstProgressMs, mcpHeaders, openSession, toolCallBody } from './lib/mcp.ts'
import { startNginx, type Nginx } from './lib/nginx.ts'
import { formatTable, median, ratio, type Row } from './lib/report.ts'
import { loginAgentWithDpop } from './lib/agent-login.ts'
import { dpopVerifyCpuUs } from './lib/dpop-floor.ts'
import type { RunResult, RunSpec } from './procs/load.ts'
import type { HarnessResult } from './procs/harness.ts'

const argv = process.argv.slice(2)
const flag = (name: string): string | undefined => {
  const i = argv.indexOf(`--${name}`)
  return i === -1 ? undefined : argv[i + 1]
}
const QUICK = argv.includes('--quick')
const ONLY = new Set((flag('only') ?? 'S1,S2,S3,S4,S5,S6,S7').split(',').map((s) => s.trim().toUpperCase()))
const PROFILE = new Set((flag('profile') ?? flag('heap-profile') ?? '').split(',').filter(Boolean).map((s) => s.trim().toUpperCase()))
/** `--heap-profile S2` instead of `--profile S2`: sampled allocations (.heapprofile), collected ones included. */
const HEAP_PROFILE = flag('heap-profile') !== undefined
/** `--promoted` with --heap-profile: only what outlived a scavenge (kept past the young generation). */
const HEAP_PROMOTED = argv.includes('--promoted')
/** `--gc`: each relay run's collections (count and pause, by kind) per 10k requests, from inside the relay. */
const GC_STATS = argv.includes('--gc')
/** `--relay-node-args '--trace-gc-nvp'`: more Node flags for the relays; their stdout then goes to bench-profiles/<name>.stdout. */
const RELAY_NODE_ARGS = (flag('relay-node-args') ?? '').split(' ').filter(Boolean)
const wants = (scenario: string): boolean => ONLY.has(scenario)
/** `--paths 'direct|relay /mcp/trivial'`: only the rows whose label is listed (for profiling one path). */
const PATHS = flag('paths')?.split('|').map((s) => s.trim())
/** `--relay-cpu-prof`: relays run with --cpu-prof (a profile of the whole process, written at its exit). */
const RELAY_CPU_PROF = argv.includes('--relay-cpu-prof')
/** `--relay-dir DIR`: run another checkout's relay (e.g. an older commit) against the same servers. */
const RELAY_DIR = flag('relay-dir')

/** Load runs: seconds per measured run, repetitions (interleaved across rows; the median is kept), warm-up. */
const RUN_SEC = Number(flag('run-sec') ?? (QUICK ? 1 : 5))
const REPS = QUICK ? 1 : 3
const WARMUP_SEC = QUICK ? 0.3 : 1
const S1_CONNECTIONS = 16
const S2_CONNECTIONS = 32
const S7_CONNECTIONS = 16

const ROOT = fileURLToPath(new URL('..', import.meta.url))
const PROBE = new URL('./relay-probe.ts', import.meta.url).href
const ALICE = 'alice@contoso.test'
const bearer = (token: string): string => `Bearer ${token}`
const log = (line: string): void => { process.stderr.write(`bench: ${line}\n`) }

interface RelayProcess { child: BenchChild, url: string, port: number }

interface Target {
  label: string
  url: string
  method?: 'GET' | 'POST'
  headers: Record<string, string>
  body?: string
  /** CPU µs of the process doing the proxying (relay, nginx worker, minimal proxy); undefined for direct rows. */
  cpu?: () => Promise<number>
  /** The relay row to profile with --profile. */
  relay?: RelayProcess
}

let loadgen: BenchChild
const started = performance.now()

async function main (): Promise<void> {
  const results: Record<string, number> = {}
  const tables: string[] = []

  const [nginxBin, redisBin] = wants('S1') || wants('S2') || wants('S4')
    ? await Promise.all([wants('S1') || wants('S2') ? provisionNginx({ nginxPath: process.env.NGINX_PATH }) : undefined, wants('S4') ? provisionRedisServer({ redisServerPath: process.env.REDIS_SERVER_PATH }) : undefined])
    : [undefined, undefined]
  if (nginxBin !== undefined) log(nginxBin.how)
  if (redisBin !== undefined) log(redisBin.how)

  const emulator = await startChild('emulator', process.execPath, { args: [join(ROOT, 'bench/procs/emulator.ts')] })
  const em = emulator.info as { url: string, tenantId: string, issuer: string, jwksUri: string, caFile: string, caPem: string }
  const [notes, trivial, load] = await Promise.all([
    startChild('notes', process.execPath, { args: [join(ROOT, 'bench/procs/notes.ts')], env: { BENCH_EMULATOR: JSON.stringify(em) } }),
    startChild('trivial-upstream', process.execPath, { args: [join(ROOT, 'bench/procs/trivial-upstream.ts')] }),
    startChild('load', process.execPath, { args: [join(ROOT, 'bench/procs/load.ts')] }),
  ])
  loadgen = load
  const notesUrl = String(notes.info.url)
  const notesDirect = notesUrl.replace('//localhost:', '//127.0.0.1:')
  const trivialUrl = String(trivial.info.url)

  const token = async (clientId: string, scopes: string[]): Promise<string> => await emulator.request<string>('token', { username: ALICE, clientId, scopes })
  const [userToken, oboNotes, oboTrivial] = await Promise.all([
    token(DEV_CLI_CLIENT_ID, [DEV_RELAY_SCOPE]),
    token(DEV_RELAY_CLIENT_ID, [NOTES_SCOPE]),
    token(DEV_RELAY_CLIENT_ID, [TRIVIAL_API.scope]),
  ])
  const mcpServers = JSON.stringify([
    { id: 'notes', url: notesUrl },
    { id: 'trivial', url: trivialUrl, scopes: [TRIVIAL_API.scope] },
  ])
  const relayEnv = (extra: Record<string, string> = {}): Record<string, string> => ({
    TENANT_ID: em.tenantId,
    CLIENT_ID: DEV_RELAY_CLIENT_ID,
    CLIENT_SECRET: DEV_RELAY_CLIENT_SECRET,
    SCOPE: DEV_RELAY_SCOPE,
    HOST: '127.0.0.1',
    AUTHORITY_HOST: em.url,
    TRUSTED_CA_FILE: em.caFile,
    MCP_SERVERS: mcpServers,
    ALLOW_INSECURE_LOOPBACK: 'true',
    METRICS_PORT: '-1',
    // One user from one address at thousands of requests per second: the limits would be all that is measured.
    RATE_LIMIT_USER_PER_MIN: '0',
    RATE_LIMIT_CLIENT_PER_MIN: '0',
    LOG_LEVEL: 'warn',
    TOKEN_ENCRYPTION_KEY: BENCH_TOKEN_ENCRYPTION_KEY,
    OBO_RELAY_BENCH_IPC: '1',
    ...extra,
  })
  const startRelay = async (name: string, extra: Record<string, string> = {}): Promise<RelayProcess> => {
    const port = await freePort()
    const url = `http://127.0.0.1:${port}`
    await emulator.request('addRedirectUri', { clientId: DEV_RELAY_CLIENT_ID, uri: `${url}/auth/callback` })
    const child = await startChild(name, process.execPath, {
      nodeArgs: ['--expose-gc', '--import', PROBE, ...RELAY_NODE_ARGS, ...(RELAY_CPU_PROF ? ['--cpu-prof', '--cpu-prof-interval', '1000', '--cpu-prof-dir', join(ROOT, 'bench-profiles')] : [])],
      args: [join(RELAY_DIR ?? ROOT, 'src/server.ts')],
      env: { ...relayEnv(extra), PORT: String(port), PUBLIC_URL: url },
      ipc: true,
      ...(RELAY_NODE_ARGS.length === 0 ? {} : { stdoutFile: join(ROOT, 'bench-profiles', `${name}.stdout`) }),
      startTimeoutMs: 30_000,
      ready: async (handle) => {
        for (;;) {
          if (await fetch(`${url}/healthz`).then((r) => r.ok, () => false)) return
          if (handle.process.exitCode !== null) throw new Error(`${name} exited: ${handle.output()}`)
          await new Promise((resolve) => setTimeout(resolve, 100))
        }
      },
    })
    return { child, url, port }
  }
  const relay = await startRelay('relay')
  const relayCpu = async (): Promise<number> => {
    const { user, system } = await relay.child.request<{ user: number, system: number }>('cpu')
    return user + system
  }
  log(`processes up in ${Math.round(performance.now() - started)} ms`)

  // ---------------------------------------------------------------- S1, S2: tool calls and relay overhead
  let nginx: Nginx | undefined
  let minimal: BenchChild | undefined
  let fastifyProxy: BenchChild | undefined
  let notesMinimal: BenchChild | undefined
  let notesFastifyProxy: BenchChild | undefined
  if (wants('S1') || wants('S2')) {
    nginx = await startNginx(nginxBin!.path, [
      { upstream: new URL(notesDirect).origin, authorization: bearer(oboNotes) },
      { upstream: new URL(trivialUrl).origin, authorization: bearer(oboTrivial) },
    ])
    const floors = (upstream: string, oboToken: string): Array<Promise<BenchChild>> => [
      startChild('minimal-proxy', process.execPath, { args: [join(ROOT, 'bench/procs/minimal-proxy.ts')], env: { BENCH_UPSTREAM: new URL(upstream).origin, BENCH_OBO_TOKEN: oboToken } }),
      startChild('fastify-proxy', process.execPath, { args: [join(ROOT, 'bench/procs/fastify-proxy.ts')], env: { BENCH_UPSTREAM: new URL(upstream).origin, BENCH_OBO_TOKEN: oboToken } }),
    ]
    // The same two floors in front of notes (S1) and of the trivial upstream (S2).
    const [s1Floors, s2Floors] = await Promise.all([wants('S1') ? Promise.all(floors(notesDirect, oboNotes)) : [], wants('S2') ? Promise.all(floors(trivialUrl, oboTrivial)) : []])
    ;[notesMinimal, notesFastifyProxy] = s1Floors
    ;[minimal, fastifyProxy] = s2Floors
  }
  const nginxCpu = async (): Promise<number> => await procCpuMicros(nginx!.workerPid)
  const cpuOf = (child: () => BenchChild | undefined) => async (): Promise<number> => await procCpuMicros(child()!.pid)
  const minimalCpu = cpuOf(() => minimal)
  const fastifyProxyCpu = cpuOf(() => fastifyProxy)

  const mcpTarget = async (label: string, url: string, authorization: string, tool: string, cpu?: () => Promise<number>, relayProcess?: RelayProcess): Promise<Target> => {
    const sessionId = await openSession(url, authorization)
    await callToolOnce(url, authorization, sessionId, tool)
    return { label, url, headers: mcpHeaders(authorization, sessionId), body: toolCallBody(tool), ...(cpu === undefined ? {} : { cpu }), ...(relayProcess === undefined ? {} : { relay: relayProcess }) }
  }
  const restTarget = async (label: string, server: string, tool: string): Promise<Target> => {
    const url = `${relay.url}/v1/servers/${server}/tools/${tool}`
    const headers = { authorization: bearer(userToken), 'content-type': 'application/json' }
    const check = await fetch(url, { method: 'POST', headers, body: '{"arguments":{}}' })
    if (check.status !== 200) throw new Error(`${label}: ${check.status} ${await check.text()}`)
    return { label, url, headers, body: '{"arguments":{}}', cpu: relayCpu, relay }
  }

  if (wants('S1')) {
    log('S1: tools/call whoami on notes')
    const targets = [
      await mcpTarget('direct', notesDirect, bearer(oboNotes), 'whoami'),
      await mcpTarget('nginx', `${nginx!.origins[0]}/mcp`, bearer(userToken), 'whoami', nginxCpu),
      await mcpTarget('minimal proxy', `${String(notesMinimal!.info.url)}/mcp`, bearer(userToken), 'whoami', cpuOf(() => notesMinimal)),
      await mcpTarget('fastify proxy', `${String(notesFastifyProxy!.info.url)}/mcp`, bearer(userToken), 'whoami', cpuOf(() => notesFastifyProxy)),
      await mcpTarget('relay /mcp/notes', `${relay.url}/mcp/notes`, bearer(userToken), 'whoami', relayCpu, relay),
      await mcpTarget('relay /mcp', `${relay.url}/mcp`, bearer(userToken), 'notes__whoami', relayCpu, relay),
      await restTarget('relay REST', 'notes', 'whoami'),
    ]
    const rows = await measureRows('S1', targets, S1_CONNECTIONS)
    tables.push(formatTable(`S1 tool call: tools/call whoami on notes (SDK server, SSE answers), ${S1_CONNECTIONS} connections`, rows))
    const [direct, viaNginx, viaMinimal, viaFastify, passthrough, aggregate, rest] = rows as [Row, Row, Row, Row, Row, Row, Row]
    results.s1_relay_mcp_vs_direct = ratio(passthrough.rps, direct.rps)
    results.s1_relay_mcp_vs_nginx = ratio(passthrough.rps, viaNginx.rps)
    // The floors of the ≥ 0.95 × nginx target: what a Node proxy that does nothing but swap the token keeps.
    results.s1_minimal_proxy_vs_nginx = ratio(viaMinimal.rps, viaNginx.rps)
    results.s1_fastify_proxy_vs_nginx = ratio(viaFastify.rps, viaNginx.rps)
    results.s1_relay_mcp_vs_minimal_proxy = ratio(passthrough.rps, viaMinimal.rps)
    results.s1_minimal_proxy_cpu_us_per_call = viaMinimal.cpuUsPerReq ?? Number.NaN
    results.s1_fastify_proxy_cpu_us_per_call = viaFastify.cpuUsPerReq ?? Number.NaN
    results.s1_relay_aggregate_vs_direct = ratio(aggregate.rps, direct.rps)
    results.s1_relay_rest_vs_direct = ratio(rest.rps, direct.rps)
    results.s1_relay_cpu_us_per_call = passthrough.cpuUsPerReq ?? Number.NaN
    results.s1_relay_rest_cpu_us_per_call = rest.cpuUsPerReq ?? Number.NaN
  }

  if (wants('S2')) {
    log('S2: relay overhead on a trivial upstream')
    const targets = [
      await mcpTarget('direct', trivialUrl, bearer(oboTrivial), TRIVIAL_TOOL),
      await mcpTarget('nginx', `${nginx!.origins[1]}/mcp`, bearer(userToken), TRIVIAL_TOOL, nginxCpu),
      await mcpTarget('minimal proxy', `${String(minimal!.info.url)}/mcp`, bearer(userToken), TRIVIAL_TOOL, minimalCpu),
      await mcpTarget('fastify proxy', `${String(fastifyProxy!.info.url)}/mcp`, bearer(userToken), TRIVIAL_TOOL, fastifyProxyCpu),
      await mcpTarget('relay /mcp/trivial', `${relay.url}/mcp/trivial`, bearer(userToken), TRIVIAL_TOOL, relayCpu, relay),
      await mcpTarget('relay /mcp', `${relay.url}/mcp`, bearer(userToken), `trivial__${TRIVIAL_TOOL}`, relayCpu, relay),
      await restTarget('relay REST', 'trivial', TRIVIAL_TOOL),
    ]
    const rows = await measureRows('S2', targets, S2_CONNECTIONS)
    tables.push(formatTable(`S2 relay overhead: a trivial upstream (fixed JSON-RPC result), ${S2_CONNECTIONS} connections`, rows))
    const serial = await measureRows('S2', targets, 1)
    tables.push(formatTable('S2 relay overhead, serial (1 connection): added ms per call = 1000/rps(path) − 1000/rps(direct)', serial, { addedMs: true }))
    const [direct, viaNginx, viaMinimal, viaFastify, passthrough, aggregate, rest] = rows as [Row, Row, Row, Row, Row, Row, Row]
    const [sDirect, , sMinimal, sFastify, sPassthrough, sAggregate, sRest] = serial as [Row, Row, Row, Row, Row, Row, Row]
    results.s2_relay_vs_direct = ratio(passthrough.rps, direct.rps)
    results.s2_relay_vs_nginx = ratio(passthrough.rps, viaNginx.rps)
    results.s2_relay_vs_minimal_proxy = ratio(passthrough.rps, viaMinimal.rps)
    results.s2_nginx_vs_direct = ratio(viaNginx.rps, direct.rps)
    results.s2_minimal_proxy_vs_direct = ratio(viaMinimal.rps, direct.rps)
    results.s2_aggregate_vs_direct = ratio(aggregate.rps, direct.rps)
    results.s2_rest_vs_direct = ratio(rest.rps, direct.rps)
    results.s2_added_ms_serial = 1000 / sPassthrough.rps - 1000 / sDirect.rps
    results.s2_minimal_proxy_added_ms_serial = 1000 / sMinimal.rps - 1000 / sDirect.rps
    results.s2_fastify_proxy_added_ms_serial = 1000 / sFastify.rps - 1000 / sDirect.rps
    results.s2_fastify_proxy_vs_minimal_proxy = ratio(viaFastify.rps, viaMinimal.rps)
    results.s2_fastify_proxy_cpu_us_per_call = viaFastify.cpuUsPerReq ?? Number.NaN
    results.s2_aggregate_added_ms_serial = 1000 / sAggregate.rps - 1000 / sDirect.rps
    results.s2_rest_added_ms_serial = 1000 / sRest.rps - 1000 / sDirect.rps
    results.s2_relay_cpu_us_per_call = passthrough.cpuUsPerReq ?? Number.NaN
    results.s2_minimal_proxy_cpu_us_per_call = viaMinimal.cpuUsPerReq ?? Number.NaN
    results.s2_nginx_cpu_us_per_call = viaNginx.cpuUsPerReq ?? Number.NaN
    results.s2_aggregate_cpu_us_per_call = aggregate.cpuUsPerReq ?? Number.NaN
    results.s2_rest_cpu_us_per_call = rest.cpuUsPerReq ?? Number.NaN
  }
  await nginx?.stop()
  await Promise.all([minimal, fastifyProxy, notesMinimal, notesFastifyProxy].map(async (child) => await child?.stop()))

  // ---------------------------------------------------------------- S7: caller authentication
  if (wants('S7')) {
    log('S7: caller authentication')
    const healthz: Target = { label: '/healthz', url: `${relay.url}/healthz`, method: 'GET', headers: {}, cpu: relayCpu, relay }
    const me: Target = { label: '/v1/me, Entra bearer', url: `${relay.url}/v1/me`, method: 'GET', headers: { authorization: bearer(userToken) }, cpu: relayCpu, relay }
    const agent = await loginAgentWithDpop({ relayUrl: relay.url, emulatorCaPem: em.caPem, username: ALICE, password: 'alice-password' })
    const dpopMe: Target = { label: '/v1/me, DPoP relay token', url: `${relay.url}/v1/me`, method: 'GET', headers: { authorization: `DPoP ${agent.accessToken}` }, cpu: relayCpu, relay }
    const check = await fetch(me.url, { headers: me.headers })
    if (check.status !== 200) throw new Error(`/v1/me answered ${check.status}`)
    const dpop = { ...agent.dpop, accessToken: agent.accessToken, htu: `${relay.url}/v1/me`, htm: 'GET', nonce: agent.nonce }
    const rows = await measureRows('S7', [healthz, me, dpopMe], S7_CONNECTIONS, { dpop: { target: 2, spec: dpop } })
    tables.push(formatTable(`S7 caller authentication, ${S7_CONNECTIONS} connections`, rows))
    const [h, m, d] = rows as [Row, Row, Row]
    results.s7_auth_vs_healthz = ratio(m.rps, h.rps)
    results.s7_dpop_vs_healthz = ratio(d.rps, h.rps)
    results.s7_auth_cpu_us = m.cpuUsPerReq ?? Number.NaN
    results.s7_dpop_cpu_us = d.cpuUsPerReq ?? Number.NaN
    results.s7_healthz_cpu_us = h.cpuUsPerReq ?? Number.NaN
    // The floor: even if the DPoP path cost nothing beyond /healthz and its one signature check, it would keep
    // /healthz's CPU ÷ (that + the check) of /healthz's throughput (CPU-bound rows; both on the relay's machine).
    const verify = await dpopVerifyCpuUs({ ...agent.dpop, accessToken: agent.accessToken, htu: dpop.htu, count: QUICK ? 2_000 : 10_000, concurrency: S7_CONNECTIONS })
    results.s7_dpop_verify_cpu_us = verify.joseUs
    results.s7_dpop_bare_verify_cpu_us = verify.bareUs
    results.s7_dpop_ceiling_vs_healthz = ratio(results.s7_healthz_cpu_us, results.s7_healthz_cpu_us + verify.bareUs)
    tables[tables.length - 1] += `\n  the proof's signature check alone (${agent.dpop.alg}, in the bench process): ${verify.joseUs.toFixed(0)} µs CPU through jose (as the relay does it), ${verify.bareUs.toFixed(0)} µs bare (node:crypto)\n` +
      `  → a DPoP request costs at least /healthz + the bare check: at most ${results.s7_dpop_ceiling_vs_healthz.toFixed(2)} of /healthz's throughput (target 0.8)`
  }

  // ---------------------------------------------------------------- S6: streaming
  if (wants('S6')) {
    log('S6: time to the first progress event')
    const dispatcher = new Agent({ keepAliveTimeout: 10_000 })
    const paths = [
      { label: 'direct', url: notesDirect, authorization: bearer(oboNotes), tool: 'slow' },
      { label: 'relay /mcp/notes', url: `${relay.url}/mcp/notes`, authorization: bearer(userToken), tool: 'slow' },
      { label: 'relay /mcp', url: `${relay.url}/mcp`, authorization: bearer(userToken), tool: 'notes__slow' },
    ]
    const sessions = await Promise.all(paths.map(async (p) => await openSession(p.url, p.authorization)))
    const samples: number[][] = paths.map(() => [])
    const rounds = QUICK ? 6 : 30
    const args = { steps: 3, stepMs: 20 }
    for (let round = -2; round < rounds; round++) {
      for (const [i, p] of paths.entries()) {
        const ms = await firstProgressMs(p.url, p.authorization, sessions[i], p.tool, args, dispatcher)
        if (round >= 0) samples[i]!.push(ms)
      }
    }
    await dispatcher.close()
    const medians = samples.map(median)
    const lines = paths.map((p, i) => `  ${p.label.padEnd(22)} first progress p50 ${medians[i]!.toFixed(2)} ms  (min ${Math.min(...samples[i]!).toFixed(2)}, max ${Math.max(...samples[i]!).toFixed(2)})  ×direct ${(medians[i]! / medians[0]!).toFixed(3)}`)
    tables.push(`S6 streaming: the slow tool (3 steps of ${args.stepMs} ms, progress after each), ${rounds} calls per path\n${lines.join('\n')}`)
    results.s6_first_event_relay_vs_direct = Math.max(medians[1]! / medians[0]!, medians[2]! / medians[0]!)
    results.s6_passthrough_vs_direct = medians[1]! / medians[0]!
    results.s6_aggregate_vs_direct = medians[2]! / medians[0]!
  }

  // ---------------------------------------------------------------- S4: single-flight
  if (wants('S4')) {
    log('S4: single-flight of cold OBO exchanges')
    const burstOf = (urls: string[], assertion: string) => ({
      requests: Array.from({ length: 100 }, (_, i) => ({ url: urls[i % urls.length] as string, method: 'POST', headers: { authorization: bearer(assertion), 'content-type': 'application/json' }, body: '{"arguments":{}}' })),
    })
    const oboCalls = async (): Promise<number> => (await emulator.request<{ calls: Record<string, number> }>('stats')).calls.on_behalf_of ?? 0
    const coldBurst = async (urls: string[]): Promise<number> => {
      const assertion = await token(DEV_CLI_CLIENT_ID, [DEV_RELAY_SCOPE])
      const before = await oboCalls()
      const answers = await loadgen.request<Array<{ status: number, body: string }>>('burst', burstOf(urls, assertion))
      const failed = answers.filter((a) => a.status !== 200)
      if (failed.length > 0) throw new Error(`S4: ${failed.length} of 100 cold requests failed: ${failed[0]!.status} ${failed[0]!.body}`)
      return await oboCalls() - before
    }
    const oneReplica = await coldBurst([`${relay.url}/v1/servers/notes/tools/whoami`])
    let redis: RedisServer | undefined
    let twoReplicas = Number.NaN
    try {
      redis = await startRedisServer({ redisServerPath: redisBin!.path })
      const replicas = await Promise.all([startRelay('replica-1', { REDIS_URL: redis.url }), startRelay('replica-2', { REDIS_URL: redis.url })])
      try {
        twoReplicas = await coldBurst(replicas.map((r) => `${r.url}/v1/servers/notes/tools/whoami`))
      } finally {
        await Promise.all(replicas.map(async (r) => await r.child.stop()))
      }
    } finally {
      await redis?.stop()
    }
    tables.push(`S4 single-flight: 100 concurrent cold requests (one new assertion, one server) → On-Behalf-Of calls at the emulator\n  one replica (memory store)          ${oneReplica}\n  two replicas sharing Redis (50+50)  ${twoReplicas}`)
    results.s4_entra_calls_one_replica = oneReplica
    results.s4_entra_calls_two_replicas = twoReplicas
  }

  await relay.child.stop()

  // ---------------------------------------------------------------- S3, S5: in-process harness
  if (wants('S3') || wants('S5')) {
    log('S3/S5: in-process harness')
    const harness = await startChild('harness', process.execPath, {
      nodeArgs: ['--expose-gc', '--max-old-space-size=4096'],
      args: [join(ROOT, 'bench/procs/harness.ts')],
      env: { BENCH_RELAY_ENV: JSON.stringify({ ...relayEnv(), PORT: '0', PUBLIC_URL: 'http://127.0.0.1:1' }) },
    })
    const h = await harness.request<HarnessResult>('run', { quick: QUICK, s3: wants('S3'), s5: wants('S5'), users: ALICE, password: 'alice-password' }, 600_000)
    await harness.stop()
    if (h.s3 !== undefined) {
      const base = h.s3.sizes[0]!
      tables.push(`S3 OBO cache scaling: OboService.exchange cache hits (in process, pre-minted assertions, cap ${h.s3.cap}, random users)\n` +
        '  control: the same random walk over a plain Map of one object per user (memory alone)\n' +
        h.s3.sizes.map((s) => `  ${String(s.size).padStart(7)} users  ${s.nsPerHit.toFixed(0).padStart(6)} ns per hit  ×10 users ${(s.nsPerHit / base.nsPerHit).toFixed(3)}   control ${s.controlNs.toFixed(0).padStart(4)} ns (+${(s.controlNs - base.controlNs).toFixed(0)})  hit − control ${(s.nsPerHit - s.controlNs).toFixed(0)} ns`).join('\n'))
      results.s3_hit_cost_100k_vs_10 = h.s3.sizes[h.s3.sizes.length - 1]!.nsPerHit / h.s3.sizes[0]!.nsPerHit
      results.s3_hit_ns_10 = base.nsPerHit
      results.s3_hit_ns_100k = h.s3.sizes[h.s3.sizes.length - 1]!.nsPerHit
      results.s3_control_100k_vs_10 = h.s3.sizes[h.s3.sizes.length - 1]!.controlNs / base.controlNs
    }
    if (h.s5 !== undefined) {
      tables.push(`S5 memory: heap after GC (in process over the real services, memory store), ${h.s5.count} of each, per 10k\n${h.s5.lines.join('\n')}`)
      results.s5_bytes_per_session = h.s5.bytesPerSession
      results.s5_bytes_per_obo_entry = h.s5.bytesPerOboEntry
      results.s5_bytes_per_browser_session = h.s5.bytesPerBrowserSession
      results.s5_bytes_per_agent_session = h.s5.bytesPerAgentSession
    }
  }

  const seconds = (performance.now() - started) / 1000
  process.stdout.write(`\nobo-relay benchmarks — node ${process.version}, ${QUICK ? 'quick' : 'full'} run, ${RUN_SEC} s × ${REPS} per row (median), loopback, every server in its own process\n\n`)
  process.stdout.write(`${tables.join('\n\n')}\n\n`)
  process.stdout.write(`done in ${seconds.toFixed(0)} s\n`)
  const rounded = Object.fromEntries(Object.entries(results).map(([k, v]) => [k, Number.isFinite(v) ? Number(v.toPrecision(4)) : v]))
  process.stdout.write(`BENCH ${JSON.stringify({ quick: QUICK, seconds: Math.round(seconds), ...rounded })}\n`)

  /** One row per target: warm-up, then REPS interleaved runs; the median throughput and its run's latencies and CPU. */
  async function measureRows (scenario: string, allTargets: Target[], connections: number, options: { dpop?: { target: number, spec: Record<string, unknown> } } = {}): Promise<Row[]> {
    const targets = allTargets
    const skipped = (target: Target): boolean => PATHS !== undefined && !PATHS.includes(target.label)
    const runs: Array<Array<{ result: RunResult, cpuUsPerReq: number | undefined }>> = targets.map(() => [])
    const spec = (target: Target, index: number, durationSec: number): RunSpec => ({
      url: target.url,
      method: target.method ?? 'POST',
      headers: target.headers,
      ...(target.body === undefined ? {} : { body: target.body, idReplacement: target.body.includes('[<id>]') }),
      connections,
      durationSec,
      // autocannon runs at least a second, whatever shorter duration it is given (the 0.3 s warm-up): proofs for that.
      ...(options.dpop?.target === index ? { dpop: { ...options.dpop.spec, count: Math.ceil(Math.max(1, durationSec) * 8_000) + 1_000 } as never } : {}),
    })
    for (const [i, target] of targets.entries()) if (!skipped(target)) await runChecked(target, spec(target, i, WARMUP_SEC))
    for (let rep = 0; rep < REPS; rep++) {
      for (const [i, target] of targets.entries()) {
        if (skipped(target)) continue
        const profile = PROFILE.has(scenario) && target.relay !== undefined && rep === 0
        if (profile) await target.relay!.child.request('profileStart', { heap: HEAP_PROFILE, promotedOnly: HEAP_PROMOTED })
        if (GC_STATS) await target.relay?.child.request('gc')
        const cpuBefore = await target.cpu?.()
        const result = await runChecked(target, spec(target, i, RUN_SEC))
        const cpuAfter = await target.cpu?.()
        if (GC_STATS && target.relay !== undefined) log(`gc ${scenario} ${connections}c ${target.label}: ${formatGc(await target.relay.child.request<GcTally>('gc'), result.requests)}`)
        if (profile) {
          await mkdir(join(ROOT, 'bench-profiles'), { recursive: true })
          const path = join(ROOT, 'bench-profiles', `${scenario}-${connections}c-${target.label.replace(/[^\w]+/g, '_')}.${HEAP_PROFILE ? 'heapprofile' : 'cpuprofile'}`)
          await target.relay!.child.request('profileStop', { path, heap: HEAP_PROFILE })
          log(`profile written: ${path}`)
        }
        runs[i]!.push({ result, cpuUsPerReq: cpuBefore === undefined || cpuAfter === undefined ? undefined : (cpuAfter - cpuBefore) / result.requests })
      }
    }
    return targets.map((target, i) => {
      if (skipped(target)) return { label: target.label, rps: Number.NaN, p50Ms: Number.NaN, p99Ms: Number.NaN, cpuUsPerReq: undefined, requests: 0 }
      const sorted = [...runs[i]!].sort((a, b) => a.result.rps - b.result.rps)
      const mid = sorted[Math.floor(sorted.length / 2)]!
      const cpus = runs[i]!.map((r) => r.cpuUsPerReq).filter((v): v is number => v !== undefined)
      return {
        label: target.label,
        rps: mid.result.rps,
        p50Ms: mid.result.p50Ms,
        p99Ms: mid.result.p99Ms,
        cpuUsPerReq: cpus.length === 0 ? undefined : median(cpus),
        requests: runs[i]!.reduce((sum, r) => sum + r.result.requests, 0),
      }
    })
  }
}

type GcTally = Record<string, { count: number, ms: number }>
/** `PerformanceEntry.detail.kind` of a gc entry: NODE_PERFORMANCE_GC_* (perf_hooks.constants). */
const GC_KINDS: Record<string, string> = { 1: 'scavenge', 2: 'full', 4: 'incremental', 8: 'weak callbacks' }
function formatGc (tally: GcTally, requests: number): string {
  const per10k = (n: number): string => (n * 10_000 / requests).toFixed(1)
  return Object.entries(tally).map(([kind, { count, ms }]) => `${GC_KINDS[kind] ?? kind} ${per10k(count)} (${per10k(ms)} ms)`).join(', ') + ' per 10k requests'
}

/** A run whose answers are not all 2xx measures errors, not the path: it stops the benchmark. */
async function runChecked (target: Target, spec: RunSpec): Promise<RunResult> {
  const result = await loadgen.request<RunResult>('run', spec, (spec.durationSec + 120) * 1000)
  const bad = result.non2xx + result.errors + result.timeouts
  if (bad > 0 || result.requests === 0) {
    throw new Error(`${target.label}: ${result.requests} answers, ${result.non2xx} not 2xx (${JSON.stringify(result.statuses)}), ${result.errors} errors, ${result.timeouts} timeouts`)
  }
  return result
}

stopChildrenOnExit(stopAllChildren)
try {
  await main()
  await stopAllChildren()
  process.exit(0)
} catch (err) {
  process.stderr.write(`bench failed: ${err instanceof Error ? err.stack ?? err.message : String(err)}\n`)
  await stopAllChildren().catch(() => {})
  process.exit(1)
}
