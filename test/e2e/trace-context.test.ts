// The caller's W3C traceparent and the relay's request id reach the MCP server on every request of a call,
// so its logs join the relay's; without a traceparent the relay starts a trace.
import { afterAll, beforeAll, expect, it } from 'vitest'
import { HOSTILE_APIS, startHostileStack, type HostileStack } from '../helpers/hostile.ts'

let h: HostileStack
beforeAll(async () => { h = await startHostileStack(['bounded'], { pins: { bounded: HOSTILE_APIS.bounded.appIdUri } }) })
afterAll(async () => { await h?.close() })

it('passes the caller\'s traceparent and the request id upstream, or starts a trace', async () => {
  const token = await h.stack.userToken('alice@contoso.test')
  const traceparent = '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01'
  const seen = h.hostile.traceHeaders.length
  const res = await h.stack.call('/v1/servers/hostile-bounded/tools/ok', { method: 'POST', token, body: '{}', headers: { traceparent } })
  expect(res.status).toBe(200)
  // The MCP exchanges of the call (scope discovery's PRM fetch belongs to no caller).
  const during = h.hostile.traceHeaders.slice(seen).filter((r) => r.path === '/bounded/mcp')
  expect(during.length).toBeGreaterThan(0)
  for (const headers of during) expect(headers).toEqual({ path: '/bounded/mcp', traceparent, requestId: res.headers.get('x-request-id') })

  const before = h.hostile.traceHeaders.length
  await h.stack.call('/v1/servers/hostile-bounded/tools/ok', { method: 'POST', token, body: '{}', headers: { traceparent: 'not-a-traceparent' } })
  const started = h.hostile.traceHeaders.slice(before).filter((r) => r.path === '/bounded/mcp')
  expect(started[0]?.traceparent).toMatch(/^00-[0-9a-f]{32}-[0-9a-f]{16}-00$/)
  expect(started[0]?.traceparent).not.toBe('not-a-traceparent')
})

it('the same through the gateway: /mcp/<server> and the aggregated /mcp', async () => {
  const token = await h.stack.userToken('alice@contoso.test')
  const traceparent = '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01'
  const headers = { authorization: `Bearer ${token}`, 'content-type': 'application/json', accept: 'application/json, text/event-stream', traceparent, tracestate: 'vendor=1' }
  const initialize = JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'initialize', params: { protocolVersion: '2025-06-18', capabilities: {}, clientInfo: { name: 't', version: '1' } } })
  const seenAt = (from: number) => h.hostile.traceHeaders.slice(from).filter((r) => r.path === '/bounded/mcp')

  let from = h.hostile.traceHeaders.length
  const direct = await fetch(`${h.stack.relayUrl}/mcp/hostile-bounded`, { method: 'POST', headers, body: initialize })
  expect(direct.status).toBe(200)
  await direct.arrayBuffer()
  expect(seenAt(from)).toEqual([{ path: '/bounded/mcp', traceparent, requestId: direct.headers.get('x-request-id') }])

  // A malformed traceparent starts a trace (its tracestate is not carried into the new one).
  from = h.hostile.traceHeaders.length
  const malformed = await fetch(`${h.stack.relayUrl}/mcp/hostile-bounded`, { method: 'POST', headers: { ...headers, traceparent: '00-zz' }, body: initialize })
  await malformed.arrayBuffer()
  expect(seenAt(from)[0]?.traceparent).toMatch(/^00-[0-9a-f]{32}-[0-9a-f]{16}-00$/)

  // The aggregated /mcp: a tools/call on this server carries the caller's trace too.
  const opened = await fetch(`${h.stack.relayUrl}/mcp`, { method: 'POST', headers, body: initialize })
  const session = opened.headers.get('mcp-session-id')!
  await opened.arrayBuffer()
  from = h.hostile.traceHeaders.length
  const call = await fetch(`${h.stack.relayUrl}/mcp`, {
    method: 'POST',
    headers: { ...headers, 'mcp-session-id': session, 'mcp-protocol-version': '2025-06-18' },
    body: JSON.stringify({ jsonrpc: '2.0', id: 2, method: 'tools/call', params: { name: 'hostile-bounded__ok', arguments: {} } }),
  })
  expect(call.status).toBe(200)
  await call.text()
  const during = seenAt(from)
  expect(during.length).toBeGreaterThan(0)
  for (const seen of during) expect(seen).toEqual({ path: '/bounded/mcp', traceparent, requestId: call.headers.get('x-request-id') })
})
