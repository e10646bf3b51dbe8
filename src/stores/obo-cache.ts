// The OBO token cache (DESIGN §6): a bounded LRU in one process; a sealed store-backed one for replicas.
import { LRUCache } from 'lru-cache'
import type { Keyring } from '../crypto/keyring.ts'
import type { Store } from './types.ts'

export interface OboToken {
  accessToken: string
  /** Epoch ms at which Entra says the token expires. */
  expiresAt: number
}

export interface OboCache {
  get: (key: string) => Promise<OboToken | undefined>
  set: (key: string, token: OboToken, ttlMs: number) => Promise<void>
  delete: (key: string) => Promise<void>
  readonly size: number
}

export function createMemoryOboCache (maxEntries: number): OboCache {
  const tokens = new LRUCache<string, OboToken>({ max: maxEntries })
  return {
    get: async (key) => tokens.get(key),
    set: async (key, token, ttlMs) => { tokens.set(key, token, { ttl: Math.max(1, Math.floor(ttlMs)) }) },
    delete: async (key) => { tokens.delete(key) },
    get size () { return tokens.size },
  }
}

/**
 * The OBO cache in the shared store, for replicas: each token sealed (AES-256-GCM, bound to its key) so that
 * nothing in Redis is readable without TOKEN_ENCRYPTION_KEY; a value that does not open is a miss.
 */
export function createStoreOboCache (store: Store, keyring: Keyring, onUnreadable?: () => void): OboCache {
  const keyOf = (key: string) => `obo:${key}`
  return {
    get: async (key) => {
      const sealed = await store.get(keyOf(key))
      if (sealed === undefined) return undefined
      const opened = keyring.open(sealed, key)
      if (opened === undefined) {
        onUnreadable?.()
        return undefined
      }
      return JSON.parse(opened) as OboToken
    },
    set: async (key, token, ttlMs) => { await store.set(keyOf(key), keyring.seal(JSON.stringify(token), key), ttlMs) },
    delete: async (key) => { await store.delete(keyOf(key)) },
    // Not countable without scanning the store; the metrics count hits and misses instead.
    size: Number.NaN,
  }
}
