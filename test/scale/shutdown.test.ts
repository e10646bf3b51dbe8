// SIGTERM on a relay process (what `docker stop` and Kubernetes send): with nothing open it exits at once, well
// inside the drain deadline; with a stream open it waits for it up to SHUTDOWN_DRAIN_MS, then exits anyway.
import { afterAll, beforeAll, expect, it } from 'vitest'
import { relayEnv, startRelayProcess } from '../helpers/relay-process.ts'
import { startRedisServer, type RedisServer } from '../helpers/redis-server.ts'
import { startTestStack, type TestStack } from '../helpers/stack.ts'

let stack: TestStack
let redis: RedisServer
let alice: string
beforeAll(async () => {
  stack = await startTestStack()
  redis = await startRedisServer()
  alice = await stack.userToken('alice@contoso.test')
})
afterAll(async () => {
  await redis?.stop()
  await stack?.close()
})

async function timedStop (stop: () => Promise<void>): Promise<number> {
  const started = performance.now()
  await stop()
  return performance.now() - started
}

it('after tool calls over kept-alive connections (REST and /mcp/notes), with Redis: exits within 2 s', async () => {
  const relay = await startRelayProcess(relayEnv(stack, { REDIS_URL: redis.url, TOKEN_ENCRYPTION_KEY: Buffer.alloc(32, 7).toString('base64') }))
  for (let i = 0; i < 3; i++) {
    const rest = await fetch(`${relay.url}/v1/servers/notes/tools/whoami`, { method: 'POST', headers: { authorization: `Bearer ${alice}`, 'content-type': 'application/json' }, body: '{}' })
    expect(rest.status).toBe(200)
    await rest.arrayBuffer()
  }
  const init = await fetch(`${relay.url}/mcp/notes`, {
    method: 'POST',
    headers: { authorization: `Bearer ${alice}`, 'content-type': 'application/json', accept: 'application/json, text/event-stream' },
    body: JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'initialize', params: { protocolVersion: '2025-06-18', capabilities: {}, clientInfo: { name: 't', version: '1' } } }),
  })
  expect(init.status).toBe(200)
  await init.arrayBuffer()
  expect(await timedStop(relay.stop)).toBeLessThan(2_000)
})

it('with a GET stream open on /mcp/notes: exits once SHUTDOWN_DRAIN_MS has passed, not before and not much later', async () => {
  const relay = await startRelayProcess(relayEnv(stack, { SHUTDOWN_DRAIN_MS: '1500' }))
  const headers = { authorization: `Bearer ${alice}`, 'content-type': 'application/json', accept: 'application/json, text/event-stream' }
  const init = await fetch(`${relay.url}/mcp/notes`, {
    method: 'POST',
    headers,
    body: JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'initialize', params: { protocolVersion: '2025-06-18', capabilities: {}, clientInfo: { name: 't', version: '1' } } }),
  })
  const session = init.headers.get('mcp-session-id')!
  await init.arrayBuffer()
  const stream = await fetch(`${relay.url}/mcp/notes`, { headers: { ...headers, 'mcp-session-id': session, 'mcp-protocol-version': '2025-06-18' } })
  expect(stream.status).toBe(200)
  const took = await timedStop(relay.stop)
  expect(took).toBeGreaterThanOrEqual(1_400)
  expect(took).toBeLessThan(4_000)
  await stream.body?.cancel().catch(() => {})
})
