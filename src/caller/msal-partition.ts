// One MSAL cache partition (the refresh token of one sign-in) sealed in the store, as an MSAL cache plugin.
import type { ICachePlugin, TokenCacheContext } from '@azure/msal-node'
import type { Keyring } from '../crypto/keyring.ts'
import type { Store } from '../stores/types.ts'

export interface PartitionOptions {
  store: Store
  keyring: Keyring
  /** Where the partition lives; also the sealing AAD, so a partition never opens under another key. */
  key: string
  ttlMs: number
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
      // Only while the partition still exists: a revocation that ran meanwhile must not be undone.
      const sealed = await o.store.get(o.key)
      if (sealed === undefined) return
      await o.store.compareAndSet(o.key, sealed, o.keyring.seal(context.tokenCache.serialize(), o.key), o.ttlMs)
    },
  }
}

export async function readPartition (o: PartitionOptions): Promise<string | undefined> {
  const sealed = await o.store.get(o.key)
  return sealed === undefined ? undefined : o.keyring.open(sealed, o.key)
}

export async function writePartition (o: PartitionOptions, serializedCache: string): Promise<void> {
  await o.store.set(o.key, o.keyring.seal(serializedCache, o.key), o.ttlMs)
}
