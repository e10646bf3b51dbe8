// Closing the relay (SIGTERM's drain, a test's teardown) does not wait on connections that carry no request:
// a client pool's connection opened ahead of use kept relay.close() waiting about a minute.
import { connect } from 'node:net'
import { afterAll, beforeAll, expect, it } from 'vitest'
import { startTestStack, type TestStack } from '../helpers/stack.ts'

let stack: TestStack
beforeAll(async () => { stack = await startTestStack() })
afterAll(async () => { await stack?.close() })

it('close() ends a connection that never sent a request, and lets a request in flight finish first', async () => {
  const { port } = new URL(stack.relayUrl)
  const open = async () => {
    const socket = connect(Number(port), '127.0.0.1')
    socket.on('error', () => {})
    await new Promise((resolve) => socket.once('connect', resolve))
    return { socket, closed: new Promise<void>((resolve) => socket.once('close', () => resolve())) }
  }
  const silent = await open()
  // A request whose headers are complete and whose body is still coming: it is in flight when closing starts.
  const busy = await open()
  let answer = ''
  busy.socket.on('data', (chunk) => { answer += String(chunk) })
  busy.socket.write('POST /auth/logout HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: 2\r\n\r\na')
  await new Promise((resolve) => setTimeout(resolve, 100))

  const closing = stack.relay.close()
  // The silent connection goes at once; the busy one stays until its request is answered.
  await silent.closed
  expect(busy.socket.destroyed).toBe(false)
  busy.socket.write('b')
  await busy.closed
  await closing
  expect(answer).toMatch(/^HTTP\/1\.1 \d{3}/)
}, 20_000)
