// A cross-site `POST /auth/logout` (a form on another site) cleared the session cookie.
import { afterAll, beforeAll, expect, it } from 'vitest'
import { signedInBrowser } from '../helpers/sign-in.ts'
import { startTestStack, type TestStack } from '../helpers/stack.ts'

let stack: TestStack
beforeAll(async () => { stack = await startTestStack() })
afterAll(async () => { await stack?.close() })

it('a foreign Origin or a cross-site fetch is refused and changes nothing, cookie or not', async () => {
  const browser = await signedInBrowser(stack, 'alice@contoso.test')
  for (const headers of [{ origin: 'https://evil.example' }, { origin: 'null' }, { 'sec-fetch-site': 'cross-site' }]) {
    const res = await browser.request(`${stack.relayUrl}/auth/logout`, { method: 'POST', headers })
    expect(res.status).toBe(403)
    expect(res.headers.getSetCookie()).toEqual([])
    expect(JSON.parse(await res.text())).toMatchObject({ reason: 'cross_site_refused' })
  }
  // Without any cookie too.
  expect((await stack.call('/auth/logout', { method: 'POST', headers: { origin: 'https://evil.example' } })).status).toBe(403)
  expect((await browser.request(`${stack.relayUrl}/v1/me`)).status).toBe(200)
  // The relay's own page may sign out.
  expect((await browser.request(`${stack.relayUrl}/auth/logout`, { method: 'POST', headers: { origin: stack.relayUrl } })).status).toBe(200)
  expect((await browser.request(`${stack.relayUrl}/v1/me`)).status).toBe(401)
})
