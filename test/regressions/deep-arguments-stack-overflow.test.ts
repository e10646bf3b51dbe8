// Deeply nested tool `arguments` overflowed the stack further down and were reported as 502 "cannot be reached".
import { afterAll, beforeAll, expect, it } from 'vitest'
import { startTestStack, type TestStack } from '../helpers/stack.ts'

let stack: TestStack
beforeAll(async () => { stack = await startTestStack() })
afterAll(async () => { await stack?.close() })

it('a body nested deeper than MAX_JSON_DEPTH is a clear 400, and nothing reaches the server', async () => {
  const token = await stack.userToken('alice@contoso.test')
  const deep = `{"arguments":{"a":${'['.repeat(100_000)}${']'.repeat(100_000)}}}`
  const res = await stack.call('/v1/servers/notes/tools/echo', { method: 'POST', token, body: deep })
  expect(res.status).toBe(400)
  expect(res.body).toMatchObject({ error: 'invalid_request', reason: 'json_too_deep' })
  expect(stack.oboCalls()).toBe(0)
  // Reasonable nesting still works.
  const ok = await stack.call('/v1/servers/notes/tools/echo', { method: 'POST', token, body: JSON.stringify({ arguments: { text: 'hi', deep: [[[[{ a: 1 }]]]] } }) })
  expect(ok.status).toBe(200)
})
