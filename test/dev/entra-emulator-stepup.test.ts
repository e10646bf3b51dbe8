// Throttling and blocking as Entra answers them, and stateful claims challenges: a challenge stays until
// the user signs in with the claims it asked for; tokens from that sign-in (and refresh / OBO) carry acrs.
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest'
import { decodeJwt } from 'jose'
import {
  DEV_NOTES_SCOPE, DEV_RELAY_CLIENT_ID, DEV_RELAY_REDIRECT_URI, DEV_RELAY_SCOPE, createPkcePair, signInWithForm,
} from '../../dev/entra-emulator/index.ts'
import { ALICE, BOB, RELAY, expectEntraError, redirectError, startHarness, type Harness } from './emulator-harness.ts'

let h: Harness
const JWT_BEARER = 'urn:ietf:params:oauth:grant-type:jwt-bearer'
const ACRS_C1 = JSON.stringify({ access_token: { acrs: { essential: true, value: 'c1' } } })

beforeAll(async () => { h = await startHarness() })
afterAll(async () => { await h.close() })
beforeEach(() => { h.emulator.reset() })

const ropc = async (user = ALICE, scope = DEV_NOTES_SCOPE) => await h.token({ grant_type: 'password', ...RELAY, ...user, scope })

/** Signs in at /authorize (optionally with claims) and redeems the code for the relay's scope. */
async function signIn (claims?: string): Promise<Record<string, unknown>> {
  const pkce = createPkcePair()
  const scope = `${DEV_RELAY_SCOPE} openid offline_access`
  const { redirect } = await signInWithForm(h.fetch, h.authorizeUrl({
    client_id: DEV_RELAY_CLIENT_ID,
    redirect_uri: DEV_RELAY_REDIRECT_URI,
    scope,
    code_challenge: pkce.challenge,
    code_challenge_method: 'S256',
    ...(claims === undefined ? {} : { claims }),
  }), ALICE)
  const code = redirect.searchParams.get('code')
  if (code === null) throw new Error(`no code: ${redirect.href}`)
  const answer = await h.token({
    grant_type: 'authorization_code',
    ...RELAY,
    code,
    code_verifier: pkce.verifier,
    redirect_uri: DEV_RELAY_REDIRECT_URI,
    scope,
    ...(claims === undefined ? {} : { claims })
  })
  expect(answer.status).toBe(200)
  return answer.body
}

const obo = async (assertion: string, extra: Record<string, string> = {}) =>
  await h.token({ grant_type: JWT_BEARER, requested_token_use: 'on_behalf_of', ...RELAY, assertion, scope: DEV_NOTES_SCOPE, ...extra })

describe('throttling and blocks', () => {
  it('throttle format text: 429 text/plain "Too Many Requests" with Retry-After 60; JSON stays the default', async () => {
    h.emulator.addFault({ grant: 'password', fault: 'throttle', format: 'text', count: 1 })
    const response = await h.fetch(`${h.emulator.url}/${h.emulator.tenantId}/oauth2/v2.0/token`, {
      method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: new URLSearchParams({ grant_type: 'password', ...RELAY, ...ALICE, scope: DEV_NOTES_SCOPE }),
    })
    expect(response.status).toBe(429)
    expect(response.headers.get('content-type')).toMatch(/^text\/plain/)
    expect(response.headers.get('retry-after')).toBe('60')
    expect(await response.text()).toBe('Too Many Requests')
    h.emulator.addFault({ grant: 'password', fault: 'throttle', count: 1 })
    const json = await ropc()
    expect(json.status).toBe(429)
    expect(json.body.error).toBe('temporarily_unavailable')
    expect((await h.control('POST', 'faults', { fault: 'throttle', format: 'xml' })).status).toBe(400)
    expect((await h.control('POST', 'faults', { fault: 'invalid_grant', format: 'text' })).status).toBe(400)
  })

  it('loop_detected: 400 AADSTS50196; ca_blocked: AADSTS53003 with suberror message_only', async () => {
    h.emulator.addFault({ fault: 'loop_detected', count: 1 })
    const loop = await ropc()
    expectEntraError(loop, 400, 'invalid_request', 50196)
    expect(loop.body.error_description).toContain('client request loop')
    expect((await h.control('POST', 'faults', { fault: 'ca_blocked', grant: 'on_behalf_of' })).status).toBe(201)
    const blocked = await obo((await ropc(ALICE, DEV_RELAY_SCOPE)).body.access_token as string)
    expectEntraError(blocked, 400, 'invalid_grant', 53003)
    expect(blocked.body.suberror).toBe('message_only')
    expect(blocked.body.error_description).toContain('Access has been blocked by Conditional Access policies. The access policy does not allow token issuance.')
  })
})

describe('claims challenges', () => {
  it('persists for the user until a step-up sign-in with the claims; then tokens, refresh and OBO carry acrs and pass', async () => {
    h.emulator.addFault({ fault: 'claims_challenge', user: ALICE.username, claims: ACRS_C1 })
    // Unsatisfied: every issuance for alice is challenged, bob is not affected.
    for (let i = 0; i < 3; i++) {
      const refused = await ropc()
      expectEntraError(refused, 400, 'interaction_required', 50076)
      expect(refused.body.claims).toBe(ACRS_C1)
    }
    expect((await ropc(BOB)).status).toBe(200)
    // A sign-in without the claims does not help.
    const plain = await h.token({ grant_type: 'password', ...RELAY, ...ALICE, scope: DEV_RELAY_SCOPE })
    expectEntraError(plain, 400, 'interaction_required', 50076)

    const stepped = await signIn(ACRS_C1)
    expect(decodeJwt(stepped.access_token as string).acrs).toEqual(['c1'])
    const refreshed = await h.token({ grant_type: 'refresh_token', ...RELAY, refresh_token: stepped.refresh_token as string, scope: DEV_RELAY_SCOPE })
    expect(refreshed.status).toBe(200)
    expect(decodeJwt(refreshed.body.access_token as string).acrs).toEqual(['c1'])
    const downstream = await obo(refreshed.body.access_token as string)
    expect(downstream.status).toBe(200)
    expect(decodeJwt(downstream.body.access_token as string).acrs).toEqual(['c1'])
  })

  it('with a count, refuses that many issuances (not requests) and then stops; reset ends it', async () => {
    h.emulator.addFault({ fault: 'claims_challenge', user: ALICE.username, count: 2 })
    // A request refused for its own reason does not use up the challenge.
    expectEntraError(await h.token({ grant_type: 'password', ...RELAY, username: ALICE.username, password: 'wrong', scope: DEV_NOTES_SCOPE }), 400, 'invalid_grant', 50126)
    expectEntraError(await ropc(), 400, 'interaction_required', 50076)
    expectEntraError(await ropc(), 400, 'interaction_required', 50076)
    expect((await ropc()).status).toBe(200)
    h.emulator.addFault({ fault: 'claims_challenge', user: ALICE.username })
    expectEntraError(await ropc(), 400, 'interaction_required', 50076)
    h.emulator.reset()
    expect((await ropc()).status).toBe(200)
  })

  it('a Conditional Access (capolids) challenge keeps its policy id and is met by a sign-in with those claims', async () => {
    h.emulator.addFault({ fault: 'claims_challenge', user: ALICE.username, grant: 'on_behalf_of' })
    const first = await signIn()
    const challenge = await obo(first.access_token as string)
    expectEntraError(challenge, 400, 'interaction_required', 50076)
    const again = await obo(first.access_token as string)
    expect(again.body.claims).toBe(challenge.body.claims)
    expect(JSON.parse(challenge.body.claims as string)).toMatchObject({ access_token: { capolids: { essential: true, values: [expect.any(String)] } } })
    const stepped = await signIn(challenge.body.claims as string)
    expect((await obo(stepped.access_token as string)).status).toBe(200)
  })

  it('a session without the step-up signs in again; prompt=none then asks for interaction', async () => {
    const base = { client_id: DEV_RELAY_CLIENT_ID, redirect_uri: DEV_RELAY_REDIRECT_URI, scope: DEV_RELAY_SCOPE }
    const { sessionCookie } = await signInWithForm(h.fetch, h.authorizeUrl(base), ALICE)
    const silent = await h.fetch(h.authorizeUrl({ ...base, prompt: 'none', claims: ACRS_C1 }), { redirect: 'manual', headers: { cookie: sessionCookie ?? '' } })
    expect(redirectError(new URL(silent.headers.get('location') ?? '')).error).toBe('interaction_required')
    const interactive = await h.fetch(h.authorizeUrl({ ...base, claims: ACRS_C1 }), { redirect: 'manual', headers: { cookie: sessionCookie ?? '' } })
    expect(interactive.status).toBe(200)
    expect(await interactive.text()).toContain('id="signin"')
  })

  it('refuses a malformed claims parameter at /authorize and /token (invalid_request AADSTS50117)', async () => {
    const base = { client_id: DEV_RELAY_CLIENT_ID, redirect_uri: DEV_RELAY_REDIRECT_URI, scope: DEV_RELAY_SCOPE }
    for (const claims of ['{not json', '[]', '{"access_token":"x"}', '{"nonsense":{}}']) {
      const response = await h.fetch(h.authorizeUrl({ ...base, claims }), { redirect: 'manual' })
      const { error, description } = redirectError(new URL(response.headers.get('location') ?? ''))
      expect(error).toBe('invalid_request')
      expect(description).toMatch(/^AADSTS50117: /)
      expectEntraError(await h.token({ grant_type: 'password', ...RELAY, ...ALICE, scope: DEV_NOTES_SCOPE, claims }), 400, 'invalid_request', 50117)
    }
  })

  it('puts xms_cc ["cp1"] in tokens when the client declares cp1 as MSAL sends it, for APIs that ask for xms_cc', async () => {
    // MSAL merges its default id_token claims and the client capabilities into every claims parameter.
    const msalClaims = JSON.stringify({
      id_token: { signin_state: { essential: false }, login_hint: { essential: false }, tenant_region_sub_scope: { essential: false } },
      access_token: { xms_cc: { values: ['cp1'] } },
    })
    const capable = await h.token({ grant_type: 'password', ...RELAY, ...ALICE, scope: DEV_NOTES_SCOPE, claims: msalClaims })
    expect(decodeJwt(capable.body.access_token as string).xms_cc).toEqual(['cp1'])
    expect(decodeJwt((await ropc()).body.access_token as string).xms_cc).toBeUndefined()
    // An API that did not ask for the optional claim does not get it.
    h.emulator.registry.addApp({ clientId: '55555555-0000-4000-8000-000000000002', displayName: 'plain API', appIdUri: 'api://plain', exposedScopes: ['x'], preAuthorizedClients: [{ clientId: DEV_RELAY_CLIENT_ID, scopes: ['x'] }] })
    const plain = await h.token({ grant_type: 'password', ...RELAY, ...ALICE, scope: 'api://plain/x', claims: msalClaims })
    expect(decodeJwt(plain.body.access_token as string).xms_cc).toBeUndefined()
  })
})
