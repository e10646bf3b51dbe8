import { LRUCache } from 'lru-cache'
import type { KeyValueStore } from './types.ts'

/** One-process store. Bounded: unauthenticated routes (login) create entries, so memory must not grow without limit. */
export function createMemoryStore (options: { maxEntries?: number } = {}): KeyValueStore {
  const entries = new LRUCache<string, string>({ max: options.maxEntries ?? 100_000, ttlAutopurge: false })
  return {
    get: async (key) => entries.get(key),
    set: async (key, value, ttlSec) => { entries.set(key, value, { ttl: ttlSec * 1000 }) },
    setIfAbsent: async (key, value, ttlSec) => {
      if (entries.has(key)) return false
      entries.set(key, value, { ttl: ttlSec * 1000 })
      return true
    },
    take: async (key) => {
      const value = entries.get(key)
      entries.delete(key)
      return value
    },
    delete: async (key) => { entries.delete(key) },
    ping: async () => {},
    close: async () => { entries.clear() },
  }
}
