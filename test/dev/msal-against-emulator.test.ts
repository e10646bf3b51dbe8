// @azure/msal-node itself against the emulator, over HTTPS with the emulator's CA (through the
// product's MSAL network module): MSAL must accept every answer the relay will rely on.
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest'
import {
  ConfidentialClientApplication, CryptoProvider, InteractionRequiredAuthError, PublicClientApplication, ServerError,
  type AuthenticationResult, type Configuration, type NodeAuthOptions,
} from '@azure/msal-node'
import { decodeJwt, decodeProtectedHeader } from 'jose'
import {
  DEV_CLI_CLIENT_ID, DEV_NOTES_APP_ID, DEV_NOTES_SCOPE, DEV_RELAY_CLIENT_ID, DEV_RELAY_CLIENT_SECRET, DEV_RELAY_REDIRECT_URI,
  DEV_RELAY_SCOPE, DEV_RESTRICTED_SCOPE, DEV_TENANT_ID, createClientCertificate, signInWithForm, startEntraEmulator,
  type EntraEmulator,
} from '../../dev/entra-emulator/index.ts'
import { createMsalNetworkClient } from '../../src/entra/msal-network.ts'
import { createDispatcher, createFetch } from '../../src/net/http-client.ts'

const ALICE = { username: 'alice@contoso.test', password: 'alice-password' }

interface Harness { emulator: EntraEmulator, fetch: typeof globalThis.fetch }

async function startHarness (options: { accessTokenLifetimeSec?: number } = {}): Promise<Harness> {
  const emulator = await startEntraEmulator({ port: 0, ...options })
  return { emulator, fetch: createFetch(createDispatcher({ trustedCaPem: emulator.caPem })) }
}

function msalConfig ({ emulator, fetch }: Harness, auth: Partial<NodeAuthOptions> & { clientId: string }): Configuration {
  return {
    auth: {
      authority: `${emulator.url}/${emulator.tenantId}`,
      // A non-Microsoft host: listed as known, MSAL skips instance discovery and trusts its metadata.
      knownAuthorities: [new URL(emulator.url).host],
      ...auth,
    },
    system: { networkClient: createMsalNetworkClient(fetch) },
  }
}

const relayApp = (harness: Harness) => new ConfidentialClientApplication(msalConfig(harness, { clientId: DEV_RELAY_CLIENT_ID, clientSecret: DEV_RELAY_CLIENT_SECRET }))

/** getAuthCodeUrl → the emulator's form (as a browser would fill it) → acquireTokenByCode. */
async function signInThroughMsal (harness: Harness, app: ConfidentialClientApplication): Promise<AuthenticationResult> {
  const cryptoProvider = new CryptoProvider()
  const { verifier, challenge } = await cryptoProvider.generatePkceCodes()
  const state = cryptoProvider.createNewGuid()
  const nonce = cryptoProvider.createNewGuid()
  const url = await app.getAuthCodeUrl({
    scopes: [DEV_RELAY_SCOPE], redirectUri: DEV_RELAY_REDIRECT_URI, codeChallenge: challenge, codeChallengeMethod: 'S256', state, nonce,
  })
  expect(url.startsWith(`${harness.emulator.url}/${DEV_TENANT_ID}/oauth2/v2.0/authorize?`)).toBe(true)
  const { redirect } = await signInWithForm(harness.fetch, url, ALICE)
  const code = redirect.searchParams.get('code') ?? ''
  expect(redirect.searchParams.get('state')).toBe(state)
  return await app.acquireTokenByCode(
    { code, scopes: [DEV_RELAY_SCOPE], redirectUri: DEV_RELAY_REDIRECT_URI, codeVerifier: verifier, state, nonce },
    { code, state, ...(redirect.searchParams.get('client_info') === null ? {} : { client_info: redirect.searchParams.get('client_info') ?? '' }) }
  )
}

let harness: Harness

beforeAll(async () => { harness = await startHarness() })
afterAll(async () => { await harness.emulator.close() })
beforeEach(() => { harness.emulator.reset() })

describe('MSAL confidential client (client secret)', () => {
  it('signs in with auth code + PKCE + state + nonce and builds the account from client_info', async () => {
    const result = await signInThroughMsal(harness, relayApp(harness))
    const alice = harness.emulator.users[0]
    expect(result.account?.homeAccountId).toBe(`${alice?.oid}.${DEV_TENANT_ID}`)
    expect(result.account?.username).toBe(ALICE.username)
    expect(result.scopes).toEqual([DEV_RELAY_SCOPE])
    expect(decodeJwt(result.accessToken)).toMatchObject({ aud: DEV_RELAY_CLIENT_ID, scp: 'user_impersonation' })
    expect(result.idTokenClaims).toMatchObject({ aud: DEV_RELAY_CLIENT_ID, oid: alice?.oid })
    expect(harness.emulator.stats().calls.authorization_code).toBe(1)
  })

  it('exchanges the user token On-Behalf-Of for an MCP server token', async () => {
    const app = relayApp(harness)
    const signIn = await signInThroughMsal(harness, app)
    const obo = await app.acquireTokenOnBehalfOf({ oboAssertion: signIn.accessToken, scopes: [DEV_NOTES_SCOPE] })
    expect(obo?.accessToken).toBeTruthy()
    expect(decodeJwt(obo?.accessToken ?? '')).toMatchObject({ aud: DEV_NOTES_APP_ID, scp: 'user_impersonation', azp: DEV_RELAY_CLIENT_ID })
    expect(obo?.scopes).toEqual([DEV_NOTES_SCOPE])
    expect(harness.emulator.stats().calls.on_behalf_of).toBe(1)
  })

  it('acquireTokenSilent serves the cache, and refreshes with forceRefresh', async () => {
    const app = relayApp(harness)
    const signIn = await signInThroughMsal(harness, app)
    const account = signIn.account
    if (account === null) throw new Error('no account')
    const cached = await app.acquireTokenSilent({ account, scopes: [DEV_RELAY_SCOPE] })
    expect(cached.accessToken).toBe(signIn.accessToken)
    expect(harness.emulator.stats().calls.refresh_token).toBe(0)
    const refreshed = await app.acquireTokenSilent({ account, scopes: [DEV_RELAY_SCOPE], forceRefresh: true })
    expect(refreshed.accessToken).not.toBe(signIn.accessToken)
    expect(harness.emulator.stats().calls.refresh_token).toBe(1)
  })

  it('acquireTokenSilent refreshes an access token that is (about to be) expired', async () => {
    // MSAL renews tokens expiring within 5 minutes: a 2-minute lifetime is always due.
    const shortLived = await startHarness({ accessTokenLifetimeSec: 120 })
    try {
      const app = relayApp(shortLived)
      const signIn = await signInThroughMsal(shortLived, app)
      if (signIn.account === null) throw new Error('no account')
      const renewed = await app.acquireTokenSilent({ account: signIn.account, scopes: [DEV_RELAY_SCOPE] })
      expect(renewed.accessToken).not.toBe(signIn.accessToken)
      expect(shortLived.emulator.stats().calls.refresh_token).toBe(1)
    } finally {
      await shortLived.emulator.close()
    }
  })

  it('surfaces a claims challenge as InteractionRequiredAuthError with the claims', async () => {
    const claims = '{"access_token":{"capolids":{"essential":true,"values":["a0b1c2d3-0000-4000-8000-000000000001"]}}}'
    harness.emulator.addFault({ grant: 'on_behalf_of', fault: 'claims_challenge', claims, count: 1 })
    const assertion = await harness.emulator.issueUserToken(ALICE.username, { clientId: DEV_CLI_CLIENT_ID, scopes: [DEV_RELAY_SCOPE] })
    const error = await relayApp(harness).acquireTokenOnBehalfOf({ oboAssertion: assertion, scopes: [DEV_NOTES_SCOPE] }).catch((err: unknown) => err)
    expect(error).toBeInstanceOf(InteractionRequiredAuthError)
    expect(error).toMatchObject({ errorCode: 'interaction_required', subError: 'basic_action', claims })
    expect(String((error as InteractionRequiredAuthError).errorNo)).toBe('50076')
  })

  it('surfaces missing consent as AADSTS65001 (consent_required)', async () => {
    const assertion = await harness.emulator.issueUserToken(ALICE.username, { clientId: DEV_CLI_CLIENT_ID, scopes: [DEV_RELAY_SCOPE] })
    const error = await relayApp(harness).acquireTokenOnBehalfOf({ oboAssertion: assertion, scopes: [DEV_RESTRICTED_SCOPE] }).catch((err: unknown) => err)
    expect(error).toBeInstanceOf(InteractionRequiredAuthError)
    expect(error).toMatchObject({ errorCode: 'invalid_grant', subError: 'consent_required' })
    expect(String((error as InteractionRequiredAuthError).errorNo)).toBe('65001')
    expect((error as Error).message).toContain('AADSTS65001')
  })

  it('surfaces a wrong secret as a ServerError invalid_client (AADSTS7000215)', async () => {
    const app = new ConfidentialClientApplication(msalConfig(harness, { clientId: DEV_RELAY_CLIENT_ID, clientSecret: 'wrong' }))
    const error = await app.acquireTokenByClientCredential({ scopes: ['api://notes-mcp/.default'] }).catch((err: unknown) => err)
    expect(error).toBeInstanceOf(ServerError)
    expect(error).toMatchObject({ errorCode: 'invalid_client' })
    expect(String((error as ServerError).errorNo)).toBe('7000215')
  })
})

describe('MSAL username/password (ROPC)', () => {
  it('gets user tokens for the public CLI client', async () => {
    const cli = new PublicClientApplication(msalConfig(harness, { clientId: DEV_CLI_CLIENT_ID }))
    const result = await cli.acquireTokenByUsernamePassword({ ...ALICE, scopes: [DEV_RELAY_SCOPE] })
    expect(result?.account?.username).toBe(ALICE.username)
    expect(decodeJwt(result?.accessToken ?? '')).toMatchObject({ aud: DEV_RELAY_CLIENT_ID, azp: DEV_CLI_CLIENT_ID, azpacr: '0' })
    expect(harness.emulator.stats().calls.password).toBe(1)
  })

  it('reports a wrong password as invalid_grant AADSTS50126', async () => {
    const cli = new PublicClientApplication(msalConfig(harness, { clientId: DEV_CLI_CLIENT_ID }))
    const error = await cli.acquireTokenByUsernamePassword({ username: ALICE.username, password: 'nope', scopes: [DEV_RELAY_SCOPE] }).catch((err: unknown) => err)
    expect(error).toMatchObject({ errorCode: 'invalid_grant' })
    expect(String((error as ServerError).errorNo)).toBe('50126')
  })
})

describe('MSAL with a certificate credential (private_key_jwt)', () => {
  const certClientId = '77777777-7777-7777-7777-777777777777'

  it('authenticates with x5t#S256 (PS256) and with x5t (RS256), for client credentials and OBO', async () => {
    const certificate = await createClientCertificate('CN=relay cert client')
    harness.emulator.registry.addApp({
      clientId: certClientId,
      displayName: 'relay (certificate)',
      appIdUri: 'api://cert-relay',
      exposedScopes: ['user_impersonation'],
      certificates: [certificate.certPem],
    })
    harness.emulator.registry.grantConsent(ALICE.username, certClientId, [DEV_NOTES_SCOPE])
    const sha256App = new ConfidentialClientApplication(msalConfig(harness, {
      clientId: certClientId,
      clientCertificate: { thumbprintSha256: certificate.thumbprintSha256, privateKey: certificate.privateKeyPem, x5c: certificate.certPem },
    }))
    const appOnly = await sha256App.acquireTokenByClientCredential({ scopes: ['api://notes-mcp/.default'] })
    expect(decodeJwt(appOnly?.accessToken ?? '')).toMatchObject({ aud: DEV_NOTES_APP_ID, azp: certClientId, azpacr: '2' })

    const assertion = await harness.emulator.issueUserToken(ALICE.username, { clientId: DEV_CLI_CLIENT_ID, scopes: ['api://cert-relay/user_impersonation'] })
    const obo = await sha256App.acquireTokenOnBehalfOf({ oboAssertion: assertion, scopes: [DEV_NOTES_SCOPE] })
    expect(decodeJwt(obo?.accessToken ?? '')).toMatchObject({ aud: DEV_NOTES_APP_ID, azp: certClientId, azpacr: '2', scp: 'user_impersonation' })

    const sha1App = new ConfidentialClientApplication(msalConfig(harness, {
      clientId: certClientId,
      clientCertificate: { thumbprint: certificate.thumbprintSha1, privateKey: certificate.privateKeyPem },
    }))
    const viaSha1 = await sha1App.acquireTokenByClientCredential({ scopes: ['api://notes-mcp/.default'] })
    expect(decodeProtectedHeader(viaSha1?.accessToken ?? '').alg).toBe('RS256')
    expect(decodeJwt(viaSha1?.accessToken ?? '').azpacr).toBe('2')
  })

  it('rejects a certificate that is not registered on the app (AADSTS700027)', async () => {
    const registered = await createClientCertificate()
    const other = await createClientCertificate()
    harness.emulator.registry.addApp({ clientId: certClientId, displayName: 'relay (certificate)', certificates: [registered.certPem] })
    const app = new ConfidentialClientApplication(msalConfig(harness, {
      clientId: certClientId,
      clientCertificate: { thumbprintSha256: other.thumbprintSha256, privateKey: other.privateKeyPem },
    }))
    const error = await app.acquireTokenByClientCredential({ scopes: ['api://notes-mcp/.default'] }).catch((err: unknown) => err)
    expect(error).toMatchObject({ errorCode: 'invalid_client' })
    expect(String((error as ServerError).errorNo)).toBe('700027')
  })
})
