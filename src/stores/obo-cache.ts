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
  /** Files a cached key under a tag (an agent grant), so the tag's tokens can be dropped together. */
  tag: (tag: string, key: string, ttlMs: number) => Promise<void>
  /** Drops every token filed under the tag and returns them (their MCP sessions end too). */
  dropTag: (tag: string) => Promise<OboToken[]>
  /** Tokens still cached under the tag. */
  countTag: (tag: string) => Promise<number>
  readonly size: number
}

export function createMemoryOboCache (maxEntries: number): OboCache {
  const tokens = new LRUCache<string, OboToken>({ max: maxEntries })
  const tags = new LRUCache<string, Set<string>>({ max: maxEntries })
  return {
    get: async (key) => tokens.get(key),
    set: async (key, token, ttlMs) => { tokens.set(key, token, { ttl: Math.max(1, Math.floor(ttlMs)) }) },
    delete: async (key) => { tokens.delete(key) },
    tag: async (tag, key) => {
      const keys = tags.get(tag) ?? new Set<string>()
      keys.add(key)
      tags.set(tag, keys)
    },
    dropTag: async (tag) => {
      const dropped: OboToken[] = []
      for (const key of tags.get(tag) ?? []) {
        const token = tokens.get(key)
        if (token !== undefined) dropped.push(token)
        tokens.delete(key)
      }
      tags.delete(tag)
      return dropped
    },
    countTag: async (tag) => [...tags.get(tag) ?? []].filter((key) => tokens.has(key)).length,
    get size () { return tokens.size },
  }
}
