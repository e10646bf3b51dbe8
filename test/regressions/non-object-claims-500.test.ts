// `/auth/login?claims=` with valid base64url of a non-object JSON gave an unauthenticated 500 with MSAL's stack in the log.
import { afterAll, beforeAll, expect, it } from 'vitest'
import { startTestStack, type TestStack } from '../helpers/stack.ts'

let stack: TestStack
beforeAll(async () => { stack = await startTestStack() })
afterAll(async () => { await stack?.close() })

it.each(['[1,2]', '"text"', '42', 'null', 'not json'])('claims=%s → 400 claims_invalid', async (json) => {
  const res = await stack.call(`/auth/login?claims=${Buffer.from(json).toString('base64url')}`)
  expect(res.status).toBe(400)
  expect(res.body).toMatchObject({ error: 'invalid_request', reason: 'claims_invalid' })
  expect(stack.logs.join('\n')).not.toMatch(/"level":50/)
})

it('a claims object still starts the sign-in', async () => {
  const res = await stack.call(`/auth/login?claims=${Buffer.from('{"access_token":{"acrs":{"essential":true,"value":"c1"}}}').toString('base64url')}`)
  expect(res.status).toBe(302)
  expect(new URL(res.headers.get('location')!).searchParams.get('claims')).toContain('acrs')
})
