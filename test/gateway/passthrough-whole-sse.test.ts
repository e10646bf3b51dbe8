// /mcp/:server sends an event stream that has all arrived by the time its headers are read in one write, as the
// server sent it (no keep-alive comment in front, the stream headers still set) — but only within the response
// bound: past DOWNSTREAM_MAX_RESPONSE_BYTES it goes the streaming way and is cut there, never passed whole (nor
// is a JSON answer read whole past it).
import { afterAll, beforeAll, expect, it } from 'vitest'
import { HOSTILE_APIS, startHostileStack, type HostileStack } from '../helpers/hostile.ts'

const CAP = 4096
let h: HostileStack
let alice: string
beforeAll(async () => {
  h = await startHostileStack(['bounded'], { pins: { bounded: HOSTILE_APIS.bounded.appIdUri }, relayEnv: { DOWNSTREAM_MAX_RESPONSE_BYTES: String(CAP) } })
  alice = await h.stack.userToken('alice@contoso.test')
})
afterAll(async () => { await h?.close() })

const call = async (bytes: number, name = 'sse_whole') => await fetch(`${h.stack.relayUrl}/mcp/hostile-bounded`, {
  method: 'POST',
  headers: { authorization: `Bearer ${alice}`, 'content-type': 'application/json', accept: 'application/json, text/event-stream', 'mcp-protocol-version': '2025-06-18' },
  body: JSON.stringify({ jsonrpc: '2.0', id: 7, method: 'tools/call', params: { name, arguments: { bytes } } }),
})

it('a short event stream that has all arrived is passed as it is, with the stream headers', async () => {
  const response = await call(100)
  expect(response.status).toBe(200)
  expect(response.headers.get('content-type')).toBe('text/event-stream')
  expect(response.headers.get('cache-control')).toBe('no-cache')
  expect(response.headers.get('x-accel-buffering')).toBe('no')
  // One write of a known length, not a stream (which goes chunked, a keep-alive comment first).
  expect(response.headers.get('content-length')).not.toBeNull()
  expect(response.headers.get('transfer-encoding')).toBeNull()
  const body = await response.text()
  expect(body).toBe(`event: message\ndata: ${JSON.stringify({ jsonrpc: '2.0', id: 7, result: { content: [{ type: 'text', text: 'x'.repeat(100) }] } })}\n\n`)
})

it('one past the response bound is cut, never passed whole', async () => {
  const response = await call(2 * CAP)
  let body = ''
  try {
    body = await response.text()
  } catch {
    // The stream was cut: what matters is that the whole event never arrived.
  }
  expect(body).not.toContain('x'.repeat(2 * CAP))
  expect(body.length).toBeLessThanOrEqual(CAP + 64)
})

it('a JSON answer without Content-Length past the response bound (under the 64 KiB read whole) is the relay\'s 502', async () => {
  const small = await call(100, 'json_chunked')
  expect(small.status).toBe(200)
  expect(JSON.parse(await small.text())).toMatchObject({ id: 7, result: { content: [{ text: 'x'.repeat(100) }] } })
  const response = await call(2 * CAP, 'json_chunked')
  expect(response.status).toBe(502)
  const body = await response.text()
  expect(body).not.toContain('xxxx')
  expect(JSON.parse(body)).toMatchObject({ jsonrpc: '2.0', id: 7, error: { data: { reason: 'downstream_too_large' } } })
})
