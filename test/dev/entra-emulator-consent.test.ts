// Consent as Entra asks for it: a prompt (accept / decline) for what the user has not granted, admin-only
// scopes and a tenant without user consent (admin approval), the admin consent endpoint, and a second
// tenant where the relay is provisioned only by its admin's consent.
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest'
import { decodeJwt } from 'jose'
import {
  DEV_OTHER_TENANT_ID, DEV_RELAY_CLIENT_ID, DEV_RELAY_REDIRECT_URI, DEV_RELAY_SCOPE, DEV_RESTRICTED_SCOPE, readSignInForm, signInWithForm,
} from '../../dev/entra-emulator/index.ts'
import { ADMIN, ALICE, BOB, CAROL, DAVE, RELAY, expectEntraError, redirectError, startHarness, type Harness } from './emulator-harness.ts'

let h: Harness
const JWT_BEARER = 'urn:ietf:params:oauth:grant-type:jwt-bearer'
const base = { client_id: DEV_RELAY_CLIENT_ID, redirect_uri: DEV_RELAY_REDIRECT_URI, state: 's1' }

beforeAll(async () => { h = await startHarness() })
afterAll(async () => { await h.close() })
beforeEach(() => { h.emulator.reset() })

const oboRestricted = async (user = ALICE) => {
  const assertion = (await h.token({ grant_type: 'password', ...RELAY, ...user, scope: DEV_RELAY_SCOPE })).body.access_token as string
  return await h.token({ grant_type: JWT_BEARER, requested_token_use: 'on_behalf_of', ...RELAY, assertion, scope: DEV_RESTRICTED_SCOPE })
}

/** Posts the sign-in form and returns the next page (consent prompt, approval page) or redirect. */
async function postCredentials (url: URL, credentials: { username: string, password: string }): Promise<Response> {
  const form = readSignInForm(await (await h.fetch(url)).text())
  return await h.fetch(new URL(form.action, url), {
    method: 'POST',
    redirect: 'manual',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({ ...form.hidden, ...credentials }),
  })
}

describe('the consent prompt', () => {
  it('is shown for scopes the user never granted; accepting grants them (OBO then works)', async () => {
    const url = h.authorizeUrl({ ...base, scope: `${DEV_RELAY_SCOPE} ${DEV_RESTRICTED_SCOPE}` })
    const prompt = await postCredentials(url, ALICE)
    expect(prompt.status).toBe(200)
    const html = await prompt.text()
    expect(html).toContain('Permissions requested')
    expect(html).toContain(DEV_RESTRICTED_SCOPE)
    expect(html).toContain('id="accept"')
    expect(html).toContain('id="decline"')
    expectEntraError(await oboRestricted(), 400, 'invalid_grant', 65001)
    const { redirect } = await signInWithForm(h.fetch, url, ALICE)
    expect(redirect.searchParams.get('code')).toBeTruthy()
    expect((await oboRestricted()).status).toBe(200)
    // Consent is per user.
    expectEntraError(await oboRestricted(BOB), 400, 'invalid_grant', 65001)
  })

  it('is not shown for pre-authorized clients or already granted scopes; prompt=consent always shows it', async () => {
    const url = h.authorizeUrl({ ...base, scope: `${DEV_RELAY_SCOPE} openid profile offline_access` })
    const direct = await postCredentials(url, ALICE)
    expect(direct.status).toBe(302)
    expect(new URL(direct.headers.get('location') ?? '').searchParams.get('code')).toBeTruthy()
    h.emulator.registry.grantConsent(ALICE.username, DEV_RELAY_CLIENT_ID, [DEV_RESTRICTED_SCOPE])
    expect((await postCredentials(h.authorizeUrl({ ...base, scope: DEV_RESTRICTED_SCOPE }), ALICE)).status).toBe(302)
    const forced = await postCredentials(h.authorizeUrl({ ...base, scope: DEV_RESTRICTED_SCOPE, prompt: 'consent' }), ALICE)
    expect(forced.status).toBe(200)
    expect(await forced.text()).toContain('Permissions requested')
  })

  it('declining redirects with consent_required AADSTS65004 and grants nothing', async () => {
    const { redirect } = await signInWithForm(h.fetch, h.authorizeUrl({ ...base, scope: DEV_RESTRICTED_SCOPE }), ALICE, { consent: 'decline' })
    expect(redirect.searchParams.get('state')).toBe('s1')
    const { error, description } = redirectError(redirect)
    expect(error).toBe('consent_required')
    expect(description).toMatch(/^AADSTS65004: User declined to consent to access the app\./)
    expectEntraError(await oboRestricted(), 400, 'invalid_grant', 65001)
  })

  it('prompt=none with missing consent is consent_required AADSTS65001', async () => {
    const { sessionCookie } = await signInWithForm(h.fetch, h.authorizeUrl({ ...base, scope: DEV_RELAY_SCOPE }), ALICE)
    const silent = await h.fetch(h.authorizeUrl({ ...base, scope: DEV_RESTRICTED_SCOPE, prompt: 'none' }), { redirect: 'manual', headers: { cookie: sessionCookie ?? '' } })
    const { error, description } = redirectError(new URL(silent.headers.get('location') ?? ''))
    expect(error).toBe('consent_required')
    expect(description).toMatch(/^AADSTS65001: /)
  })
})

describe('admin approval', () => {
  it('an admin-only scope: a user gets "Need admin approval" and goes back with access_denied AADSTS90094; an admin can grant it for everyone', async () => {
    const url = h.authorizeUrl({ ...base, scope: 'api://restricted-mcp/admin_access' })
    const page = await postCredentials(url, ALICE)
    expect(await page.text()).toContain('Need admin approval')
    const { redirect } = await signInWithForm(h.fetch, url, ALICE)
    const { error, description } = redirectError(redirect)
    expect(error).toBe('access_denied')
    expect(description).toMatch(/^AADSTS90094: The grant requires admin permission\./)

    const asAdmin = await signInWithForm(h.fetch, url, ADMIN)
    expect(asAdmin.redirect.searchParams.get('code')).toBeTruthy()
    // Granted for the organisation: alice now signs in without a prompt.
    expect((await postCredentials(url, ALICE)).status).toBe(302)
  })

  it('with user consent turned off (control API), even user-consentable scopes need an admin', async () => {
    const policy = await h.control('PUT', `tenants/${h.emulator.tenantId}/consent-policy`, { userConsentAllowed: false })
    expect(policy).toEqual({ status: 200, body: { tenantId: h.emulator.tenantId, userConsentAllowed: false } })
    expect((await h.control('PUT', `tenants/${h.emulator.tenantId}/consent-policy`, { userConsentAllowed: 'no' })).status).toBe(400)
    expect((await h.control('PUT', 'tenants/nowhere.test/consent-policy', { userConsentAllowed: true })).status).toBe(404)
    const { redirect } = await signInWithForm(h.fetch, h.authorizeUrl({ ...base, scope: DEV_RESTRICTED_SCOPE }), ALICE)
    expect(redirectError(redirect).description).toMatch(/^AADSTS90094: /)
    h.emulator.reset()
    expect((await signInWithForm(h.fetch, h.authorizeUrl({ ...base, scope: DEV_RESTRICTED_SCOPE }), ALICE)).redirect.searchParams.get('code')).toBeTruthy()
  })
})

describe('admin consent endpoint', () => {
  const adminConsentUrl = (tenant: string, scope = DEV_RESTRICTED_SCOPE) => {
    const url = new URL(`${h.emulator.url}/${tenant}/v2.0/adminconsent`)
    url.search = new URLSearchParams({ client_id: DEV_RELAY_CLIENT_ID, redirect_uri: DEV_RELAY_REDIRECT_URI, scope, state: 'st' }).toString()
    return url
  }

  it('an admin grants for the whole tenant: admin_consent=True, tenant, scope, state', async () => {
    const { redirect } = await signInWithForm(h.fetch, adminConsentUrl(h.emulator.tenantId), ADMIN)
    expect(Object.fromEntries(redirect.searchParams)).toEqual({ admin_consent: 'True', tenant: h.emulator.tenantId, scope: DEV_RESTRICTED_SCOPE, state: 'st' })
    expect((await oboRestricted(ALICE)).status).toBe(200)
    expect((await oboRestricted(BOB)).status).toBe(200)
  })

  it('a non-admin gets access_denied AADSTS90094; an admin who cancels gets access_denied AADSTS65004', async () => {
    const { redirect } = await signInWithForm(h.fetch, adminConsentUrl(h.emulator.tenantId), ALICE)
    expect(redirect.searchParams.get('admin_consent')).toBeNull()
    expect(redirectError(redirect)).toMatchObject({ error: 'access_denied', description: expect.stringMatching(/^AADSTS90094: /) })
    const declined = await signInWithForm(h.fetch, adminConsentUrl(h.emulator.tenantId), ADMIN, { consent: 'decline' })
    expect(redirectError(declined.redirect)).toMatchObject({ error: 'access_denied', description: expect.stringMatching(/^AADSTS65004: /) })
    expect(declined.redirect.searchParams.get('state')).toBe('st')
  })
})

describe('a second tenant (fabrikam.test)', () => {
  it('serves its own metadata and issuer', async () => {
    const metadata = await (await h.fetch(`${h.emulator.url}/fabrikam.test/v2.0/.well-known/openid-configuration`)).json() as Record<string, unknown>
    expect(metadata.issuer).toBe(`${h.emulator.url}/${DEV_OTHER_TENANT_ID}/v2.0`)
  })

  it('does not know the relay until its admin consents (AADSTS700016 for tokens and sign-in)', async () => {
    const refused = await h.token({ grant_type: 'password', ...RELAY, ...CAROL, scope: `api://${DEV_RELAY_CLIENT_ID}/user_impersonation` }, DEV_OTHER_TENANT_ID)
    expectEntraError(refused, 400, 'unauthorized_client', 700016)
    expect(refused.body.error_description).toContain("in the directory 'fabrikam.test'")
    const signIn = await h.fetch(h.authorizeUrl({ ...base, scope: DEV_RELAY_SCOPE }, DEV_OTHER_TENANT_ID), { redirect: 'manual' })
    expect(signIn.status).toBe(400)
    expect(readSignInForm(await signIn.text()).error).toMatch(/^AADSTS700016: /)
  })

  it("its admin's consent provisions the relay; tokens then carry fabrikam's tid and issuer", async () => {
    const url = new URL(`${h.emulator.url}/${DEV_OTHER_TENANT_ID}/v2.0/adminconsent`)
    url.search = new URLSearchParams({ client_id: DEV_RELAY_CLIENT_ID, redirect_uri: DEV_RELAY_REDIRECT_URI, scope: DEV_RELAY_SCOPE, state: 'f' }).toString()
    // Alice is no member of fabrikam.
    await expect(signInWithForm(h.fetch, url, ALICE)).rejects.toThrow(/AADSTS50034/)
    const { redirect } = await signInWithForm(h.fetch, url, CAROL)
    expect(redirect.searchParams.get('admin_consent')).toBe('True')
    expect(redirect.searchParams.get('tenant')).toBe(DEV_OTHER_TENANT_ID)
    const answer = await h.token({ grant_type: 'password', ...RELAY, ...DAVE, scope: DEV_RELAY_SCOPE }, DEV_OTHER_TENANT_ID)
    expect(answer.status).toBe(200)
    expect(decodeJwt(answer.body.access_token as string)).toMatchObject({ tid: DEV_OTHER_TENANT_ID, iss: `${h.emulator.url}/${DEV_OTHER_TENANT_ID}/v2.0` })
    // The dev MCP APIs are not in fabrikam.
    expectEntraError(await h.token({ grant_type: 'password', ...RELAY, ...DAVE, scope: 'api://notes-mcp/user_impersonation' }, DEV_OTHER_TENANT_ID), 400, 'invalid_resource', 500011)
    // organizations finds the user's tenant from the username.
    const viaOrganizations = await h.token({ grant_type: 'password', ...RELAY, ...DAVE, scope: DEV_RELAY_SCOPE }, 'organizations')
    expect(decodeJwt(viaOrganizations.body.access_token as string).tid).toBe(DEV_OTHER_TENANT_ID)
    // Contoso tokens cannot be used at fabrikam's token endpoint for OBO.
    const contoso = (await h.token({ grant_type: 'password', ...RELAY, ...ALICE, scope: DEV_RELAY_SCOPE })).body.access_token as string
    expectEntraError(await h.token({ grant_type: JWT_BEARER, requested_token_use: 'on_behalf_of', ...RELAY, assertion: contoso, scope: DEV_RELAY_SCOPE }, DEV_OTHER_TENANT_ID), 400, 'invalid_grant', 50013)
    h.emulator.reset()
    expectEntraError(await h.token({ grant_type: 'password', ...RELAY, ...DAVE, scope: DEV_RELAY_SCOPE }, DEV_OTHER_TENANT_ID), 400, 'unauthorized_client', 700016)
  })
})
