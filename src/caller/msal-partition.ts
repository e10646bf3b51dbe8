// One MSAL cache partition (the refresh token of one sign-in) sealed in the store, as an MSAL cache plugin, and
// the silent token of that sign-in (the relay-scoped access token a browser session or an agent grant acts with).
import type { ICachePlugin, TokenCacheContext } from '@azure/msal-node'
import { sha256b64url } from '../crypto/hash.ts'
import type { Keyring } from '../crypto/keyring.ts'
import { mapEntraError } from '../entra/entra-errors.ts'
import type { EntraExchangeRecord, MsalFactory } from '../entra/msal.ts'
import type { RelayError } from '../errors.ts'
import type { Store } from '../stores/types.ts'

export interface PartitionOptions {
  store: Store
  keyring: Keyring
  /** Where the partition lives. */
  key: string
  /** The sealing AAD, so a partition never opens under another key or id; default `key`. */
  aad?: string
  ttlMs: number
  /** A partition that exists but does not open (a wrong or retired key): read as none, and told here. */
  onUnreadable?: () => void
}

/** Loads the partition before MSAL reads its cache and saves it when MSAL changed it (a rotated refresh token). */
export function partitionPlugin (o: PartitionOptions): ICachePlugin {
  return {
    beforeCacheAccess: async (context: TokenCacheContext) => {
      const serialized = await readPartition(o)
      if (serialized !== undefined) context.tokenCache.deserialize(serialized)
    },
    afterCacheAccess: async (context: TokenCacheContext) => {
      if (!context.cacheHasChanged) return
      // Only while the partition still exists: a revocation or sign-out that ran meanwhile must not be undone.
      const sealed = await o.store.get(o.key)
      if (sealed === undefined) return
      await o.store.compareAndSet(o.key, sealed, o.keyring.seal(context.tokenCache.serialize(), o.aad ?? o.key), o.ttlMs)
    },
  }
}

export async function readPartition (o: PartitionOptions): Promise<string | undefined> {
  const sealed = await o.store.get(o.key)
  if (sealed === undefined) return undefined
  const serialized = o.keyring.open(sealed, o.aad ?? o.key)
  if (serialized === undefined) o.onUnreadable?.()
  return serialized
}

/**
 * The access token of this hash, if the partition still holds it: what a memo that keeps only the hash asks for.
 * Read from MSAL's serialized cache (its `AccessToken` entries' `secret`), not through acquireTokenSilent, which
 * would redeem the refresh token for a new one inside MSAL's renewal window (5 minutes before expiry).
 */
export async function heldToken (o: PartitionOptions, tokenHash: string): Promise<string | undefined> {
  const serialized = await readPartition(o)
  if (serialized === undefined) return undefined
  let cache: { AccessToken?: Record<string, { secret?: unknown }> }
  try {
    cache = JSON.parse(serialized) as typeof cache
  } catch {
    return undefined
  }
  for (const entry of Object.values(cache.AccessToken ?? {})) {
    if (typeof entry?.secret === 'string' && sha256b64url(entry.secret) === tokenHash) return entry.secret
  }
  return undefined
}

export async function writePartition (o: PartitionOptions, serializedCache: string): Promise<void> {
  await o.store.set(o.key, o.keyring.seal(serializedCache, o.aad ?? o.key), o.ttlMs)
}

export interface SilentTokenRequest {
  tenantId: string
  homeAccountId: string
  partition: PartitionOptions
  scope: string
  /** The error when the partition holds no account any more (the sign-in ended). */
  ended: () => RelayError
  /** What the token is for, in messages ("the relay's token for this session"). */
  what: string
  /** Told of the mapped error before it is thrown (to log it with the caller's fields). */
  onError: (mapped: RelayError) => void
}

/** The relay-scoped access token of one sign-in, from its partition (MSAL refreshes it when it must). */
export async function silentToken (msal: MsalFactory, r: SilentTokenRequest): Promise<{ token: string, exp: number }> {
  const exchange: EntraExchangeRecord = {}
  try {
    const client = await msal.client({ tenantId: r.tenantId, cachePlugin: partitionPlugin(r.partition), record: exchange })
    const account = await client.getTokenCache().getAccountByHomeId(r.homeAccountId)
    if (account === null) throw r.ended()
    const result = await client.acquireTokenSilent({ account, scopes: [r.scope] })
    if (result === null || result.expiresOn === null) throw new Error('MSAL returned no token')
    return { token: result.accessToken, exp: Math.floor(result.expiresOn.getTime() / 1000) }
  } catch (err) {
    const mapped = mapEntraError(err, { record: exchange, tenantId: r.tenantId, what: r.what })
    r.onError(mapped)
    throw mapped
  }
}
