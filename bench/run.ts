// Benchmarks with ratios against baselines run side by side, on the real dev stack (loopback only, bounded).
//   direct   — MCP SDK client straight to the notes server with an OBO token (what an agent could do alone)
//   proxy    — the same through a plain streaming reverse proxy (undici), the floor for any gateway
//   relay    — POST /v1/servers/notes/tools/whoami, OBO cache hit (the steady state)
//   relay-miss — the same with a new user assertion each call: OBO through MSAL to the emulator every time
//   gateway  — the SDK client through /mcp/notes (pass-through) and /mcp (aggregated), OBO cache hit
// Also: OboService.exchange alone (hit vs miss) and memory per active user.
// Usage: npm run bench [-- --n 300]
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http'
import { Client } from '@modelcontextprotocol/sdk/client/index.js'
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js'
import { Agent, request as undiciRequest } from 'undici'
import { startDevStack, freePort } from '../dev/start-stack.ts'
import { DEV_CLI_CLIENT_ID, DEV_RELAY_CLIENT_ID, DEV_RELAY_SCOPE, defaultUsers, type TestUser } from '../dev/entra-emulator/index.ts'
import { createLogger } from '../src/observability/logger.ts'
import type { UserAssertion } from '../src/caller/user-assertion.ts'

const argN = process.argv.indexOf('--n')
const N = argN === -1 ? 300 : Number(process.argv[argN + 1])
const MISS_N = Math.min(N, 150)

const USERS = 300
const benchUsers: TestUser[] = Array.from({ length: USERS * 2 }, (_, i) => ({
  username: `user${i}@contoso.test`,
  password: 'bench-password',
  oid: `b0000000-0000-4000-8000-${String(i).padStart(12, '0')}`,
  name: `Bench User ${i}`,
}))
const stack = await startDevStack({
  relayPort: 0,
  emulatorPort: 0,
  notesPort: 0,
  calendarPort: 0,
  logger: createLogger('silent'),
  emulator: { users: [...defaultUsers(), ...benchUsers] },
})
const alice = stack.emulator.users.find((u) => u.username === 'alice@contoso.test')!
const userToken = () => stack.emulator.issueUserToken(alice.username, { clientId: DEV_CLI_CLIENT_ID, scopes: [DEV_RELAY_SCOPE] })
const oboToken = await stack.emulator.issueUserToken(alice.username, { clientId: DEV_RELAY_CLIENT_ID, scopes: ['api://notes-mcp/user_impersonation'] })

// A plain reverse proxy: pipe request and response through undici, headers as they are.
const upstream = new URL(stack.notes.url)
const proxyAgent = new Agent({ keepAliveTimeout: 30_000 })
const proxyPort = await freePort()
const proxy = createServer((req: IncomingMessage, res: ServerResponse) => {
  const headers: Record<string, string> = {}
  for (const [k, v] of Object.entries(req.headers)) if (typeof v === 'string' && k !== 'host' && k !== 'connection') headers[k] = v
  undiciRequest(new URL(req.url ?? '/', upstream.origin), { method: req.method as 'POST', headers, body: req.method === 'GET' || req.method === 'DELETE' ? null : req, dispatcher: proxyAgent })
    .then((up) => {
      const out: Record<string, string | string[]> = {}
      for (const [k, v] of Object.entries(up.headers)) if (v !== undefined && k !== 'connection' && k !== 'keep-alive' && k !== 'transfer-encoding') out[k] = v
      res.writeHead(up.statusCode, out)
      up.body.pipe(res)
    }, () => { res.writeHead(502).end() })
})
await new Promise<void>((resolve) => proxy.listen(proxyPort, '127.0.0.1', resolve))

async function mcpClient (url: string, token = oboToken): Promise<Client> {
  const client = new Client({ name: 'bench', version: '1' })
  await client.connect(new StreamableHTTPClientTransport(new URL(url), { requestInit: { headers: { authorization: `Bearer ${token}` } } }))
  return client
}

const relayAgent = new Agent({ keepAliveTimeout: 30_000 })
async function relayCall (token: string): Promise<void> {
  const res = await undiciRequest(`${stack.relayUrl}/v1/servers/notes/tools/whoami`, {
    method: 'POST', body: '{"arguments":{}}', headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' }, dispatcher: relayAgent,
  })
  await res.body.text()
  if (res.statusCode !== 200) throw new Error(`relay answered ${res.statusCode}`)
}

interface Stats { name: string, n: number, p50: number, p95: number, mean: number }
async function measure (name: string, n: number, run: (i: number) => Promise<void>): Promise<Stats> {
  for (let i = 0; i < 20; i++) await run(-1 - i) // warm-up (JIT, connections)
  const samples: number[] = []
  for (let i = 0; i < n; i++) {
    const t = performance.now()
    await run(i)
    samples.push(performance.now() - t)
  }
  samples.sort((a, b) => a - b)
  const at = (q: number) => samples[Math.min(samples.length - 1, Math.floor(q * samples.length))]!
  return { name, n, p50: at(0.5), p95: at(0.95), mean: samples.reduce((a, b) => a + b, 0) / n }
}

const direct = await mcpClient(stack.notes.url)
// Same host form as the direct client and the relay (`localhost`), so name resolution costs the same everywhere.
const viaProxy = await mcpClient(`http://localhost:${proxyPort}${upstream.pathname}`)
const warmToken = await userToken()
const missTokens = await Promise.all(Array.from({ length: MISS_N + 20 }, userToken))

const results: Stats[] = []
results.push(await measure('direct MCP call (baseline)', N, async () => { await direct.callTool({ name: 'whoami', arguments: {} }) }))
results.push(await measure('plain reverse proxy', N, async () => { await viaProxy.callTool({ name: 'whoami', arguments: {} }) }))
results.push(await measure('relay REST, OBO cache hit', N, async () => { await relayCall(warmToken) }))
results.push(await measure('relay REST, OBO miss (MSAL→Entra)', MISS_N, async (i) => { await relayCall(missTokens[i < 0 ? MISS_N - 1 - i : i]!) }))
const viaGateway = await mcpClient(`${stack.relayUrl}/mcp/notes`, warmToken)
const viaAggregate = await mcpClient(`${stack.relayUrl}/mcp`, warmToken)
results.push(await measure('relay /mcp/notes pass-through', N, async () => { await viaGateway.callTool({ name: 'whoami', arguments: {} }) }))
results.push(await measure('relay /mcp aggregated', N, async () => { await viaAggregate.callTool({ name: 'notes__whoami', arguments: {} }) }))

// OboService alone: the relay's cache in front of MSAL.
const assertionFor = (token: string): UserAssertion => ({ tid: stack.emulator.tenantId, oid: alice.oid, upn: alice.username, name: alice.name, token, exp: Math.floor(Date.now() / 1000) + 3600, mode: 'entra_bearer' })
const scopes = ['api://notes-mcp/user_impersonation']
const oboMissTokens = await Promise.all(Array.from({ length: MISS_N + 20 }, userToken))
const hit = await measure('OboService.exchange, cache hit', N * 10, async () => { await stack.relay.services.obo.exchange(assertionFor(warmToken), scopes) })
const miss = await measure('OboService.exchange, cache miss', MISS_N, async (i) => { await stack.relay.services.obo.exchange(assertionFor(oboMissTokens[i < 0 ? MISS_N - 1 - i : i]!), scopes) })

// Memory per active user, relay vs. the same users each holding their own MCP client (both include the
// sample server's per-session state, which runs in this process too).
const heapNow = () => {
  globalThis.gc?.()
  return process.memoryUsage().heapUsed
}
const directUsers = benchUsers.slice(0, USERS)
const directTokens = await Promise.all(directUsers.map((u) => stack.emulator.issueUserToken(u.username, { clientId: DEV_RELAY_CLIENT_ID, scopes: ['api://notes-mcp/user_impersonation'] })))
let heapBefore = heapNow()
const perUserClients: Client[] = []
for (const token of directTokens) {
  const client = new Client({ name: 'bench', version: '1' })
  await client.connect(new StreamableHTTPClientTransport(new URL(stack.notes.url), { requestInit: { headers: { authorization: `Bearer ${token}` } } }))
  await client.callTool({ name: 'whoami', arguments: {} })
  perUserClients.push(client)
}
const directBytesPerUser = (heapNow() - heapBefore) / USERS
for (const client of perUserClients) {
  await (client.transport as StreamableHTTPClientTransport).terminateSession().catch(() => {})
  await client.close()
}
perUserClients.length = 0

const relayUsers = benchUsers.slice(USERS)
const relayTokens = await Promise.all(relayUsers.map((u) => stack.emulator.issueUserToken(u.username, { clientId: DEV_CLI_CLIENT_ID, scopes: [DEV_RELAY_SCOPE] })))
heapBefore = heapNow()
for (const token of relayTokens) await relayCall(token)
const relayBytesPerUser = (heapNow() - heapBefore) / USERS
const poolSize = stack.relay.services.pool.size
const oboEntries = stack.relay.services.obo.size

const base = results[0]!
const fmt = (ms: number) => (ms < 1 ? `${(ms * 1000).toFixed(0)} µs` : `${ms.toFixed(2)} ms`)
console.log(`\nobo-relay benchmarks (node ${process.version}, loopback, sequential requests)\n`)
console.log('scenario                               n      p50        p95        mean     ×direct(p50)')
for (const r of results) {
  console.log(`${r.name.padEnd(38)} ${String(r.n).padStart(4)} ${fmt(r.p50).padStart(10)} ${fmt(r.p95).padStart(10)} ${fmt(r.mean).padStart(10)}   ${(r.p50 / base.p50).toFixed(2)}`)
}
console.log(`\nOBO cache: hit p50 ${fmt(hit.p50)} (p95 ${fmt(hit.p95)}), miss p50 ${fmt(miss.p50)} (p95 ${fmt(miss.p95)}) → miss/hit ${(miss.p50 / hit.p50).toFixed(0)}×`)
console.log(`relay overhead over the plain proxy at p50: ${fmt(results[2]!.p50 - results[1]!.p50)} (${(results[2]!.p50 / results[1]!.p50).toFixed(2)}×)`)
console.log(`pass-through overhead over the plain proxy at p50: ${fmt(results[4]!.p50 - results[1]!.p50)} (${(results[4]!.p50 / results[1]!.p50).toFixed(2)}×)`)
console.log(`memory per active user (${USERS} users, heap after GC${globalThis.gc === undefined ? '; run with --expose-gc for exact figures' : ''}):`)
console.log(`  direct: own MCP client + server session   ${(directBytesPerUser / 1024).toFixed(1)} KiB`)
console.log(`  relay: OBO entry + pooled client + session ${(relayBytesPerUser / 1024).toFixed(1)} KiB  (${(relayBytesPerUser / directBytesPerUser).toFixed(2)}× direct; pool ${poolSize} clients, ${oboEntries} OBO entries)`)

await direct.close()
await viaProxy.close()
await viaGateway.close()
await viaAggregate.close()
proxy.close()
await proxyAgent.close()
await relayAgent.close()
await stack.close()
// Every server above holds sockets open: leave explicitly once the report is printed.
process.exit(0)
