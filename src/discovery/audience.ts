// Audience binding (DESIGN §3): the relay sends the token it obtains to the server whose scopes named its
// audience, so each server may receive tokens for one API only, and only one that can be its own.
import { isResourceOf } from './prm.ts'
import type { Store } from '../stores/types.ts'

export interface AudiencePolicy {
  /** The relay's own client id and App ID URI: never handed to a downstream server. */
  relayAudiences: readonly string[]
  /** Operator-approved audiences besides `api://…` and a server's own URL (DISCOVERY_ALLOWED_RESOURCES). */
  allowedResources: readonly string[]
}

export type AudienceRefusal = { reason: 'audience_refused' | 'audience_conflict', message: string }

/** Microsoft first-party app ids end in one of these (Graph 00000003-0000-0000-c000-…, SharePoint …-0ff1-ce00-…). */
const FIRST_PARTY_GUID_SUFFIX = /-0000-(?:0000-c000|0ff1-ce00)-000000000000$/i
const FIRST_PARTY_APP_IDS = new Set([
  '797f4846-ba00-4fd7-ba43-dac1f8f63013', // Azure Resource Manager
  'cfa8b339-82a2-471a-a3c9-0fc0be7a4093', // Azure Key Vault
  'e406a681-f3d4-42a8-90b6-c2b029497af1', // Azure Storage
  '022907d3-0f1b-48f7-badc-1ba6abab6d66', // Azure SQL Database
  '2ff814a6-3304-4ab8-85cb-cd0e6f879c1d', // Azure Databricks
  'fc780465-2017-40d4-a0c5-307022471b92', // Microsoft Defender for Endpoint
])
/** Hosts of Microsoft first-party resource URIs (graph.microsoft.com, management.azure.com, vault.azure.net…). */
const FIRST_PARTY_HOST = /(?:^|\.)(?:microsoft\.com|microsoftonline\.com|windows\.net|azure\.com|azure\.net|office\.com|office365\.com|sharepoint\.com|dynamics\.com|powerbi\.com|cloud\.microsoft|microsoft\.us|azure\.us|chinacloudapi\.cn|azure\.cn)$/i
const GUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i

/** Audiences compare case-insensitively and without a trailing slash, as Entra matches identifier URIs. */
export function normalizeAudience (audience: string): string {
  return audience.trim().replace(/\/+$/, '').toLowerCase()
}

export function isFirstPartyAudience (audience: string): boolean {
  const value = normalizeAudience(audience)
  const id = value.startsWith('api://') ? value.slice('api://'.length).split('/')[0] ?? '' : value
  if (GUID.test(id) && (FIRST_PARTY_GUID_SUFFIX.test(id) || FIRST_PARTY_APP_IDS.has(id))) return true
  try {
    const url = new URL(value)
    return url.protocol === 'https:' && FIRST_PARTY_HOST.test(url.hostname)
  } catch {
    return false
  }
}

/**
 * Whether `serverUrl` may receive tokens for `audience`: never the relay's own API nor a Microsoft
 * first-party one (unless an operator pinned it); the server's own URL or a same-origin prefix of it
 * (Microsoft's MCP guidance: App ID URI = the server's canonical HTTPS URL); an `api://` URI; anything
 * else only when the operator pinned it or listed it in DISCOVERY_ALLOWED_RESOURCES.
 */
export function checkAudienceForm (audience: string, serverUrl: URL, policy: AudiencePolicy, pinned: boolean): AudienceRefusal | undefined {
  const value = normalizeAudience(audience)
  if (policy.relayAudiences.some((own) => normalizeAudience(own) === value)) {
    return { reason: 'audience_refused', message: "its scopes name the relay's own API; a server never receives the relay's tokens" }
  }
  if (isFirstPartyAudience(value)) {
    if (pinned) return undefined
    return { reason: 'audience_refused', message: 'its scopes name a Microsoft first-party API; pin "audience" in MCP_SERVERS if that is intended' }
  }
  if (pinned) return undefined
  let asUrl: URL | undefined
  try {
    asUrl = new URL(audience)
  } catch {}
  // Same origin as the server: https in production, since only loopback dev servers may be plain http.
  if (asUrl !== undefined && isResourceOf(asUrl, serverUrl)) return undefined
  if (/^api:\/\/[^/\s]+(\/\S*)?$/i.test(audience)) return undefined
  if (policy.allowedResources.some((allowed) => normalizeAudience(allowed) === value)) return undefined
  return { reason: 'audience_refused', message: 'its scopes name an API that is neither an api:// URI nor the server\'s own URL; pin "audience" in MCP_SERVERS or list it in DISCOVERY_ALLOWED_RESOURCES' }
}

const CLAIM_TTL_MS = 30 * 24 * 3600_000

/**
 * Which server holds which audience, in the store so every replica agrees: the first server trusted with
 * an audience keeps it, and a server keeps the first audience it was trusted with. A claim names the
 * server by id and URL, so a server removed from (or moved in) the configuration releases its claims.
 */
export class AudienceClaims {
  readonly #store: Store
  readonly #configured: Map<string, string>
  /** `holder|aud` pairs claimed by this process, until when they need no store round trip. */
  readonly #issued = new Map<string, number>()

  constructor (store: Store, servers: ReadonlyArray<{ id: string, url: URL }>) {
    this.#store = store
    this.#configured = new Map(servers.map((server) => [server.id, holderOf(server)]))
  }

  /** Claims `audience` for the server; `override` (an operator's pin) replaces the server's earlier audience. */
  async claim (server: { id: string, url: URL }, audience: string, options: { override?: boolean } = {}): Promise<AudienceRefusal | undefined> {
    const holder = holderOf(server)
    const wanted = normalizeAudience(audience)
    const serverKey = `audience:server:${holder}`
    const ownerKey = `audience:owner:${wanted}`

    const previous = await this.#store.get(serverKey)
    if (previous !== undefined && previous !== wanted && options.override !== true) {
      return { reason: 'audience_refused', message: 'its scopes now name another API than the one it was first trusted with; refused so a server cannot swap audiences' }
    }
    const owner = await this.#take(ownerKey, holder)
    if (owner !== undefined) {
      return { reason: 'audience_conflict', message: owner === '' ? 'its scopes name an API another server is claiming' : `its scopes name the API of server "${owner}", which only that server may receive` }
    }
    if (previous !== undefined && previous !== wanted) await this.#store.compareAndSet(`audience:owner:${previous}`, holder, undefined, CLAIM_TTL_MS)
    await this.#store.set(serverKey, wanted, CLAIM_TTL_MS)
    return undefined
  }

  /**
   * Claims the `aud` of a token Entra issued for the server's scopes: the API behind every alias of it (another
   * Application ID URI of the same app names the same app; a v2 token's aud is always its client id). The first
   * server to receive a token for an API keeps it; never the relay's own.
   */
  async claimIssued (server: { id: string, url: URL }, audience: string, relayAudiences: readonly string[]): Promise<AudienceRefusal | undefined> {
    const holder = holderOf(server)
    const wanted = normalizeAudience(audience)
    if (relayAudiences.some((own) => normalizeAudience(own) === wanted)) {
      return { reason: 'audience_refused', message: "the token Entra issued for its scopes is for the relay's own API; a server never receives the relay's tokens" }
    }
    const memo = `${holder}|${wanted}`
    if ((this.#issued.get(memo) ?? 0) > Date.now()) return undefined
    const owner = await this.#take(`audience:issued:${wanted}`, holder)
    if (owner !== undefined) {
      return { reason: 'audience_conflict', message: owner === '' ? 'the token Entra issued for its scopes is for an API another server is claiming' : `the token Entra issued for its scopes is for the API of server "${owner}", which only that server may receive` }
    }
    // Checked again (and the claim's lifetime renewed) once a day, not on every call.
    this.#issued.set(memo, Date.now() + 24 * 3600_000)
    return undefined
  }

  /**
   * Takes `key` for `holder`, renewing its lifetime: undefined when it is this holder's now, else the id of the live
   * server holding it ('' when other replicas kept taking it first).
   */
  async #take (key: string, holder: string): Promise<string | undefined> {
    for (let attempt = 0; attempt < 3; attempt++) {
      const owner = await this.#store.get(key)
      if (owner !== undefined && owner !== holder && this.#isLive(owner)) return owner.split(' ')[0] ?? ''
      // Ours, absent, or held by a server no longer configured: take it, unless another replica just did.
      if (await this.#store.compareAndSet(key, owner, holder, CLAIM_TTL_MS)) return undefined
    }
    return ''
  }

  #isLive (owner: string): boolean {
    const id = owner.split(' ')[0] ?? ''
    return this.#configured.get(id) === owner
  }
}

function holderOf (server: { id: string, url: URL }): string {
  return `${server.id} ${server.url.href}`
}
