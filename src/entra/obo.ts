// On-Behalf-Of exchange (DESIGN §6): the relay's own bounded cache in front of MSAL, single-flight per key.
import { createHash } from 'node:crypto'
import { LRUCache } from 'lru-cache'
import type { Logger } from 'pino'
import { mapEntraError, type LoginUrlBuilder } from './entra-errors.ts'
import type { EntraExchangeRecord, MsalFactory } from './msal.ts'
import type { UserAssertion } from './user-assertion.ts'

export interface DownstreamToken {
  accessToken: string
  /** Epoch ms at which Entra says the token expires. */
  expiresAt: number
}

export interface OboResult extends DownstreamToken {
  cache: 'hit' | 'miss' | 'coalesced'
}

export interface OboOptions {
  msal: MsalFactory
  logger: Logger
  maxEntries: number
  /** Cached tokens are dropped this long before they expire. */
  refreshSkewSec?: number
  loginUrl: LoginUrlBuilder
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

export class OboService {
  readonly #options: OboOptions
  readonly #cache: LRUCache<string, DownstreamToken>
  readonly #inFlight = new Map<string, Promise<DownstreamToken>>()
  readonly #now: () => number
  readonly #skewMs: number

  constructor (options: OboOptions) {
    this.#options = options
    this.#now = options.now ?? Date.now
    this.#skewMs = (options.refreshSkewSec ?? 300) * 1000
    this.#cache = new LRUCache({ max: options.maxEntries })
  }

  /** The cache key: a hash of the assertion (never the token itself) + sorted scopes (+ claims). */
  static cacheKey (assertion: string, scopes: string[], claims?: string): string {
    const h = createHash('sha256').update(assertion).digest('base64url')
    const c = claims === undefined ? '' : `|${createHash('sha256').update(claims).digest('base64url')}`
    return `${h}|${[...scopes].sort().join(' ')}${c}`
  }

  get size (): number {
    return this.#cache.size
  }

  async exchange (user: UserAssertion, scopes: string[], options: ExchangeOptions = {}): Promise<OboResult> {
    const key = OboService.cacheKey(user.token, scopes, options.claims)
    const logBase = { tid: user.tid, oid: user.oid, scopes: scopes.join(' ') }
    if (options.forceRefresh === true) {
      this.#cache.delete(key)
    } else {
      const cached = this.#cache.get(key)
      if (cached !== undefined && cached.expiresAt - this.#skewMs > this.#now()) {
        this.#options.logger.debug({ ...logBase, cache: 'hit' }, 'obo')
        return { ...cached, cache: 'hit' }
      }
    }
    const pending = this.#inFlight.get(key)
    if (pending !== undefined) return { ...(await pending), cache: 'coalesced' }

    const exchange = this.#exchangeWithEntra(user, scopes, options).finally(() => this.#inFlight.delete(key))
    this.#inFlight.set(key, exchange)
    const token = await exchange
    const ttlMs = token.expiresAt - this.#skewMs - this.#now()
    if (ttlMs > 0) this.#cache.set(key, token, { ttl: ttlMs })
    return { ...token, cache: 'miss' }
  }

  async #exchangeWithEntra (user: UserAssertion, scopes: string[], options: ExchangeOptions): Promise<DownstreamToken> {
    const record: EntraExchangeRecord = {}
    const started = performance.now()
    const logBase = { tid: user.tid, oid: user.oid, scopes: scopes.join(' '), cache: 'miss' }
    try {
      const client = await this.#options.msal.client({ tenantId: user.tid, record })
      const result = await client.acquireTokenOnBehalfOf({
        oboAssertion: user.token,
        scopes,
        ...(options.claims === undefined ? {} : { claims: options.claims }),
      })
      if (result === null || result.accessToken === '' || result.expiresOn === null) {
        throw new Error('MSAL returned no token')
      }
      this.#options.logger.info({ ...logBase, correlationId: record.correlationId, ms: Math.round(performance.now() - started) }, 'obo exchange')
      return { accessToken: result.accessToken, expiresAt: result.expiresOn.getTime() }
    } catch (err) {
      const mapped = mapEntraError(err, { record, loginUrl: this.#options.loginUrl, scopes, what: `the token for ${options.target ?? 'the MCP server'}` })
      this.#options.logger.warn({ ...logBase, ...mapped.logFields, status: mapped.statusCode, error: mapped.code }, 'obo exchange failed')
      throw mapped
    }
  }
}
