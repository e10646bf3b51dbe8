// Downstream scopes per configured MCP server: config override, else PRM with TTL cache, stale-if-error, single-flight.
import type { Config, McpServerConfig } from '../config.ts'
import { errors } from '../errors.ts'
import { DiscoveryError } from './discovery-error.ts'
import { discoverProtectedResource, type PrmDiscoveryDeps, type ProtectedResourceDiscovery } from './prm.ts'
import { createSafeFetcher, type LookupFn, type SafeFetcher } from './safe-fetch.ts'

export interface ResolvedScopes {
  scopes: string[]
  source: 'config' | 'prm'
  resource?: string
  prmUrl?: string
}

/** One row of `GET /v1/servers`. */
export interface ServerDiscoveryStatus {
  id: string
  url: string
  resource: string | null
  scopes: string[]
  scopeSource: 'config' | 'prm'
  status: 'ok' | 'error' | 'pending'
  /** Why the last discovery failed; with `status: 'ok'` the last good value is still being served. */
  error?: string
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
  allowedResources?: readonly string[]
  prmCacheTtlSec?: number
  /** After a failed refresh, wait this long before trying again (the error or stale value is served meanwhile). */
  retryAfterFailureMs?: number
  logger?: DiscoveryLogger
  now?: () => number
  /** The PRM step itself; tests and callers rarely need to replace it. */
  discover?: (serverUrl: URL, deps: PrmDiscoveryDeps) => Promise<ProtectedResourceDiscovery>
}

interface CacheEntry {
  value?: ProtectedResourceDiscovery
  expiresAt: number
  inFlight?: Promise<ProtectedResourceDiscovery>
  error?: string
  /** A `resource_metadata` URL a downstream 401 announced. */
  announcedPrmUrl?: URL
}

const silentLogger: DiscoveryLogger = { info: () => {}, warn: () => {} }

export class ScopeDiscovery {
  readonly #servers: Map<string, McpServerConfig>
  readonly #entries = new Map<string, CacheEntry>()
  readonly #options: ScopeDiscoveryOptions
  readonly #ttlMs: number
  readonly #retryMs: number
  readonly #logger: DiscoveryLogger
  readonly #now: () => number

  constructor (options: ScopeDiscoveryOptions) {
    this.#options = options
    this.#servers = new Map(options.servers.map((server) => [server.id, server]))
    this.#ttlMs = (options.prmCacheTtlSec ?? 3600) * 1000
    this.#retryMs = Math.min(options.retryAfterFailureMs ?? 30_000, this.#ttlMs)
    this.#logger = options.logger ?? silentLogger
    this.#now = options.now ?? Date.now
  }

  /** The scopes to request On-Behalf-Of for this server; throws RelayError 404 (unknown) or 502 (discovery failed). */
  async resolve (serverId: string): Promise<ResolvedScopes> {
    const server = this.#server(serverId)
    if (server.scopes !== undefined) return { scopes: [...server.scopes], source: 'config' }
    const entry = this.#entry(serverId)
    const fresh = this.#now() < entry.expiresAt
    if (fresh && entry.value !== undefined) return toResolved(entry.value)
    if (fresh && entry.error !== undefined) throw this.#failure(server, entry.error)
    try {
      return toResolved(await this.#refresh(server, entry))
    } catch (err) {
      throw this.#failure(server, err instanceof DiscoveryError ? err.message : 'internal error', err)
    }
  }

  /** Forgets the cached value so the next resolve fetches again. */
  invalidate (serverId: string): void {
    const entry = this.#entries.get(serverId)
    if (entry !== undefined) entry.expiresAt = 0
  }

  /**
   * A downstream 401 announced a `resource_metadata` URL (RFC 9728 §5.1): try it first next time, and
   * refetch if it is not where the cached value came from.
   */
  noteResourceMetadata (serverId: string, resourceMetadataUrl: URL | string): void {
    const server = this.#servers.get(serverId)
    if (server === undefined || server.scopes !== undefined) return
    let url: URL
    try {
      url = new URL(resourceMetadataUrl)
    } catch {
      return
    }
    const entry = this.#entry(serverId)
    entry.announcedPrmUrl = url
    if (entry.value?.prmUrl !== url.href) entry.expiresAt = 0
  }

  /** Per-server state for `GET /v1/servers`; never throws, never fetches. */
  status (): ServerDiscoveryStatus[] {
    return [...this.#servers.values()].map((server): ServerDiscoveryStatus => {
      const base = { id: server.id, url: server.url.href }
      if (server.scopes !== undefined) {
        return { ...base, resource: null, scopes: [...server.scopes], scopeSource: 'config', status: 'ok' }
      }
      const entry = this.#entries.get(server.id)
      const row: ServerDiscoveryStatus = {
        ...base,
        resource: entry?.value?.resource ?? null,
        scopes: [...(entry?.value?.scopes ?? [])],
        scopeSource: 'prm',
        status: entry?.value !== undefined ? 'ok' : entry?.error !== undefined ? 'error' : 'pending',
      }
      if (entry?.error !== undefined) row.error = entry.error
      return row
    })
  }

  /** Discovers every server once (at start), so `status()` has something to say; failures are only recorded. */
  async warmUp (): Promise<void> {
    await Promise.all([...this.#servers.keys()].map((id) => this.resolve(id).catch(() => {})))
  }

  #server (serverId: string): McpServerConfig {
    const server = this.#servers.get(serverId)
    if (server === undefined) throw errors.notFound(`Unknown MCP server '${serverId}'`)
    return server
  }

  #entry (serverId: string): CacheEntry {
    let entry = this.#entries.get(serverId)
    if (entry === undefined) {
      entry = { expiresAt: 0 }
      this.#entries.set(serverId, entry)
    }
    return entry
  }

  /** One fetch per server at a time; a failure falls back to the last good value (stale-if-error). */
  #refresh (server: McpServerConfig, entry: CacheEntry): Promise<ProtectedResourceDiscovery> {
    entry.inFlight ??= this.#fetch(server, entry).finally(() => { delete entry.inFlight })
    return entry.inFlight
  }

  async #fetch (server: McpServerConfig, entry: CacheEntry): Promise<ProtectedResourceDiscovery> {
    const discover = this.#options.discover ?? discoverProtectedResource
    try {
      const value = await discover(server.url, {
        fetcher: this.#options.fetcher,
        authorityHost: this.#options.authorityHost,
        allowedTenants: this.#options.allowedTenants,
        ...(this.#options.allowedResources === undefined ? {} : { allowedResources: this.#options.allowedResources }),
        resourceMetadataUrl: entry.announcedPrmUrl,
      })
      entry.value = value
      entry.expiresAt = this.#now() + this.#ttlMs
      delete entry.error
      // An announced URL that did not work is not tried again on every refresh.
      if (entry.announcedPrmUrl !== undefined && entry.announcedPrmUrl.href !== value.prmUrl) delete entry.announcedPrmUrl
      this.#logger.info({ server: server.id, prmUrl: value.prmUrl, resource: value.resource, scopes: value.scopes }, 'scope discovery succeeded')
      return value
    } catch (err) {
      const reason = err instanceof DiscoveryError ? err.message : 'internal error'
      entry.error = reason
      entry.expiresAt = this.#now() + this.#retryMs
      if (entry.value !== undefined) {
        this.#logger.warn({ server: server.id, reason, prmUrl: entry.value.prmUrl }, 'scope discovery failed; serving the last good value')
        return entry.value
      }
      this.#logger.warn({ server: server.id, reason, ...(err instanceof DiscoveryError ? {} : { err }) }, 'scope discovery failed')
      throw err
    }
  }

  #failure (server: McpServerConfig, reason: string, cause?: unknown): Error {
    return errors.badGateway(`Scope discovery for server '${server.id}' failed: ${reason}`, {
      cause,
      logFields: { server: server.id },
    })
  }
}

function toResolved (value: ProtectedResourceDiscovery): ResolvedScopes {
  return { scopes: [...value.scopes], source: 'prm', resource: value.resource, prmUrl: value.prmUrl }
}

/** Wires ScopeDiscovery from the relay's settings; close() the returned fetcher on shutdown. */
export function createScopeDiscovery (config: Config, deps: { logger?: DiscoveryLogger, now?: () => number, fetcher?: SafeFetcher, lookup?: LookupFn } = {}): { discovery: ScopeDiscovery, fetcher: SafeFetcher } {
  const fetcher = deps.fetcher ?? createSafeFetcher({
    allowInsecureLoopback: config.allowInsecureLoopback,
    allowedHosts: config.discoveryAllowedHosts,
    trustedCaPem: config.trustedCaPem,
    ...(deps.lookup === undefined ? {} : { lookup: deps.lookup }),
  })
  const discovery = new ScopeDiscovery({
    servers: config.mcpServers,
    fetcher,
    authorityHost: config.authorityHost,
    allowedTenants: config.allowedTenants,
    allowedResources: config.discoveryAllowedResources,
    prmCacheTtlSec: config.prmCacheTtlSec,
    ...(deps.logger === undefined ? {} : { logger: deps.logger }),
    ...(deps.now === undefined ? {} : { now: deps.now }),
  })
  return { discovery, fetcher }
}
