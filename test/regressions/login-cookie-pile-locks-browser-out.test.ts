// Every /auth/login set another sign-in cookie holding a return_to of up to 2 KiB; a page opening a few
// sign-ins locked the browser out of the relay (431) for ten minutes.
import { afterAll, beforeAll, expect, it } from 'vitest'
import { HttpBrowser } from '../helpers/browser.ts'
import { beginSignIn } from '../helpers/sign-in.ts'
import { startTestStack, type TestStack } from '../helpers/stack.ts'

let stack: TestStack
beforeAll(async () => { stack = await startTestStack() })
afterAll(async () => { await stack?.close() })

it('keeps at most three pending sign-ins per browser, and the newest still completes', async () => {
  const browser = new HttpBrowser(stack.fetch)
  const longPath = `/${'a'.repeat(500)}`
  for (let i = 0; i < 8; i++) expect((await browser.request(`${stack.relayUrl}/auth/login?return_to=${longPath}`)).status).toBe(302)
  const pending = [...(browser.cookies.get(new URL(stack.relayUrl).host)?.keys() ?? [])].filter((name) => name.startsWith('obo_login_'))
  expect(pending.length).toBeLessThanOrEqual(3)
  expect(browser.cookieHeader(stack.relayUrl).length).toBeLessThan(4096)
  expect((await browser.request(`${stack.relayUrl}/healthz`)).status).toBe(200)
  const { callbackUrl } = await beginSignIn(stack, browser, 'alice@contoso.test')
  expect((await browser.request(callbackUrl)).status).toBe(302)
  expect((await browser.request(`${stack.relayUrl}/v1/me`)).status).toBe(200)
})

it('refuses a return_to longer than 512 characters', async () => {
  expect((await stack.call(`/auth/login?return_to=/${'a'.repeat(600)}`)).status).toBe(400)
})
