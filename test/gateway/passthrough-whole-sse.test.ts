// /mcp/:server sends an event stream that has all arrived by the time its headers are read in one write, as the
// server sent it (no keep-alive comment in front, the stream headers still set) — but only within the response
// bound: past DOWNSTREAM_MAX_RESPONSE_BYTES it goes the streaming way and is cut there, never passed whole.
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

const call = async (bytes: number) => await fetch(`${h.stack.relayUrl}/mcp/hostile-bounded`, {
  method: 'POST',
  headers: { authorization: `Bearer ${alice}`, 'content-type': 'application/json', accept: 'application/json, text/event-stream', 'mcp-protocol-version': '2025-06-18' },
  body: JSON.stringify({ jsonrpc: '2.0', id: 7, method: 'tools/call', params: { name: 'sse_whole', arguments: { bytes } } }),
})

it('a short event stream that has all arrived is passed as it is, with the stream headers', async () => {
  const response = await call(100)
  expect(response.status).toBe(200)
  expect(response.headers.get('content-type')).toBe('text/event-stream')
  expect(response.headers.get('cache-control')).toBe('no-cache')
  expect(response.headers.get('x-accel-buffering')).toBe('no')
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
