// Relay-issued access tokens (mode B) at the relay's resources: the token is looked up in the authorization
// server's store, its audience must be the resource called (RFC 8707), a DPoP-bound token needs a valid proof
// from its key (RFC 9449), and its grant's MSAL partition yields the user's Entra token, the OBO assertion.
import type { AgentGrantRecord, AgentGrants } from '../agent-auth/grants.ts'
import { verifyDpopProof, type DpopNonces } from '../agent-auth/dpop.ts'
import { scopeForRequest } from '../agent-auth/scopes.ts'
import { forGrant, insufficientScope, relayError, RelayError } from '../errors.ts'
import { resourceOf } from '../http/resources.ts'
import type { Store } from '../stores/types.ts'
import type { UserAssertion } from './user-assertion.ts'

/** What the relay needs of an access token oidc-provider issued. */
export interface IssuedAccessToken {
  clientId: string
  accountId: string
  grantId: string
  /** The resource the token is restricted to; undefined for a userinfo-only (openid) token. */
  audience: string | undefined
  scopes: ReadonlySet<string>
  /** JWK thumbprint of the DPoP key the token is bound to. */
  jkt: string | undefined
  /** When it expires (epoch seconds). */
  expiresAt?: number | undefined
}

export interface AgentGrantRef {
  id: string
  clientId: string
  scopes: string[]
  resource: string
}

export interface RelayTokenRequest {
  scheme: 'Bearer' | 'DPoP'
  token: string
  /** The `DPoP` header, if exactly one was sent. */
  proof: string | undefined
  method: string
  /** The request path (no query). */
  path: string
}

export interface VerifiedRelayToken {
  user: UserAssertion
  grant: AgentGrantRef
  record: AgentGrantRecord
  /** A fresher DPoP nonce for the client (RFC 9449 §8.2). */
  dpopNonce: string | undefined
  /** When the access token expires (epoch seconds), if the provider says. */
  expiresAt: number | undefined
}

export interface RelayTokenVerifierOptions {
  publicUrl: URL
  findAccessToken: (token: string) => Promise<IssuedAccessToken | undefined>
  /** Whether oidc-provider still holds the grant (a revoked one is destroyed there first). */
  grantAlive: (grantId: string) => Promise<boolean>
  grants: AgentGrants
  nonces: DpopNonces
  replay: Store
  now?: () => number
}

export class RelayTokenVerifier {
  readonly #o: RelayTokenVerifierOptions

  constructor (options: RelayTokenVerifierOptions) {
    this.#o = options
  }

  async verify (request: RelayTokenRequest): Promise<VerifiedRelayToken> {
    const token = await this.#o.findAccessToken(request.token)
    if (token === undefined) throw relayError('token_invalid', 'The access token is unknown, expired or revoked.')
    const resource = resourceOf(this.#o.publicUrl, request.path)
    if (resource === undefined || token.audience !== resource) {
      const forWhat = token.audience === undefined ? 'the userinfo endpoint only' : token.audience
      throw relayError('token_audience_mismatch', `This token is for ${forWhat}; ${request.path} needs a token whose resource is ${resource ?? 'a relay resource'}.`)
    }
    let dpopNonce: string | undefined
    if (token.jkt !== undefined) {
      if (request.scheme !== 'DPoP') {
        throw relayError('dpop_bound_token_as_bearer', 'This token is DPoP-bound: send it as "Authorization: DPoP <token>" with a DPoP proof.')
      }
      if (request.proof === undefined) throw relayError('dpop_proof_invalid', 'A DPoP-bound token needs exactly one DPoP header.', { challenge: { error: 'invalid_dpop_proof', errorDescription: 'A DPoP-bound token needs exactly one DPoP header.' } })
      const htu = new URL(request.path, this.#o.publicUrl).href
      const checked = await verifyDpopProof(request.proof, { method: request.method, htu, accessToken: request.token, jkt: token.jkt }, { nonces: this.#o.nonces, replay: this.#o.replay, ...(this.#o.now === undefined ? {} : { now: this.#o.now }) })
      dpopNonce = checked.nextNonce
    } else if (request.scheme === 'DPoP') {
      throw relayError('token_invalid', 'This token is not DPoP-bound: send it as "Authorization: Bearer <token>".')
    }
    const needed = scopeForRequest(request.method, request.path)
    if (!token.scopes.has(needed)) throw insufficientScope(`This request needs the scope ${needed}; the token has ${[...token.scopes].join(' ') || 'none'}.`, needed)
    const record = await this.#o.grants.get(token.grantId)
    if (record === undefined || !await this.#o.grantAlive(token.grantId)) throw relayError('grant_revoked', 'The agent\'s access was revoked; connect the agent again.')
    // A refused refresh token must send the user to a sign-in for this grant.
    const user = await this.#o.grants.userAssertion(record).catch((err: unknown) => { throw err instanceof RelayError ? forGrant(err, record.grantId) : err })
    await this.#o.grants.touch(record)
    return { user, record, grant: { id: record.grantId, clientId: token.clientId, scopes: [...token.scopes], resource }, dpopNonce, expiresAt: token.expiresAt }
  }

  /** Whether a token verified earlier still holds: neither it nor its grant revoked (long streams re-check). */
  async stillValid (token: string, grantId: string): Promise<boolean> {
    const found = await this.#o.findAccessToken(token)
    return found !== undefined && found.grantId === grantId && await this.#o.grants.get(grantId) !== undefined && await this.#o.grantAlive(grantId)
  }
}
