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
