// Browser sessions (mode B of DESIGN §1): a random session id in a signed cookie, the user's MSAL cache
// partition sealed in the store, and the relay-scoped token obtained silently from it (single-flight).
import { randomBytes } from 'node:crypto'
import { LRUCache } from 'lru-cache'
import type { Logger } from 'pino'
import { sha256b64url } from '../crypto/hash.ts'
import type { MsalFactory } from '../entra/msal.ts'
import { heldToken, silentToken, writePartition, type PartitionOptions } from './msal-partition.ts'
import { interactionRequired, relayError } from '../errors.ts'
import type { Keyring } from '../crypto/keyring.ts'
import { SingleFlight } from '../stores/single-flight.ts'
import type { Store } from '../stores/types.ts'
import { TokenMemo, userAssertionOf, type TokenSource, type UserAssertion, type UserIdentity } from './user-assertion.ts'

export interface SessionRecord extends UserIdentity {
  /** MSAL's account key (`<oid>.<tid>`) in this session's cache partition. */
  homeAccountId: string
  createdAt: number
}

export interface SessionServiceOptions {
  store: Store
  /** Seals MSAL cache partitions (they hold refresh tokens). */
  keyring: Keyring
  msal: MsalFactory
  relayScope: string
  /** Checked again on every use, so a session from a tenant removed from the list stops working. */
  allowedTenants: string[]
  logger: Logger
  sessionTtlSec?: number
  now?: () => number
}

/** A relay-scoped token is renewed this long before it expires. */
const RENEW_BEFORE_MS = 120_000

export class SessionService {
  readonly #o: SessionServiceOptions
  readonly #ttlSec: number
  readonly #now: () => number
  /** Relay-scoped tokens per session, so a page load does not deserialize the MSAL partition each time. */
  readonly #memos = new LRUCache<string, TokenMemo>({ max: 10_000 })
  /** The memos' token source: a session's token from its partition again (the record read anew). */
  readonly #tokens: TokenSource = {
    tokenOf: async (hashed, tokenHash) => {
      // The memo's own token while the partition has it.
      const held = await heldToken(this.#partition(hashed), tokenHash)
      if (held !== undefined) return held
      // Not there: signed out while a request of it was under way (the partition goes with the session), else
      // MSAL renewed it meanwhile and the current one is fetched. The record is read only then.
      const record = await this.#byHash(hashed)
      if (record === undefined) throw interactionRequired('session_ended', 'The sign-in has ended; sign in again.', undefined)
      return (await this.#fetch(hashed, record)).token
    },
  }

  /** One silent refresh per session at a time: the page fires its tool calls in parallel. */
  readonly #refreshing = new SingleFlight<{ memo: TokenMemo, token: string }>()

  constructor (options: SessionServiceOptions) {
    this.#o = options
    this.#ttlSec = options.sessionTtlSec ?? 8 * 3600
    this.#now = options.now ?? Date.now
  }

  get ttlSec (): number {
    return this.#ttlSec
  }

  /** Creates a new session (a fresh id at every sign-in: no session fixation). Returns the raw id for the cookie. */
  async create (record: SessionRecord): Promise<string> {
    const id = randomBytes(32).toString('base64url')
    await this.#o.store.set(sessionKey(sha256b64url(id)), JSON.stringify(record), this.#ttlSec * 1000)
    return id
  }

  async get (id: string): Promise<SessionRecord | undefined> {
    return await this.#byHash(sha256b64url(id))
  }

  async #byHash (hashed: string): Promise<SessionRecord | undefined> {
    const raw = await this.#o.store.get(sessionKey(hashed))
    return raw === undefined ? undefined : JSON.parse(raw) as SessionRecord
  }

  /** Ends a session and removes its MSAL cache partition (the refresh token); the user's other sessions stay. */
  async destroy (id: string): Promise<void> {
    const hashed = sha256b64url(id)
    await this.#o.store.delete([sessionKey(hashed), partitionKey(hashed)])
    this.#memos.delete(hashed)
  }

  /** Stores the MSAL cache produced by the code redemption as this session's partition. */
  async savePartition (id: string, serializedCache: string): Promise<void> {
    const hashed = sha256b64url(id)
    await writePartition(this.#partition(hashed), serializedCache)
  }

  /** The user's token for the relay's own scope: from memory, else MSAL silent (cache, then refresh token). */
  async userAssertion (id: string, record: SessionRecord): Promise<UserAssertion> {
    if (!this.#o.allowedTenants.includes(record.tid)) throw relayError('tenant_refused', 'Users of this tenant may not use the relay.')
    const hashed = sha256b64url(id)
    const memo = this.#memos.get(hashed)
    if (memo !== undefined && memo.exp * 1000 - RENEW_BEFORE_MS > this.#now()) return userAssertionOf(record, 'session', memo)
    return userAssertionOf(record, 'session', (await this.#fetch(hashed, record)).memo)
  }

  /** The token from the partition (MSAL silent), one fetch at a time per session; the memo follows it. */
  async #fetch (hashed: string, record: SessionRecord): Promise<{ memo: TokenMemo, token: string }> {
    return await this.#refreshing.run(hashed, async () => await this.#silent(hashed, record))
  }

  async #silent (hashed: string, record: SessionRecord): Promise<{ memo: TokenMemo, token: string }> {
    const { token, exp } = await silentToken(this.#o.msal, {
      tenantId: record.tid,
      homeAccountId: record.homeAccountId,
      partition: this.#partition(hashed),
      scope: this.#o.relayScope,
      ended: () => interactionRequired('session_ended', 'The sign-in has ended; sign in again.', undefined),
      what: "the relay's token for this session",
      onError: (mapped) => { this.#o.logger.warn({ tid: record.tid, oid: record.oid, ...mapped.logFields, reason: mapped.reason }, 'silent token failed') },
    })
    // The memo holds no token: an OBO cache miss takes it from the partition again. The same token keeps its
    // memo (whose hash the OBO cache knows it by).
    const known = this.#memos.get(hashed)
    const memo = known !== undefined && known.tokenHash === sha256b64url(token) ? known : new TokenMemo(token, exp, { from: this.#tokens, key: hashed })
    // Cached before the single-flight releases the key, so a caller arriving now finds it.
    this.#memos.set(hashed, memo)
    return { memo, token }
  }

  /** One session's MSAL partition (sealed with the session hash as AAD). */
  #partition (sessionHash: string): PartitionOptions {
    return {
      store: this.#o.store,
      keyring: this.#o.keyring,
      key: partitionKey(sessionHash),
      aad: sessionHash,
      ttlMs: this.#ttlSec * 1000,
      // A wrong or retired key reads as no cache: the user signs in again, and it is logged.
      onUnreadable: () => { this.#o.logger.warn({ sessionHash: sessionHash.slice(0, 8) }, 'MSAL partition cannot be opened with the current keys') },
    }
  }
}

const sessionKey = (sessionHash: string) => `session:${sessionHash}`
const partitionKey = (sessionHash: string) => `msal:${sessionHash}`
