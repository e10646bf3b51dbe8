// Downstream scopes per configured MCP server: config override, else PRM with TTL cache, stale-if-error and
// single-flight; every audience passes the binding rules and is claimed for its server (audience.ts).
import type { UserAssertion } from '../caller/user-assertion.ts'
import type { McpServerConfig } from '../config/index.ts'
import { issuedTokenClaims } from '../entra/issued-token.ts'
import { relayError, type RelayError } from '../errors.ts'
import { MetadataError } from '../net/metadata-error.ts'
import { checkAudienceForm, normalizeAudience, type AudienceClaims, type AudiencePolicy, type AudienceRefusal } from './audience.ts'
import { discoverProtectedResource, scopeAudience, type PrmDiscoveryDeps, type ProtectedResourceDiscovery } from './prm.ts'
import type { SafeFetcher } from '../net/safe-fetch.ts'

export interface ResolvedScopes {
  scopes: string[]
  source: 'config' | 'prm'
  /** The API whose tokens this server receives. */
  audience: string
  resource?: string
  prmUrl?: string
}

/** One row of `GET /v1/servers`. */
export interface ServerDiscoveryStatus {
  id: string
  url: string
  resource: string | null
  audience: string | null
  scopes: string[]
  scopeSource: 'config' | 'prm'
  status: 'ok' | 'error' | 'pending'
  /** Why the last discovery failed; with `status: 'ok'` the last good value is still being served. */
  error?: string
  reason?: string
}

export interface DiscoveryLogger {
  info: (fields: object, message: string) => void
  warn: (fields: object, message: string) => void
}

export interface ScopeDiscoveryOptions {
  servers: readonly McpServerConfig[]
  fetcher: Pick<SafeFetcher, 'getJson' | 'probe'>
  authorityHost: URL
  allowedTenants: readonly string[]
  audiencePolicy: AudiencePolicy
  claims: AudienceClaims
  prmCacheTtlSec?: number
  /** After a failed refresh, wait this long before trying again (the error or stale value is served meanwhile). */
  retryAfterFailureMs?: number
  logger?: DiscoveryLogger
  now?: () => number
  /** The PRM step itself; tests and callers rarely need to replace it. */
  discover?: (serverUrl: URL, deps: PrmDiscoveryDeps) => Promise<ProtectedResourceDiscovery>
  /** On-Behalf-Of for a user and scopes (OboService.exchange): how `checkIssued` learns the APIs of servers
   *  configured before the one a token is for. */
  exchange?: (user: UserAssertion, scopes: string[], options: { target: string }) => Promise<{ accessToken: string, audience?: string }>
}

interface Failure { reason: 'discovery_failed' | AudienceRefusal['reason'], message: string }

interface CacheEntry {
  value?: ResolvedScopes
  expiresAt: number
  inFlight?: Promise<ResolvedScopes>
  failure?: Failure
  /** A `resource_metadata` URL a downstream 401 announced. */
  announcedPrmUrl?: URL
}

/** How long a server's issued audience, once checked, passes without the check (AudienceClaims renews daily). */
const ISSUED_PASS_MS = 60_000
const silentLogger: DiscoveryLogger = { info: () => {}, warn: () => {} }

export class ScopeDiscovery {
  readonly #servers: Map<string, McpServerConfig>
  readonly #entries = new Map<string, CacheEntry>()
  readonly #o: ScopeDiscoveryOptions
  readonly #ttlMs: number
  readonly #retryMs: number
  readonly #logger: DiscoveryLogger
  readonly #now: () => number
  #started: Promise<void> | undefined
  #startDone = false
  /** Servers whose issued API this process has claimed (or found another server holds). */
  readonly #issuedKnown = new Set<string>()
  /** Per server: the audience its tokens last passed checkIssued with, and until when that pass holds. */
  readonly #issuedPassed = new Map<string, { audience: string, until: number }>()
  readonly #v1Warned = new Set<string>()

  constructor (options: ScopeDiscoveryOptions) {
    this.#o = options
    this.#servers = new Map(options.servers.map((server) => [server.id, server]))
    this.#ttlMs = (options.prmCacheTtlSec ?? 3600) * 1000
    this.#retryMs = Math.min(options.retryAfterFailureMs ?? 30_000, this.#ttlMs)
    this.#logger = options.logger ?? silentLogger
    this.#now = options.now ?? Date.now
  }

  /**
   * Claims audiences in configuration order: pinned ones first, then every server's discovered one (the
   * documents are fetched in parallel), so the first configured server keeps a contested audience.
   * Requests wait for this before claiming anything themselves.
   */
  start (): Promise<void> {
    this.#started ??= (async () => {
      const servers = [...this.#servers.values()]
      const pinned = servers.filter((server) => server.scopes !== undefined || server.audience !== undefined)
      for (const server of pinned) await this.#resolveFresh(server, undefined, true).catch(() => {})
      const fetched = servers.filter((server) => !pinned.includes(server)).map((server) => ({ server, document: this.#fetch(server).then((d) => ({ d }), (err: unknown) => ({ err })) }))
      for (const { server, document } of fetched) await this.#resolveFresh(server, await document, true).catch(() => {})
      this.#startDone = true
    })()
    return this.#started
  }

  /** The scopes to request On-Behalf-Of for this server; throws RelayError (discovery or binding refused). */
  async resolve (serverId: string): Promise<ResolvedScopes> {
    const server = this.#servers.get(serverId)
    if (server === undefined) throw relayError('server_unknown', `No MCP server "${serverId}" is configured.`)
    const entry = this.#entry(serverId)
    const cached = (): ResolvedScopes | undefined => {
      if (this.#now() >= entry.expiresAt) return undefined
      if (entry.value !== undefined) return entry.value
      if (entry.failure !== undefined) throw toRelayError(server, entry.failure)
      return undefined
    }
    const first = cached()
    if (first !== undefined) return first
    if (!this.#startDone) {
      // Arrived while the start-up claims ran: their outcome is this request's answer.
      await this.start()
      if (entry.value !== undefined) return entry.value
      if (entry.failure !== undefined) throw toRelayError(server, entry.failure)
    }
    return cached() ?? await this.#resolveFresh(server)
  }

  /**
   * A downstream 401 announced a `resource_metadata` URL (RFC 9728 §5.1): try it first next time, and
   * refetch if it is not where the cached value came from.
   */
  noteResourceMetadata (serverId: string, resourceMetadataUrl: string): void {
    const server = this.#servers.get(serverId)
    if (server === undefined || server.scopes !== undefined) return
    let url: URL
    try {
      url = new URL(resourceMetadataUrl)
    } catch {
      return
    }
    if (url.origin !== server.url.origin) return
    const entry = this.#entry(serverId)
    entry.announcedPrmUrl = url
    if (entry.value?.prmUrl !== url.href) entry.expiresAt = 0
  }

  /**
   * Before a token leaves for a server: the API Entra issued it for (its `aud`) must be one this server may hold.
   * Issued APIs are claimed in configuration order: the servers configured before this one learn theirs first,
   * with this user's token (a later server cannot get a token for an earlier server's API by being called first).
   * Throws `audience_refused`/`audience_conflict` (502); the token is then never sent.
   */
  checkIssued (serverId: string, token: { accessToken: string, audience?: string }, user?: UserAssertion): Promise<void> | undefined {
    // The audience this server's last token passed with, for a minute: a token for it passes without a promise
    // (the hot path of every proxied call). Another audience, or an older pass, is checked in full.
    const passed = this.#issuedPassed.get(serverId)
    if (passed !== undefined && token.audience !== undefined && passed.audience === token.audience && passed.until > this.#now()) return undefined
    return this.#checkIssued(serverId, token, user)
  }

  async #checkIssued (serverId: string, token: { accessToken: string, audience?: string }, user?: UserAssertion): Promise<void> {
    const server = this.#servers.get(serverId)
    if (server === undefined) return
    const pinned = server.scopes !== undefined || server.audience !== undefined
    // The JWT is read only until this server's issued API is known; then the exchange's own `audience` is enough.
    const claims: { audience?: string, version?: string } = token.audience !== undefined && this.#issuedKnown.has(server.id) ? { audience: token.audience } : issuedTokenClaims(token.accessToken)
    if (claims.audience === undefined) {
      if (pinned) return
      throw this.#issuedRefused(server, { reason: 'audience_refused', message: 'the token Entra issued for its scopes names no audience the relay can check; pin "audience" in MCP_SERVERS to use it' }, undefined)
    }
    if (claims.version === '1.0' && !pinned && !this.#v1Warned.has(server.id)) {
      this.#v1Warned.add(server.id)
      this.#logger.warn({ server: server.id, audience: claims.audience }, 'v1 tokens for this server: their aud is the identifier the scope used, so another identifier of the same API is told apart only by its string; pin "audience" or use v2 tokens (accessTokenAcceptedVersion 2)')
    }
    if (!this.#issuedKnown.has(server.id) && user !== undefined) await this.#learnEarlier(server, user)
    const refusal = await this.#o.claims.claimIssued(server, claims.audience, this.#o.audiencePolicy.relayAudiences)
    if (refusal !== undefined) throw this.#issuedRefused(server, refusal, claims.audience)
    this.#issuedKnown.add(server.id)
    if (token.audience !== undefined && token.audience === claims.audience) this.#issuedPassed.set(server.id, { audience: token.audience, until: this.#now() + ISSUED_PASS_MS })
  }

  /** Claims the issued API of every server configured before `server` that this process has not seen yet. */
  async #learnEarlier (server: McpServerConfig, user: UserAssertion): Promise<void> {
    const exchange = this.#o.exchange
    if (exchange === undefined) return
    for (const earlier of this.#servers.values()) {
      if (earlier.id === server.id) return
      if (this.#issuedKnown.has(earlier.id)) continue
      try {
        const { scopes } = await this.resolve(earlier.id)
        const issued = await exchange(user, scopes, { target: `server "${earlier.id}"` })
        const audience = issued.audience ?? issuedTokenClaims(issued.accessToken).audience
        if (audience !== undefined && await this.#o.claims.claimIssued(earlier, audience, this.#o.audiencePolicy.relayAudiences) === undefined) this.#issuedKnown.add(earlier.id)
      } catch (err) {
        // Unknown for now (down, refused, no consent for this user): tried again with the next user's token.
        this.#logger.info({ server: earlier.id, before: server.id, reason: (err as RelayError).reason ?? 'internal' }, 'issued audience of an earlier server not learned yet')
      }
    }
  }

  #issuedRefused (server: McpServerConfig, refusal: AudienceRefusal, audience: string | undefined): RelayError {
    this.#logger.warn({ server: server.id, reason: refusal.reason, audience, refusal: refusal.message }, 'audience binding refused')
    return toRelayError(server, refusal)
  }

  /** Resolves every server (from the cache where fresh), then reports their state. */
  async refreshedStatus (): Promise<ServerDiscoveryStatus[]> {
    await Promise.allSettled([...this.#servers.keys()].map(async (id) => await this.resolve(id)))
    return this.status()
  }

  /** Per-server state for `GET /v1/servers`; never throws, never fetches. */
  status (): ServerDiscoveryStatus[] {
    return [...this.#servers.values()].map((server): ServerDiscoveryStatus => {
      const entry = this.#entries.get(server.id)
      const value = entry?.value
      const row: ServerDiscoveryStatus = {
        id: server.id,
        url: server.url.href,
        resource: value?.resource ?? null,
        audience: value?.audience ?? (server.audience === undefined ? null : normalizeAudience(server.audience)),
        scopes: [...(value?.scopes ?? server.scopes ?? [])],
        scopeSource: server.scopes === undefined ? 'prm' : 'config',
        status: value !== undefined ? 'ok' : entry?.failure !== undefined ? 'error' : 'pending',
      }
      if (entry?.failure !== undefined) {
        row.error = entry.failure.message
        row.reason = entry.failure.reason
      }
      return row
    })
  }

  #entry (serverId: string): CacheEntry {
    let entry = this.#entries.get(serverId)
    if (entry === undefined) {
      entry = { expiresAt: 0 }
      this.#entries.set(serverId, entry)
    }
    return entry
  }

  /** One refresh per server at a time; a failure falls back to the last good value (stale-if-error). */
  /** `atStart`: a server not up yet when the relay starts is tried again by the first request, not after a back-off. */
  #resolveFresh (server: McpServerConfig, prefetched?: { d?: ProtectedResourceDiscovery, err?: unknown }, atStart = false): Promise<ResolvedScopes> {
    const entry = this.#entry(server.id)
    entry.inFlight ??= this.#refresh(server, entry, prefetched, atStart).finally(() => { delete entry.inFlight })
    return entry.inFlight
  }

  async #refresh (server: McpServerConfig, entry: CacheEntry, prefetched: { d?: ProtectedResourceDiscovery, err?: unknown } | undefined, atStart: boolean): Promise<ResolvedScopes> {
    let failure: Failure
    try {
      const value = server.scopes !== undefined ? configScopes(server.scopes) : toResolved(prefetched === undefined ? await this.#fetch(server) : unwrap(prefetched))
      const refusal = await this.#bind(server, value)
      if (refusal === undefined) {
        entry.value = value
        // Config scopes are re-bound on the same schedule, so their claim never lapses in a shared store.
        entry.expiresAt = this.#now() + this.#ttlMs
        delete entry.failure
        if (entry.announcedPrmUrl !== undefined && entry.announcedPrmUrl.href !== value.prmUrl) delete entry.announcedPrmUrl
        this.#logger.info({ server: server.id, prmUrl: value.prmUrl, audience: value.audience, scopes: value.scopes }, 'scope discovery succeeded')
        return value
      }
      failure = refusal
      this.#logger.warn({ server: server.id, reason: refusal.reason, audience: value.audience, refusal: refusal.message }, 'audience binding refused')
    } catch (err) {
      failure = { reason: 'discovery_failed', message: err instanceof MetadataError || err instanceof BindingError ? err.message : 'internal error' }
      this.#logger.warn({ server: server.id, reason: failure.reason, detail: failure.message, ...(err instanceof MetadataError || err instanceof BindingError ? {} : { err }) }, 'scope discovery failed')
    }
    entry.failure = failure
    entry.expiresAt = atStart && failure.reason === 'discovery_failed' ? 0 : this.#now() + this.#retryMs
    if (entry.value !== undefined) return entry.value
    throw toRelayError(server, failure)
  }

  async #fetch (server: McpServerConfig): Promise<ProtectedResourceDiscovery> {
    const discover = this.#o.discover ?? discoverProtectedResource
    return await discover(server.url, {
      fetcher: this.#o.fetcher,
      authorityHost: this.#o.authorityHost,
      allowedTenants: this.#o.allowedTenants,
      resourceMetadataUrl: this.#entries.get(server.id)?.announcedPrmUrl,
    })
  }

  /** The audience rules and the claim: `undefined` when the server may receive tokens for `value.audience`. */
  async #bind (server: McpServerConfig, value: ResolvedScopes): Promise<AudienceRefusal | undefined> {
    const pinnedAudience = server.audience === undefined ? undefined : normalizeAudience(server.audience)
    if (pinnedAudience !== undefined && normalizeAudience(value.audience) !== pinnedAudience) {
      return { reason: 'audience_refused', message: 'its scopes name another API than its pinned "audience"' }
    }
    const pinned = server.scopes !== undefined || server.audience !== undefined
    return checkAudienceForm(value.audience, server.url, this.#o.audiencePolicy, pinned) ??
      await this.#o.claims.claim(server, value.audience, { override: pinnedAudience !== undefined })
  }
}

class BindingError extends Error {}

function unwrap (prefetched: { d?: ProtectedResourceDiscovery, err?: unknown }): ProtectedResourceDiscovery {
  if (prefetched.d !== undefined) return prefetched.d
  throw prefetched.err
}

function configScopes (scopes: string[]): ResolvedScopes {
  const audiences = new Set(scopes.map((scope) => normalizeAudience(scopeAudience(scope))))
  if (audiences.size !== 1 || audiences.has('')) throw new BindingError('its configured "scopes" must all name one API (<App ID URI>/<scope>)')
  return { scopes: [...scopes], source: 'config', audience: scopeAudience(scopes[0] as string) }
}

function toResolved (value: ProtectedResourceDiscovery): ResolvedScopes {
  return { scopes: [...value.scopes], source: 'prm', audience: value.audience, resource: value.resource, prmUrl: value.prmUrl }
}

function toRelayError (server: McpServerConfig, failure: Failure): RelayError {
  const what = failure.reason === 'discovery_failed' ? 'Scope discovery' : 'Audience binding'
  return relayError(failure.reason, `${what} for server "${server.id}" failed: ${failure.message}.`, { logFields: { server: server.id } })
}
