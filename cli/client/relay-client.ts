// A TypeScript client for agents, on oauth4webapi: discovers the relay (RFC 9728 → RFC 8414), registers itself as
// a confidential client with private_key_jwt (RFC 7591), signs the user in (PAR + PKCE + loopback redirect, or the
// device flow), holds DPoP-bound tokens (RFC 9449, server nonces), refreshes them one process at a time, and calls
// the relay's REST API.
import { createServer, type Server } from 'node:http'
import { webcrypto } from 'node:crypto'
type JsonWebKey = webcrypto.JsonWebKey
type CryptoKeyPair = webcrypto.CryptoKeyPair
import * as oauth from 'oauth4webapi'
import { AgentError } from './errors.ts'
import type { CredentialStore, StoredCredentials, StoredTokens } from './credentials.ts'

export interface RelayAgentClientOptions {
  /** The relay's URL (PUBLIC_URL). Plain http only for loopback addresses. */
  relayUrl: string
  store: CredentialStore
  clientName?: string
  /** Scopes asked at sign-in. */
  scope?: string
  /** Refresh this long before the access token expires. */
  refreshSkewSec?: number
  /** RFC 7591 §3: relays that restrict registration hand out an initial access token. */
  initialAccessToken?: string
  fetch?: typeof fetch
}

export interface Discovery {
  resource: oauth.ResourceServer
  authorizationServer: oauth.AuthorizationServer
}

export interface BrowserLoginOptions {
  /** Shows or opens the authorization URL (print it, open a browser). */
  openUrl: (url: string) => void | Promise<void>
  timeoutMs?: number
}

export interface DeviceLoginOptions {
  show: (prompt: { userCode: string, verificationUri: string, verificationUriComplete: string | undefined, expiresInSec: number }) => void | Promise<void>
}

const DEFAULT_SCOPE = 'openid profile tools:read tools:call'
const LOGIN_TIMEOUT_MS = 5 * 60_000
const LOOPBACK = new Set(['localhost', '127.0.0.1', '[::1]'])

export class RelayAgentClient {
  readonly #o: RelayAgentClientOptions
  readonly #relay: URL
  #discovery: Discovery | undefined
  /** Nonces are kept per DPoP handle (per origin); one handle per key for the life of this client. */
  #dpop: { jwk: string, handle: oauth.DPoPHandle } | undefined

  constructor (options: RelayAgentClientOptions) {
    this.#o = options
    this.#relay = new URL(options.relayUrl)
    if (this.#relay.protocol !== 'https:' && !(this.#relay.protocol === 'http:' && LOOPBACK.has(this.#relay.hostname))) {
      throw new AgentError('usage', 'The relay URL must be https (http only for localhost).')
    }
  }

  // oauth4webapi types its options per call (method, body); these three apply to every call alike.
  get #http (): any {
    return {
      ...(this.#o.fetch === undefined ? {} : { [oauth.customFetch]: this.#o.fetch }),
      // Plain http only for a relay on this machine (checked in the constructor).
      ...(this.#relay.protocol === 'http:' ? { [oauth.allowInsecureRequests]: true } : {}),
      signal: () => AbortSignal.timeout(30_000),
    }
  }

  /** The relay's resource metadata, then its authorization server's (the first one it names). */
  async discover (): Promise<Discovery> {
    if (this.#discovery !== undefined) return this.#discovery
    const resourceUrl = new URL('/v1', this.#relay)
    try {
      const resource = await oauth.processResourceDiscoveryResponse(resourceUrl, await oauth.resourceDiscoveryRequest(resourceUrl, this.#http))
      const issuer = resource.authorization_servers?.[0]
      if (issuer === undefined) throw new AgentError('relay', 'The relay names no authorization server.')
      const authorizationServer = await oauth.processDiscoveryResponse(new URL(issuer), await oauth.discoveryRequest(new URL(issuer), { ...this.#http, algorithm: 'oauth2' }))
      this.#discovery = { resource, authorizationServer }
      return this.#discovery
    } catch (err) {
      throw toAgentError(err, 'discovering the relay')
    }
  }

  async credentials (): Promise<StoredCredentials | undefined> {
    return await this.#o.store.load()
  }

  async #requireCredentials (): Promise<StoredCredentials> {
    const credentials = await this.#o.store.load()
    if (credentials === undefined) throw new AgentError('not_logged_in', `Not logged in to ${this.#relay.origin}: run "obo-relay-agent login".`)
    return credentials
  }

  /**
   * Registers this agent (RFC 7591): a native client with a loopback redirect (any port, RFC 8252 §7.3),
   * `private_key_jwt` on one Ed25519 key and DPoP-bound tokens on a second one.
   */
  async register (): Promise<StoredCredentials> {
    const { authorizationServer: as, resource } = await this.discover()
    const clientKeys = await oauth.generateKeyPair('Ed25519', { extractable: true })
    const dpopKeys = await oauth.generateKeyPair('Ed25519', { extractable: true })
    const clientPublic = await webcrypto.subtle.exportKey('jwk', clientKeys.publicKey)
    const kid = await thumbprint(clientPublic)
    let registered: Awaited<ReturnType<typeof oauth.processDynamicClientRegistrationResponse>>
    try {
      registered = await oauth.processDynamicClientRegistrationResponse(await oauth.dynamicClientRegistrationRequest(as, {
        client_name: this.#o.clientName ?? 'obo-relay-agent',
        application_type: 'native',
        redirect_uris: ['http://127.0.0.1/callback'],
        grant_types: ['authorization_code', 'refresh_token', 'urn:ietf:params:oauth:grant-type:device_code'],
        response_types: ['code'],
        token_endpoint_auth_method: 'private_key_jwt',
        token_endpoint_auth_signing_alg: 'Ed25519',
        jwks: { keys: [{ ...clientPublic, kid, alg: 'Ed25519', use: 'sig' }] },
        dpop_bound_access_tokens: true,
        scope: this.#o.scope ?? DEFAULT_SCOPE,
      } as unknown as Partial<oauth.Client>, { ...this.#http, ...(this.#o.initialAccessToken === undefined ? {} : { initialAccessToken: this.#o.initialAccessToken }) }))
    } catch (err) {
      throw toAgentError(err, 'registering with the relay')
    }
    const credentials: StoredCredentials = {
      relay: this.#relay.origin,
      issuer: as.issuer,
      resource: resource.resource,
      clientId: registered.client_id,
      clientKey: { ...await webcrypto.subtle.exportKey('jwk', clientKeys.privateKey), kid },
      dpopKey: await webcrypto.subtle.exportKey('jwk', dpopKeys.privateKey),
    }
    await this.#o.store.save(credentials)
    return credentials
  }

  async #client (credentials: StoredCredentials): Promise<{ client: oauth.Client, auth: oauth.ClientAuth, dpop: oauth.DPoPHandle }> {
    const client: oauth.Client = { client_id: credentials.clientId, token_endpoint_auth_method: 'private_key_jwt' }
    const clientKey = await webcrypto.subtle.importKey('jwk', credentials.clientKey, { name: 'Ed25519' }, false, ['sign'])
    const auth = oauth.PrivateKeyJwt({ key: clientKey, kid: credentials.clientKey.kid as string })
    const dpopJwk = JSON.stringify(credentials.dpopKey)
    if (this.#dpop?.jwk !== dpopJwk) {
      const { kty, crv, x } = credentials.dpopKey
      const publicJwk: JsonWebKey = { kty: kty ?? 'OKP', crv: crv ?? 'Ed25519', x: x ?? '' }
      const keyPair = {
        privateKey: await webcrypto.subtle.importKey('jwk', credentials.dpopKey, { name: 'Ed25519' }, false, ['sign']),
        publicKey: await webcrypto.subtle.importKey('jwk', publicJwk, { name: 'Ed25519' }, true, ['verify']),
      } as CryptoKeyPair
      this.#dpop = { jwk: dpopJwk, handle: oauth.DPoP(client, keyPair) }
    }
    return { client, auth, dpop: this.#dpop.handle }
  }

  async #registered (): Promise<StoredCredentials> {
    const { authorizationServer } = await this.discover()
    const existing = await this.#o.store.load()
    if (existing !== undefined && existing.issuer === authorizationServer.issuer) return existing
    return await this.register()
  }

  /** Browser sign-in: PAR (DPoP-bound), a loopback callback on 127.0.0.1 (random port), state and `iss` checked. */
  async loginWithBrowser (options: BrowserLoginOptions): Promise<StoredTokens> {
    const credentials = await this.#registered()
    const { authorizationServer: as, resource } = await this.discover()
    const { client, auth, dpop } = await this.#client(credentials)
    const callback = await listenForCallback(options.timeoutMs ?? LOGIN_TIMEOUT_MS)
    try {
      const redirectUri = `http://127.0.0.1:${callback.port}/callback`
      const codeVerifier = oauth.generateRandomCodeVerifier()
      const state = oauth.generateRandomState()
      const parameters = {
        redirect_uri: redirectUri,
        response_type: 'code',
        scope: this.#o.scope ?? DEFAULT_SCOPE,
        resource: resource.resource,
        state,
        code_challenge: await oauth.calculatePKCECodeChallenge(codeVerifier),
        code_challenge_method: 'S256',
      }
      const pushed = await withNonceRetry(async () => await oauth.processPushedAuthorizationResponse(as, client,
        await oauth.pushedAuthorizationRequest(as, client, auth, parameters, { ...this.#http, DPoP: dpop }))).catch((err: unknown) => { throw toAgentError(err, 'starting the sign-in') })
      const authorizeUrl = new URL(as.authorization_endpoint as string)
      authorizeUrl.searchParams.set('client_id', client.client_id)
      authorizeUrl.searchParams.set('request_uri', pushed.request_uri)
      await options.openUrl(authorizeUrl.href)
      const returned = await callback.result
      let callbackParameters: URLSearchParams
      try {
        // Checks state and RFC 9207 `iss`; an error answer (access_denied...) throws.
        callbackParameters = oauth.validateAuthResponse(as, client, returned, state)
      } catch (err) {
        throw toAgentError(err, 'completing the sign-in')
      }
      const tokens = await withNonceRetry(async () => await oauth.processAuthorizationCodeResponse(as, client,
        await oauth.authorizationCodeGrantRequest(as, client, auth, callbackParameters, redirectUri, codeVerifier, { ...this.#http, DPoP: dpop }), { requireIdToken: false })).catch((err: unknown) => { throw toAgentError(err, 'redeeming the sign-in') })
      return await this.#saveTokens(credentials, tokens)
    } finally {
      callback.close()
    }
  }

  /** Device flow (RFC 8628) for agents without a browser: the user enters a code at the relay's /oauth/device. */
  async loginWithDevice (options: DeviceLoginOptions): Promise<StoredTokens> {
    const credentials = await this.#registered()
    const { authorizationServer: as, resource } = await this.discover()
    const { client, auth, dpop } = await this.#client(credentials)
    let device: oauth.DeviceAuthorizationResponse
    try {
      device = await oauth.processDeviceAuthorizationResponse(as, client, await oauth.deviceAuthorizationRequest(as, client, auth, { scope: this.#o.scope ?? DEFAULT_SCOPE, resource: resource.resource }, this.#http))
    } catch (err) {
      throw toAgentError(err, 'starting the device sign-in')
    }
    await options.show({ userCode: device.user_code, verificationUri: device.verification_uri, verificationUriComplete: device.verification_uri_complete, expiresInSec: device.expires_in })
    let intervalSec = device.interval ?? 5
    const deadline = Date.now() + device.expires_in * 1000
    while (Date.now() < deadline) {
      await new Promise((resolve) => setTimeout(resolve, intervalSec * 1000))
      try {
        const tokens = await withNonceRetry(async () => await oauth.processDeviceCodeResponse(as, client,
          await oauth.deviceCodeGrantRequest(as, client, auth, device.device_code, { ...this.#http, DPoP: dpop })))
        return await this.#saveTokens(credentials, tokens)
      } catch (err) {
        if (err instanceof oauth.ResponseBodyError && err.error === 'authorization_pending') continue
        if (err instanceof oauth.ResponseBodyError && err.error === 'slow_down') {
          intervalSec += 5
          continue
        }
        throw toAgentError(err, 'waiting for the device sign-in')
      }
    }
    throw new AgentError('timeout', 'The device code expired before the sign-in finished.')
  }

  async #saveTokens (credentials: StoredCredentials, tokens: oauth.TokenEndpointResponse): Promise<StoredTokens> {
    const stored: StoredTokens = {
      access_token: tokens.access_token,
      token_type: tokens.token_type,
      expires_at: Math.floor(Date.now() / 1000) + (tokens.expires_in ?? 300),
      refresh_token: tokens.refresh_token ?? credentials.tokens?.refresh_token,
      scope: tokens.scope,
    }
    await this.#o.store.save({ ...credentials, tokens: stored })
    return stored
  }

  /** A valid access token, refreshed first when it is about to expire (one process at a time). */
  async accessToken (): Promise<string> {
    const skew = this.#o.refreshSkewSec ?? 60
    const fresh = (c: StoredCredentials | undefined) => c?.tokens !== undefined && c.tokens.expires_at - skew > Date.now() / 1000
    const credentials = await this.#requireCredentials()
    if (fresh(credentials)) return (credentials.tokens as StoredTokens).access_token
    return await this.#o.store.withLock(async () => {
      // Another process may have refreshed while this one waited for the lock.
      const current = await this.#requireCredentials()
      if (fresh(current)) return (current.tokens as StoredTokens).access_token
      return (await this.#refreshHoldingLock(current)).access_token
    })
  }

  /** Refreshes now (rotates the refresh token). */
  async refresh (): Promise<StoredTokens> {
    return await this.#o.store.withLock(async () => await this.#refreshHoldingLock(await this.#requireCredentials()))
  }

  async #refreshHoldingLock (credentials: StoredCredentials, scope?: string): Promise<StoredTokens> {
    const refreshToken = credentials.tokens?.refresh_token
    if (refreshToken === undefined) throw new AgentError('not_logged_in', 'No refresh token: log in again.')
    const { authorizationServer: as } = await this.discover()
    const { client, auth, dpop } = await this.#client(credentials)
    const additionalParameters: Record<string, string> = scope === undefined ? { resource: credentials.resource } : { scope }
    let tokens: oauth.TokenEndpointResponse
    try {
      tokens = await withNonceRetry(async () => await oauth.processRefreshTokenResponse(as, client,
        await oauth.refreshTokenGrantRequest(as, client, auth, refreshToken, { ...this.#http, DPoP: dpop, additionalParameters })))
    } catch (err) {
      throw toAgentError(err, 'refreshing the token')
    }
    if (scope !== undefined) {
      // A userinfo token: keep the /v1 token, store only the rotated refresh token.
      await this.#o.store.save({ ...credentials, tokens: { ...credentials.tokens as StoredTokens, refresh_token: tokens.refresh_token ?? refreshToken } })
      return { access_token: tokens.access_token, token_type: tokens.token_type, expires_at: Math.floor(Date.now() / 1000) + (tokens.expires_in ?? 300) }
    }
    return await this.#saveTokens(credentials, tokens)
  }

  /** Calls the relay's REST API with the DPoP-bound token (one retry with the server's fresh nonce). */
  async request (method: 'GET' | 'POST', path: string, body?: unknown): Promise<unknown> {
    const accessToken = await this.accessToken()
    const { dpop } = await this.#client(await this.#requireCredentials())
    const url = new URL(path, this.#relay)
    const send = async () => {
      const headers = new Headers({ accept: 'application/json' })
      if (body !== undefined) headers.set('content-type', 'application/json')
      return await oauth.protectedResourceRequest(accessToken, method, url, headers, body === undefined ? null : JSON.stringify(body), { ...this.#http, DPoP: dpop })
    }
    let response: Response
    try {
      response = await withNonceRetry(send)
    } catch (err) {
      if (err instanceof oauth.WWWAuthenticateChallengeError) response = err.response
      else throw toAgentError(err, `calling ${path}`)
    }
    const text = await response.text()
    let json: unknown
    try {
      json = text === '' ? undefined : JSON.parse(text)
    } catch {
      json = undefined
    }
    if (response.ok) return json
    const errorBody = typeof json === 'object' && json !== null ? json as Record<string, unknown> : undefined
    const description = typeof errorBody?.error_description === 'string' ? errorBody.error_description : `HTTP ${response.status}`
    if (response.status === 401 && typeof errorBody?.login_url === 'string') {
      throw new AgentError('sign_in_required', `${description} Sign in again at ${errorBody.login_url}`, { body: errorBody, status: 401 })
    }
    if (response.status === 401) throw new AgentError('not_logged_in', `${description} Log in again.`, { ...(errorBody === undefined ? {} : { body: errorBody }), status: 401 })
    if (response.status === 403) throw new AgentError('denied', description, { ...(errorBody === undefined ? {} : { body: errorBody }), status: 403 })
    throw new AgentError('relay', description, { ...(errorBody === undefined ? {} : { body: errorBody }), status: response.status })
  }

  async me (): Promise<unknown> { return await this.request('GET', '/v1/me') }
  async servers (): Promise<unknown> { return await this.request('GET', '/v1/servers') }
  async tools (server: string): Promise<unknown> { return await this.request('GET', `/v1/servers/${encodeURIComponent(server)}/tools`) }
  async callTool (server: string, tool: string, args: Record<string, unknown>): Promise<unknown> {
    return await this.request('POST', `/v1/servers/${encodeURIComponent(server)}/tools/${encodeURIComponent(tool)}`, { arguments: args })
  }

  /** RFC 7662, authenticated with private_key_jwt. */
  async introspect (which: 'access' | 'refresh' = 'access'): Promise<oauth.IntrospectionResponse> {
    const credentials = await this.#requireCredentials()
    const token = which === 'access' ? credentials.tokens?.access_token : credentials.tokens?.refresh_token
    if (token === undefined) throw new AgentError('not_logged_in', `No ${which} token: log in first.`)
    const { authorizationServer: as } = await this.discover()
    const { client, auth } = await this.#client(credentials)
    try {
      return await oauth.processIntrospectionResponse(as, client, await oauth.introspectionRequest(as, client, auth, token, { ...this.#http, additionalParameters: { token_type_hint: `${which}_token` } }))
    } catch (err) {
      throw toAgentError(err, 'introspecting the token')
    }
  }

  /** The OIDC userinfo endpoint: it needs an openid token without a resource, obtained by a refresh with scope=openid. */
  async userinfo (): Promise<oauth.UserInfoResponse> {
    const userinfoToken = await this.#o.store.withLock(async () => await this.#refreshHoldingLock(await this.#requireCredentials(), 'openid profile'))
    const credentials = await this.#requireCredentials()
    const { authorizationServer: as } = await this.discover()
    const { client, dpop } = await this.#client(credentials)
    try {
      return await withNonceRetry(async () => await oauth.processUserInfoResponse(as, client, oauth.skipSubjectCheck,
        await oauth.userInfoRequest(as, client, userinfoToken.access_token, { ...this.#http, DPoP: dpop })))
    } catch (err) {
      throw toAgentError(err, 'reading userinfo')
    }
  }

  /** RFC 7009: revoking the refresh token ends the grant (and, at the relay, everything it held). */
  async revoke (): Promise<void> {
    const credentials = await this.#requireCredentials()
    const token = credentials.tokens?.refresh_token ?? credentials.tokens?.access_token
    if (token === undefined) return
    const { authorizationServer: as } = await this.discover()
    const { client, auth } = await this.#client(credentials)
    try {
      await oauth.processRevocationResponse(await oauth.revocationRequest(as, client, auth, token, { ...this.#http, additionalParameters: { token_type_hint: credentials.tokens?.refresh_token === undefined ? 'access_token' : 'refresh_token' } }))
    } catch (err) {
      throw toAgentError(err, 'revoking the token')
    }
    await this.#o.store.save({ ...credentials, tokens: undefined })
  }

  /** Revokes, then deletes the credentials file. */
  async logout (): Promise<void> {
    const credentials = await this.#o.store.load()
    if (credentials?.tokens !== undefined) await this.revoke()
    await this.#o.store.remove()
  }
}

/** One retry when the server asks for (another) DPoP nonce (RFC 9449 §8); oauth4webapi keeps the nonce it sent. */
async function withNonceRetry<T> (attempt: () => Promise<T>): Promise<T> {
  try {
    return await attempt()
  } catch (err) {
    if (oauth.isDPoPNonceError(err)) return await attempt()
    throw err
  }
}

async function thumbprint (jwk: JsonWebKey): Promise<string> {
  const canonical = JSON.stringify({ crv: jwk.crv, kty: jwk.kty, x: jwk.x })
  return Buffer.from(await webcrypto.subtle.digest('SHA-256', new TextEncoder().encode(canonical))).toString('base64url')
}

function toAgentError (err: unknown, what: string): AgentError {
  if (err instanceof AgentError) return err
  if (err instanceof oauth.ResponseBodyError) {
    const kind = err.error === 'invalid_grant' || err.error === 'invalid_client' ? 'not_logged_in' : err.error === 'access_denied' ? 'denied' : 'oauth'
    return new AgentError(kind, `${what}: ${err.error}${err.error_description === undefined ? '' : ` (${err.error_description})`}`, { body: err.cause as Record<string, unknown>, status: err.status })
  }
  if (err instanceof oauth.AuthorizationResponseError) {
    return new AgentError(err.error === 'access_denied' ? 'denied' : 'oauth', `${what}: ${err.error}${err.error_description === undefined ? '' : ` (${err.error_description})`}`)
  }
  if (err instanceof TypeError || (err as { name?: string }).name === 'TimeoutError') {
    return new AgentError('network', `${what}: the relay could not be reached (${(err as Error).message})`, { cause: err })
  }
  return new AgentError('oauth', `${what}: ${err instanceof Error ? err.message : String(err)}`, { cause: err })
}

interface PendingCallback {
  port: number
  result: Promise<URL>
  close: () => void
}

/** A one-shot HTTP server on 127.0.0.1 and a random port, for the authorization response (RFC 8252 §7.3). */
async function listenForCallback (timeoutMs: number): Promise<PendingCallback> {
  let resolveResult: (url: URL) => void = () => {}
  let rejectResult: (err: Error) => void = () => {}
  const result = new Promise<URL>((resolve, reject) => { resolveResult = resolve; rejectResult = reject })
  result.catch(() => {})
  const server: Server = createServer((request, response) => {
    const url = new URL(request.url ?? '/', `http://127.0.0.1:${port}`)
    if (request.method !== 'GET' || url.pathname !== '/callback') {
      response.writeHead(404, { 'content-type': 'text/plain' }).end('not found')
      return
    }
    const failed = url.searchParams.has('error')
    response.writeHead(200, { 'content-type': 'text/html; charset=utf-8', 'content-security-policy': "default-src 'none'", 'cache-control': 'no-store' })
    response.end(`<!doctype html><title>obo-relay-agent</title><p>${failed ? 'The sign-in did not complete.' : 'Signed in.'} You can close this window.</p>`)
    resolveResult(url)
  })
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject)
    server.listen(0, '127.0.0.1', () => resolve())
  })
  const address = server.address()
  const port = typeof address === 'object' && address !== null ? address.port : 0
  const timer = setTimeout(() => rejectResult(new AgentError('timeout', `No sign-in came back within ${Math.round(timeoutMs / 1000)} s.`)), timeoutMs)
  return {
    port,
    result,
    close: () => {
      clearTimeout(timer)
      server.close()
      server.closeAllConnections()
    },
  }
}
