// What an operator watches and relies on: named metrics with the values a known sequence produces (and no
// per-user label), rate limits (429 + Retry-After), load shedding under an event-loop stall, a valid OpenAPI 3.
import SwaggerParser from '@apidevtools/swagger-parser'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { startTestStack, type TestStack } from '../helpers/stack.ts'

describe('metrics', () => {
  let stack: TestStack
  beforeAll(async () => { stack = await startTestStack() })
  afterAll(async () => { await stack?.close() })

  const metricValue = (text: string, name: string, labels: Record<string, string>): number => {
    const line = text.split('\n').find((l) => l.startsWith(`${name}{`) && Object.entries(labels).every(([k, v]) => l.includes(`${k}="${v}"`)))
    return line === undefined ? 0 : Number(line.slice(line.lastIndexOf(' ') + 1))
  }

  it('count what happened, by route, outcome and server, and carry no user or token', async () => {
    const token = await stack.userToken('alice@contoso.test')
    const call = () => stack.call('/v1/servers/notes/tools/whoami', { method: 'POST', token, body: '{}' })
    expect((await call()).status).toBe(200)
    expect((await call()).status).toBe(200)
    expect((await stack.call('/v1/servers/nope/tools/x', { method: 'POST', token, body: '{}' })).status).toBe(404)
    const text = await (await fetch(stack.metricsUrl)).text()
    expect(metricValue(text, 'obo_relay_obo_cache_total', { outcome: 'miss' })).toBe(1)
    // The first call probes the server's MCP era with the token it then reuses: one miss, then two hits.
    expect(metricValue(text, 'obo_relay_obo_cache_total', { outcome: 'hit' })).toBe(2)
    expect(metricValue(text, 'obo_relay_http_request_duration_seconds_count', { route: '/v1/servers/:server/tools/:tool', status: '200' })).toBe(2)
    expect(metricValue(text, 'obo_relay_http_request_duration_seconds_count', { route: '/v1/servers/:server/tools/:tool', status: '404' })).toBe(1)
    expect(metricValue(text, 'obo_relay_downstream_request_duration_seconds_count', { server: 'notes', outcome: 'ok' })).toBe(3) // the era probe, two calls
    expect(metricValue(text, 'obo_relay_entra_responses_total', { status: '200', aadsts: 'none' })).toBeGreaterThanOrEqual(1)
    expect(metricValue(text, 'obo_relay_mcp_clients', {}) + Number(/^obo_relay_mcp_clients (\d+)/m.exec(text)?.[1] ?? 0)).toBeGreaterThanOrEqual(1)
    const alice = stack.emulator.users.find((u) => u.username === 'alice@contoso.test')!
    expect(text).not.toContain(alice.oid)
    expect(text).not.toContain('alice@contoso.test')
    expect(text).not.toContain('eyJ')
    expect(text).not.toContain('/v1/servers/nope')
  })

  it('the gateway too: pass-through latency per server, open streams while one is open, coalesced OBO waits', async () => {
    const token = await stack.userToken('bob@contoso.test')
    const headers = { authorization: `Bearer ${token}`, 'content-type': 'application/json', accept: 'application/json, text/event-stream' }
    const metrics = async () => await (await fetch(stack.metricsUrl)).text()
    const before = metricValue(await metrics(), 'obo_relay_downstream_request_duration_seconds_count', { server: 'calendar', outcome: 'ok' })
    // Ten concurrent first calls for one user and server: one Entra exchange, the others wait for it.
    const coalescedBefore = metricValue(await metrics(), 'obo_relay_obo_cache_total', { outcome: 'coalesced' })
    const inits = await Promise.all(Array.from({ length: 10 }, async () => await fetch(`${stack.relayUrl}/mcp/calendar`, {
      method: 'POST',
      headers,
      body: JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'initialize', params: { protocolVersion: '2025-06-18', capabilities: {}, clientInfo: { name: 'm', version: '1' } } }),
    })))
    for (const init of inits) expect(init.status).toBe(200)
    await Promise.all(inits.map(async (init) => await init.arrayBuffer()))
    let text = await metrics()
    expect(metricValue(text, 'obo_relay_downstream_request_duration_seconds_count', { server: 'calendar', outcome: 'ok' })).toBe(before + 10)
    expect(metricValue(text, 'obo_relay_obo_cache_total', { outcome: 'coalesced' }) - coalescedBefore).toBeGreaterThanOrEqual(1)
    expect(Number(/^obo_relay_open_streams (\d+)/m.exec(text)?.[1])).toBe(0)

    const session = inits[0]!.headers.get('mcp-session-id')!
    const stream = await fetch(`${stack.relayUrl}/mcp/calendar`, { headers: { ...headers, 'mcp-session-id': session, 'mcp-protocol-version': '2025-06-18' } })
    expect(stream.status).toBe(200)
    text = await metrics()
    expect(Number(/^obo_relay_open_streams (\d+)/m.exec(text)?.[1])).toBe(1)
    await stream.body?.cancel()
    await expect.poll(async () => Number(/^obo_relay_open_streams (\d+)/m.exec(await metrics())?.[1])).toBe(0)
  })

  it('the public port does not serve /metrics (unless METRICS_BEARER_TOKEN is set)', async () => {
    expect((await stack.call('/metrics')).status).toBe(404)
  })
})

describe('metrics behind a bearer on the public port', () => {
  let stack: TestStack
  beforeAll(async () => { stack = await startTestStack({ relayEnv: { METRICS_BEARER_TOKEN: 'metrics-bearer-0123456789' } }) })
  afterAll(async () => { await stack?.close() })

  it('answers the bearer only', async () => {
    expect((await stack.call('/metrics')).status).toBe(401)
    expect((await stack.call('/metrics', { token: 'wrong-bearer-0123456789' })).status).toBe(401)
    const ok = await fetch(`${stack.relayUrl}/metrics`, { headers: { authorization: 'Bearer metrics-bearer-0123456789' } })
    expect(ok.status).toBe(200)
    expect(await ok.text()).toContain('obo_relay_http_request_duration_seconds')
  })
})

describe('rate limits', () => {
  let stack: TestStack
  beforeAll(async () => { stack = await startTestStack({ relayEnv: { RATE_LIMIT_USER_PER_MIN: '3', RATE_LIMIT_CLIENT_PER_MIN: '8' } }) })
  afterAll(async () => { await stack?.close() })

  it('past the per-user limit: 429 with Retry-After; another user is not affected; health is never limited', async () => {
    const alice = await stack.userToken('alice@contoso.test')
    const bob = await stack.userToken('bob@contoso.test')
    for (let i = 0; i < 3; i++) expect((await stack.call('/v1/me', { token: alice })).status).toBe(200)
    const limited = await stack.call('/v1/me', { token: alice })
    expect(limited.status).toBe(429)
    expect(limited.body).toMatchObject({ error: 'rate_limited', reason: 'rate_limited' })
    expect(Number(limited.headers.get('retry-after'))).toBeGreaterThan(0)
    expect((await stack.call('/v1/me', { token: bob })).status).toBe(200)
    for (let i = 0; i < 20; i++) expect((await stack.call('/healthz')).status).toBe(200)
  })

  it('past the per-address limit: 429 for anyone from that address', async () => {
    let last = 0
    for (let i = 0; i < 10; i++) last = (await stack.call('/.well-known/oauth-protected-resource')).status
    expect(last).toBe(429)
  })
})

describe('load shedding', () => {
  let stack: TestStack
  beforeAll(async () => { stack = await startTestStack({ relayEnv: { EVENT_LOOP_LAG_LIMIT_MS: '150' } }) })
  afterAll(async () => { await stack?.close() })

  it('an event-loop stall sheds requests with 503 + Retry-After; health stays up; then it recovers', async () => {
    // The stack's own start-up (key generation in this process) may still be in the window: wait for quiet.
    const quiet = Date.now() + 5000
    while ((await stack.call('/.well-known/oauth-protected-resource')).status !== 200 && Date.now() < quiet) await new Promise((resolve) => setTimeout(resolve, 100))
    expect((await stack.call('/.well-known/oauth-protected-resource')).status).toBe(200)
    // The relay runs in this process: stall its event loop well past the limit, then let one sample see it.
    const until = Date.now() + 500
    while (Date.now() < until) { /* a stall, on purpose */ }
    await new Promise((resolve) => setTimeout(resolve, 20))
    const shed = await stack.call('/.well-known/oauth-protected-resource')
    expect(shed.status).toBe(503)
    expect(shed.body.reason).toBe('overloaded')
    expect(shed.headers.get('retry-after')).toBe('2')
    expect((await stack.call('/healthz')).status).toBe(200)
    const deadline = Date.now() + 5000
    let status = 503
    while (status === 503 && Date.now() < deadline) {
      await new Promise((resolve) => setTimeout(resolve, 100))
      status = (await stack.call('/.well-known/oauth-protected-resource')).status
    }
    expect(status).toBe(200)
  })
})

describe('OpenAPI', () => {
  let stack: TestStack
  beforeAll(async () => { stack = await startTestStack() })
  afterAll(async () => { await stack?.close() })

  it('/openapi.json validates as OpenAPI 3', async () => {
    const document = (await stack.call('/openapi.json')).body as Record<string, unknown>
    expect(String(document.openapi)).toMatch(/^3\./)
    await expect(SwaggerParser.validate(structuredClone(document) as never)).resolves.toBeDefined()
  })
})
