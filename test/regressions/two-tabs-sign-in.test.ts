// Two sign-ins started in one browser shared one binding cookie: the second callback was refused.
// Also: a replayed callback with its cookie planted again must still be refused.
import { afterAll, beforeAll, expect, it } from 'vitest'
import { HttpBrowser } from '../helpers/browser.ts'
import { beginSignIn } from '../helpers/sign-in.ts'
import { startTestStack, type TestStack } from '../helpers/stack.ts'

let stack: TestStack
beforeAll(async () => { stack = await startTestStack() })
afterAll(async () => { await stack?.close() })

it('both tabs complete their sign-in', async () => {
  const browser = new HttpBrowser(stack.fetch)
  const first = await beginSignIn(stack, browser, 'alice@contoso.test', '/v1/me')
  const second = await beginSignIn(stack, browser, 'alice@contoso.test', '/v1/servers')
  const a = await browser.request(first.callbackUrl)
  const b = await browser.request(second.callbackUrl)
  expect([a.status, b.status]).toEqual([302, 302])
  expect(b.headers.get('location')).toBe('/v1/servers')
  expect((await browser.request(`${stack.relayUrl}/v1/me`)).status).toBe(200)
})

it('a replayed callback is refused even with its login cookie planted again', async () => {
  const browser = new HttpBrowser(stack.fetch)
  const { start, callbackUrl } = await beginSignIn(stack, browser, 'bob@contoso.test')
  const cookie = start.headers.getSetCookie().find((c) => c.includes('obo_login_'))!
  const [name, value] = cookie.slice(0, cookie.indexOf(';')).split('=') as [string, string]
  expect((await browser.request(callbackUrl)).status).toBe(302)
  const attacker = new HttpBrowser(stack.fetch)
  attacker.setCookie(stack.relayUrl, name, value)
  const replay = await attacker.request(callbackUrl)
  expect(replay.status).toBe(400)
  expect(attacker.cookie(stack.relayUrl, 'obo_session')).toBeUndefined()
})
