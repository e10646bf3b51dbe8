// Two independent client libraries against the relay's authorization server: openid-client (discovery, dynamic
// registration, the code flow with an ID token it validates) and the MCP TypeScript SDK's own OAuth client
// (`auth()` with an OAuthClientProvider: RFC 9728 discovery from the resource, registration, code exchange).
import { auth, type OAuthClientProvider } from '@modelcontextprotocol/sdk/client/auth.js'
import type { OAuthClientInformationMixed, OAuthClientMetadata, OAuthTokens } from '@modelcontextprotocol/sdk/shared/auth.js'
import * as client from 'openid-client'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { authorizeInBrowser } from '../helpers/agent.ts'
import { HttpBrowser } from '../helpers/browser.ts'
import { startTestStack, type TestStack } from '../helpers/stack.ts'

let stack: TestStack
let alice: { oid: string }

beforeAll(async () => {
  stack = await startTestStack()
  alice = stack.emulator.users.find((u) => u.username === 'alice@contoso.test')!
})
afterAll(async () => { await stack?.close() })

describe('openid-client', () => {
  it('discovers, registers, runs the code flow with PKCE and validates the ID token; the access token works at /v1', async () => {
    const redirectUri = 'http://127.0.0.1:9/callback'
    const config = await client.dynamicClientRegistration(new URL(stack.relayUrl), {
      client_name: 'openid-client interop',
      redirect_uris: [redirectUri],
      application_type: 'native',
      token_endpoint_auth_method: 'none',
      grant_types: ['authorization_code', 'refresh_token'],
      response_types: ['code'],
    }, client.None(), { execute: [client.allowInsecureRequests] })
    expect(config.serverMetadata().issuer).toBe(new URL(stack.relayUrl).origin)

    const codeVerifier = client.randomPKCECodeVerifier()
    const state = client.randomState()
    const nonce = client.randomNonce()
    const authorizationUrl = client.buildAuthorizationUrl(config, {
      redirect_uri: redirectUri,
      scope: 'openid profile tools:read',
      resource: `${stack.relayUrl}/v1`,
      code_challenge: await client.calculatePKCECodeChallenge(codeVerifier),
      code_challenge_method: 'S256',
      state,
      nonce,
    })
    const run = await authorizeInBrowser(stack, new HttpBrowser(stack.fetch), authorizationUrl.href, 'alice@contoso.test')
    const tokens = await client.authorizationCodeGrant(config, new URL(run.finalUrl), { pkceCodeVerifier: codeVerifier, expectedState: state, expectedNonce: nonce, idTokenExpected: true })
    expect(tokens.claims()).toMatchObject({ iss: new URL(stack.relayUrl).origin, sub: `${stack.emulator.tenantId}.${alice.oid}`, nonce })
    // No DPoP asked for: a Bearer token (DPoP is optional per client).
    expect(tokens.token_type.toLowerCase()).toBe('bearer')
    const me = await stack.call('/v1/me', { token: tokens.access_token })
    expect(me).toMatchObject({ status: 200, body: { oid: alice.oid, mode: 'agent' } })

    const refreshed = await client.refreshTokenGrant(config, tokens.refresh_token!)
    expect(refreshed.refresh_token).not.toBe(tokens.refresh_token)
  })
})

/** The in-memory OAuthClientProvider of a headless MCP client: the redirect goes to our scripted browser. */
class TestOAuthProvider implements OAuthClientProvider {
  authorizationUrl: URL | undefined
  #client: OAuthClientInformationMixed | undefined
  #tokens: OAuthTokens | undefined
  #verifier = ''
  readonly redirectUrl = 'http://127.0.0.1:9/mcp-callback'
  readonly clientMetadata: OAuthClientMetadata = {
    client_name: 'MCP SDK interop',
    redirect_uris: [this.redirectUrl],
    grant_types: ['authorization_code', 'refresh_token'],
    response_types: ['code'],
    token_endpoint_auth_method: 'none',
  }

  state (): string { return 'mcp-sdk-state' }
  clientInformation (): OAuthClientInformationMixed | undefined { return this.#client }
  saveClientInformation (info: OAuthClientInformationMixed): void { this.#client = info }
  tokens (): OAuthTokens | undefined { return this.#tokens }
  saveTokens (tokens: OAuthTokens): void { this.#tokens = tokens }
  redirectToAuthorization (url: URL): void { this.authorizationUrl = url }
  saveCodeVerifier (verifier: string): void { this.#verifier = verifier }
  codeVerifier (): string { return this.#verifier }
}

describe('the MCP TypeScript SDK\'s OAuth client', () => {
  it('auth() discovers the relay from its resource, registers, and obtains a token that calls alice\'s tools', async () => {
    const provider = new TestOAuthProvider()
    const serverUrl = `${stack.relayUrl}/v1`
    expect(await auth(provider, { serverUrl })).toBe('REDIRECT')
    const authorizationUrl = provider.authorizationUrl!
    expect(authorizationUrl.origin).toBe(new URL(stack.relayUrl).origin)
    expect(authorizationUrl.searchParams.get('resource')).toBe(serverUrl)
    expect(authorizationUrl.searchParams.get('scope')).toBe('tools:read tools:call')
    expect(provider.clientInformation()?.client_id).toBeTruthy()

    const run = await authorizeInBrowser(stack, new HttpBrowser(stack.fetch), authorizationUrl.href, 'alice@contoso.test')
    expect(run.consentPage).toContain('MCP SDK interop')
    const callback = new URL(run.finalUrl)
    expect(callback.searchParams.get('state')).toBe('mcp-sdk-state')
    expect(callback.searchParams.get('iss')).toBe(new URL(stack.relayUrl).origin)
    expect(await auth(provider, { serverUrl, authorizationCode: callback.searchParams.get('code')! })).toBe('AUTHORIZED')

    const accessToken = provider.tokens()!.access_token
    const call = await stack.call('/v1/servers/notes/tools/whoami', { method: 'POST', token: accessToken, body: JSON.stringify({ arguments: {} }) })
    expect(call.status).toBe(200)
    expect(call.body.structuredContent.oid).toBe(alice.oid)
    // And the SDK refreshes with the rotated refresh token.
    expect(await auth(provider, { serverUrl })).toBe('AUTHORIZED')
    expect(provider.tokens()!.access_token).not.toBe(accessToken)
  })
})
