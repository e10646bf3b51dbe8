// The agent-facing authorization server at its edges (issue 10 "Bad input"): metadata whose every URL is a live
// route, a forged Host, redirect URIs, PKCE, reused codes and refresh tokens, DPoP at the token endpoint,
// introspection rights, client ID metadata documents and registration — each a clear OAuth error in JSON.
import { request as httpRequest } from 'node:http'
import { randomUUID, type webcrypto } from 'node:crypto'
import { SignJWT } from 'jose'
import * as oauth from 'oauth4webapi'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { startClientMetadataServer, type ClientMetadataServer } from '../fixtures/client-metadata-server.ts'
import { HttpBrowser } from '../helpers/browser.ts'
import { authorizeInBrowser } from '../helpers/agent.ts'
import {
  authorizationCode, authorizationUrl, callRelay, dpopBoundTokens, dpopKey, insecure, proof, registerPrivateKeyJwtClient,
  registerPublicClient, withNonceRetry, type RawClient,
} from '../helpers/oauth.ts'
import { startTestStack, type TestStack } from '../helpers/stack.ts'

const RS_SECRET = 'resource-server-secret-0123456789-abcdef'
let stack: TestStack
let metadataServer: ClientMetadataServer
let alice: { oid: string }
const nonce = () => stack.relay.services.agentAuth.nonces.next()

beforeAll(async () => {
  metadataServer = await startClientMetadataServer()
  stack = await startTestStack({
    extraTrustedCaPems: [metadataServer.caPem],
    relayEnv: {
      AGENT_CLIENT_METADATA_ALLOWED_HOSTS: 'localhost',
      CORS_ALLOWED_ORIGINS: 'https://app.example',
      AGENT_RESOURCE_SERVER_CLIENTS: JSON.stringify([
        { client_id: 'rest-rs', client_secret: RS_SECRET, resources: ['/v1'] },
        { client_id: 'mcp-rs', client_secret: RS_SECRET, resources: ['/mcp'] },
      ]),
    },
  })
  alice = stack.emulator.users.find((u) => u.username === 'alice@contoso.test')!
})
afterAll(async () => {
  await stack?.close()
  await metadataServer?.close()
})

function expectOAuthError (body: any, error: string, reason?: string): void {
  expect(body).toMatchObject({ error, ...(reason === undefined ? {} : { reason }) })
  expect(typeof body.error_description).toBe('string')
  expect(typeof body.request_id).toBe('string')
  expect(JSON.stringify(body)).not.toMatch(/\bat [\w.]+ \(|node:internal|<html/i)
}

/** The relay's answer to a raw form POST (no client library in the way). */
async function post (url: string, form: Record<string, string>, headers: Record<string, string> = {}): Promise<{ status: number, headers: Headers, body: any }> {
  const response = await fetch(url, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded', ...headers }, body: new URLSearchParams(form) })
  const text = await response.text()
  return { status: response.status, headers: response.headers, body: text === '' ? undefined : JSON.parse(text) }
}

async function oauthFailure (promise: Promise<unknown>): Promise<oauth.ResponseBodyError> {
  const err = await promise.then(() => undefined, (e: unknown) => e)
  expect(err).toBeInstanceOf(oauth.ResponseBodyError)
  return err as oauth.ResponseBodyError
}

describe('metadata', () => {
  it('RFC 8414 and OIDC documents are identical, name the issuer PUBLIC_URL and send iss', async () => {
    const oauthDoc = await stack.call('/.well-known/oauth-authorization-server')
    const oidcDoc = await stack.call('/.well-known/openid-configuration')
    expect(oauthDoc.status).toBe(200)
    expect(oidcDoc.body).toEqual(oauthDoc.body)
    expect(oauthDoc.body).toMatchObject({
      issuer: new URL(stack.relayUrl).origin,
      authorization_response_iss_parameter_supported: true,
      client_id_metadata_document_supported: true,
      code_challenge_methods_supported: ['S256'],
      response_types_supported: ['code'],
      token_endpoint_auth_methods_supported: ['none', 'client_secret_basic', 'private_key_jwt'],
    })
    expect(oauthDoc.body.dpop_signing_alg_values_supported).toEqual(expect.arrayContaining(['ES256', 'EdDSA']))
    // Every answer under /oauth carries a CSP that would block form_post's auto-submitting page: not offered.
    expect(oauthDoc.body.response_modes_supported).toEqual(['fragment', 'query'])
  })

  it('every URL in it is a live route answering with its own answer (never 404, never 5xx)', async () => {
    const doc = (await stack.call('/.well-known/oauth-authorization-server')).body as Record<string, unknown>
    const urls = Object.entries(doc).filter(([key, value]) => typeof value === 'string' && /_(endpoint|uri)$|^service_documentation$/.test(key))
    expect(urls.length).toBeGreaterThanOrEqual(10)
    const methods: Record<string, string> = {
      authorization_endpoint: 'GET', jwks_uri: 'GET', userinfo_endpoint: 'GET', service_documentation: 'GET',
    }
    for (const [key, url] of urls as Array<[string, string]>) {
      expect(url.startsWith(`${stack.relayUrl}/`)).toBe(true)
      const method = methods[key] ?? 'POST'
      const response = await fetch(url, { method, ...(method === 'POST' ? { headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: 'client_id=unknown-client' } : {}) })
      expect(response.status, `${key} ${url}`).not.toBe(404)
      expect(response.status, `${key} ${url}`).toBeLessThan(500)
      if (key === 'service_documentation') continue
      const body = await response.json() as Record<string, unknown>
      if (key === 'jwks_uri') {
        expect(response.status).toBe(200)
        const keys = body.keys as Array<Record<string, unknown>>
        expect(keys.length).toBeGreaterThan(0)
        for (const jwk of keys) expect(jwk.d).toBeUndefined()
        continue
      }
      expectOAuthError(body, String(body.error))
    }
    // The token endpoint's own answer to an unknown client.
    const token = await post(doc.token_endpoint as string, { grant_type: 'authorization_code', code: 'x', client_id: 'unknown-client' })
    expect(token.status).toBe(401)
    expectOAuthError(token.body, 'invalid_client', 'client_invalid')
  })

  it('a forged Host or X-Forwarded-Host changes nothing in the metadata', async () => {
    const port = new URL(stack.relayUrl).port
    const forged = await new Promise<Record<string, unknown>>((resolve, reject) => {
      const req = httpRequest({ host: '127.0.0.1', port, path: '/.well-known/openid-configuration', headers: { host: 'evil.example', 'x-forwarded-host': 'evil.example', 'x-forwarded-proto': 'https' } }, (res) => {
        let text = ''
        res.on('data', (chunk: Buffer) => { text += chunk.toString() })
        res.on('end', () => resolve(JSON.parse(text) as Record<string, unknown>))
      })
      req.on('error', reject)
      req.end()
    })
    expect(forged).toEqual((await stack.call('/.well-known/openid-configuration')).body)
    expect(JSON.stringify(forged)).not.toContain('evil.example')
  })
})

describe('authorization requests', () => {
  let raw: RawClient
  beforeAll(async () => { raw = await registerPublicClient(stack) })

  it('an unregistered redirect_uri → 400 invalid_redirect_uri as JSON, never a redirect to it', async () => {
    for (const redirectUri of ['http://127.0.0.1:9/elsewhere', 'https://evil.example/callback']) {
      const { url } = await authorizationUrl(raw, { redirectUri })
      const answer = await stack.call(url.slice(stack.relayUrl.length))
      expect(answer.status).toBe(400)
      expect(answer.headers.get('location')).toBeNull()
      expectOAuthError(answer.body, 'invalid_redirect_uri', 'redirect_uri_invalid')
    }
  })

  it('the consent page cannot be framed, posts only to the relay, Entra and the client, and is never cached', async () => {
    const browser = new HttpBrowser(stack.fetch)
    const { url } = await authorizationUrl(raw)
    const { response, url: at } = await browser.follow(url)
    expect(at).toMatch(/\/oauth\/interaction\/[\w-]+$/)
    const csp = response.headers.get('content-security-policy')!
    expect(csp).toContain("frame-ancestors 'none'")
    expect(csp).toContain(`form-action 'self' ${stack.emulator.url} http://127.0.0.1:9`)
    expect(csp).not.toContain('script-src')
    expect(response.headers.get('cache-control')).toBe('no-store')
    expect(response.headers.get('x-frame-options')).toBe('DENY')
    // A form post without the page's CSRF token is refused.
    const forged = await browser.request(`${at}/confirm`, { method: 'POST', body: new URLSearchParams({ csrf: 'forged' }), headers: { origin: stack.relayUrl } })
    expect(forged.status).toBe(403)
    expectOAuthError(await forged.json(), 'access_denied', 'cross_site_refused')
    // Another browser (no interaction cookie) cannot use this interaction.
    const stranger = await new HttpBrowser(stack.fetch).request(at)
    expect(stranger.status).toBe(400)
    expectOAuthError(await stranger.json(), 'invalid_request', 'interaction_invalid')
  })

  it('a loopback redirect on another port is the same redirect URI (RFC 8252 §7.3)', async () => {
    const { url } = await authorizationUrl(raw, { redirectUri: 'http://127.0.0.1:54321/callback' })
    const answer = await stack.call(url.slice(stack.relayUrl.length))
    expect(answer.status).toBe(303)
    expect(answer.headers.get('location')).toMatch(/^\/oauth\/interaction\//)
  })

  it('missing PKCE and plain PKCE: the error goes to the client with iss; at PAR it is JSON', async () => {
    for (const [p, reason] of [[{ omitPkce: true }, 'pkce_required'], [{ codeChallengeMethod: 'plain' }, 'pkce_method_unsupported']] as const) {
      const { url } = await authorizationUrl(raw, p)
      const answer = await stack.call(url.slice(stack.relayUrl.length))
      expect(answer.status).toBe(303)
      const location = new URL(answer.headers.get('location')!)
      expect(location.origin + location.pathname).toBe(raw.redirectUri)
      expect(location.searchParams.get('error')).toBe('invalid_request')
      expect(location.searchParams.get('iss')).toBe(new URL(stack.relayUrl).origin)

      const parameters = Object.fromEntries(new URL(url).searchParams)
      const pushed = await post(`${stack.relayUrl}/oauth/par`, parameters)
      expect(pushed.status).toBe(400)
      expectOAuthError(pushed.body, 'invalid_request', reason)
    }
  })

  it('response_mode=form_post → unsupported_response_mode, sent to the client in the query mode; at PAR it is JSON', async () => {
    for (const mode of ['form_post', 'form_post.jwt']) {
      const { url } = await authorizationUrl(raw)
      const withMode = new URL(url)
      withMode.searchParams.set('response_mode', mode)
      const answer = await stack.call(withMode.href.slice(stack.relayUrl.length))
      expect(answer.status).toBe(303)
      const location = new URL(answer.headers.get('location')!)
      expect(location.origin + location.pathname).toBe(raw.redirectUri)
      expect(location.searchParams.get('error')).toBe('unsupported_response_mode')
      expect(location.searchParams.get('iss')).toBe(new URL(stack.relayUrl).origin)

      const pushed = await post(`${stack.relayUrl}/oauth/par`, Object.fromEntries(withMode.searchParams))
      expect(pushed.status).toBe(400)
      expectOAuthError(pushed.body, 'unsupported_response_mode', 'oauth_unsupported_response_mode')
    }
    // query stays accepted when named explicitly.
    const { url } = await authorizationUrl(raw)
    const query = await stack.call(`${url.slice(stack.relayUrl.length)}&response_mode=query`)
    expect(query.status).toBe(303)
    expect(query.headers.get('location')).toMatch(/^\/oauth\/interaction\//)
  })

  it('a sign-in that fails at Entra ends the authorization with an error for the agent, never a wait', async () => {
    // 53003 (a Conditional Access block) → access_denied; Entra down while redeeming the code → temporarily_unavailable.
    for (const [fault, error] of [['ca_blocked', 'access_denied'], ['unavailable', 'temporarily_unavailable']] as const) {
      stack.emulator.addFault({ grant: 'authorization_code', fault, count: 1 })
      const { url, state } = await authorizationUrl(raw)
      const run = await authorizeInBrowser(stack, new HttpBrowser(stack.fetch), url, 'alice@contoso.test')
      const location = new URL(run.finalUrl)
      expect(location.origin + location.pathname).toBe(raw.redirectUri)
      expect(Object.fromEntries(location.searchParams)).toMatchObject({ error, state, iss: new URL(stack.relayUrl).origin })
      expect(location.searchParams.has('code')).toBe(false)
      // The relay's words, not Entra's: no AADSTS text, no correlation ids, no trace.
      expect(location.searchParams.get('error_description')).toMatch(/\w/)
      expect(location.searchParams.get('error_description')).not.toMatch(/Trace ID|Correlation ID|Timestamp/i)
    }
  })

  it('a resource the relay does not serve, or none for the relay\'s scopes → invalid_target', async () => {
    for (const resource of [['https://graph.microsoft.com'], []]) {
      const { url } = await authorizationUrl(raw, { resource })
      const pushed = await post(`${stack.relayUrl}/oauth/par`, Object.fromEntries(new URL(url).searchParams))
      expect(pushed.status).toBe(400)
      expectOAuthError(pushed.body, 'invalid_target', 'resource_invalid')
    }
  })
})

describe('codes and refresh tokens', () => {
  it('a reused code → invalid_grant, and the tokens of its first redemption stop working', async () => {
    const raw = await registerPublicClient(stack)
    const key = await dpopKey()
    const handle = key.handle(raw.client)
    const { parameters, verifier } = await authorizationCode(stack, raw)
    const redeem = async () => await withNonceRetry(async () => await oauth.processAuthorizationCodeResponse(raw.as, raw.client,
      await oauth.authorizationCodeGrantRequest(raw.as, raw.client, raw.auth, parameters, raw.redirectUri, verifier, { ...insecure, DPoP: handle })))
    const first = await redeem()
    const again = await oauthFailure(redeem())
    expect(again.error).toBe('invalid_grant')
    expect((again.cause as { reason: string }).reason).toBe('code_reused')
    const token = first.access_token
    const answer = await callRelay(stack, '/v1/me', { token, proof: await proof(key, { htm: 'GET', htu: `${stack.relayUrl}/v1/me`, nonce: nonce() }, token) })
    expect(answer.status).toBe(401)
  })

  it('a wrong PKCE verifier → invalid_grant', async () => {
    const raw = await registerPublicClient(stack)
    const { parameters } = await authorizationCode(stack, raw)
    const handle = (await dpopKey()).handle(raw.client)
    const err = await oauthFailure(withNonceRetry(async () => await oauth.processAuthorizationCodeResponse(raw.as, raw.client,
      await oauth.authorizationCodeGrantRequest(raw.as, raw.client, raw.auth, parameters, raw.redirectUri, oauth.generateRandomCodeVerifier(), { ...insecure, DPoP: handle }))))
    expect(err.error).toBe('invalid_grant')
    expect((err.cause as { reason: string }).reason).toBe('pkce_verifier_invalid')
  })

  it('a reused refresh token revokes the whole family (RFC 9700 §4.14.2)', async () => {
    const { raw, dpop, tokens } = await dpopBoundTokens(stack)
    const handle = dpop.handle(raw.client)
    const refresh = async (refreshToken: string) => await withNonceRetry(async () => await oauth.processRefreshTokenResponse(raw.as, raw.client,
      await oauth.refreshTokenGrantRequest(raw.as, raw.client, raw.auth, refreshToken, { ...insecure, DPoP: handle })))
    const second = await refresh(tokens.refresh_token!)
    const reused = await oauthFailure(refresh(tokens.refresh_token!))
    expect(reused.error).toBe('invalid_grant')
    expect((reused.cause as { reason: string }).reason).toBe('refresh_token_reused')
    // The token rotated in good faith is gone too, and so is its access token.
    expect((await oauthFailure(refresh(second.refresh_token!))).error).toBe('invalid_grant')
    const token = second.access_token
    expect((await callRelay(stack, '/v1/me', { token, proof: await proof(dpop, { htm: 'GET', htu: `${stack.relayUrl}/v1/me`, nonce: nonce() }, token) })).status).toBe(401)
    expect(stack.logs.join('')).toMatch(/"audit":"token.reused"/)
  })

  it('two concurrent refreshes of one refresh token count as reuse', async () => {
    const { raw, dpop, tokens } = await dpopBoundTokens(stack)
    const handle = dpop.handle(raw.client)
    const refresh = async () => await withNonceRetry(async () => await oauth.processRefreshTokenResponse(raw.as, raw.client,
      await oauth.refreshTokenGrantRequest(raw.as, raw.client, raw.auth, tokens.refresh_token!, { ...insecure, DPoP: handle })))
    const results = await Promise.allSettled([refresh(), refresh()])
    expect(results.some((r) => r.status === 'rejected' && r.reason instanceof oauth.ResponseBodyError && r.reason.error === 'invalid_grant')).toBe(true)
    for (const result of results) {
      if (result.status !== 'fulfilled') continue
      expect((await oauthFailure(withNonceRetry(async () => await oauth.processRefreshTokenResponse(raw.as, raw.client,
        await oauth.refreshTokenGrantRequest(raw.as, raw.client, raw.auth, result.value.refresh_token!, { ...insecure, DPoP: handle }))))).error).toBe('invalid_grant')
    }
  })
})

describe('DPoP at the token endpoint', () => {
  const tokenUrl = () => `${stack.relayUrl}/oauth/token`
  const refreshWith = async (issued: Awaited<ReturnType<typeof dpopBoundTokens>>, dpop: string) =>
    await post(tokenUrl(), { grant_type: 'refresh_token', refresh_token: issued.tokens.refresh_token!, client_id: issued.raw.client.client_id }, { dpop })

  it('without a nonce → use_dpop_nonce with a DPoP-Nonce header; a stale iat too', async () => {
    const issued = await dpopBoundTokens(stack)
    for (const [claims, reason] of [[{}, 'dpop_nonce_required'], [{ iat: Math.floor(Date.now() / 1000) - 3600 }, 'dpop_proof_stale']] as const) {
      const answer = await refreshWith(issued, await proof(issued.dpop, { htm: 'POST', htu: tokenUrl(), ...claims }))
      expect(answer.status).toBe(400)
      expectOAuthError(answer.body, 'use_dpop_nonce', reason)
      expect(answer.headers.get('dpop-nonce')).toBeTruthy()
    }
  })

  it('a wrong htu or htm, a private key in jwk, alg HS256 → invalid_dpop_proof', async () => {
    const issued = await dpopBoundTokens(stack)
    const { exportJWK, SignJWT } = await import('jose')
    const cases = [
      await proof(issued.dpop, { htm: 'POST', htu: `${stack.relayUrl}/oauth/par`, nonce: nonce() }),
      await proof(issued.dpop, { htm: 'GET', htu: tokenUrl(), nonce: nonce() }),
      await proof(issued.dpop, { htm: 'POST', htu: tokenUrl(), nonce: nonce() }, undefined, { jwk: await exportJWK(issued.dpop.keys.privateKey) }),
      await new SignJWT({ htm: 'POST', htu: tokenUrl(), iat: Math.floor(Date.now() / 1000), jti: randomUUID(), nonce: nonce() })
        .setProtectedHeader({ typ: 'dpop+jwt', alg: 'HS256', jwk: { kty: 'oct', k: 'c2VjcmV0' } as never }).sign(new TextEncoder().encode('secret-secret-secret-secret-1234')),
    ]
    for (const bad of cases) {
      const answer = await refreshWith(issued, bad)
      expect(answer.status).toBe(400)
      expectOAuthError(answer.body, 'invalid_dpop_proof', 'dpop_proof_invalid')
    }
    // None of them used the refresh token up.
    const good = await refreshWith(issued, await proof(issued.dpop, { htm: 'POST', htu: tokenUrl(), nonce: nonce() }))
    expect(good.status).toBe(200)
  })

  // Proves a client registered with dpop_bound_access_tokens gets no token without a proof (a clear OAuth error), and its code survives.
  it('dpop_bound_access_tokens: a code redeemed without a DPoP proof → invalid_grant dpop_proof_required; with one it works', async () => {
    const raw = await registerPublicClient(stack, { dpop_bound_access_tokens: true })
    const { parameters, verifier } = await authorizationCode(stack, raw)
    const form = { grant_type: 'authorization_code', code: parameters.get('code')!, redirect_uri: raw.redirectUri, code_verifier: verifier, client_id: raw.client.client_id }
    const refused = await post(tokenUrl(), form)
    expect(refused.status).toBe(400)
    expectOAuthError(refused.body, 'invalid_grant', 'dpop_proof_required')
    expect(refused.body.access_token).toBeUndefined()
    const key = await dpopKey()
    const bound = await post(tokenUrl(), form, { dpop: await proof(key, { htm: 'POST', htu: tokenUrl(), nonce: nonce() }) })
    expect(bound.status).toBe(200)
    expect(bound.body.token_type).toBe('DPoP')
    const refresh = await post(tokenUrl(), { grant_type: 'refresh_token', refresh_token: bound.body.refresh_token, client_id: raw.client.client_id })
    expect(refresh.status).toBe(400)
    expectOAuthError(refresh.body, 'invalid_grant', 'dpop_proof_required')
  })

  it('a replayed proof → invalid_grant (replay detected); another key than the refresh token\'s → invalid_grant', async () => {
    const issued = await dpopBoundTokens(stack)
    const once = await proof(issued.dpop, { htm: 'POST', htu: tokenUrl(), nonce: nonce() })
    const first = await refreshWith(issued, once)
    expect(first.status).toBe(200)
    const replay = await post(tokenUrl(), { grant_type: 'refresh_token', refresh_token: first.body.refresh_token, client_id: issued.raw.client.client_id }, { dpop: once })
    expect(replay.status).toBe(400)
    expectOAuthError(replay.body, 'invalid_grant', 'dpop_proof_replayed')
    const otherKey = await post(tokenUrl(), { grant_type: 'refresh_token', refresh_token: first.body.refresh_token, client_id: issued.raw.client.client_id }, { dpop: await proof(await dpopKey(), { htm: 'POST', htu: tokenUrl(), nonce: nonce() }) })
    expect(otherKey.status).toBe(400)
    expectOAuthError(otherKey.body, 'invalid_grant', 'dpop_binding_mismatch')
  })
})

describe('introspection (RFC 7662) and client authentication', () => {
  let issued: Awaited<ReturnType<typeof dpopBoundTokens>>
  const introspect = () => `${stack.relayUrl}/oauth/introspect`
  const basic = (id: string) => `Basic ${Buffer.from(`${id}:${RS_SECRET}`).toString('base64')}`
  beforeAll(async () => { issued = await dpopBoundTokens(stack) })

  it('without client authentication → an OAuth error, not the token\'s state', async () => {
    const answer = await post(introspect(), { token: issued.tokens.access_token })
    expect(answer.status).toBeGreaterThanOrEqual(400)
    expect(answer.body.active).toBeUndefined()
    expectOAuthError(answer.body, String(answer.body.error))
    const publicClient = await post(introspect(), { token: issued.tokens.access_token, client_id: issued.raw.client.client_id })
    expect(publicClient.status).toBe(400)
    expectOAuthError(publicClient.body, 'unauthorized_client', 'introspection_refused')
  })

  it('a resource server introspects tokens for its audience; another resource server or client may not', async () => {
    const rest = await post(introspect(), { token: issued.tokens.access_token }, { authorization: basic('rest-rs') })
    expect(rest.status).toBe(200)
    expect(rest.body).toMatchObject({ active: true, aud: `${stack.relayUrl}/v1`, client_id: issued.raw.client.client_id, sub: `${stack.emulator.tenantId}.${alice.oid}` })
    const mcp = await post(introspect(), { token: issued.tokens.access_token }, { authorization: basic('mcp-rs') })
    expect(mcp.status).toBe(400)
    expectOAuthError(mcp.body, 'unauthorized_client', 'introspection_refused')
    const other = await registerPrivateKeyJwtClient(stack)
    const byOther = await oauthFailure(oauth.processIntrospectionResponse(other.as, other.client, await oauth.introspectionRequest(other.as, other.client, other.auth, issued.tokens.access_token, insecure)))
    expect(byOther.error).toBe('unauthorized_client')
  })

  it('private_key_jwt: aud may be the issuer or the exact endpoint, nothing else', async () => {
    const client = await registerPrivateKeyJwtClient(stack)
    const withAud = (aud: string) => oauth.PrivateKeyJwt({ key: client.key, kid: client.kid }, { [oauth.modifyAssertion]: (_header, payload) => { payload.aud = aud } })
    for (const aud of [new URL(stack.relayUrl).origin, introspect()]) {
      const answer = await oauth.processIntrospectionResponse(client.as, client.client, await oauth.introspectionRequest(client.as, client.client, withAud(aud), 'not-a-token', insecure))
      expect(answer.active).toBe(false)
    }
    const refused = await oauthFailure(oauth.processIntrospectionResponse(client.as, client.client, await oauth.introspectionRequest(client.as, client.client, withAud('https://elsewhere.example'), 'not-a-token', insecure)))
    expect(refused.error).toBe('invalid_client')
  })

  // Proves private_key_jwt works with ES256 and RS256 keys (not only Ed25519), and that each signature is checked.
  it('private_key_jwt with ES256 and RS256 keys: the client authenticates; another key under its kid → invalid_client', async () => {
    for (const alg of ['ES256', 'RS256'] as const) {
      const client = await registerPrivateKeyJwtClient(stack, `confidential ${alg} client`, alg)
      const answer = await oauth.processIntrospectionResponse(client.as, client.client, await oauth.introspectionRequest(client.as, client.client, client.auth, 'not-a-token', insecure))
      expect(answer.active, alg).toBe(false)
      // The same hand-made assertion, signed by the registered key and by another one of the same kind.
      const introspectWith = async (key: webcrypto.CryptoKey) => await post(introspect(), {
        token: 'not-a-token',
        client_id: client.client.client_id,
        client_assertion_type: 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer',
        client_assertion: await new SignJWT({ jti: randomUUID() }).setProtectedHeader({ alg, kid: client.kid })
          .setIssuer(client.client.client_id).setSubject(client.client.client_id).setAudience(introspect()).setIssuedAt().setExpirationTime('1m').sign(key),
      })
      expect((await introspectWith(client.key)).body, alg).toEqual({ active: false })
      const forged = await introspectWith((await oauth.generateKeyPair(alg)).privateKey)
      expect(forged.status, alg).toBe(401)
      expectOAuthError(forged.body, 'invalid_client', 'client_invalid')
    }
  })
})

describe('client ID metadata documents', () => {
  const document = (clientId: string, extra: Record<string, unknown> = {}) => ({
    client_id: clientId,
    client_name: 'Metadata document agent',
    redirect_uris: ['http://127.0.0.1:9/callback'],
    grant_types: ['authorization_code', 'refresh_token'],
    response_types: ['code'],
    token_endpoint_auth_method: 'none',
    ...extra,
  })
  const asClient = async (clientId: string): Promise<RawClient> => {
    const { discover } = await import('../helpers/oauth.ts')
    return { as: await discover(stack), client: { client_id: clientId, token_endpoint_auth_method: 'none' }, auth: oauth.None(), redirectUri: 'http://127.0.0.1:9/callback' }
  }

  it('a URL client id served from an allow-listed host: consent names it, tokens work, the document is cached', async () => {
    const clientId = `${metadataServer.origin}/agents/cimd.json`
    metadataServer.serve('/agents/cimd.json', document(clientId), { 'cache-control': 'max-age=600' })
    const raw = await asClient(clientId)
    const browser = new HttpBrowser(stack.fetch)
    const { url, state, verifier } = await authorizationUrl(raw)
    const run = await authorizeInBrowser(stack, browser, url, 'alice@contoso.test')
    expect(run.consentPage).toContain('Metadata document agent')
    expect(run.consentPage).toContain('metadata document')
    const parameters = oauth.validateAuthResponse(raw.as, raw.client, new URL(run.finalUrl), state)
    const key = await dpopKey('Ed25519')
    const handle = key.handle(raw.client)
    const tokens = await withNonceRetry(async () => await oauth.processAuthorizationCodeResponse(raw.as, raw.client,
      await oauth.authorizationCodeGrantRequest(raw.as, raw.client, raw.auth, parameters, raw.redirectUri, verifier, { ...insecure, DPoP: handle })))
    const url2 = `${stack.relayUrl}/v1/servers/notes/tools/whoami`
    const call = await callRelay(stack, '/v1/servers/notes/tools/whoami', { method: 'POST', token: tokens.access_token, body: { arguments: {} }, proof: await proof(key, { htm: 'POST', htu: url2, nonce: nonce() }, tokens.access_token) })
    expect(call.status).toBe(200)
    expect(call.body.structuredContent.oid).toBe(alice.oid)
    expect(metadataServer.hits.get('/agents/cimd.json')).toBe(1)
  })

  const refusedAtAuthorize = async (clientId: string) => {
    const { url } = await authorizationUrl(await asClient(clientId))
    const answer = await stack.call(url.slice(stack.relayUrl.length))
    expect(answer.status).toBe(400)
    expect(answer.headers.get('location')).toBeNull()
    return answer.body
  }

  it('a document at a loopback address that is not allow-listed → invalid_client, and it is never fetched', async () => {
    const clientId = `https://127.0.0.1:${metadataServer.port}/agents/loopback.json`
    metadataServer.serve('/agents/loopback.json', document(clientId))
    const body = await refusedAtAuthorize(clientId)
    expectOAuthError(body, 'invalid_client', 'client_metadata_refused')
    // Why (a loopback address) is logged, not told: an unauthenticated caller learns nothing of internal names.
    expect(body.error_description).toContain('could not be fetched')
    expect(body.error_description).not.toMatch(/loopback|127\.0\.0\.1|resolve/)
    expect(metadataServer.hits.get('/agents/loopback.json')).toBeUndefined()
  })

  it('a document at a private address → invalid_client (refused before connecting)', async () => {
    const body = await refusedAtAuthorize('https://10.255.255.1/agents/private.json')
    expectOAuthError(body, 'invalid_client', 'client_metadata_refused')
    expect(body.error_description).toContain('could not be fetched')
    expect(body.error_description).not.toMatch(/private|resolve/)
  })

  it('a document whose client_id differs from its URL → invalid_client_metadata', async () => {
    const clientId = `${metadataServer.origin}/agents/mismatch.json`
    metadataServer.serve('/agents/mismatch.json', document(`${metadataServer.origin}/agents/someone-else.json`))
    expectOAuthError(await refusedAtAuthorize(clientId), 'invalid_client_metadata', 'client_metadata_invalid')
  })
})

describe('dynamic registration', () => {
  const register = async (metadata: Record<string, unknown>) => {
    const response = await fetch(`${stack.relayUrl}/oauth/register`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(metadata) })
    return { status: response.status, body: await response.json() as any }
  }

  it('a non-loopback http redirect URI is refused for native and web clients', async () => {
    for (const applicationType of ['native', 'web']) {
      const answer = await register({ application_type: applicationType, redirect_uris: ['http://agent.example/callback'], token_endpoint_auth_method: 'none' })
      expect(answer.status).toBe(400)
      expectOAuthError(answer.body, 'invalid_redirect_uri', 'redirect_uri_invalid')
    }
  })

  it('https and loopback redirects register; a scope the server does not have is refused', async () => {
    const ok = await register({ application_type: 'web', redirect_uris: ['https://agent.example/callback', 'http://localhost:8765/callback'], token_endpoint_auth_method: 'none', scope: 'tools:read tools:call' })
    expect(ok.status).toBe(201)
    expect(ok.body.client_secret).toBeUndefined()
    const scope = await register({ redirect_uris: ['https://agent.example/callback'], token_endpoint_auth_method: 'none', scope: 'tools:read admin:everything' })
    expect(scope.status).toBe(400)
    expectOAuthError(scope.body, 'invalid_client_metadata', 'client_metadata_invalid')
  })
})

describe('CORS (CORS_ALLOWED_ORIGINS)', () => {
  it('a browser app on an allowed origin may call the token endpoint; another origin is refused; metadata is open', async () => {
    const raw = await registerPublicClient(stack)
    const form = { grant_type: 'refresh_token', refresh_token: 'x'.repeat(43), client_id: raw.client.client_id }
    const allowed = await post(`${stack.relayUrl}/oauth/token`, form, { origin: 'https://app.example' })
    expect(allowed.headers.get('access-control-allow-origin')).toBe('https://app.example')
    expect(allowed.headers.get('access-control-expose-headers')).toContain('DPoP-Nonce')
    expectOAuthError(allowed.body, 'invalid_grant')
    const refused = await post(`${stack.relayUrl}/oauth/token`, form, { origin: 'https://evil.example' })
    expect(refused.status).toBe(400)
    expect(refused.headers.get('access-control-allow-origin')).toBeNull()
    expectOAuthError(refused.body, 'invalid_request')
    const metadata = await fetch(`${stack.relayUrl}/.well-known/oauth-authorization-server`, { headers: { origin: 'https://evil.example' } })
    expect(metadata.headers.get('access-control-allow-origin')).toBe('https://evil.example')
  })
})
