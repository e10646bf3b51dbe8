// Raw OAuth against the relay's authorization server with oauth4webapi and hand-made DPoP proofs, for tests that
// must send what a well-behaved client never would.
import { randomUUID, webcrypto } from 'node:crypto'
import { calculateJwkThumbprint, exportJWK, SignJWT, type JWK } from 'jose'
import * as oauth from 'oauth4webapi'
import { expect } from 'vitest'
import { authorizeInBrowser } from './agent.ts'
import { HttpBrowser } from './browser.ts'
import type { TestStack } from './stack.ts'

export const insecure = { [oauth.allowInsecureRequests]: true } as const

export async function discover (stack: TestStack): Promise<oauth.AuthorizationServer> {
  const issuer = new URL(stack.relayUrl)
  return await oauth.processDiscoveryResponse(issuer, await oauth.discoveryRequest(issuer, { ...insecure, algorithm: 'oauth2' }))
}

export interface RawClient {
  as: oauth.AuthorizationServer
  client: oauth.Client
  auth: oauth.ClientAuth
  redirectUri: string
}

/** A public native client (`none`, PKCE) with a loopback redirect, registered dynamically. */
export async function registerPublicClient (stack: TestStack, metadata: Record<string, unknown> = {}): Promise<RawClient> {
  const as = await discover(stack)
  const redirectUri = 'http://127.0.0.1:9/callback'
  const registered = await oauth.processDynamicClientRegistrationResponse(await oauth.dynamicClientRegistrationRequest(as, {
    client_name: 'raw test client',
    application_type: 'native',
    redirect_uris: [redirectUri],
    token_endpoint_auth_method: 'none',
    grant_types: ['authorization_code', 'refresh_token', 'urn:ietf:params:oauth:grant-type:device_code'],
    response_types: ['code'],
    ...metadata,
  } as Partial<oauth.Client>, insecure))
  return { as, client: { client_id: registered.client_id, token_endpoint_auth_method: 'none' }, auth: oauth.None(), redirectUri }
}

export interface DpopKey {
  keys: webcrypto.CryptoKeyPair
  publicJwk: JWK
  jkt: string
  handle: (client: oauth.Client) => oauth.DPoPHandle
}

export async function dpopKey (alg: 'ES256' | 'Ed25519' = 'ES256'): Promise<DpopKey> {
  const keys = await oauth.generateKeyPair(alg, { extractable: true })
  const publicJwk = await exportJWK(keys.publicKey)
  return { keys, publicJwk, jkt: await calculateJwkThumbprint(publicJwk), handle: (client) => oauth.DPoP(client, keys) }
}

/** One retry on `use_dpop_nonce` (the handle remembers the nonce). */
export async function withNonceRetry<T> (attempt: () => Promise<T>): Promise<T> {
  try {
    return await attempt()
  } catch (err) {
    if (oauth.isDPoPNonceError(err)) return await attempt()
    throw err
  }
}

export interface AuthorizationParameters {
  scope?: string
  resource?: string | string[]
  codeChallengeMethod?: string
  omitPkce?: boolean
  redirectUri?: string
}

/** The authorization URL for a raw client, with its PKCE verifier and state. */
export async function authorizationUrl (raw: RawClient, p: AuthorizationParameters = {}): Promise<{ url: string, verifier: string, state: string }> {
  const verifier = oauth.generateRandomCodeVerifier()
  const state = oauth.generateRandomState()
  const url = new URL(raw.as.authorization_endpoint!)
  url.searchParams.set('client_id', raw.client.client_id)
  url.searchParams.set('response_type', 'code')
  url.searchParams.set('redirect_uri', p.redirectUri ?? raw.redirectUri)
  url.searchParams.set('scope', p.scope ?? 'tools:read tools:call')
  url.searchParams.set('state', state)
  for (const resource of [p.resource ?? `${raw.as.issuer}/v1`].flat()) url.searchParams.append('resource', resource)
  if (p.omitPkce !== true) {
    url.searchParams.set('code_challenge', p.codeChallengeMethod === 'plain' ? verifier : await oauth.calculatePKCECodeChallenge(verifier))
    url.searchParams.set('code_challenge_method', p.codeChallengeMethod ?? 'S256')
  }
  return { url: url.href, verifier, state }
}

/** Consent + Entra sign-in as `username`; returns the callback parameters, checked (state, iss). */
export async function authorizationCode (stack: TestStack, raw: RawClient, username = 'alice@contoso.test', p: AuthorizationParameters = {}, browser = new HttpBrowser(stack.fetch)): Promise<{ parameters: URLSearchParams, verifier: string }> {
  const { url, verifier, state } = await authorizationUrl(raw, p)
  const run = await authorizeInBrowser(stack, browser, url, username)
  const parameters = oauth.validateAuthResponse(raw.as, raw.client, new URL(run.finalUrl), state)
  return { parameters, verifier }
}

export interface IssuedTokens {
  raw: RawClient
  dpop: DpopKey
  tokens: oauth.TokenEndpointResponse
}

/** A DPoP-bound token (and refresh token) for a fresh public client, as alice unless told otherwise. */
export async function dpopBoundTokens (stack: TestStack, p: AuthorizationParameters & { username?: string } = {}): Promise<IssuedTokens> {
  const raw = await registerPublicClient(stack)
  const dpop = await dpopKey()
  const { parameters, verifier } = await authorizationCode(stack, raw, p.username, p)
  const handle = dpop.handle(raw.client)
  const tokens = await withNonceRetry(async () => await oauth.processAuthorizationCodeResponse(raw.as, raw.client,
    await oauth.authorizationCodeGrantRequest(raw.as, raw.client, raw.auth, parameters, p.redirectUri ?? raw.redirectUri, verifier, { ...insecure, DPoP: handle })))
  expect(tokens.token_type.toLowerCase()).toBe('dpop')
  return { raw, dpop, tokens }
}

export interface ProofClaims {
  htm?: string
  htu?: string
  iat?: number
  jti?: string
  ath?: string | null
  nonce?: string | null
}

/** A DPoP proof made by hand (RFC 9449 §4.2), with any claim or header replaced. */
export async function proof (key: DpopKey, claims: ProofClaims & { htu: string, htm: string }, accessToken?: string, header: Record<string, unknown> = {}): Promise<string> {
  const { createHash } = await import('node:crypto')
  const payload: Record<string, unknown> = { htm: claims.htm, htu: claims.htu, iat: claims.iat ?? Math.floor(Date.now() / 1000), jti: claims.jti ?? randomUUID() }
  if (claims.ath !== null && (claims.ath !== undefined || accessToken !== undefined)) payload.ath = claims.ath ?? createHash('sha256').update(accessToken!).digest('base64url')
  if (claims.nonce !== null && claims.nonce !== undefined) payload.nonce = claims.nonce
  const alg = key.publicJwk.kty === 'OKP' ? 'Ed25519' : 'ES256'
  return await new SignJWT(payload).setProtectedHeader({ typ: 'dpop+jwt', alg, jwk: key.publicJwk, ...header }).sign(key.keys.privateKey)
}

/** A call to the relay with a relay token and (optionally) a proof; the body as JSON. */
export async function callRelay (stack: TestStack, path: string, init: { method?: string, scheme?: 'DPoP' | 'Bearer', token: string, proof?: string, body?: unknown }): Promise<{ status: number, headers: Headers, body: any }> {
  const headers: Record<string, string> = { authorization: `${init.scheme ?? 'DPoP'} ${init.token}` }
  if (init.proof !== undefined) headers.dpop = init.proof
  if (init.body !== undefined) headers['content-type'] = 'application/json'
  return await stack.call(path, { method: init.method ?? 'GET', headers, ...(init.body === undefined ? {} : { body: JSON.stringify(init.body) }) })
}

/** A confidential client with `private_key_jwt` on a key of `alg` (default Ed25519; its public key registered inline). */
export async function registerPrivateKeyJwtClient (stack: TestStack, name = 'confidential test client', alg: 'Ed25519' | 'ES256' | 'RS256' = 'Ed25519'): Promise<RawClient & { key: webcrypto.CryptoKey, kid: string }> {
  const as = await discover(stack)
  const keys = await oauth.generateKeyPair(alg, { extractable: true })
  const publicJwk = await exportJWK(keys.publicKey)
  const kid = await calculateJwkThumbprint(publicJwk)
  const redirectUri = 'http://127.0.0.1:9/callback'
  const registered = await oauth.processDynamicClientRegistrationResponse(await oauth.dynamicClientRegistrationRequest(as, {
    client_name: name,
    application_type: 'native',
    redirect_uris: [redirectUri],
    token_endpoint_auth_method: 'private_key_jwt',
    token_endpoint_auth_signing_alg: alg,
    jwks: { keys: [{ ...publicJwk, kid, alg, use: 'sig' }] },
    grant_types: ['authorization_code', 'refresh_token'],
    response_types: ['code'],
  } as unknown as Partial<oauth.Client>, insecure))
  return {
    as,
    client: { client_id: registered.client_id, token_endpoint_auth_method: 'private_key_jwt' },
    auth: oauth.PrivateKeyJwt({ key: keys.privateKey, kid }),
    redirectUri,
    key: keys.privateKey,
    kid,
  }
}

/** A fetch that presents a DPoP-bound token with a fresh proof per request, following the relay's nonces. */
export function dpopFetch (stack: TestStack, key: DpopKey, accessToken: string): typeof fetch & { requests: number } {
  let nonce: string | undefined
  const signed = async (input: string | URL | Request, init: RequestInit = {}): Promise<Response> => {
    const url = new URL(input instanceof Request ? input.url : String(input))
    const htu = `${url.origin}${url.pathname}`
    const method = init.method ?? 'GET'
    const send = async () => {
      const headers = new Headers(init.headers)
      headers.set('authorization', `DPoP ${accessToken}`)
      headers.set('dpop', await proof(key, { htm: method, htu, ...(nonce === undefined ? {} : { nonce }) }, accessToken))
      const response = await stack.fetch(url, { ...init, headers })
      nonce = response.headers.get('dpop-nonce') ?? nonce
      return response
    }
    const first = await send()
    if (first.status === 401 && (first.headers.get('www-authenticate') ?? '').includes('use_dpop_nonce')) {
      await first.body?.cancel()
      fn.requests++
      return await send()
    }
    fn.requests++
    return first
  }
  const fn = Object.assign(signed as typeof fetch, { requests: 0 })
  return fn
}
