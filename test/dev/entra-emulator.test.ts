// The Entra emulator over real HTTPS (its own CA): metadata, keys, refresh/password/client-credentials
// grants, client authentication, Entra's error shape, stats and reset. The authorize endpoint and the
// code grant are in entra-emulator-authorize.test.ts, OBO in entra-emulator-obo.test.ts.
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest'
import { createLocalJWKSet, decodeJwt, decodeProtectedHeader, jwtVerify, SignJWT, importPKCS8, base64url } from 'jose'
import { createHash, X509Certificate } from 'node:crypto'
import {
  DEV_CALENDAR_SCOPE, DEV_CLI_CLIENT_ID, DEV_NOTES_APP_ID, DEV_NOTES_SCOPE, DEV_RELAY_CLIENT_ID, DEV_RELAY_CLIENT_SECRET,
  DEV_RELAY_SCOPE, DEV_RESTRICTED_SCOPE, DEV_TENANT_ID, createClientCertificate, requestToken, startEntraEmulator,
  type EntraEmulator, type TokenAnswer,
} from '../../dev/entra-emulator/index.ts'
import { createDispatcher, createFetch } from '../../src/net/http-client.ts'

let emulator: EntraEmulator
let fetch: typeof globalThis.fetch

const ALICE = { username: 'alice@contoso.test', password: 'alice-password' }
const RELAY = { client_id: DEV_RELAY_CLIENT_ID, client_secret: DEV_RELAY_CLIENT_SECRET }

async function token (params: Record<string, string>, headers: Record<string, string> = {}, tenant = DEV_TENANT_ID): Promise<TokenAnswer> {
  return await requestToken(fetch, `${emulator.url}/${tenant}/oauth2/v2.0/token`, params, headers)
}

function expectEntraError (answer: TokenAnswer, status: number, error: string, code: number): void {
  expect(answer.status).toBe(status)
  expect(answer.body.error).toBe(error)
  expect(answer.body.error_codes).toEqual([code])
  expect(answer.body.error_description).toMatch(new RegExp(`^AADSTS${code}: `))
}

beforeAll(async () => {
  emulator = await startEntraEmulator({ port: 0 })
  fetch = createFetch(createDispatcher({ trustedCaPem: emulator.caPem }))
})
afterAll(async () => { await emulator.close() })
beforeEach(() => { emulator.reset() })

describe('metadata and keys', () => {
  it('serves the tenant OpenID configuration MSAL reads', async () => {
    const response = await fetch(`${emulator.url}/${DEV_TENANT_ID}/v2.0/.well-known/openid-configuration`)
    const metadata = await response.json() as Record<string, unknown>
    expect(emulator.url).toMatch(/^https:\/\/localhost:\d+$/)
    expect(metadata).toMatchObject({
      issuer: emulator.issuer,
      authorization_endpoint: `${emulator.url}/${DEV_TENANT_ID}/oauth2/v2.0/authorize`,
      token_endpoint: `${emulator.url}/${DEV_TENANT_ID}/oauth2/v2.0/token`,
      jwks_uri: emulator.jwksUri,
      end_session_endpoint: `${emulator.url}/${DEV_TENANT_ID}/oauth2/v2.0/logout`,
      id_token_signing_alg_values_supported: ['RS256'],
      token_endpoint_auth_methods_supported: ['client_secret_post', 'private_key_jwt', 'client_secret_basic'],
      tenant_region_scope: 'NA',
    })
    expect(emulator.issuer).toBe(`${emulator.url}/${DEV_TENANT_ID}/v2.0`)
  })

  it('accepts organizations/common (issuer placeholder) and the tenant domain', async () => {
    const orgs = await (await fetch(`${emulator.url}/organizations/v2.0/.well-known/openid-configuration`)).json() as Record<string, unknown>
    expect(orgs.issuer).toBe(`${emulator.url}/{tenantid}/v2.0`)
    expect(orgs.token_endpoint).toBe(`${emulator.url}/organizations/oauth2/v2.0/token`)
    const byDomain = await (await fetch(`${emulator.url}/contoso.test/v2.0/.well-known/openid-configuration`)).json() as Record<string, unknown>
    expect(byDomain.issuer).toBe(emulator.issuer)
  })

  it('answers an unknown tenant with AADSTS90002', async () => {
    const response = await fetch(`${emulator.url}/88888888-8888-8888-8888-888888888888/v2.0/.well-known/openid-configuration`)
    expect(response.status).toBe(400)
    const body = await response.json() as Record<string, unknown>
    expect(body.error).toBe('invalid_tenant')
    expect(body.error_codes).toEqual([90002])
  })

  it('publishes RS256 signing keys with kid, x5t and x5c, and tokens verify against them', async () => {
    const jwks = await (await fetch(emulator.jwksUri)).json() as { keys: Array<Record<string, unknown>> }
    const [key] = jwks.keys
    expect(key).toMatchObject({ kty: 'RSA', use: 'sig', issuer: emulator.issuer })
    expect(key?.kid).toBe(key?.x5t)
    const cert = new X509Certificate(Buffer.from((key?.x5c as string[])[0] ?? '', 'base64'))
    expect(createHash('sha1').update(cert.raw).digest('base64url')).toBe(key?.x5t)
    const accessToken = await emulator.issueUserToken(ALICE.username, { clientId: DEV_CLI_CLIENT_ID, scopes: [DEV_RELAY_SCOPE] })
    const { payload, protectedHeader } = await jwtVerify(accessToken, createLocalJWKSet(jwks as never), { issuer: emulator.issuer, audience: DEV_RELAY_CLIENT_ID })
    // v2 access tokens carry kid only; x5t is a v1 legacy header.
    expect(protectedHeader).toEqual({ typ: 'JWT', alg: 'RS256', kid: key?.kid })
    expect(payload).toMatchObject({ scp: 'user_impersonation', ver: '2.0', tid: DEV_TENANT_ID, azp: DEV_CLI_CLIENT_ID, azpacr: '0' })
  })
})

describe('refresh_token grant', () => {
  it('rotates the refresh token and keeps the user', async () => {
    const first = await token({ grant_type: 'password', ...RELAY, ...ALICE, scope: `${DEV_RELAY_SCOPE} openid offline_access`, client_info: '1' })
    const refreshed = await token({ grant_type: 'refresh_token', ...RELAY, refresh_token: first.body.refresh_token as string, scope: `${DEV_RELAY_SCOPE} openid offline_access`, client_info: '1' })
    expect(refreshed.status).toBe(200)
    expect(refreshed.body.refresh_token).toEqual(expect.any(String))
    expect(refreshed.body.refresh_token).not.toBe(first.body.refresh_token)
    expect(decodeJwt(refreshed.body.access_token as string).oid).toBe(emulator.users[0]?.oid)
    expect(refreshed.body.client_info).toBe(first.body.client_info)
  })

  it('binds the refresh token to its client and rejects unknown ones', async () => {
    const ropc = await token({ grant_type: 'password', client_id: DEV_CLI_CLIENT_ID, ...ALICE, scope: `${DEV_RELAY_SCOPE} offline_access` })
    const stolen = await token({ grant_type: 'refresh_token', ...RELAY, refresh_token: ropc.body.refresh_token as string, scope: DEV_RELAY_SCOPE })
    expectEntraError(stolen, 400, 'invalid_grant', 70000)
    expectEntraError(await token({ grant_type: 'refresh_token', ...RELAY, refresh_token: 'garbage', scope: DEV_RELAY_SCOPE }), 400, 'invalid_grant', 9002313)
  })

  it('expires refresh tokens after their (inactivity) lifetime', async () => {
    const shortLived = await startEntraEmulator({ port: 0, refreshTokenLifetimeSec: 60 })
    try {
      const shortFetch = createFetch(createDispatcher({ trustedCaPem: shortLived.caPem }))
      const post = async (params: Record<string, string>) => await (await shortFetch(`${shortLived.url}/${DEV_TENANT_ID}/oauth2/v2.0/token`, {
        method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: new URLSearchParams(params),
      })).json() as Record<string, unknown>
      const ropc = await post({ grant_type: 'password', client_id: DEV_CLI_CLIENT_ID, ...ALICE, scope: `${DEV_RELAY_SCOPE} offline_access` })
      shortLived.advanceClock(61)
      const expired = await post({ grant_type: 'refresh_token', client_id: DEV_CLI_CLIENT_ID, refresh_token: ropc.refresh_token as string, scope: DEV_RELAY_SCOPE })
      expect(expired).toMatchObject({ error: 'invalid_grant', error_codes: [700082] })
    } finally {
      await shortLived.close()
    }
  })
})

describe('password grant (ROPC)', () => {
  it('issues delegated tokens to public and confidential clients', async () => {
    const cli = await token({ grant_type: 'password', client_id: DEV_CLI_CLIENT_ID, ...ALICE, scope: `${DEV_RELAY_SCOPE} openid profile offline_access`, client_info: '1' })
    expect(cli.status).toBe(200)
    expect(decodeJwt(cli.body.access_token as string)).toMatchObject({ aud: DEV_RELAY_CLIENT_ID, azpacr: '0', preferred_username: ALICE.username })
    expect(cli.body.id_token).toEqual(expect.any(String))
    const relay = await token({ grant_type: 'password', ...RELAY, ...ALICE, scope: DEV_NOTES_SCOPE })
    expect(decodeJwt(relay.body.access_token as string)).toMatchObject({ aud: DEV_NOTES_APP_ID, azp: DEV_RELAY_CLIENT_ID, azpacr: '1' })
  })

  it('refuses a wrong password (AADSTS50126), an unknown user (AADSTS50034), and unconsented scopes (AADSTS65001)', async () => {
    expectEntraError(await token({ grant_type: 'password', client_id: DEV_CLI_CLIENT_ID, username: ALICE.username, password: 'wrong', scope: DEV_RELAY_SCOPE }), 400, 'invalid_grant', 50126)
    expectEntraError(await token({ grant_type: 'password', client_id: DEV_CLI_CLIENT_ID, username: 'nobody@contoso.test', password: 'x', scope: DEV_RELAY_SCOPE }), 400, 'invalid_grant', 50034)
    const unconsented = await token({ grant_type: 'password', ...RELAY, ...ALICE, scope: DEV_RESTRICTED_SCOPE })
    expectEntraError(unconsented, 400, 'invalid_grant', 65001)
    expect(unconsented.body.suberror).toBe('consent_required')
  })

  it('validates scopes: several resources (AADSTS28000), unknown scope on a known resource (AADSTS650053), unknown resource (AADSTS500011)', async () => {
    expectEntraError(await token({ grant_type: 'password', ...RELAY, ...ALICE, scope: `${DEV_NOTES_SCOPE} ${DEV_CALENDAR_SCOPE}` }), 400, 'invalid_scope', 28000)
    const unknownScope = await token({ grant_type: 'password', ...RELAY, ...ALICE, scope: 'api://notes-mcp/delete_everything' })
    expectEntraError(unknownScope, 400, 'invalid_client', 650053)
    expect(unknownScope.body.error_description).toContain(`asked for scope 'delete_everything' that doesn't exist on the resource '${DEV_NOTES_APP_ID}'`)
    expectEntraError(await token({ grant_type: 'password', ...RELAY, ...ALICE, scope: 'api://unknown/x' }), 400, 'invalid_resource', 500011)
  })
})

describe('client_credentials grant', () => {
  it('issues an app-only token: no scp, oid of the service principal, and no roles until one is assigned', async () => {
    const answer = await token({ grant_type: 'client_credentials', ...RELAY, scope: 'api://notes-mcp/.default' })
    expect(answer.status).toBe(200)
    expect(answer.body.refresh_token).toBeUndefined()
    const claims = decodeJwt(answer.body.access_token as string)
    expect(claims).toMatchObject({ aud: DEV_NOTES_APP_ID, azp: DEV_RELAY_CLIENT_ID, ver: '2.0' })
    expect(claims.scp).toBeUndefined()
    expect(claims.roles).toBeUndefined()
    expect(claims.idtyp).toBeUndefined()
    expect(claims.oid).toBe(claims.sub)
  })

  it('needs a single <resource>/.default scope (AADSTS1002012) and a tenant (AADSTS50059)', async () => {
    expectEntraError(await token({ grant_type: 'client_credentials', ...RELAY, scope: DEV_NOTES_SCOPE }), 400, 'invalid_scope', 1002012)
    expectEntraError(await token({ grant_type: 'client_credentials', ...RELAY, scope: 'api://notes-mcp/.default' }, {}, 'organizations'), 400, 'invalid_request', 50059)
  })
})

describe('client authentication', () => {
  const ropc = { grant_type: 'password', ...ALICE, scope: DEV_NOTES_SCOPE }

  it('accepts the secret in the body or by HTTP Basic', async () => {
    expect((await token({ ...ropc, ...RELAY })).status).toBe(200)
    const basic = Buffer.from(`${encodeURIComponent(DEV_RELAY_CLIENT_ID)}:${encodeURIComponent(DEV_RELAY_CLIENT_SECRET)}`).toString('base64')
    expect((await token(ropc, { authorization: `Basic ${basic}` })).status).toBe(200)
  })

  it('refuses a wrong secret (401 AADSTS7000215), none (401 AADSTS7000218), a public client with one (AADSTS700025), an unknown app (AADSTS700016)', async () => {
    expectEntraError(await token({ ...ropc, client_id: DEV_RELAY_CLIENT_ID, client_secret: 'wrong' }), 401, 'invalid_client', 7000215)
    expectEntraError(await token({ ...ropc, client_id: DEV_RELAY_CLIENT_ID }), 401, 'invalid_client', 7000218)
    expectEntraError(await token({ ...ropc, scope: DEV_RELAY_SCOPE, client_id: DEV_CLI_CLIENT_ID, client_secret: 'x' }), 401, 'invalid_client', 700025)
    expectEntraError(await token({ ...ropc, client_id: '55555555-5555-5555-5555-555555555555', client_secret: 'x' }), 400, 'unauthorized_client', 700016)
  })

  it('verifies private_key_jwt client assertions against the registered certificate', async () => {
    const certificate = await createClientCertificate()
    const clientId = '66666666-6666-6666-6666-666666666666'
    emulator.registry.addApp({ clientId, displayName: 'cert client', certificates: [certificate.certPem] })
    emulator.registry.grantConsent(ALICE.username, clientId, [DEV_NOTES_SCOPE])
    const key = await importPKCS8(certificate.privateKeyPem, 'RS256')
    const x5t = Buffer.from(certificate.thumbprintSha1, 'hex').toString('base64url')
    const tokenEndpoint = `${emulator.url}/${DEV_TENANT_ID}/oauth2/v2.0/token`
    const now = Math.floor(Date.now() / 1000)
    const assertion = async (claims: Record<string, unknown> = {}, header: Record<string, unknown> = { x5t }) => await new SignJWT({
      iss: clientId, sub: clientId, aud: tokenEndpoint, iat: now, nbf: now, exp: now + 600, jti: crypto.randomUUID(), ...claims,
    }).setProtectedHeader({ alg: 'RS256', typ: 'JWT', ...header }).sign(key)
    const withAssertion = async (clientAssertion: string) => await token({
      ...ropc, client_id: clientId, client_assertion_type: 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer', client_assertion: clientAssertion,
    })
    const ok = await withAssertion(await assertion())
    expect(ok.status).toBe(200)
    expect(decodeJwt(ok.body.access_token as string).azpacr).toBe('2')
    expectEntraError(await withAssertion(await assertion({ aud: `${emulator.url}/other/oauth2/v2.0/token` })), 401, 'invalid_client', 700023)
    expectEntraError(await withAssertion(await assertion({ exp: now - 60 })), 401, 'invalid_client', 700024)
    expectEntraError(await withAssertion(await assertion({ sub: DEV_RELAY_CLIENT_ID })), 401, 'invalid_client', 700021)
    expectEntraError(await withAssertion(await assertion({}, { x5t: base64url.encode('unregistered-thumbprint') })), 401, 'invalid_client', 700027)
    const other = await createClientCertificate()
    const forged = await new SignJWT({}).setProtectedHeader({ alg: 'RS256', x5t }).setIssuer(clientId).setSubject(clientId)
      .setAudience(tokenEndpoint).setExpirationTime('5m').sign(await importPKCS8(other.privateKeyPem, 'RS256'))
    expectEntraError(await withAssertion(forged), 401, 'invalid_client', 700027)
  })
})

describe('protocol errors', () => {
  it('refuses the v1 `resource` parameter (AADSTS9010010)', async () => {
    expectEntraError(await token({ grant_type: 'password', ...RELAY, ...ALICE, scope: DEV_NOTES_SCOPE, resource: DEV_NOTES_APP_ID }), 400, 'invalid_request', 9010010)
  })

  it('refuses an unknown grant (AADSTS70003), a missing one (AADSTS900144), a GET (AADSTS900561), a JSON body', async () => {
    expectEntraError(await token({ grant_type: 'implicit', ...RELAY }), 400, 'unsupported_grant_type', 70003)
    expectEntraError(await token({ ...RELAY }), 400, 'invalid_request', 900144)
    const get = await fetch(`${emulator.url}/${DEV_TENANT_ID}/oauth2/v2.0/token`)
    expect(((await get.json()) as Record<string, unknown>).error_codes).toEqual([900561])
    const json = await fetch(`${emulator.url}/${DEV_TENANT_ID}/oauth2/v2.0/token`, {
      method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ grant_type: 'password' }),
    })
    expect(json.status).toBe(400)
    expect(((await json.json()) as Record<string, unknown>).error_codes).toEqual([900144])
  })

  it("has Entra's error shape and echoes client-request-id as the correlation id", async () => {
    const answer = await token({ grant_type: 'password', client_id: DEV_CLI_CLIENT_ID, username: ALICE.username, password: 'wrong', scope: DEV_RELAY_SCOPE },
      { 'client-request-id': 'c0ffee00-0000-4000-8000-000000000001' })
    const body = answer.body
    expect(body.correlation_id).toBe('c0ffee00-0000-4000-8000-000000000001')
    expect(answer.headers.get('client-request-id')).toBe('c0ffee00-0000-4000-8000-000000000001')
    expect(body.timestamp).toMatch(/^\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}Z$/)
    expect(body.trace_id).toMatch(/^[0-9a-f-]{36}$/)
    expect(body.error_uri).toBe(`${emulator.url}/error?code=50126`)
    expect(body.error_description).toBe(`AADSTS50126: Error validating credentials due to invalid username or password.\r\nTrace ID: ${String(body.trace_id)}\r\nCorrelation ID: ${String(body.correlation_id)}\r\nTimestamp: ${String(body.timestamp)}`)
  })
})

describe('stats and reset', () => {
  it('counts every token request per grant, refused ones too, and reset clears counters, codes and tokens', async () => {
    const ropc = await token({ grant_type: 'password', client_id: DEV_CLI_CLIENT_ID, ...ALICE, scope: `${DEV_RELAY_SCOPE} offline_access` })
    await token({ grant_type: 'password', client_id: DEV_CLI_CLIENT_ID, username: ALICE.username, password: 'wrong', scope: DEV_RELAY_SCOPE })
    await token({ grant_type: 'client_credentials', ...RELAY, scope: 'api://notes-mcp/.default' })
    const expected = { authorization_code: 0, refresh_token: 0, on_behalf_of: 0, password: 2, client_credentials: 1 }
    expect(emulator.stats()).toEqual({ calls: expected })
    expect(await (await fetch(`${emulator.url}/_emulator/stats`)).json()).toEqual({ calls: expected })

    expect((await fetch(`${emulator.url}/_emulator/reset`, { method: 'POST' })).status).toBe(200)
    expect(emulator.stats().calls.password).toBe(0)
    const afterReset = await token({ grant_type: 'refresh_token', client_id: DEV_CLI_CLIENT_ID, refresh_token: ropc.body.refresh_token as string, scope: DEV_RELAY_SCOPE })
    expectEntraError(afterReset, 400, 'invalid_grant', 9002313)
    expect(decodeProtectedHeader(ropc.body.access_token as string).alg).toBe('RS256')
  })
})
