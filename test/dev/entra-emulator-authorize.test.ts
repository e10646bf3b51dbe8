// The emulator's authorize endpoint driven over HTTPS like a browser (form, SSO cookie, errors) and the
// authorization_code grant that redeems its codes (single use, redirect URI, PKCE, nonce, client_info).
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest'
import { decodeJwt } from 'jose'
import {
  DEV_CLI_CLIENT_ID, DEV_RELAY_CLIENT_ID, DEV_RELAY_CLIENT_SECRET, DEV_RELAY_REDIRECT_URI, DEV_RELAY_SCOPE, DEV_TENANT_ID,
  createPkcePair, readSignInForm, requestToken, signInWithForm, startEntraEmulator, type EntraEmulator, type TokenAnswer,
} from '../../dev/entra-emulator/index.ts'
import { createDispatcher, createFetch } from '../../src/net/http-client.ts'

let emulator: EntraEmulator
let fetch: typeof globalThis.fetch

const ALICE = { username: 'alice@contoso.test', password: 'alice-password' }
const RELAY = { client_id: DEV_RELAY_CLIENT_ID, client_secret: DEV_RELAY_CLIENT_SECRET }

async function token (params: Record<string, string>): Promise<TokenAnswer> {
  return await requestToken(fetch, `${emulator.url}/${DEV_TENANT_ID}/oauth2/v2.0/token`, params)
}

function expectEntraError (answer: TokenAnswer, status: number, error: string, code: number): void {
  expect(answer.status).toBe(status)
  expect(answer.body.error).toBe(error)
  expect(answer.body.error_codes).toEqual([code])
  expect(answer.body.error_description).toMatch(new RegExp(`^AADSTS${code}: `))
}

function authorizeUrl (params: Record<string, string>): URL {
  const url = new URL(`${emulator.url}/${DEV_TENANT_ID}/oauth2/v2.0/authorize`)
  for (const [name, value] of Object.entries({ response_type: 'code', ...params })) url.searchParams.set(name, value)
  return url
}

/** Signs alice in for the relay (confidential, PKCE) and returns the code and what was sent. */
async function relayCode (extra: Record<string, string> = {}): Promise<{ code: string, pkce: { verifier: string }, redirect: URL }> {
  const pkce = createPkcePair()
  const { redirect } = await signInWithForm(fetch, authorizeUrl({
    client_id: DEV_RELAY_CLIENT_ID,
    redirect_uri: DEV_RELAY_REDIRECT_URI,
    scope: `${DEV_RELAY_SCOPE} openid profile offline_access`,
    code_challenge: pkce.challenge,
    code_challenge_method: 'S256',
    state: 'state-1',
    ...extra,
  }), ALICE)
  const code = redirect.searchParams.get('code')
  if (code === null) throw new Error(`no code: ${redirect.toString()}`)
  return { code, pkce, redirect }
}

async function redeem (code: string, verifier: string, extra: Record<string, string> = {}): Promise<TokenAnswer> {
  return await token({
    grant_type: 'authorization_code',
    ...RELAY,
    code,
    code_verifier: verifier,
    redirect_uri: DEV_RELAY_REDIRECT_URI,
    scope: `${DEV_RELAY_SCOPE} openid profile offline_access`,
    client_info: '1',
    ...extra,
  })
}

beforeAll(async () => {
  emulator = await startEntraEmulator({ port: 0 })
  fetch = createFetch(createDispatcher({ trustedCaPem: emulator.caPem }))
})
afterAll(async () => { await emulator.close() })
beforeEach(() => { emulator.reset() })

describe('authorize endpoint', () => {
  it('shows a sign-in form and redirects with code, state and session_state (and client_info)', async () => {
    const pkce = createPkcePair()
    const url = authorizeUrl({
      client_id: DEV_RELAY_CLIENT_ID,
      redirect_uri: DEV_RELAY_REDIRECT_URI,
      scope: `${DEV_RELAY_SCOPE} openid`,
      code_challenge: pkce.challenge,
      code_challenge_method: 'S256',
      state: 'xyz',
      nonce: 'n-1',
      client_info: '1',
    })
    const page = await fetch(url)
    expect(page.status).toBe(200)
    expect(page.headers.get('content-type')).toMatch(/text\/html/)
    const form = readSignInForm(await page.text())
    expect(form.hidden).toMatchObject({ client_id: DEV_RELAY_CLIENT_ID, state: 'xyz', nonce: 'n-1' })
    const posted = await fetch(new URL(form.action, url), {
      method: 'POST',
      redirect: 'manual',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ ...form.hidden, username: ALICE.username, password: ALICE.password }),
    })
    expect(posted.status).toBe(302)
    const redirect = new URL(posted.headers.get('location') ?? '')
    expect(`${redirect.origin}${redirect.pathname}`).toBe(DEV_RELAY_REDIRECT_URI)
    expect(redirect.searchParams.get('code')).toBeTruthy()
    expect(redirect.searchParams.get('state')).toBe('xyz')
    expect(redirect.searchParams.get('session_state')).toMatch(/^[0-9a-f-]{36}$/)
    expect(JSON.parse(Buffer.from(redirect.searchParams.get('client_info') ?? '', 'base64url').toString()))
      .toEqual({ uid: emulator.users[0]?.oid, utid: DEV_TENANT_ID })
  })

  it('shows the form again on a wrong password (AADSTS50126) or an unknown user (AADSTS50034)', async () => {
    const url = authorizeUrl({ client_id: DEV_RELAY_CLIENT_ID, redirect_uri: DEV_RELAY_REDIRECT_URI, scope: DEV_RELAY_SCOPE })
    await expect(signInWithForm(fetch, url, { username: ALICE.username, password: 'nope' })).rejects.toThrow(/HTTP 200.*AADSTS50126/)
    await expect(signInWithForm(fetch, url, { username: 'carol@contoso.test', password: 'x' })).rejects.toThrow(/AADSTS50034/)
  })

  it('shows an error page (no redirect) for an unknown client or a redirect URI that is not registered', async () => {
    const unknown = await fetch(authorizeUrl({ client_id: '55555555-5555-5555-5555-555555555555', redirect_uri: DEV_RELAY_REDIRECT_URI, scope: 'openid' }), { redirect: 'manual' })
    expect(unknown.status).toBe(400)
    expect(readSignInForm(await unknown.text()).error).toMatch(/^AADSTS700016: /)
    const wrong = await fetch(authorizeUrl({ client_id: DEV_RELAY_CLIENT_ID, redirect_uri: 'http://localhost:8080/evil', scope: 'openid' }), { redirect: 'manual' })
    expect(wrong.status).toBe(400)
    expect(wrong.headers.get('location')).toBeNull()
    expect(readSignInForm(await wrong.text()).error).toMatch(/^AADSTS50011: /)
    // A confidential client's redirect URI must match exactly, port included.
    const port = await fetch(authorizeUrl({ client_id: DEV_RELAY_CLIENT_ID, redirect_uri: 'http://localhost:9999/auth/callback', scope: 'openid' }), { redirect: 'manual' })
    expect(port.status).toBe(400)
  })

  it("lets a public client's loopback redirect URI differ in port only", async () => {
    const pkce = createPkcePair()
    const base = { client_id: DEV_CLI_CLIENT_ID, scope: DEV_RELAY_SCOPE, code_challenge: pkce.challenge, code_challenge_method: 'S256' }
    const anyPort = await signInWithForm(fetch, authorizeUrl({ ...base, redirect_uri: 'http://127.0.0.1:53117' }), ALICE)
    expect(anyPort.redirect.port).toBe('53117')
    expect(anyPort.redirect.searchParams.get('code')).toBeTruthy()
    const otherPath = await fetch(authorizeUrl({ ...base, redirect_uri: 'http://localhost:53117/callback' }), { redirect: 'manual' })
    expect(otherPath.status).toBe(400)
  })

  it('redirects OAuth errors with state: PKCE missing for a public client, plain PKCE, response_type, resource', async () => {
    const errorOf = async (params: Record<string, string>) => {
      const response = await fetch(authorizeUrl({ state: 's', ...params }), { redirect: 'manual' })
      expect(response.status).toBe(302)
      const location = new URL(response.headers.get('location') ?? '')
      expect(location.searchParams.get('state')).toBe('s')
      return { error: location.searchParams.get('error'), description: location.searchParams.get('error_description') ?? '' }
    }
    const cli = { client_id: DEV_CLI_CLIENT_ID, redirect_uri: 'http://localhost:4000', scope: DEV_RELAY_SCOPE }
    expect(await errorOf(cli)).toMatchObject({ error: 'invalid_request', description: expect.stringMatching(/^AADSTS9002325: /) })
    expect(await errorOf({ ...cli, code_challenge: createPkcePair().verifier, code_challenge_method: 'plain' }))
      .toMatchObject({ error: 'invalid_request', description: expect.stringMatching(/^AADSTS50149: /) })
    const relay = { client_id: DEV_RELAY_CLIENT_ID, redirect_uri: DEV_RELAY_REDIRECT_URI, scope: DEV_RELAY_SCOPE }
    expect(await errorOf({ ...relay, response_type: 'token' })).toMatchObject({ error: 'unsupported_response_type' })
    expect(await errorOf({ ...relay, resource: DEV_RELAY_CLIENT_ID })).toMatchObject({ description: expect.stringMatching(/^AADSTS9010010: /) })
    expect(await errorOf({ ...relay, scope: 'api://nowhere/x' })).toMatchObject({ error: 'invalid_resource' })
  })

  it('uses the session cookie for SSO; prompt=none without a session is login_required; prompt=login shows the form', async () => {
    const base = { client_id: DEV_RELAY_CLIENT_ID, redirect_uri: DEV_RELAY_REDIRECT_URI, scope: DEV_RELAY_SCOPE }
    const silent = await fetch(authorizeUrl({ ...base, prompt: 'none' }), { redirect: 'manual' })
    expect(new URL(silent.headers.get('location') ?? '').searchParams.get('error')).toBe('login_required')
    const { sessionCookie } = await signInWithForm(fetch, authorizeUrl(base), ALICE)
    expect(sessionCookie).toMatch(/^ESTSAUTH=/)
    const sso = await fetch(authorizeUrl({ ...base, prompt: 'none' }), { redirect: 'manual', headers: { cookie: sessionCookie ?? '' } })
    expect(new URL(sso.headers.get('location') ?? '').searchParams.get('code')).toBeTruthy()
    const forced = await fetch(authorizeUrl({ ...base, prompt: 'login' }), { headers: { cookie: sessionCookie ?? '' } })
    expect(readSignInForm(await forced.text()).action).not.toBe('')
  })

  it('ends the session at the logout endpoint and redirects to a registered URI', async () => {
    const base = { client_id: DEV_RELAY_CLIENT_ID, redirect_uri: DEV_RELAY_REDIRECT_URI, scope: DEV_RELAY_SCOPE }
    const { sessionCookie } = await signInWithForm(fetch, authorizeUrl(base), ALICE)
    const logout = new URL(`${emulator.url}/${DEV_TENANT_ID}/oauth2/v2.0/logout`)
    logout.search = new URLSearchParams({ client_id: DEV_RELAY_CLIENT_ID, post_logout_redirect_uri: DEV_RELAY_REDIRECT_URI }).toString()
    const out = await fetch(logout, { redirect: 'manual', headers: { cookie: sessionCookie ?? '' } })
    expect(out.status).toBe(302)
    expect(out.headers.get('location')).toBe(DEV_RELAY_REDIRECT_URI)
    const silent = await fetch(authorizeUrl({ ...base, prompt: 'none' }), { redirect: 'manual', headers: { cookie: sessionCookie ?? '' } })
    expect(new URL(silent.headers.get('location') ?? '').searchParams.get('error')).toBe('login_required')
  })

  it('answers response_mode=form_post with an auto-submitting form', async () => {
    const response = await fetch(authorizeUrl({ client_id: DEV_RELAY_CLIENT_ID, redirect_uri: DEV_RELAY_REDIRECT_URI, scope: DEV_RELAY_SCOPE, response_mode: 'form_post' }))
    const form = readSignInForm(await response.text())
    const posted = await fetch(new URL(form.action, emulator.url), {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ ...form.hidden, ...ALICE }),
    })
    const answer = readSignInForm(await posted.text())
    expect(answer.action).toBe(DEV_RELAY_REDIRECT_URI)
    expect(answer.hidden.code).toBeTruthy()
  })
})

describe('authorization_code grant', () => {
  it('returns access, refresh and id tokens, client_info, and echoes the nonce', async () => {
    const { code, pkce } = await relayCode({ nonce: 'nonce-123' })
    const answer = await redeem(code, pkce.verifier)
    expect(answer.status).toBe(200)
    expect(answer.headers.get('cache-control')).toContain('no-store')
    expect(answer.body).toMatchObject({ token_type: 'Bearer', scope: DEV_RELAY_SCOPE })
    expect(answer.body.expires_in).toBe(answer.body.ext_expires_in)
    expect(typeof answer.body.refresh_token).toBe('string')
    const idToken = decodeJwt(answer.body.id_token as string)
    expect(idToken).toMatchObject({ aud: DEV_RELAY_CLIENT_ID, nonce: 'nonce-123', iss: emulator.issuer, preferred_username: ALICE.username, ver: '2.0' })
    const accessToken = decodeJwt(answer.body.access_token as string)
    expect(accessToken).toMatchObject({ aud: DEV_RELAY_CLIENT_ID, scp: 'user_impersonation', azp: DEV_RELAY_CLIENT_ID, azpacr: '1', oid: emulator.users[0]?.oid })
    for (const claim of ['aio', 'rh', 'sid', 'sub', 'uti', 'iat', 'nbf', 'exp']) expect(accessToken).toHaveProperty(claim)
    expect(accessToken.sub).not.toBe(accessToken.oid)
    expect(JSON.parse(Buffer.from(answer.body.client_info as string, 'base64url').toString()))
      .toEqual({ uid: emulator.users[0]?.oid, utid: DEV_TENANT_ID })
  })

  it('omits id_token without openid and refresh_token without offline_access', async () => {
    const { code, pkce } = await relayCode({ scope: DEV_RELAY_SCOPE })
    const answer = await redeem(code, pkce.verifier, { scope: DEV_RELAY_SCOPE })
    expect(answer.status).toBe(200)
    expect(answer.body.id_token).toBeUndefined()
    expect(answer.body.refresh_token).toBeUndefined()
  })

  it('refuses a code used twice (AADSTS54005)', async () => {
    const { code, pkce } = await relayCode()
    expect((await redeem(code, pkce.verifier)).status).toBe(200)
    expectEntraError(await redeem(code, pkce.verifier), 400, 'invalid_grant', 54005)
  })

  it('binds the code to its redirect URI (AADSTS500112), PKCE verifier (AADSTS501481) and client', async () => {
    const first = await relayCode()
    expectEntraError(await redeem(first.code, first.pkce.verifier, { redirect_uri: 'http://localhost:8080/other' }), 400, 'invalid_grant', 500112)
    const second = await relayCode()
    expectEntraError(await redeem(second.code, createPkcePair().verifier), 400, 'invalid_grant', 501481)
    const third = await relayCode()
    const byOtherClient = await token({ grant_type: 'authorization_code', client_id: DEV_CLI_CLIENT_ID, code: third.code, code_verifier: third.pkce.verifier, redirect_uri: DEV_RELAY_REDIRECT_URI, scope: DEV_RELAY_SCOPE })
    expectEntraError(byOtherClient, 400, 'invalid_grant', 70000)
    expectEntraError(await redeem('not-a-code', 'x'), 400, 'invalid_grant', 9002313)
  })
})
