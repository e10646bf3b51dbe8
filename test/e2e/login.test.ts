// Browser sign-in (mode B) driven over real HTTP: relay /auth/login → emulator form → /auth/callback → cookie.
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest'
import { HttpBrowser, parseForm, readJson } from '../helpers/browser.ts'
import { startTestStack, type TestStack } from '../helpers/stack.ts'

let stack: TestStack

beforeAll(async () => {
  // Relay-scoped tokens live 100 s: MSAL treats them as due for renewal (5 min offset), so every
  // silent call exercises the refresh token.
  stack = await startTestStack({ emulator: { accessTokenLifetimeSec: 100 } })
})
afterAll(async () => { await stack?.close() })
beforeEach(() => { stack.emulator.reset() })

/** Signs a user in like a browser would; returns the browser and what the callback saw. */
async function signIn (username: string, password: string, returnTo = '/v1/me') {
  const browser = new HttpBrowser(stack.fetch)
  const start = await browser.request(`${stack.relayUrl}/auth/login?return_to=${encodeURIComponent(returnTo)}`)
  expect(start.status).toBe(302)
  const authorizeUrl = start.headers.get('location')!
  expect(authorizeUrl.startsWith(`${stack.emulator.url}/${stack.emulator.tenantId}/oauth2/v2.0/authorize?`)).toBe(true)
  const authorize = new URL(authorizeUrl).searchParams
  expect(authorize.get('code_challenge_method')).toBe('S256')
  expect(authorize.get('state')).toBeTruthy()
  expect(authorize.get('nonce')).toBeTruthy()
  expect(authorize.get('redirect_uri')).toBe(`${stack.relayUrl}/auth/callback`)

  const formPage = await browser.request(authorizeUrl)
  expect(formPage.status).toBe(200)
  const form = parseForm(await formPage.text(), authorizeUrl)
  const fields = { ...form.fields, username, password }
  const posted = await browser.request(form.action, { method: form.method, body: new URLSearchParams(fields) })
  expect(posted.status).toBe(302)
  const callbackUrl = new URL(posted.headers.get('location')!, form.action).href
  expect(callbackUrl.startsWith(`${stack.relayUrl}/auth/callback?`)).toBe(true)
  const callback = await browser.request(callbackUrl)
  return { browser, callback, callbackUrl, state: authorize.get('state')! }
}

describe('browser sign-in', () => {
  it('login → emulator form → callback → session cookie → /v1/me, and the user\'s tool calls', async () => {
    const { browser, callback } = await signIn('alice@contoso.test', 'alice-password')
    expect(callback.status).toBe(302)
    expect(callback.headers.get('location')).toBe('/v1/me')
    const setCookie = callback.headers.getSetCookie().find((c) => c.startsWith('obo_session='))!
    expect(setCookie).toMatch(/HttpOnly/i)
    expect(setCookie).toMatch(/SameSite=Lax/i)
    expect(setCookie).toMatch(/Path=\//)

    const me = await browser.request(`${stack.relayUrl}/v1/me`)
    expect(me.status).toBe(200)
    const alice = stack.emulator.users.find((u) => u.username === 'alice@contoso.test')!
    expect(await readJson(me)).toEqual({ tid: stack.emulator.tenantId, oid: alice.oid, name: alice.name, upn: 'alice@contoso.test', mode: 'session' })

    const call = await browser.request(`${stack.relayUrl}/v1/servers/notes/tools/whoami`, {
      method: 'POST', body: '{"arguments":{}}', headers: { 'content-type': 'application/json', origin: stack.relayUrl },
    })
    expect(call.status).toBe(200)
    expect((await readJson(call)).structuredContent).toMatchObject({ oid: alice.oid, upn: 'alice@contoso.test' })
    expect(stack.emulator.stats().calls.authorization_code).toBe(1)
  })

  it('bob signs in as bob and sees only his notes', async () => {
    const { browser: aliceBrowser } = await signIn('alice@contoso.test', 'alice-password')
    const { browser: bobBrowser } = await signIn('bob@contoso.test', 'bob-password')
    const post = (b: HttpBrowser, tool: string, args: object) => b.request(`${stack.relayUrl}/v1/servers/notes/tools/${tool}`, {
      method: 'POST', body: JSON.stringify({ arguments: args }), headers: { 'content-type': 'application/json', origin: stack.relayUrl },
    })
    expect((await post(aliceBrowser, 'create_note', { title: 'alice-browser-note', body: 'x' })).status).toBe(200)
    const bobList = JSON.stringify(await readJson(await post(bobBrowser, 'list_notes', {})))
    expect(bobList).not.toContain('alice-browser-note')
    const bobWho = await readJson(await post(bobBrowser, 'whoami', {}))
    expect(bobWho.structuredContent.upn).toBe('bob@contoso.test')
  })

  it('refreshes the relay-scoped token silently with the refresh token', async () => {
    const { browser } = await signIn('alice@contoso.test', 'alice-password')
    expect((await browser.request(`${stack.relayUrl}/v1/me`)).status).toBe(200)
    expect((await browser.request(`${stack.relayUrl}/v1/me`)).status).toBe(200)
    expect(stack.emulator.stats().calls.refresh_token).toBeGreaterThanOrEqual(1)
  })

  it('when the silent refresh fails → 401 with a login_url', async () => {
    const { browser } = await signIn('alice@contoso.test', 'alice-password')
    stack.emulator.addFault({ grant: 'refresh_token', fault: 'invalid_grant' })
    const res = await browser.request(`${stack.relayUrl}/v1/me`)
    expect(res.status).toBe(401)
    const body = await readJson(res)
    expect(body.login_url).toBe(`${stack.relayUrl}/auth/login`)
  })

  it('a cookie-authenticated POST from another origin is refused (CSRF)', async () => {
    const { browser } = await signIn('alice@contoso.test', 'alice-password')
    const res = await browser.request(`${stack.relayUrl}/v1/servers/notes/tools/whoami`, {
      method: 'POST', body: '{}', headers: { 'content-type': 'application/json', origin: 'https://evil.example' },
    })
    expect(res.status).toBe(403)
  })

  it('a forged session cookie is not a session', async () => {
    const { browser } = await signIn('alice@contoso.test', 'alice-password')
    const real = browser.cookie(stack.relayUrl, 'obo_session')!
    // Change one character of the id, then one of the signature; always to a different character.
    const other = (c: string) => (c === 'A' ? 'B' : 'A')
    const dot = real.lastIndexOf('.')
    for (const forged of [`${other(real[0]!)}${real.slice(1)}`, `${real.slice(0, -1)}${other(real.at(-1)!)}`]) {
      expect(forged).not.toBe(real)
      browser.setCookie(stack.relayUrl, 'obo_session', forged)
      expect((await browser.request(`${stack.relayUrl}/v1/me`)).status).toBe(401)
    }
    expect(dot).toBeGreaterThan(0)
  })

  it('logout ends the session and the next call is 401', async () => {
    const { browser } = await signIn('alice@contoso.test', 'alice-password')
    const out = await browser.request(`${stack.relayUrl}/auth/logout`, { method: 'POST', headers: { origin: stack.relayUrl } })
    expect(out.status).toBe(200)
    expect(browser.cookie(stack.relayUrl, 'obo_session')).toBeUndefined()
    expect((await browser.request(`${stack.relayUrl}/v1/me`)).status).toBe(401)
  })

  it('a new sign-in replaces the session id (no fixation)', async () => {
    const { browser } = await signIn('alice@contoso.test', 'alice-password')
    const first = browser.cookie(stack.relayUrl, 'obo_session')!
    const old = new HttpBrowser(stack.fetch)
    old.setCookie(stack.relayUrl, 'obo_session', first)
    // Sign in again in the same browser: Entra may skip the form (SSO session) or show it again.
    const again = await browser.request(`${stack.relayUrl}/auth/login?return_to=/v1/me`)
    const authorizeUrl = again.headers.get('location')!
    const authorize = await browser.request(authorizeUrl)
    let callbackUrl: string
    if (authorize.status === 302) {
      callbackUrl = new URL(authorize.headers.get('location')!, authorizeUrl).href
    } else {
      const form = parseForm(await authorize.text(), authorizeUrl)
      const posted = await browser.request(form.action, { method: 'POST', body: new URLSearchParams({ ...form.fields, username: 'alice@contoso.test', password: 'alice-password' }) })
      callbackUrl = new URL(posted.headers.get('location')!, form.action).href
    }
    expect(callbackUrl.startsWith(`${stack.relayUrl}/auth/callback?`)).toBe(true)
    expect((await browser.request(callbackUrl)).status).toBe(302)
    const second = browser.cookie(stack.relayUrl, 'obo_session')!
    expect(second).not.toBe(first)
    expect((await old.request(`${stack.relayUrl}/v1/me`)).status).toBe(401)
    expect((await browser.request(`${stack.relayUrl}/v1/me`)).status).toBe(200)
  })
})

describe('sign-in refusals', () => {
  it.each([
    '//evil.example',
    '/\\evil.example',
    '/%09/evil.example',
    'https://evil.example',
    'javascript:alert(1)',
    '/\t/evil.example',
    'evil.example',
  ])('return_to=%s is refused with 400', async (returnTo) => {
    const res = await stack.call(`/auth/login?return_to=${returnTo.startsWith('/%09') ? returnTo : encodeURIComponent(returnTo)}`)
    expect(res.status).toBe(400)
    expect(res.body.error).toBe('invalid_request')
    expect(res.headers.get('location')).toBeNull()
  })

  it('keeps a relative return_to', async () => {
    const res = await stack.call('/auth/login?return_to=%2Fv1%2Fservers%3Fx%3D1')
    expect(res.status).toBe(302)
  })

  it('missing state → 400', async () => {
    const res = await stack.call('/auth/callback?code=abc')
    expect(res.status).toBe(400)
    expect(res.body.error).toBe('invalid_request')
  })

  it('forged state → 400', async () => {
    const res = await stack.call('/auth/callback?code=abc&state=forged-state-value')
    expect(res.status).toBe(400)
  })

  it('replayed state → 400, and the replay does not sign anyone in', async () => {
    const { browser, callbackUrl, callback } = await signIn('alice@contoso.test', 'alice-password')
    expect(callback.status).toBe(302)
    const replay = await browser.request(callbackUrl)
    expect(replay.status).toBe(400)
    expect((await readJson(replay)).error).toBe('invalid_request')
  })

  it('a callback from another browser (no binding cookie) → 400', async () => {
    const browser = new HttpBrowser(stack.fetch)
    const start = await browser.request(`${stack.relayUrl}/auth/login`)
    const authorizeUrl = start.headers.get('location')!
    const formPage = await browser.request(authorizeUrl)
    const form = parseForm(await formPage.text(), authorizeUrl)
    const posted = await browser.request(form.action, { method: 'POST', body: new URLSearchParams({ ...form.fields, username: 'alice@contoso.test', password: 'alice-password' }) })
    const callbackUrl = new URL(posted.headers.get('location')!, form.action).href
    const attacker = new HttpBrowser(stack.fetch)
    const res = await attacker.request(callbackUrl)
    expect(res.status).toBe(400)
    expect(attacker.cookie(stack.relayUrl, 'obo_session')).toBeUndefined()
  })

  it('an error from Entra at the callback → clear 403, no session', async () => {
    const browser = new HttpBrowser(stack.fetch)
    const start = await browser.request(`${stack.relayUrl}/auth/login`)
    const state = new URL(start.headers.get('location')!).searchParams.get('state')!
    const res = await browser.request(`${stack.relayUrl}/auth/callback?state=${state}&error=access_denied&error_description=AADSTS65004%3A+User+declined`)
    expect(res.status).toBe(403)
    expect((await readJson(res)).error_description).toContain('AADSTS65004')
  })
})
