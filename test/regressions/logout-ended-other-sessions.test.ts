// All sessions of a user shared one MSAL partition: signing out on one device signed the user out everywhere.
import { afterAll, beforeAll, expect, it } from 'vitest'
import { signedInBrowser } from '../helpers/sign-in.ts'
import { startTestStack, type TestStack } from '../helpers/stack.ts'

let stack: TestStack
// Short-lived relay tokens: every call goes back to the session's MSAL partition.
beforeAll(async () => { stack = await startTestStack({ emulator: { accessTokenLifetimeSec: 100 } }) })
afterAll(async () => { await stack?.close() })

it('signing out in one browser leaves the same user\'s other session working', async () => {
  const laptop = await signedInBrowser(stack, 'alice@contoso.test')
  const phone = await signedInBrowser(stack, 'alice@contoso.test')
  expect((await phone.request(`${stack.relayUrl}/auth/logout`, { method: 'POST', headers: { origin: stack.relayUrl } })).status).toBe(200)
  expect((await phone.request(`${stack.relayUrl}/v1/me`)).status).toBe(401)
  expect((await laptop.request(`${stack.relayUrl}/v1/me`)).status).toBe(200)
})
