// On-Behalf-Of exchange (DESIGN §6): the relay's own bounded cache in front of MSAL, single-flight per key.
import type { Logger } from 'pino'
import type { UserAssertion } from '../caller/user-assertion.ts'
import { sha256b64url } from '../crypto/hash.ts'
import type { OboCache, OboToken } from '../stores/obo-cache.ts'
import { SingleFlight } from '../stores/single-flight.ts'
import { mapEntraError } from './entra-errors.ts'
import type { EntraExchangeRecord, MsalFactory } from './msal.ts'

export type { OboToken } from '../stores/obo-cache.ts'

export interface OboResult extends OboToken {
  cache: 'hit' | 'miss' | 'coalesced'
}

export interface OboOptions {
  msal: MsalFactory
  cache: OboCache
  logger: Logger
  /** Cached tokens are dropped this long before they expire. */
  refreshSkewSec?: number
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
    const c = claims === undefined ? '' : `|${sha256b64url(claims)}`
    return `${sha256b64url(assertion)}|${[...scopes].sort().join(' ')}${c}`
  }

  /** Cached tokens (in this process, for the memory cache). */
  get size (): number {
    return this.#o.cache.size
  }

  async exchange (user: UserAssertion, scopes: string[], options: ExchangeOptions = {}): Promise<OboResult> {
    const key = OboService.cacheKey(user.token, scopes, options.claims)
    if (options.forceRefresh === true) {
      await this.#o.cache.delete(key)
    } else {
      const cached = await this.#o.cache.get(key)
      if (cached !== undefined && cached.expiresAt - this.#skewMs > this.#now()) {
        this.#o.logger.debug({ tid: user.tid, oid: user.oid, scopes: scopes.join(' '), cache: 'hit' }, 'obo')
        return { ...cached, cache: 'hit' }
      }
    }
    const joined = this.#flights.has(key)
    const token = await this.#flights.run(key, async () => {
      const fresh = await this.#exchangeWithEntra(user, scopes, options)
      // Cached before the flight lands, so nobody arriving after it starts another exchange.
      const ttlMs = fresh.expiresAt - this.#skewMs - this.#now()
      if (ttlMs > 0) {
        await this.#o.cache.set(key, fresh, ttlMs)
        // An agent's tokens are filed under its grant: revoking the grant drops them.
        if (user.grantId !== undefined) await this.#o.cache.tag(grantTag(user.grantId), key, ttlMs)
      }
      return fresh
    })
    return { ...token, cache: joined ? 'coalesced' : 'miss' }
  }

  /** Drops every cached OBO token of an agent grant; returns them so their MCP sessions can end too. */
  async dropGrant (grantId: string): Promise<OboToken[]> {
    return await this.#o.cache.dropTag(grantTag(grantId))
  }

  /** OBO tokens still cached for an agent grant. */
  async cachedForGrant (grantId: string): Promise<number> {
    return await this.#o.cache.countTag(grantTag(grantId))
  }

  async #exchangeWithEntra (user: UserAssertion, scopes: string[], options: ExchangeOptions): Promise<OboToken> {
    const record: EntraExchangeRecord = {}
    const started = performance.now()
    const logBase = { tid: user.tid, oid: user.oid, scopes: scopes.join(' '), cache: 'miss' }
    try {
      const client = await this.#o.msal.client({ tenantId: user.tid, record })
      const result = await client.acquireTokenOnBehalfOf({
        oboAssertion: user.token,
        scopes,
        ...(options.claims === undefined ? {} : { claims: options.claims }),
      })
      if (result === null || result.accessToken === '' || result.expiresOn === null) {
        throw new Error('MSAL returned no token')
      }
      this.#o.logger.info({ ...logBase, correlationId: record.correlationId, ms: Math.round(performance.now() - started) }, 'obo exchange')
      return { accessToken: result.accessToken, expiresAt: result.expiresOn.getTime() }
    } catch (err) {
      const mapped = mapEntraError(err, { record, scopes, tenantId: user.tid, what: `the token for ${options.target ?? 'the MCP server'}` })
      this.#o.logger.warn({ ...logBase, ...mapped.logFields, status: mapped.statusCode, reason: mapped.reason }, 'obo exchange failed')
      throw mapped
    }
  }
}
