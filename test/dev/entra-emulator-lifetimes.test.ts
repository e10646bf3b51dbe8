// Scope and role rules (AADSTS70011 for doubled .default, assigned app roles, idtyp), credential validity
// (expiring secrets and certificates), refresh-token lifetimes (90-day sliding, SPA 24 h fixed) on the
// emulator clock, and randomised access-token lifetimes.
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest'
import { decodeJwt, importPKCS8, SignJWT } from 'jose'
import {
  DEV_NOTES_APP_ID, DEV_NOTES_SCOPE, DEV_RELAY_CLIENT_ID, DEV_TENANT_ID, createClientCertificate, createPkcePair, signInWithForm,
} from '../../dev/entra-emulator/index.ts'
import { ALICE, RELAY, expectEntraError, startHarness, type Harness } from './emulator-harness.ts'

let h: Harness
const DAY = 86_400

beforeAll(async () => { h = await startHarness() })
afterAll(async () => { await h.close() })
beforeEach(() => { h.emulator.reset() })

const ropc = async (scope: string, client: Record<string, string> = RELAY) => await h.token({ grant_type: 'password', ...client, ...ALICE, scope })

describe('scopes and roles', () => {
  it('refuses .default twice or with explicit scopes of the same resource (AADSTS70011)', async () => {
    expectEntraError(await ropc(`api://notes-mcp/.default ${DEV_NOTES_APP_ID}/.default`), 400, 'invalid_scope', 70011)
    expectEntraError(await ropc(`api://notes-mcp/.default ${DEV_NOTES_SCOPE}`), 400, 'invalid_scope', 70011)
    expect((await ropc('api://notes-mcp/.default')).status).toBe(200)
  })

  it('gives app-only tokens the assigned roles only, and idtyp only where the API asks for it', async () => {
    const clientId = '66666666-0000-4000-8000-000000000001'
    h.emulator.registry.addApp({ clientId, displayName: 'daemon', secrets: ['daemon-secret'], appRoleAssignments: [{ resource: 'api://notes-mcp', roles: ['access_as_application', 'not_offered'] }] })
    h.emulator.registry.addApp({ clientId: '66666666-0000-4000-8000-000000000002', displayName: 'typed API', appIdUri: 'api://typed', appRoles: ['Read.All'], optionalClaims: { accessToken: ['idtyp'] }, accessTokenAcceptedVersion: 2 })
    const daemon = { client_id: clientId, client_secret: 'daemon-secret' }
    const notes = await h.token({ grant_type: 'client_credentials', ...daemon, scope: 'api://notes-mcp/.default' })
    expect(decodeJwt(notes.body.access_token as string)).toMatchObject({ roles: ['access_as_application'] })
    expect(decodeJwt(notes.body.access_token as string).idtyp).toBeUndefined()
    const typed = decodeJwt((await h.token({ grant_type: 'client_credentials', ...daemon, scope: 'api://typed/.default' })).body.access_token as string)
    expect(typed.idtyp).toBe('app')
    expect(typed.roles).toBeUndefined()
    // Delegated tokens never carry idtyp=app.
    h.emulator.registry.grantConsent(ALICE.username, DEV_RELAY_CLIENT_ID, [DEV_NOTES_SCOPE])
    expect(decodeJwt((await ropc(DEV_NOTES_SCOPE)).body.access_token as string).idtyp).toBeUndefined()
  })
})

describe('credential validity', () => {
  it('accepts secrets in both forms and refuses an expired one (401 AADSTS7000222)', async () => {
    const clientId = '66666666-0000-4000-8000-000000000003'
    const now = h.emulator.now()
    h.emulator.registry.addApp({
      clientId,
      displayName: 'rotating secrets',
      secrets: ['plain-secret', { value: 'current', expiresAt: new Date(now + 30 * DAY * 1000).toISOString() }, { value: 'old', expiresAt: now - 1000 }],
    })
    h.emulator.registry.grantConsent(ALICE.username, clientId, [DEV_NOTES_SCOPE])
    expect((await ropc(DEV_NOTES_SCOPE, { client_id: clientId, client_secret: 'plain-secret' })).status).toBe(200)
    expect((await ropc(DEV_NOTES_SCOPE, { client_id: clientId, client_secret: 'current' })).status).toBe(200)
    const expired = await ropc(DEV_NOTES_SCOPE, { client_id: clientId, client_secret: 'old' })
    expectEntraError(expired, 401, 'invalid_client', 7000222)
    expect(expired.body.error_description).toContain('client secret keys')
    h.emulator.advanceClock(31 * DAY)
    expectEntraError(await ropc(DEV_NOTES_SCOPE, { client_id: clientId, client_secret: 'current' }), 401, 'invalid_client', 7000222)
    expectEntraError(await ropc(DEV_NOTES_SCOPE, { client_id: clientId, client_secret: 'wrong' }), 401, 'invalid_client', 7000215)
  })

  it('refuses client assertions signed with an expired or not yet valid certificate (AADSTS700027)', async () => {
    const now = h.emulator.now()
    const expiredCert = await createClientCertificate('CN=expired', { notBefore: new Date(now - 20 * DAY * 1000), notAfter: new Date(now - DAY * 1000) })
    const futureCert = await createClientCertificate('CN=future', { notBefore: new Date(now + 10 * DAY * 1000), notAfter: new Date(now + 20 * DAY * 1000) })
    const tokenEndpoint = `${h.emulator.url}/${DEV_TENANT_ID}/oauth2/v2.0/token`
    for (const [index, cert] of [expiredCert, futureCert].entries()) {
      const clientId = `66666666-0000-4000-8000-00000000001${index}`
      h.emulator.registry.addApp({ clientId, displayName: `cert ${index}`, certificates: [cert.certPem] })
      const assertion = await new SignJWT({ jti: crypto.randomUUID() })
        .setProtectedHeader({ alg: 'RS256', x5t: Buffer.from(cert.thumbprintSha1, 'hex').toString('base64url') })
        .setIssuer(clientId).setSubject(clientId).setAudience(tokenEndpoint).setIssuedAt().setExpirationTime('5m')
        .sign(await importPKCS8(cert.privateKeyPem, 'RS256'))
      const answer = await h.token({
        grant_type: 'client_credentials',
        client_id: clientId,
        scope: 'api://notes-mcp/.default',
        client_assertion_type: 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer',
        client_assertion: assertion,
      })
      expectEntraError(answer, 401, 'invalid_client', 700027)
      expect(answer.body.error_description).toContain('expired or not yet valid')
    }
  })
})

describe('refresh tokens', () => {
  const refresh = async (refreshToken: string, client: Record<string, string> = RELAY) =>
    await h.token({ grant_type: 'refresh_token', ...client, refresh_token: refreshToken, scope: `${DEV_NOTES_SCOPE} offline_access` })

  it('live 90 days of inactivity, sliding with each use (then AADSTS700082)', async () => {
    const first = await ropc(`${DEV_NOTES_SCOPE} offline_access`)
    h.emulator.advanceClock(89 * DAY)
    const second = await refresh(first.body.refresh_token as string)
    expect(second.status).toBe(200)
    h.emulator.advanceClock(89 * DAY)
    const third = await refresh(second.body.refresh_token as string)
    expect(third.status).toBe(200)
    h.emulator.advanceClock(91 * DAY)
    const expired = await refresh(third.body.refresh_token as string)
    expectEntraError(expired, 400, 'invalid_grant', 700082)
    expect(expired.body.error_description).toContain('expired due to inactivity')
  })

  it('issued to a spa redirect URI have a fixed 24 h lifetime, however often used (AADSTS700084)', async () => {
    const spaClient = '66666666-0000-4000-8000-000000000020'
    const spaUri = 'https://spa.example.test/'
    h.emulator.registry.addApp({ clientId: spaClient, displayName: 'spa', isPublicClient: true, redirectUris: [{ uri: spaUri, type: 'spa' }], signInAudience: 'AzureADMyOrg' })
    h.emulator.registry.grantConsent(ALICE.username, spaClient, [DEV_NOTES_SCOPE])
    const pkce = createPkcePair()
    const scope = `${DEV_NOTES_SCOPE} offline_access`
    const { redirect } = await signInWithForm(h.fetch, h.authorizeUrl({ client_id: spaClient, redirect_uri: spaUri, scope, code_challenge: pkce.challenge, code_challenge_method: 'S256' }), ALICE)
    const redeemed = await h.token({ grant_type: 'authorization_code', client_id: spaClient, code: redirect.searchParams.get('code') ?? '', code_verifier: pkce.verifier, redirect_uri: spaUri, scope })
    expect(redeemed.status).toBe(200)
    h.emulator.advanceClock(12 * 3600)
    const renewed = await refresh(redeemed.body.refresh_token as string, { client_id: spaClient })
    expect(renewed.status).toBe(200)
    h.emulator.advanceClock(12 * 3600 + 1)
    const expired = await refresh(renewed.body.refresh_token as string, { client_id: spaClient })
    expectEntraError(expired, 400, 'invalid_grant', 700084)
    expect(expired.body.error_description).toContain('single page app (SPA)')
  })

  it('advance over the control API too (400 on bad input)', async () => {
    const before = h.emulator.now()
    expect((await h.control('POST', 'clock', { advanceSec: 3600 })).status).toBe(200)
    expect(h.emulator.now() - before).toBeGreaterThanOrEqual(3_600_000)
    expect((await h.control('POST', 'clock', { advanceSec: -1 })).status).toBe(400)
    expect((await h.control('POST', 'clock', { seconds: 1 })).status).toBe(400)
  })
})

describe('access-token lifetimes', () => {
  it('are random between 3600 and 5400 s, matching exp, unless fixed by accessTokenLifetimeSec', async () => {
    const lifetimes = new Set<number>()
    for (let i = 0; i < 8; i++) {
      const answer = await ropc(DEV_NOTES_SCOPE.replace('notes', 'calendar'))
      const lifetime = answer.body.expires_in as number
      expect(lifetime).toBeGreaterThanOrEqual(3600)
      expect(lifetime).toBeLessThanOrEqual(5400)
      expect(answer.body.ext_expires_in).toBe(lifetime)
      const claims = decodeJwt(answer.body.access_token as string)
      expect((claims.exp ?? 0) - Math.floor(h.emulator.now() / 1000)).toBeGreaterThan(lifetime - 5)
      lifetimes.add(lifetime)
    }
    expect(lifetimes.size).toBeGreaterThan(1)
    const fixed = await startHarness({ accessTokenLifetimeSec: 3600 })
    try {
      const answer = await fixed.token({ grant_type: 'password', ...RELAY, ...ALICE, scope: DEV_NOTES_SCOPE })
      expect(answer.body.expires_in).toBe(3600)
    } finally {
      await fixed.close()
    }
  })
})
