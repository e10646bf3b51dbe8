// The OBO token cache (DESIGN §6): a bounded LRU in one process; a sealed store-backed one for replicas.
import { LRUCache } from 'lru-cache'

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
