// With Entra unreachable, /auth/login answered 500 (an unmapped metadata error) while /readyz said 503.
import { afterAll, beforeAll, expect, it } from 'vitest'
import { startTestStack, type TestStack } from '../helpers/stack.ts'

let stack: TestStack
let token: string
beforeAll(async () => {
  stack = await startTestStack()
  token = await stack.userToken('alice@contoso.test')
  await stack.emulator.close()
})
afterAll(async () => { await stack?.close() })

it('sign-in, readiness and tool calls answer 503 with Retry-After while Entra is down', async () => {
  const login = await stack.call('/auth/login')
  expect(login.status).toBe(503)
  expect(login.body.error).toBe('temporarily_unavailable')
  expect(login.headers.get('retry-after')).toMatch(/^\d+$/)
  expect((await stack.call('/readyz')).status).toBe(503)
  const call = await stack.call('/v1/servers/notes/tools/whoami', { method: 'POST', token, body: '{}' })
  expect(call.status).toBe(503)
  expect(call.body.error).toBe('temporarily_unavailable')
})
