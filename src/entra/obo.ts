// On-Behalf-Of exchange (DESIGN §6): the relay's own bounded cache in front of MSAL, single-flight per key.
import type { Logger } from 'pino'
import type { UserAssertion } from '../caller/user-assertion.ts'
import { sha256b64url } from '../crypto/hash.ts'
import type { OboCache, OboToken } from '../stores/obo-cache.ts'
import type { SharedFlight } from '../stores/shared-flight.ts'
import { SingleFlight } from '../stores/single-flight.ts'
import { interactionRequired, relayError, RelayError, REASONS, temporarilyUnavailable, type Reason } from '../errors.ts'
import { mapEntraError } from './entra-errors.ts'
import { issuedTokenClaims } from './issued-token.ts'
import type { EntraExchangeRecord, MsalFactory } from './msal.ts'

export type { OboToken } from '../stores/obo-cache.ts'

export interface OboResult extends OboToken {
  cache: 'hit' | 'miss' | 'coalesced'
}

export interface OboOptions {
  msal: MsalFactory
  cache: OboCache
  /** With replicas: one Entra call per key across all of them (a lock in the shared store). */
  shared?: SharedFlight
  logger: Logger
  /** Cached tokens are dropped this long before they expire. */
  refreshSkewSec?: number
  /** Counts hits, misses and coalesced waits (metrics). */
  onResult?: (outcome: OboResult['cache']) => void
  now?: () => number
}

export interface ExchangeOptions {
  /** A claims challenge (JSON) to satisfy; such tokens are cached under their own key. */
  claims?: string
  /** Skip the cache: the downstream refused the cached token. */
  forceRefresh?: boolean
  /** Names the target in errors and logs, e.g. `server "notes"`. */
  target?: string
}

const grantTag = (grantId: string): string => `grant:${sha256b64url(grantId)}`

export class OboService {
  readonly #o: OboOptions
  readonly #flights = new SingleFlight<OboToken>()
  readonly #now: () => number
  readonly #skewMs: number

  constructor (options: OboOptions) {
    this.#o = options
    this.#now = options.now ?? Date.now
    this.#skewMs = (options.refreshSkewSec ?? 300) * 1000
  }

  /** The cache key: a hash of the assertion (never the token itself) + sorted scopes (+ claims). */
  static cacheKey (assertion: string, scopes: readonly string[], claims?: string): string {
    return OboService.#keyOf(sha256b64url(assertion), scopes, claims)
  }

  static #keyOf (assertionHash: string, scopes: readonly string[], claims: string | undefined): string {
    const c = claims === undefined ? '' : `|${sha256b64url(claims)}`
    return `${assertionHash}|${scopes.length === 1 ? scopes[0] as string : [...scopes].sort().join(' ')}${c}`
  }

  /** Cached tokens (in this process, for the memory cache). */
  get size (): number {
    return this.#o.cache.size
  }

  /**
   * What exchange() with the same options would answer from the cache, without waiting, where the cache is in this
   * process (`peek`); undefined for a forced refresh, a miss, a token too close to its expiry, or a shared cache:
   * then exchange(). The hot paths' `cached(…) ?? await exchange(…)`: no promise on a hit.
   */
  cached (user: UserAssertion, scopes: string[], options: ExchangeOptions = {}): OboResult | undefined {
    if (options.forceRefresh === true) return undefined
    const cached = this.#o.cache.peek?.(OboService.#keyOf(user.tokenHash, scopes, options.claims))
    return cached === undefined ? undefined : this.#hit(user, scopes, cached)
  }

  /** A cached token that is still fresh enough, counted and logged as a hit; else undefined. */
  #hit (user: UserAssertion, scopes: string[], cached: OboToken): OboResult | undefined {
    if (cached.expiresAt - this.#skewMs <= this.#now()) return undefined
    if (this.#o.logger.isLevelEnabled('debug')) this.#o.logger.debug({ tid: user.tid, oid: user.oid, scopes: scopes.join(' '), cache: 'hit' }, 'obo')
    this.#o.onResult?.('hit')
    return { ...cached, cache: 'hit' }
  }

  async exchange (user: UserAssertion, scopes: string[], options: ExchangeOptions = {}): Promise<OboResult> {
    const key = OboService.#keyOf(user.tokenHash, scopes, options.claims)
    if (options.forceRefresh === true) {
      await this.#o.cache.delete(key)
    } else {
      const cached = await this.#o.cache.get(key)
      const hit = cached === undefined ? undefined : this.#hit(user, scopes, cached)
      if (hit !== undefined) return hit
    }
    const joined = this.#flights.has(key)
    const exchange = async (): Promise<OboToken> => {
      const { token: fresh, assertionHash } = await this.#exchangeWithEntra(user, scopes, options)
      // Cached before the flight lands, so nobody arriving after it starts another exchange. Also under the
      // token the exchange used when it was not the memo's (MSAL renewed it meanwhile: the memo now names it).
      const ttlMs = fresh.expiresAt - this.#skewMs - this.#now()
      if (ttlMs > 0) {
        const keys = assertionHash === user.tokenHash ? [key] : [key, OboService.#keyOf(assertionHash, scopes, options.claims)]
        for (const k of keys) {
          await this.#o.cache.set(k, fresh, ttlMs)
          // An agent's tokens are filed under its grant: revoking the grant drops them.
          if (user.grantId !== undefined) await this.#o.cache.tag(grantTag(user.grantId), k, ttlMs)
        }
      }
      return fresh
    }
    const shared = this.#o.shared
    const token = await this.#flights.run(key, shared === undefined
      ? exchange
      : async () => await shared.run(key, {
        cached: async () => {
          const cached = await this.#o.cache.get(key)
          return cached !== undefined && cached.expiresAt - this.#skewMs > this.#now() ? cached : undefined
        },
        run: exchange,
        record: (err) => err instanceof RelayError ? JSON.stringify({ reason: err.reason, description: err.description, claims: err.extra.claims, retryAfter: err.headers['retry-after'] }) : undefined,
        failure: (recorded) => rebuild(recorded, scopes),
      }))
    const outcome = joined ? 'coalesced' : 'miss'
    this.#o.onResult?.(outcome)
    return { ...token, cache: outcome }
  }

  /** Drops every cached OBO token of an agent grant; returns them so their MCP sessions can end too. */
  async dropGrant (grantId: string): Promise<OboToken[]> {
    return await this.#o.cache.dropTag(grantTag(grantId))
  }

  /** OBO tokens still cached for an agent grant. */
  async cachedForGrant (grantId: string): Promise<number> {
    return await this.#o.cache.countTag(grantTag(grantId))
  }

  async #exchangeWithEntra (user: UserAssertion, scopes: string[], options: ExchangeOptions): Promise<{ token: OboToken, assertionHash: string }> {
    // Only a miss needs the token itself (a session's or grant's is taken from its partition again, and fails
    // as its silent token does: a RelayError of its own).
    const oboAssertion = await user.token()
    const record: EntraExchangeRecord = {}
    const started = performance.now()
    const logBase = { tid: user.tid, oid: user.oid, scopes: scopes.join(' '), cache: 'miss' }
    try {
      const client = await this.#o.msal.client({ tenantId: user.tid, record })
      const result = await client.acquireTokenOnBehalfOf({
        oboAssertion,
        scopes,
        ...(options.claims === undefined ? {} : { claims: options.claims }),
      })
      if (result === null || result.accessToken === '' || result.expiresOn === null) {
        throw new Error('MSAL returned no token')
      }
      this.#o.logger.info({ ...logBase, correlationId: record.correlationId, ms: Math.round(performance.now() - started) }, 'obo exchange')
      const { audience } = issuedTokenClaims(result.accessToken)
      const token = { accessToken: result.accessToken, expiresAt: result.expiresOn.getTime(), ...(audience === undefined ? {} : { audience }) }
      return { token, assertionHash: sha256b64url(oboAssertion) }
    } catch (err) {
      const mapped = mapEntraError(err, { record, scopes, tenantId: user.tid, what: `the token for ${options.target ?? 'the MCP server'}` })
      this.#o.logger.warn({ ...logBase, ...mapped.logFields, status: mapped.statusCode, reason: mapped.reason }, 'obo exchange failed')
      throw mapped
    }
  }
}

/** Another replica's failure, as it recorded it: same reason, description and claims; never a token. */
function rebuild (recorded: string | undefined, scopes: string[]): RelayError {
  const parsed = recorded === undefined ? undefined : JSON.parse(recorded) as { reason?: string, description?: string, claims?: unknown, retryAfter?: string }
  const reason = parsed?.reason !== undefined && parsed.reason in REASONS ? parsed.reason as Reason : 'entra_unavailable'
  const description = parsed?.description ?? 'Another replica\'s exchange with Entra did not finish in time; retry.'
  if (reason === 'claims_challenge' || reason === 'sign_in_required' || reason === 'session_ended') {
    return interactionRequired(reason, description, typeof parsed?.claims === 'string' ? parsed.claims : undefined)
  }
  if (reason === 'entra_throttled' || reason === 'entra_unavailable') {
    return temporarilyUnavailable(reason, description, Number(parsed?.retryAfter ?? 5) || 5)
  }
  return relayError(reason, description, reason === 'consent_required' || reason === 'consent_declined' ? { intent: { kind: 'consent', scopes } } : undefined)
}
