// On-Behalf-Of against the emulator: the exchange, every refusal of the assertion, consent, and
// signing key rotation (old kid still verifies, new kid first).
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest'
import { decodeJwt, decodeProtectedHeader, exportJWK, generateKeyPair, SignJWT } from 'jose'
import {
  DEV_CALENDAR_APP_ID, DEV_CLI_CLIENT_ID, DEV_NOTES_APP_ID, DEV_NOTES_SCOPE, DEV_RELAY_APP_ID_URI, DEV_RELAY_CLIENT_ID,
  DEV_RELAY_CLIENT_SECRET, DEV_RELAY_REDIRECT_URI, DEV_RELAY_SCOPE, DEV_RESTRICTED_APP_ID, DEV_RESTRICTED_SCOPE, DEV_TENANT_ID,
  createPkcePair, signInWithForm, startEntraEmulator, type EntraEmulator,
} from '../../dev/entra-emulator/index.ts'
import { createDispatcher, createFetch } from '../../src/net/http-client.ts'

let emulator: EntraEmulator
let fetch: typeof globalThis.fetch

const OBO_GRANT = 'urn:ietf:params:oauth:grant-type:jwt-bearer'
const ALICE = 'alice@contoso.test'

interface TokenAnswer { status: number, body: Record<string, unknown> }

async function token (params: Record<string, string>): Promise<TokenAnswer> {
  const response = await fetch(`${emulator.url}/${DEV_TENANT_ID}/oauth2/v2.0/token`, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams(params),
  })
  return { status: response.status, body: await response.json() as Record<string, unknown> }
}

async function obo (assertion: string, scope = DEV_NOTES_SCOPE, extra: Record<string, string> = {}): Promise<TokenAnswer> {
  return await token({
    grant_type: OBO_GRANT,
    requested_token_use: 'on_behalf_of',
    client_id: DEV_RELAY_CLIENT_ID,
    client_secret: DEV_RELAY_CLIENT_SECRET,
    assertion,
    scope,
    ...extra,
  })
}

function expectEntraError (answer: TokenAnswer, error: string, code: number): void {
  expect(answer.status).toBe(error === 'invalid_client' ? 401 : 400)
  expect(answer.body.error).toBe(error)
  expect(answer.body.error_codes).toEqual([code])
  expect(answer.body.error_description).toMatch(new RegExp(`^AADSTS${code}: `))
}

/** Alice's token for the relay, as the CLI gets it. */
async function userAssertion (username = ALICE): Promise<string> {
  return await emulator.issueUserToken(username, { clientId: DEV_CLI_CLIENT_ID, scopes: [DEV_RELAY_SCOPE] })
}

beforeAll(async () => {
  emulator = await startEntraEmulator({ port: 0 })
  fetch = createFetch(createDispatcher({ trustedCaPem: emulator.caPem }))
})
afterAll(async () => { await emulator.close() })
beforeEach(() => { emulator.reset() })

describe('on-behalf-of exchange', () => {
  it("returns a delegated token for the downstream app carrying the user's identity", async () => {
    const assertion = await userAssertion()
    const answer = await obo(assertion, `${DEV_NOTES_SCOPE} openid profile offline_access`, { client_info: '1' })
    expect(answer.status).toBe(200)
    expect(answer.body).toMatchObject({ token_type: 'Bearer', scope: DEV_NOTES_SCOPE, })
    expect(answer.body.refresh_token).toEqual(expect.any(String))
    expect(JSON.parse(Buffer.from(answer.body.client_info as string, 'base64url').toString()).uid).toBe(emulator.users[0]?.oid)
    const upstream = decodeJwt(assertion)
    const downstream = decodeJwt(answer.body.access_token as string)
    expect(downstream).toMatchObject({
      aud: DEV_NOTES_APP_ID,
      iss: emulator.issuer,
      scp: 'user_impersonation',
      azp: DEV_RELAY_CLIENT_ID,
      azpacr: '1',
      oid: upstream.oid,
      tid: DEV_TENANT_ID,
      name: upstream.name,
      preferred_username: ALICE,
      sid: upstream.sid,
      ver: '2.0',
    })
    // `sub` is pairwise: the same user has another subject at another app.
    expect(downstream.sub).not.toBe(upstream.sub)
    expect(downstream.uti).not.toBe(upstream.uti)
    expect((downstream.exp ?? 0) - Math.floor(Date.now() / 1000)).toBeGreaterThan(3500)
    expect(decodeProtectedHeader(answer.body.access_token as string)).toMatchObject({ typ: 'JWT', alg: 'RS256' })
  })

  it('expands .default to the granted scopes and accepts an assertion whose aud is the App ID URI', async () => {
    const claims = decodeJwt(await userAssertion())
    const v1Style = await emulator.signToken({ ...claims, aud: DEV_RELAY_APP_ID_URI })
    const answer = await obo(v1Style, 'api://notes-mcp/.default')
    expect(answer.status).toBe(200)
    expect(answer.body.scope).toBe(DEV_NOTES_SCOPE)
    expect(decodeJwt(answer.body.access_token as string).scp).toBe('user_impersonation')
  })

  it('refuses an expired assertion (AADSTS500133)', async () => {
    const claims = decodeJwt(await userAssertion())
    const now = Math.floor(Date.now() / 1000)
    expectEntraError(await obo(await emulator.signToken({ ...claims, iat: now - 7200, nbf: now - 7200, exp: now - 60 })), 'invalid_grant', 500133)
  })

  it('refuses an assertion signed by a foreign key or claiming another issuer (AADSTS50013)', async () => {
    const claims = decodeJwt(await userAssertion())
    const { privateKey, publicKey } = await generateKeyPair('RS256')
    const foreignKid = (await exportJWK(publicKey)).n?.slice(0, 16) ?? 'foreign'
    const foreign = await new SignJWT(claims).setProtectedHeader({ alg: 'RS256', typ: 'JWT', kid: foreignKid }).sign(privateKey)
    expectEntraError(await obo(foreign), 'invalid_grant', 50013)
    // Our key's kid in the header but another key's signature.
    const current = decodeProtectedHeader(await userAssertion()).kid ?? ''
    const impostor = await new SignJWT(claims).setProtectedHeader({ alg: 'RS256', typ: 'JWT', kid: current }).sign(privateKey)
    expectEntraError(await obo(impostor), 'invalid_grant', 50013)
    expectEntraError(await obo(await emulator.signToken({ ...claims, iss: 'https://sts.windows.net/11111111-1111-1111-1111-111111111111/' })), 'invalid_grant', 50013)
    expectEntraError(await obo(await emulator.signToken(claims, { alg: 'none' })), 'invalid_grant', 50013)
    expectEntraError(await obo('not.a.jwt'), 'invalid_request', 50027)
  })

  it('refuses an assertion for another audience (AADSTS500131)', async () => {
    const forNotes = await emulator.issueUserToken(ALICE, { clientId: DEV_RELAY_CLIENT_ID, scopes: [DEV_NOTES_SCOPE] })
    const answer = await obo(forNotes, 'api://calendar-mcp/user_impersonation')
    expectEntraError(answer, 'invalid_grant', 500131)
    expect(answer.body.error_description).toContain(`The audience in the assertion was '${DEV_NOTES_APP_ID}'`)
  })

  it('refuses an app-only assertion (AADSTS7000114) and a token without scp', async () => {
    const appOnly = await token({ grant_type: 'client_credentials', client_id: DEV_RELAY_CLIENT_ID, client_secret: DEV_RELAY_CLIENT_SECRET, scope: `${DEV_RELAY_APP_ID_URI}/.default` })
    expect(appOnly.status).toBe(200)
    expectEntraError(await obo(appOnly.body.access_token as string), 'unauthorized_client', 7000114)
    const { scp: _scp, ...withoutScp } = decodeJwt(await userAssertion())
    expectEntraError(await obo(await emulator.signToken(withoutScp)), 'invalid_grant', 50013)
  })

  it('needs a confidential client and the OBO parameters', async () => {
    const assertion = await userAssertion()
    const publicClient = await token({ grant_type: OBO_GRANT, requested_token_use: 'on_behalf_of', client_id: DEV_CLI_CLIENT_ID, assertion, scope: DEV_NOTES_SCOPE })
    expectEntraError(publicClient, 'invalid_client', 7000218)
    const noUse = await token({ grant_type: OBO_GRANT, client_id: DEV_RELAY_CLIENT_ID, client_secret: DEV_RELAY_CLIENT_SECRET, assertion, scope: DEV_NOTES_SCOPE })
    expectEntraError(noUse, 'invalid_request', 900144)
    expectEntraError(await obo(assertion, `${DEV_NOTES_SCOPE} api://calendar-mcp/user_impersonation`), 'invalid_scope', 28000)
    expectEntraError(await obo(assertion, DEV_NOTES_SCOPE, { resource: DEV_NOTES_APP_ID }), 'invalid_request', 9010010)
  })
})

describe('consent', () => {
  it('refuses a scope the relay is not pre-authorized for and the user never consented to (AADSTS65001)', async () => {
    const answer = await obo(await userAssertion(), DEV_RESTRICTED_SCOPE)
    expectEntraError(answer, 'invalid_grant', 65001)
    expect(answer.body.suberror).toBe('consent_required')
    expect(answer.body.error_description).toContain(`application with ID '${DEV_RELAY_CLIENT_ID}'`)
  })

  it('allows it once the user consented interactively (authorize with the restricted scope)', async () => {
    const pkce = createPkcePair()
    const url = new URL(`${emulator.url}/${DEV_TENANT_ID}/oauth2/v2.0/authorize`)
    url.search = new URLSearchParams({
      client_id: DEV_RELAY_CLIENT_ID,
      response_type: 'code',
      redirect_uri: DEV_RELAY_REDIRECT_URI,
      scope: `${DEV_RELAY_SCOPE} ${DEV_RESTRICTED_SCOPE}`,
      code_challenge: pkce.challenge,
      code_challenge_method: 'S256',
      prompt: 'consent',
    }).toString()
    await signInWithForm(fetch, url, { username: ALICE, password: 'alice-password' })
    const answer = await obo(await userAssertion(), DEV_RESTRICTED_SCOPE)
    expect(answer.status).toBe(200)
    expect(decodeJwt(answer.body.access_token as string).aud).toBe(DEV_RESTRICTED_APP_ID)
    // Consent is per user.
    expectEntraError(await obo(await userAssertion('bob@contoso.test'), DEV_RESTRICTED_SCOPE), 'invalid_grant', 65001)
    // And reset forgets it.
    emulator.reset()
    expectEntraError(await obo(await userAssertion(), DEV_RESTRICTED_SCOPE), 'invalid_grant', 65001)
  })
})

describe('signing key rotation', () => {
  it('publishes the new key before it signs, keeps the old one, and still accepts tokens signed with it', async () => {
    const before = await userAssertion()
    const oldKid = decodeProtectedHeader(before).kid ?? ''
    emulator.rotateSigningKey()
    const published = await (await fetch(emulator.jwksUri)).json() as { keys: Array<{ kid: string }> }
    const pendingKid = published.keys[0]?.kid
    expect(pendingKid).not.toBe(oldKid)
    expect(published.keys.map(key => key.kid)).toEqual([pendingKid, oldKid])
    // Published ahead: tokens are still signed by the old key until the new one is activated.
    expect(decodeProtectedHeader(await userAssertion()).kid).toBe(oldKid)
    expect(emulator.activateSigningKey()).toBe(pendingKid)
    const jwks = await (await fetch(emulator.jwksUri)).json() as { keys: Array<{ kid: string }> }
    const after = await userAssertion()
    const newKid = decodeProtectedHeader(after).kid
    expect(newKid).toBe(pendingKid)
    expect(jwks.keys.map(key => key.kid)).toEqual([newKid, oldKid])
    expect((await obo(before)).status).toBe(200)
    expect((await obo(after)).status).toBe(200)
    // signToken can still sign with the previous key.
    expect(decodeProtectedHeader(await emulator.signToken(decodeJwt(after), { kid: oldKid })).kid).toBe(oldKid)
  })

  it('drops the oldest key after a few rotations, and rotates and activates over HTTP too', async () => {
    const oldest = await userAssertion()
    emulator.rotateSigningKey()
    emulator.rotateSigningKey()
    emulator.rotateSigningKey()
    const response = await fetch(`${emulator.url}/_emulator/rotate-keys`, { method: 'POST' })
    const { kid, pendingKid } = await response.json() as { kid: string, pendingKid: string }
    const jwks = await (await fetch(emulator.jwksUri)).json() as { keys: Array<{ kid: string }> }
    expect(jwks.keys.map(key => key.kid).slice(0, 2)).toEqual([pendingKid, kid])
    expect(jwks.keys.map(key => key.kid)).not.toContain(decodeProtectedHeader(oldest).kid)
    expectEntraError(await obo(oldest), 'invalid_grant', 50013)
    const activated = await (await fetch(`${emulator.url}/_emulator/activate-key`, { method: 'POST' })).json() as { kid: string }
    expect(activated.kid).toBe(pendingKid)
    expect(decodeProtectedHeader(await userAssertion()).kid).toBe(pendingKid)
  })

  it('activates a pending key by itself once its activation delay has passed on the emulator clock', async () => {
    const signing = decodeProtectedHeader(await userAssertion()).kid
    emulator.rotateSigningKey()
    expect(decodeProtectedHeader(await userAssertion()).kid).toBe(signing)
    emulator.advanceClock(86_400)
    expect(decodeProtectedHeader(await userAssertion()).kid).not.toBe(signing)
  })

  it('signs with an unknown kid on request (a "key not found" case)', async () => {
    const claims = decodeJwt(await userAssertion())
    const token = await emulator.signToken(claims, { kid: 'unknown-kid' })
    expect(decodeProtectedHeader(token).kid).toBe('unknown-kid')
    expectEntraError(await obo(token), 'invalid_grant', 50013)
  })
})

describe('calendar', () => {
  it('is pre-authorized for the relay like notes', async () => {
    const answer = await obo(await userAssertion(), 'api://calendar-mcp/user_impersonation')
    expect(decodeJwt(answer.body.access_token as string).aud).toBe(DEV_CALENDAR_APP_ID)
  })
})
