// Agent grants (one user + one client): what the user allowed, the grant's own MSAL partition (filled by the
// grant's Entra sign-in), the silent Entra token for the relay's scope that becomes the OBO assertion, and the
// revocation cascade. Framework-free; oidc-provider's side of a revocation is handed in (`revokeAtProvider`).
import { LRUCache } from 'lru-cache'
import type { Logger } from 'pino'
import { TokenMemo, userAssertionOf, type TokenSource, type UserAssertion } from '../caller/user-assertion.ts'
import { heldToken, silentToken, writePartition, type PartitionOptions } from '../caller/msal-partition.ts'
import { sha256b64url } from '../crypto/hash.ts'
import type { Keyring } from '../crypto/keyring.ts'
import type { MsalFactory } from '../entra/msal.ts'
import type { OboService } from '../entra/obo.ts'
import { forGrant, interactionRequired, relayError, RelayError } from '../errors.ts'
import type { McpClientPool } from '../mcp/client-pool.ts'
import { SingleFlight } from '../stores/single-flight.ts'
import type { Store } from '../stores/types.ts'
import type { AccountProfile } from './provider.ts'

export interface AgentGrantRecord {
  grantId: string
  /** `<tid>.<oid>`: the provider's account id. */
  accountId: string
  tid: string
  oid: string
  upn: string | undefined
  name: string | undefined
  /** MSAL's account key in this grant's partition. */
  homeAccountId: string
  clientId: string
  clientName: string | undefined
  /** Where the client receives its codes (host only), or `device` for the device flow. */
  redirectHost: string
  resources: string[]
  scopes: string[]
  createdAt: number
  lastUsedAt: number
}

export type RevocationCause = 'user' | 'agent' | 'sign_out_everywhere' | 'operator' | 'token_reuse' | 'provider'

export interface SignedInUser {
  tid: string
  oid: string
  upn: string | undefined
  name: string | undefined
  homeAccountId: string
  serializedCache: string
}

export interface AgentGrantsOptions {
  store: Store
  /** Seals the partitions (purpose `agent-grant-msal`). */
  keyring: Keyring
  msal: MsalFactory
  relayScope: string
  allowedTenants: readonly string[]
  obo: OboService
  pool: McpClientPool
  logger: Logger
  /** Grants, partitions and profiles live as long as the grant's refresh tokens may (AGENT_REFRESH_TOKEN_ABSOLUTE_TTL_SEC). */
  grantTtlSec: number
  consentTtlSec: number
  now?: () => number
}

/** The relay-scoped token is renewed this long before it expires. */
const RENEW_BEFORE_MS = 120_000
/** `lastUsedAt` is written at most this often per grant. */
const TOUCH_EVERY_MS = 60_000

const grantKey = (grantId: string) => `agent:grant:${sha256b64url(grantId)}`
const partitionKey = (grantId: string) => `agent:msal:${sha256b64url(grantId)}`
const grantsOfKey = (accountId: string) => `agent:grants-of:${accountId}`
const profileKey = (accountId: string) => `agent:account:${accountId}`
const consentKey = (accountId: string, clientId: string) => `agent:consent:${accountId}:${sha256b64url(clientId)}`

/** A short name for a grant in logs: the grant id itself is a store key. */
export const grantLogId = (grantId: string): string => sha256b64url(grantId).slice(0, 16)

export class AgentGrants {
  readonly #o: AgentGrantsOptions
  readonly #now: () => number
  readonly #memos = new LRUCache<string, TokenMemo>({ max: 10_000 })
  readonly #refreshing = new SingleFlight<{ memo: TokenMemo, token: string }>()
  readonly #revokedListeners: Array<(record: AgentGrantRecord) => void | Promise<void>> = []
  #revokeAtProvider: (grantId: string) => Promise<void> = async () => {}
  /** The memos' token source: a grant's token from its partition again (the record read anew). */
  readonly #tokens: TokenSource = {
    tokenOf: async (grantId, tokenHash) => {
      // The memo's own token while the partition has it.
      const held = await heldToken(this.#partition(grantId), tokenHash)
      if (held !== undefined) return held
      // Not there: revoked while a request of it was under way (the partition goes with the grant), else MSAL
      // renewed it meanwhile and the current one is fetched. The record is read after the partition, so a
      // revocation in between is seen as one (not as an ended sign-in).
      const record = await this.get(grantId)
      if (record === undefined) throw relayError('grant_revoked', 'The agent\'s access was revoked; connect the agent again.')
      // A refused refresh token sends the user to a sign-in for this grant, as it does when the memo is made.
      return (await this.#fetch(record).catch((err: unknown) => { throw err instanceof RelayError ? forGrant(err, grantId) : err })).token
    },
  }

  constructor (options: AgentGrantsOptions) {
    this.#o = options
    this.#now = options.now ?? Date.now
  }

  /** oidc-provider's part of a revocation (the Grant and every token and code of it). */
  bindProvider (revokeAtProvider: (grantId: string) => Promise<void>): void {
    this.#revokeAtProvider = revokeAtProvider
  }

  /** Runs after each revocation (e.g. the MCP gateway ends its sessions of that grant). */
  onRevoked (listener: (record: AgentGrantRecord) => void | Promise<void>): void {
    this.#revokedListeners.push(listener)
  }

  get #ttlMs (): number {
    return this.#o.grantTtlSec * 1000
  }

  #partition (grantId: string): PartitionOptions {
    return { store: this.#o.store, keyring: this.#o.keyring, key: partitionKey(grantId), ttlMs: this.#ttlMs }
  }

  /** After the grant's Entra sign-in: the record, its partition, the user's profile and index, in the store. */
  async save (record: Omit<AgentGrantRecord, 'createdAt' | 'lastUsedAt'>, signedIn: SignedInUser): Promise<AgentGrantRecord> {
    const existing = await this.get(record.grantId)
    const now = this.#now()
    const full: AgentGrantRecord = { ...record, createdAt: existing?.createdAt ?? now, lastUsedAt: now }
    await writePartition(this.#partition(record.grantId), signedIn.serializedCache)
    await this.#o.store.set(grantKey(record.grantId), JSON.stringify(full), this.#ttlMs)
    await this.#o.store.setAdd(grantsOfKey(record.accountId), [record.grantId], this.#ttlMs)
    await this.saveProfile(signedIn)
    this.#memos.delete(record.grantId)
    this.#o.logger.info({ audit: existing === undefined ? 'grant.created' : 'grant.extended', account: record.accountId, clientId: record.clientId, grant: grantLogId(record.grantId), resources: record.resources, scopes: record.scopes }, 'audit')
    return full
  }

  /** A sign-in for an existing grant (its refresh token was refused, a step-up, a consent): a new partition. */
  async reauthenticate (grantId: string, signedIn: SignedInUser): Promise<AgentGrantRecord> {
    const record = await this.get(grantId)
    if (record === undefined) throw relayError('grant_unknown', 'This agent connection no longer exists; connect the agent again.')
    if (record.accountId !== `${signedIn.tid}.${signedIn.oid}`) {
      throw relayError('grant_account_mismatch', 'You signed in as another user than the one who connected this agent.')
    }
    await writePartition(this.#partition(grantId), signedIn.serializedCache)
    await this.saveProfile(signedIn)
    this.#memos.delete(grantId)
    this.#o.logger.info({ audit: 'grant.signed_in_again', account: record.accountId, clientId: record.clientId, grant: grantLogId(grantId) }, 'audit')
    return record
  }

  async saveProfile (user: { tid: string, oid: string, upn: string | undefined, name: string | undefined }): Promise<void> {
    const profile: AccountProfile = { tid: user.tid, oid: user.oid, upn: user.upn, name: user.name }
    await this.#o.store.set(profileKey(`${user.tid}.${user.oid}`), JSON.stringify(profile), this.#ttlMs)
  }

  async profile (accountId: string): Promise<AccountProfile | undefined> {
    const raw = await this.#o.store.get(profileKey(accountId))
    return raw === undefined ? undefined : JSON.parse(raw) as AccountProfile
  }

  async get (grantId: string): Promise<AgentGrantRecord | undefined> {
    const raw = await this.#o.store.get(grantKey(grantId))
    return raw === undefined ? undefined : JSON.parse(raw) as AgentGrantRecord
  }

  /** The user's connected agents, newest use first. */
  async listForAccount (accountId: string): Promise<AgentGrantRecord[]> {
    const ids = await this.#o.store.setMembers(grantsOfKey(accountId))
    const raw = await this.#o.store.getMany(ids.map(grantKey))
    const records = raw.flatMap((value) => value === undefined ? [] : [JSON.parse(value) as AgentGrantRecord])
    const gone = ids.filter((_id, i) => raw[i] === undefined)
    if (gone.length > 0) await this.#o.store.setRemove(grantsOfKey(accountId), gone)
    return records.filter((r) => r.accountId === accountId).sort((a, b) => b.lastUsedAt - a.lastUsedAt)
  }

  /** Records a use of the grant (shown on the page), at most once a minute. */
  async touch (record: AgentGrantRecord): Promise<void> {
    const now = this.#now()
    if (now - record.lastUsedAt < TOUCH_EVERY_MS) return
    const key = grantKey(record.grantId)
    const current = await this.#o.store.get(key)
    if (current === undefined) return
    const ttl = await this.#o.store.remainingTtlMs(key) ?? this.#ttlMs
    await this.#o.store.compareAndSet(key, current, JSON.stringify({ ...JSON.parse(current) as AgentGrantRecord, lastUsedAt: now }), ttl)
  }

  /** The user's Entra token for the relay's scope, from this grant's partition: the OBO assertion of its calls. */
  async userAssertion (record: AgentGrantRecord): Promise<UserAssertion> {
    if (!this.#o.allowedTenants.includes(record.tid)) throw relayError('tenant_refused', 'Users of this tenant may not use the relay.')
    const memo = this.#memos.get(record.grantId)
    if (memo !== undefined && memo.exp * 1000 - RENEW_BEFORE_MS > this.#now()) return userAssertionOf(record, 'agent', memo, record.grantId)
    return userAssertionOf(record, 'agent', (await this.#fetch(record)).memo, record.grantId)
  }

  /** The token from the grant's partition (MSAL silent), one fetch at a time per grant; the memo follows it. */
  async #fetch (record: AgentGrantRecord): Promise<{ memo: TokenMemo, token: string }> {
    return await this.#refreshing.run(record.grantId, async () => await this.#silent(record))
  }

  async #silent (record: AgentGrantRecord): Promise<{ memo: TokenMemo, token: string }> {
    const { token, exp } = await silentToken(this.#o.msal, {
      tenantId: record.tid,
      homeAccountId: record.homeAccountId,
      partition: this.#partition(record.grantId),
      scope: this.#o.relayScope,
      ended: () => interactionRequired('sign_in_required', 'The Entra sign-in of this agent connection has ended; sign in again.', undefined),
      what: "the relay's token for this agent",
      onError: (mapped) => { this.#o.logger.warn({ tid: record.tid, oid: record.oid, clientId: record.clientId, grant: grantLogId(record.grantId), ...mapped.logFields, reason: mapped.reason }, 'agent silent token failed') },
    })
    // The memo holds no token: an OBO cache miss takes it from the partition again. The same token keeps its
    // memo (whose hash the OBO cache knows it by).
    const known = this.#memos.get(record.grantId)
    const memo = known !== undefined && known.tokenHash === sha256b64url(token) ? known : new TokenMemo(token, exp, { from: this.#tokens, key: record.grantId })
    this.#memos.set(record.grantId, memo)
    return { memo, token }
  }

  /**
   * Ends a grant everywhere: oidc-provider's Grant with its refresh family, access tokens and codes (unless the
   * provider itself is revoking it), the grant's MSAL partition, its cached OBO tokens and its MCP sessions.
   */
  async revoke (grantId: string, cause: RevocationCause, options: { atProvider?: boolean } = {}): Promise<void> {
    const record = await this.get(grantId)
    if (options.atProvider !== false) await this.#revokeAtProvider(grantId)
    await this.#o.store.delete([grantKey(grantId), partitionKey(grantId)])
    this.#memos.delete(grantId)
    const dropped = await this.#o.obo.dropGrant(grantId)
    let sessions = 0
    for (const token of dropped) sessions += this.#o.pool.retireToken(token.accessToken)
    if (record === undefined) return
    // A revoked agent must ask again: its remembered consent goes with the grant.
    await this.#o.store.delete(consentKey(record.accountId, record.clientId))
    await this.#o.store.setRemove(grantsOfKey(record.accountId), [grantId])
    this.#o.logger.info({ audit: 'grant.revoked', cause, account: record.accountId, clientId: record.clientId, grant: grantLogId(grantId), oboTokensDropped: dropped.length, mcpSessionsEnded: sessions }, 'audit')
    for (const listener of this.#revokedListeners) {
      try {
        await listener(record)
      } catch (err) {
        this.#o.logger.warn({ err, grant: grantLogId(grantId) }, 'a revocation listener failed')
      }
    }
  }

  /** Every grant of one user (sign out everywhere; the operator API). */
  async revokeAccount (accountId: string, cause: RevocationCause): Promise<number> {
    const grants = await this.#o.store.setMembers(grantsOfKey(accountId))
    for (const grantId of grants) await this.revoke(grantId, cause)
    await this.#o.store.delete(grantsOfKey(accountId))
    return grants.length
  }

  /** The user allowed this client these scopes and resources: remembered (AGENT_CONSENT_TTL_SEC). */
  async rememberConsent (accountId: string, clientId: string, consent: { scopes: string[], resources: string[] }): Promise<void> {
    if (this.#o.consentTtlSec === 0) return
    const previous = await this.consent(accountId, clientId)
    const merged = {
      scopes: [...new Set([...previous?.scopes ?? [], ...consent.scopes])],
      resources: [...new Set([...previous?.resources ?? [], ...consent.resources])],
      at: this.#now(),
    }
    await this.#o.store.set(consentKey(accountId, clientId), JSON.stringify(merged), this.#o.consentTtlSec * 1000)
    this.#o.logger.info({ audit: 'consent.given', account: accountId, clientId, scopes: consent.scopes, resources: consent.resources }, 'audit')
  }

  async consent (accountId: string, clientId: string): Promise<{ scopes: string[], resources: string[] } | undefined> {
    const raw = await this.#o.store.get(consentKey(accountId, clientId))
    return raw === undefined ? undefined : JSON.parse(raw) as { scopes: string[], resources: string[] }
  }

  /** Whether a remembered consent covers this request, so the consent page can be skipped. */
  async consentCovers (accountId: string, clientId: string, request: { scopes: string[], resources: string[] }): Promise<boolean> {
    const remembered = await this.consent(accountId, clientId)
    if (remembered === undefined) return false
    const scopes = new Set(remembered.scopes)
    const resources = new Set(remembered.resources)
    return request.scopes.every((s) => scopes.has(s)) && request.resources.every((r) => resources.has(r))
  }

  async forgetConsents (accountId: string, clientIds: readonly string[]): Promise<void> {
    await this.#o.store.delete(clientIds.map((clientId) => consentKey(accountId, clientId)))
  }
}
