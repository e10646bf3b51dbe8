// 431, 414 and the HTTP parser's 400s used Fastify's own body shape, not the relay's.
import { connect } from 'node:net'
import { afterAll, beforeAll, expect, it } from 'vitest'
import { startTestStack, type TestStack } from '../helpers/stack.ts'

let stack: TestStack
beforeAll(async () => { stack = await startTestStack() })
afterAll(async () => { await stack?.close() })

/** A raw exchange: what the relay answers to bytes no HTTP client would send. */
async function raw (request: string): Promise<string> {
  const { port } = new URL(stack.relayUrl)
  const socket = connect(Number(port), '127.0.0.1')
  let answer = ''
  socket.on('data', (chunk) => { answer += String(chunk) })
  socket.write(request)
  await new Promise((resolve) => socket.once('close', resolve))
  return answer
}

const bodyOf = (answer: string): Record<string, unknown> => JSON.parse(answer.slice(answer.indexOf('\r\n\r\n') + 4)) as Record<string, unknown>

it('headers too large → 431 in the relay\'s shape', async () => {
  const answer = await raw(`GET /healthz HTTP/1.1\r\nHost: localhost\r\nX-Big: ${'a'.repeat(40_000)}\r\n\r\n`)
  expect(answer).toMatch(/^HTTP\/1\.1 431/)
  expect(bodyOf(answer)).toMatchObject({ error: 'invalid_request', reason: 'headers_too_large' })
})

it('a broken request line → 400 in the relay\'s shape', async () => {
  const answer = await raw('GARBAGE\r\n\r\n')
  expect(answer).toMatch(/^HTTP\/1\.1 400/)
  expect(bodyOf(answer)).toMatchObject({ error: 'invalid_request', reason: 'invalid_request' })
})

it('a path parameter over the limit → 414 in the relay\'s shape, with a request id', async () => {
  const res = await stack.call(`/v1/servers/notes/tools/${'t'.repeat(600)}`, { method: 'POST', body: '{}' })
  expect(res.status).toBe(414)
  expect(res.body).toMatchObject({ error: 'invalid_request', reason: 'uri_too_long' })
  expect(res.body.request_id).toEqual(expect.any(String))
})

it('bad percent-encoding → 400 in the relay\'s shape', async () => {
  const res = await stack.call('/v1/servers/%E0%A4%A/tools')
  expect(res.status).toBe(400)
  expect(res.body).toMatchObject({ error: 'invalid_request' })
})
