// Entra sign-in (auth code + PKCE + state + nonce; the relay is a confidential client), free of HTTP:
// `begin` seals the whole transaction for the browser to carry; `complete` redeems the code once.
import { randomBytes } from 'node:crypto'
import type { AuthenticationResult } from '@azure/msal-node'
import { sha256b64url } from '../crypto/hash.ts'
import { relayError } from '../errors.ts'
import type { UserIdentity } from '../caller/user-assertion.ts'
import type { Keyring } from '../crypto/keyring.ts'
import type { Store } from '../stores/types.ts'
import { mapAuthorizeError, mapEntraError } from './entra-errors.ts'
import type { EntraExchangeRecord, MsalFactory } from './msal.ts'

export const SIGN_IN_TTL_MS = 600_000
const PROMPTS = new Set(['login', 'consent', 'select_account'])

/** What the callback does after the sign-in, instead of starting a browser session (agent grants). */
export type SignInContinuation =
  /** An agent's authorization (oidc-provider interaction `uid`): allowed on the consent page, or by the consent
   *  `rememberedFor` that account gave before (then only that account's sign-in may complete it). */
  | { kind: 'agent_interaction', uid: string, rememberedFor?: string }
  /** A new sign-in for an existing agent grant (its refresh token was refused, a step-up, a consent). */
  | { kind: 'agent_grant', grantId: string }

/** Sealed into a cookie of its own per sign-in: the server keeps nothing until the callback. */
export interface SignInTransaction {
  state: string
  codeVerifier: string
  nonce: string
  returnTo: string
  /** Scopes this sign-in asked consent for (what a decline or an admin requirement is about). */
  consentScopes?: string[]
  /** Epoch ms after which the transaction is refused. */
  expiresAt: number
  continuation?: SignInContinuation
}

export interface SignInRequest {
  returnTo: string
  prompt?: string | undefined
  /** base64url-encoded JSON claims request (a claims challenge being satisfied). */
  claims?: string | undefined
  /** Scopes of configured servers to consent to in the same sign-in (Entra's combined consent). */
  consentScopes?: string[] | undefined
  /** Entra's `login_hint`: the user a grant belongs to. */
  loginHint?: string | undefined
  continuation?: SignInContinuation | undefined
}

export interface SignedIn extends UserIdentity {
  homeAccountId: string
  /** The MSAL cache holding the refresh token: the new session's partition. */
  serializedCache: string
  returnTo: string
  correlationId: string | undefined
  continuation: SignInContinuation | undefined
}

export interface EntraSignInOptions {
  msal: MsalFactory
  relayScope: string
  redirectUri: string
  allowedTenants: readonly string[]
  /** Scopes a consent sign-in may ask for: those of the configured MCP servers (never arbitrary ones). */
  consentableScopes: () => string[]
  /** Single-use markers of redeemed states: kept apart from sessions so no flood can evict those. */
  redeemed: Store
  /** Seals sign-in transactions into their cookies. */
  keyring: Keyring
  now?: () => number
}

export class EntraSignIn {
  readonly #o: EntraSignInOptions
  readonly #now: () => number

  constructor (options: EntraSignInOptions) {
    this.#o = options
    this.#now = options.now ?? Date.now
  }

  /** The Entra authorize URL and the sealed transaction the browser must bring back. */
  async begin (request: SignInRequest): Promise<{ authorizeUrl: string, state: string, sealed: string }> {
    if (request.prompt !== undefined && !PROMPTS.has(request.prompt)) throw relayError('invalid_request', 'prompt must be login, consent or select_account.')
    const claims = request.claims === undefined ? undefined : decodeClaims(request.claims)
    const consentScopes = request.consentScopes ?? []
    const consentable = new Set(this.#o.consentableScopes())
    if (consentScopes.some((scope) => !consentable.has(scope))) {
      throw relayError('invalid_request', 'consent_scopes may only name scopes of the configured MCP servers.')
    }
    const state = randomBytes(32).toString('base64url')
    const nonce = randomBytes(32).toString('base64url')
    const codeVerifier = randomBytes(32).toString('base64url')
    const transaction: SignInTransaction = {
      state,
      codeVerifier,
      nonce,
      returnTo: request.returnTo,
      ...(consentScopes.length === 0 ? {} : { consentScopes }),
      expiresAt: this.#now() + SIGN_IN_TTL_MS,
      ...(request.continuation === undefined ? {} : { continuation: request.continuation }),
    }
    const client = await this.#o.msal.client().catch((err: unknown) => { throw mapEntraError(err, { record: {}, what: 'the sign-in' }) })
    const authorizeUrl = await client.getAuthCodeUrl({
      scopes: [this.#o.relayScope],
      redirectUri: this.#o.redirectUri,
      state,
      nonce,
      codeChallenge: sha256b64url(codeVerifier),
      codeChallengeMethod: 'S256',
      responseMode: 'query',
      ...(request.prompt === undefined ? {} : { prompt: request.prompt }),
      ...(claims === undefined ? {} : { claims }),
      ...(consentScopes.length === 0 ? {} : { extraScopesToConsent: consentScopes }),
      ...(request.loginHint === undefined ? {} : { loginHint: request.loginHint }),
    })
    return { authorizeUrl, state, sealed: this.#o.keyring.seal(JSON.stringify(transaction), 'login') }
  }

  /** The transaction sealed in a cookie, if it is intact, ours, for this state and not expired. */
  open (sealed: string | undefined, state: string): SignInTransaction | undefined {
    const opened = sealed === undefined ? undefined : this.#o.keyring.open(sealed, 'login')
    const transaction = opened === undefined ? undefined : JSON.parse(opened) as SignInTransaction
    if (transaction === undefined || transaction.state !== state || transaction.expiresAt < this.#now()) return undefined
    return transaction
  }

  /** Expiry of a sealed transaction (0 when unreadable): the oldest pending sign-ins are dropped first. */
  expiryOf (sealed: string): number {
    const opened = this.#o.keyring.open(sealed, 'login')
    return opened === undefined ? 0 : (JSON.parse(opened) as SignInTransaction).expiresAt
  }

  /** Redeems Entra's answer once; every failure is a RelayError naming what went wrong. */
  async complete (transaction: SignInTransaction, answer: { code?: string | undefined, error?: string | undefined, errorDescription?: string | undefined }): Promise<SignedIn> {
    // Single use, even if the cookie is replayed: the first callback for a state marks it redeemed.
    if (!await this.#o.redeemed.setIfAbsent(`login-used:${sha256b64url(transaction.state)}`, '1', SIGN_IN_TTL_MS)) {
      throw relayError('sign_in_state_invalid', 'The sign-in state was already used; start again at /auth/login.')
    }
    if (answer.error !== undefined) throw mapAuthorizeError(answer.error, answer.errorDescription, { scopes: transaction.consentScopes ?? [] })
    if (answer.code === undefined || answer.code === '') throw relayError('invalid_request', 'The sign-in response has no code.')

    const record: EntraExchangeRecord = {}
    let result: AuthenticationResult | null
    let serializedCache: string
    try {
      const client = await this.#o.msal.client({ record })
      result = await client.acquireTokenByCode(
        { code: answer.code, scopes: [this.#o.relayScope], redirectUri: this.#o.redirectUri, codeVerifier: transaction.codeVerifier, state: transaction.state, nonce: transaction.nonce },
        { code: answer.code, state: transaction.state, nonce: transaction.nonce }
      )
      serializedCache = client.getTokenCache().serialize()
    } catch (err) {
      throw mapEntraError(err, { record, what: 'the sign-in' })
    }
    const claims = (result?.idTokenClaims ?? {}) as Record<string, unknown>
    const account = result?.account ?? null
    if (account === null || claims.nonce !== transaction.nonce || typeof claims.oid !== 'string' || typeof claims.tid !== 'string') {
      throw relayError('sign_in_refused', 'The sign-in response failed validation.')
    }
    if (!this.#o.allowedTenants.includes(claims.tid)) {
      throw relayError('sign_in_refused', 'Users of this tenant may not use the relay.', { logFields: { tid: claims.tid, oid: claims.oid } })
    }
    return {
      tid: claims.tid,
      oid: claims.oid,
      upn: typeof claims.preferred_username === 'string' ? claims.preferred_username : undefined,
      name: typeof claims.name === 'string' ? claims.name : undefined,
      homeAccountId: account.homeAccountId,
      serializedCache,
      returnTo: transaction.returnTo,
      correlationId: record.correlationId,
      continuation: transaction.continuation,
    }
  }
}

/** A claims request must be base64url of a JSON object (Entra's claims parameter is one). */
function decodeClaims (encoded: string): string {
  const json = Buffer.from(encoded, 'base64url').toString('utf8')
  let parsed: unknown
  try {
    parsed = JSON.parse(json)
  } catch {
    parsed = undefined
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) {
    throw relayError('claims_invalid', 'claims must be a base64url-encoded JSON object (a claims request).')
  }
  return json
}
