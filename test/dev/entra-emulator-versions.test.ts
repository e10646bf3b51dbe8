// Access-token versions per API (accessTokenAcceptedVersion), as Entra issues them, the control API that
// changes them, OBO with v1 and v2 assertions, and the sample MCP server accepting v1 tokens.
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest'
import { createLocalJWKSet, decodeJwt, decodeProtectedHeader, jwtVerify, type JSONWebKeySet } from 'jose'
import {
  DEV_CLI_CLIENT_ID, DEV_NOTES_APP_ID, DEV_NOTES_SCOPE, DEV_RELAY_CLIENT_ID, DEV_RELAY_SCOPE, DEV_TENANT_ID,
} from '../../dev/entra-emulator/index.ts'
import { createJwksKeySet, validateAccessToken } from '../../dev/sample-mcp/auth.ts'
import { ALICE, RELAY, expectEntraError, startHarness, type Harness } from './emulator-harness.ts'

let h: Harness
const V1_API = '55555555-0000-4000-8000-000000000001'
const JWT_BEARER = 'urn:ietf:params:oauth:grant-type:jwt-bearer'

beforeAll(async () => {
  h = await startHarness()
  // An API registered without accessTokenAcceptedVersion, as the portal leaves it: v1 tokens.
  h.emulator.registry.addApp({
    clientId: V1_API,
    displayName: 'legacy API',
    appIdUri: 'api://legacy-api',
    exposedScopes: ['read'],
    preAuthorizedClients: [{ clientId: DEV_RELAY_CLIENT_ID, scopes: ['read'] }],
  })
})
afterAll(async () => { await h.close() })
beforeEach(() => { h.emulator.reset() })

const ropc = async (scope: string) => await h.token({ grant_type: 'password', ...RELAY, ...ALICE, scope })
const obo = async (assertion: string, scope = DEV_NOTES_SCOPE) =>
  await h.token({ grant_type: JWT_BEARER, requested_token_use: 'on_behalf_of', ...RELAY, assertion, scope })

describe('v1 tokens for an API left at the default', () => {
  it('carries ver 1.0, the sts.windows.net issuer, aud as requested, appid/appidacr, upn and unique_name, kid and x5t', async () => {
    const byUri = await ropc('api://legacy-api/read')
    expect(byUri.status).toBe(200)
    const claims = decodeJwt(byUri.body.access_token as string)
    expect(claims).toMatchObject({
      ver: '1.0',
      iss: `https://sts.windows.net/${DEV_TENANT_ID}/`,
      aud: 'api://legacy-api',
      appid: DEV_RELAY_CLIENT_ID,
      appidacr: '1',
      upn: ALICE.username,
      unique_name: ALICE.username,
      scp: 'read',
      tid: DEV_TENANT_ID,
    })
    for (const v2Only of ['azp', 'azpacr', 'preferred_username']) expect(claims).not.toHaveProperty(v2Only)
    const header = decodeProtectedHeader(byUri.body.access_token as string)
    expect(header.kid).toBeDefined()
    expect(header.x5t).toBe(header.kid)
    const byClientId = await ropc(`${V1_API}/read`)
    expect(decodeJwt(byClientId.body.access_token as string).aud).toBe(V1_API)
  })

  it('verifies against the published keys', async () => {
    const jwks = await (await h.fetch(h.emulator.jwksUri)).json() as JSONWebKeySet
    const token = (await ropc('api://legacy-api/read')).body.access_token as string
    await expect(jwtVerify(token, createLocalJWKSet(jwks), { issuer: `https://sts.windows.net/${DEV_TENANT_ID}/`, audience: 'api://legacy-api' })).resolves.toBeDefined()
  })
})

describe('v2 tokens for the dev apps', () => {
  it('have kid only in the header and the v2 claims', async () => {
    const answer = await ropc(DEV_NOTES_SCOPE)
    expect(decodeProtectedHeader(answer.body.access_token as string)).toEqual({ typ: 'JWT', alg: 'RS256', kid: expect.any(String) })
    expect(decodeJwt(answer.body.access_token as string)).toMatchObject({ ver: '2.0', aud: DEV_NOTES_APP_ID, azp: DEV_RELAY_CLIENT_ID, iss: h.emulator.issuer })
  })
})

describe('PATCH /_emulator/apps/<clientId>', () => {
  it('switches an API to v1 and back, and reset restores the registration', async () => {
    const patched = await h.control('PATCH', `apps/${DEV_NOTES_APP_ID}`, { accessTokenAcceptedVersion: 1 })
    expect(patched).toEqual({ status: 200, body: { clientId: DEV_NOTES_APP_ID, accessTokenAcceptedVersion: 1 } })
    expect(decodeJwt((await ropc(DEV_NOTES_SCOPE)).body.access_token as string)).toMatchObject({ ver: '1.0', aud: 'api://notes-mcp' })
    expect((await h.control('POST', 'reset')).status).toBe(200)
    expect((await h.control('GET', `apps/${DEV_NOTES_APP_ID}`)).body).toEqual({ clientId: DEV_NOTES_APP_ID, accessTokenAcceptedVersion: 2 })
    expect(decodeJwt((await ropc(DEV_NOTES_SCOPE)).body.access_token as string).ver).toBe('2.0')
    expect(h.emulator.registry.updateApp(V1_API, { accessTokenAcceptedVersion: 2 })).toEqual({ clientId: V1_API, accessTokenAcceptedVersion: 2 })
    expect(decodeJwt((await ropc('api://legacy-api/read')).body.access_token as string).ver).toBe('2.0')
  })

  it('refuses unknown members or values (400) and unknown apps (404)', async () => {
    expect((await h.control('PATCH', `apps/${DEV_NOTES_APP_ID}`, { accessTokenAcceptedVersion: 3 })).status).toBe(400)
    expect((await h.control('PATCH', `apps/${DEV_NOTES_APP_ID}`, { accessTokenAcceptedVersion: '2' })).status).toBe(400)
    expect((await h.control('PATCH', `apps/${DEV_NOTES_APP_ID}`, { displayName: 'x' })).status).toBe(400)
    expect((await h.control('PATCH', `apps/${DEV_NOTES_APP_ID}`, [1])).status).toBe(400)
    expect((await h.control('PATCH', 'apps/12345678-1234-1234-1234-123456789012', { accessTokenAcceptedVersion: 1 })).status).toBe(404)
  })
})

describe('On-Behalf-Of with v1 and v2 assertions', () => {
  it('accepts a v1 assertion with the v1 issuer and a v2 one with the v2 issuer, not crossed', async () => {
    h.emulator.registry.updateApp(DEV_RELAY_CLIENT_ID, { accessTokenAcceptedVersion: 1 })
    const v1 = await h.emulator.issueUserToken(ALICE.username, { clientId: DEV_CLI_CLIENT_ID, scopes: [DEV_RELAY_SCOPE] })
    expect(decodeJwt(v1)).toMatchObject({ ver: '1.0', aud: `api://${DEV_RELAY_CLIENT_ID}` })
    expect((await obo(v1)).status).toBe(200)
    const v1WithV2Issuer = await h.emulator.signToken({ ...decodeJwt(v1), iss: h.emulator.issuer })
    expectEntraError(await obo(v1WithV2Issuer), 400, 'invalid_grant', 50013)
    h.emulator.reset()
    const v2 = await h.emulator.issueUserToken(ALICE.username, { clientId: DEV_CLI_CLIENT_ID, scopes: [DEV_RELAY_SCOPE] })
    expect((await obo(v2)).status).toBe(200)
    const v2WithV1Issuer = await h.emulator.signToken({ ...decodeJwt(v2), iss: `https://sts.windows.net/${DEV_TENANT_ID}/` })
    expectEntraError(await obo(v2WithV1Issuer), 400, 'invalid_grant', 50013)
  })

  it('refuses an ID token as the assertion (AADSTS240002)', async () => {
    const signIn = await h.token({ grant_type: 'password', ...RELAY, ...ALICE, scope: `${DEV_RELAY_SCOPE} openid profile` })
    const answer = await obo(signIn.body.id_token as string)
    expectEntraError(answer, 400, 'invalid_grant', 240002)
    expect(answer.body.error_description).toContain("The id_token can't be used as 'urn:ietf:params:oauth:grant-type:jwt-bearer' grant.")
  })
})

describe('sample MCP token checks', () => {
  it('accept v1 tokens for their API (App ID URI or client id) and v2 ones, and refuse a v1 token with the v2 issuer', async () => {
    const keySet = createJwksKeySet(h.emulator.jwksUri, h.fetch)
    const policy = { issuer: h.emulator.issuer, tenantId: DEV_TENANT_ID, audiences: [DEV_NOTES_APP_ID, 'api://notes-mcp'], requiredScope: 'user_impersonation', clockToleranceSec: 0 }
    const v2 = (await ropc(DEV_NOTES_SCOPE)).body.access_token as string
    expect(await validateAccessToken(v2, keySet, policy)).toMatchObject({ oid: decodeJwt(v2).oid, azp: DEV_RELAY_CLIENT_ID, upn: ALICE.username })
    h.emulator.registry.updateApp(DEV_NOTES_APP_ID, { accessTokenAcceptedVersion: 1 })
    const v1 = (await ropc(DEV_NOTES_SCOPE)).body.access_token as string
    expect(await validateAccessToken(v1, keySet, policy)).toMatchObject({ aud: 'api://notes-mcp', azp: DEV_RELAY_CLIENT_ID, upn: ALICE.username })
    const v1ByClientId = (await ropc(`${DEV_NOTES_APP_ID}/user_impersonation`)).body.access_token as string
    expect((await validateAccessToken(v1ByClientId, keySet, policy)).aud).toBe(DEV_NOTES_APP_ID)
    const forged = await h.emulator.signToken({ ...decodeJwt(v1), iss: h.emulator.issuer })
    await expect(validateAccessToken(forged, keySet, policy)).rejects.toThrow(/iss/)
  })
})
