// oidc-provider's storage adapter on the relay's store primitives (memory or Redis, unchanged): every id is
// hashed before it becomes a key (opaque tokens are their own ids) and every payload is sealed under
// TOKEN_ENCRYPTION_KEY, bound to its key. "Consumed" is a marker of its own, set atomically, so two
// concurrent redemptions of one code or refresh token cannot both succeed: the loser is treated as reuse.
import { errors } from 'oidc-provider'
import type { Adapter, AdapterPayload } from 'oidc-provider'
import { sha256b64url } from '../crypto/hash.ts'
import type { Keyring } from '../crypto/keyring.ts'
import type { Store } from '../stores/types.ts'

export interface AdapterStores {
  /** Tokens, codes and grants: written only after a user signed in. */
  durable: Store
  /** What anyone can make the provider create (registered clients, interactions, sessions, PAR, device codes,
   *  DPoP replay marks): kept apart so a flood of them never evicts a live token from a bounded memory store. */
  transient: Store
  /** Rate-limit counters (registrations per address): evicting one only forgets a count. */
  counters?: Store
}

export interface StoreAdapterOptions {
  stores: AdapterStores
  keyring: Keyring
  /** The same keys, compressing: for the models in COMPRESSED_MODELS (absent: none is compressed). */
  compressingKeyring?: Keyring
  /** A code or refresh token was redeemed twice at once: its grant must end (RFC 9700 §4.14.2). */
  onConcurrentReuse: (model: string, grantId: string | undefined) => Promise<void>
  /** Models saved without an expiry (dynamically registered clients) live this long. */
  defaultTtlSec?: number
  /** oidc-provider's clock tolerance: entries outlive their `exp` by this much. */
  clockToleranceSec?: number
}

// What anyone can create, unauthenticated, lives apart from tokens and grants (in memory: its own bounded store,
// so a flood of registrations evicts registrations, never a user's session or grant). Registered clients are
// among them: dynamic registration is open (rate-limited per address, IPv6 per /64).
const TRANSIENT_MODELS = new Set(['Interaction', 'Session', 'PushedAuthorizationRequest', 'ReplayDetection', 'DeviceCode', 'BackchannelAuthenticationRequest', 'Client'])
/**
 * Records read only now and then (a refresh token at a refresh) are stored compressed: about a third smaller. Not
 * the access token and the grant, read on every agent request: a DEFLATE context per read cost the DPoP path
 * 75–150 µs of CPU per request when they were (bench S7).
 */
const COMPRESSED_MODELS = new Set(['RefreshToken'])
/** Models whose second use means the grant leaked (oidc-provider revokes it when it sees `consumed`). */
const GRANT_SOURCES = new Set(['AuthorizationCode', 'RefreshToken', 'DeviceCode', 'BackchannelAuthenticationRequest'])

export function createStoreAdapter (options: StoreAdapterOptions): (model: string) => Adapter {
  return (model) => new StoreAdapter(model, options)
}

class StoreAdapter implements Adapter {
  readonly #model: string
  readonly #o: StoreAdapterOptions
  readonly #store: Store

  constructor (model: string, options: StoreAdapterOptions) {
    this.#model = model
    this.#o = options
    this.#store = TRANSIENT_MODELS.has(model) ? options.stores.transient : options.stores.durable
  }

  /** The keyring this model's records are sealed with (both open every record). */
  get #sealing (): Keyring {
    return COMPRESSED_MODELS.has(this.#model) ? this.#o.compressingKeyring ?? this.#o.keyring : this.#o.keyring
  }

  #key (id: string): string {
    return `oidc:${this.#model}:${sha256b64url(id)}`
  }

  #indexKey (kind: 'grant' | 'uid' | 'userCode', value: string): string {
    return `oidc:${this.#model}:${kind}:${sha256b64url(value)}`
  }

  /**
   * The keys of a grant's tokens and codes, of every model in one set: one entry per grant instead of one per
   * model (a one-member set is most of what an index costs). Each model's revokeByGrantId takes only its own.
   */
  #grantIndexKey (grantId: string): string {
    return `oidc:by-grant:${sha256b64url(grantId)}`
  }

  #ttlMs (expiresIn: number | undefined): number {
    return ((expiresIn ?? this.#o.defaultTtlSec ?? 365 * 86_400) + (this.#o.clockToleranceSec ?? 0)) * 1000
  }

  async upsert (id: string, payload: AdapterPayload, expiresIn?: number): Promise<void> {
    const key = this.#key(id)
    const ttlMs = this.#ttlMs(expiresIn)
    await this.#store.set(key, this.#sealing.seal(JSON.stringify(payload), key), ttlMs)
    if (typeof payload.grantId === 'string') await this.#store.setAdd(this.#grantIndexKey(payload.grantId), [key], ttlMs)
    if (typeof payload.uid === 'string' && this.#model === 'Session') await this.#setPointer(this.#indexKey('uid', payload.uid), id, ttlMs)
    if (typeof payload.userCode === 'string') await this.#setPointer(this.#indexKey('userCode', payload.userCode), id, ttlMs)
  }

  async find (id: string): Promise<AdapterPayload | undefined> {
    const key = this.#key(id)
    const [sealed, consumed] = await this.#store.getMany([key, `${key}:consumed`])
    if (sealed === undefined) return undefined
    const opened = this.#o.keyring.open(sealed, key)
    if (opened === undefined) return undefined
    if (this.#o.keyring.sealedUnderPrevious(sealed)) {
      const remaining = await this.#store.remainingTtlMs(key)
      if (remaining !== undefined) await this.#store.compareAndSet(key, sealed, this.#sealing.seal(opened, key), remaining)
    }
    const payload = JSON.parse(opened) as AdapterPayload
    return consumed === undefined ? payload : { ...payload, consumed: Number(consumed) }
  }

  async findByUid (uid: string): Promise<AdapterPayload | undefined> {
    const id = await this.#pointer(this.#indexKey('uid', uid))
    return id === undefined ? undefined : await this.find(id)
  }

  async findByUserCode (userCode: string): Promise<AdapterPayload | undefined> {
    const id = await this.#pointer(this.#indexKey('userCode', userCode))
    return id === undefined ? undefined : await this.find(id)
  }

  async consume (id: string): Promise<void> {
    const key = this.#key(id)
    const remaining = await this.#store.remainingTtlMs(key) ?? 60_000
    if (await this.#store.setIfAbsent(`${key}:consumed`, String(Math.floor(Date.now() / 1000)), remaining)) return
    // Someone redeemed it between oidc-provider's check and this call: the same answer as a later reuse.
    const payload = await this.find(id)
    if (GRANT_SOURCES.has(this.#model)) {
      await this.#o.onConcurrentReuse(this.#model, typeof payload?.grantId === 'string' ? payload.grantId : undefined)
      throw new errors.InvalidGrant(`${this.#model === 'RefreshToken' ? 'refresh token' : 'grant'} already used`)
    }
    throw new errors.InvalidRequest('this request was already used')
  }

  async destroy (id: string): Promise<void> {
    const key = this.#key(id)
    const payload = await this.find(id)
    const keys = [key, `${key}:consumed`]
    if (typeof payload?.uid === 'string' && this.#model === 'Session') keys.push(this.#indexKey('uid', payload.uid))
    if (typeof payload?.userCode === 'string') keys.push(this.#indexKey('userCode', payload.userCode))
    await this.#store.delete(keys)
    if (typeof payload?.grantId === 'string') {
      await this.#store.setRemove(this.#grantIndexKey(payload.grantId), [key])
      await this.#store.setRemove(this.#indexKey('grant', payload.grantId), [key])
    }
  }

  async revokeByGrantId (grantId: string): Promise<void> {
    const index = this.#grantIndexKey(grantId)
    const own = `oidc:${this.#model}:`
    const members = (await this.#store.setMembers(index)).filter((key) => key.startsWith(own))
    // The index of one model per grant, as records written before the shared index have it.
    const legacy = this.#indexKey('grant', grantId)
    const legacyMembers = await this.#store.setMembers(legacy)
    const keys = [...members, ...legacyMembers]
    await this.#store.delete([...keys, ...keys.map((key) => `${key}:consumed`), legacy])
    if (members.length > 0) await this.#store.setRemove(index, members)
  }

  /** An index entry pointing at an id; the id is sealed too (a session id is the session cookie's value). */
  async #setPointer (indexKey: string, id: string, ttlMs: number): Promise<void> {
    await this.#store.set(indexKey, this.#o.keyring.seal(id, indexKey), ttlMs)
  }

  async #pointer (indexKey: string): Promise<string | undefined> {
    const sealed = await this.#store.get(indexKey)
    return sealed === undefined ? undefined : this.#o.keyring.open(sealed, indexKey)
  }
}
