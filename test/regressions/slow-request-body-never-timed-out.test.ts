// A request body sent one byte at a time was never timed out (Fastify's requestTimeout and connectionTimeout
// were 0, and Node checks the timeout only every 30 s), without any authentication.
import { connect } from 'node:net'
import { afterAll, beforeAll, expect, it } from 'vitest'
import { startTestStack, type TestStack } from '../helpers/stack.ts'

let stack: TestStack
beforeAll(async () => { stack = await startTestStack({ relayEnv: { REQUEST_TIMEOUT_MS: '1500', HEADERS_TIMEOUT_MS: '1000' } }) })
afterAll(async () => { await stack?.close() })

it('a body trickling in is cut at REQUEST_TIMEOUT_MS with a 408 in the relay\'s shape', async () => {
  const { port } = new URL(stack.relayUrl)
  const socket = connect(Number(port), '127.0.0.1')
  // The relay cuts the connection while we still write: EPIPE/ECONNRESET are the expected end, not a failure.
  socket.on('error', () => {})
  let answer = ''
  socket.on('data', (chunk) => { answer += String(chunk) })
  const closed = new Promise<number>((resolve) => socket.once('close', () => resolve(Date.now())))
  const started = Date.now()
  // A public route that reads a body (an authenticated one would answer 401 before reading anything).
  socket.write('POST /auth/logout HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: 1000\r\n\r\n')
  const trickle = setInterval(() => { if (!socket.destroyed) socket.write('a') }, 200)
  const end = await closed
  clearInterval(trickle)
  expect(end - started).toBeLessThan(4000)
  expect(answer).toMatch(/^HTTP\/1\.1 408/)
  expect(answer).toContain('"reason":"invalid_request"')
  expect(answer).toContain('x-content-type-options: nosniff')
})

it('headers that never finish are cut at HEADERS_TIMEOUT_MS', async () => {
  const { port } = new URL(stack.relayUrl)
  const socket = connect(Number(port), '127.0.0.1')
  // The relay cuts the connection while we still write: EPIPE/ECONNRESET are the expected end, not a failure.
  socket.on('error', () => {})
  const closed = new Promise<number>((resolve) => socket.once('close', () => resolve(Date.now())))
  const started = Date.now()
  socket.write('GET /healthz HTTP/1.1\r\nHost: localhost\r\n')
  const trickle = setInterval(() => { if (!socket.destroyed) socket.write('X-Slow: 1\r\n') }, 200)
  const end = await closed
  clearInterval(trickle)
  expect(end - started).toBeLessThan(3500)
})
