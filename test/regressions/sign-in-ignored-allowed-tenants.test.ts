// Browser sign-in accepted users of any tenant: only bearer tokens were checked against ALLOWED_TENANTS.
import { afterAll, beforeAll, expect, it } from 'vitest'
import { HttpBrowser } from '../helpers/browser.ts'
import { beginSignIn } from '../helpers/sign-in.ts'
import { startTestStack, type TestStack } from '../helpers/stack.ts'

let stack: TestStack
beforeAll(async () => {
  // A multi-tenant relay whose allow-list does not contain the emulator's tenant.
  stack = await startTestStack({ relayEnv: { TENANT_ID: 'organizations', ALLOWED_TENANTS: '33333333-3333-3333-3333-333333333333' } })
})
afterAll(async () => { await stack?.close() })

it('refuses the bearer token and the browser sign-in of a tenant that is not allowed', async () => {
  expect((await stack.call('/v1/me', { token: await stack.userToken('alice@contoso.test') })).status).toBe(401)
  const browser = new HttpBrowser(stack.fetch)
  const { callbackUrl } = await beginSignIn(stack, browser, 'alice@contoso.test')
  const callback = await browser.request(callbackUrl)
  expect(callback.status).toBe(403)
  expect(browser.cookie(stack.relayUrl, 'obo_session')).toBeUndefined()
  expect((await browser.request(`${stack.relayUrl}/v1/me`)).status).toBe(401)
})
