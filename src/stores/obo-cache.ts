// The OBO token cache (DESIGN §6): a bounded LRU in one process; a sealed store-backed one for replicas.
import { LRUCache } from 'lru-cache'
import type { Keyring } from '../crypto/keyring.ts'
import type { Store } from './types.ts'

export interface OboToken {
  accessToken: string
  /** Epoch ms at which Entra says the token expires. */
  expiresAt: number
  /** The token's `aud` as Entra wrote it (read, not verified: it came from Entra over TLS). It names the API
   *  whichever of its identifiers the scope used (v2: always its client id), so aliases cannot hide it. */
  audience?: string
}

export interface OboCache {
  get: (key: string) => Promise<OboToken | undefined>
  /** The same, without waiting: only a cache held in this process has it (the gateway's hot path takes a hit from it). */
  peek?: (key: string) => OboToken | undefined
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
    peek: (key) => tokens.get(key),
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

/**
 * The OBO cache in the shared store, for replicas: each token sealed (AES-256-GCM, bound to its key) so that
 * nothing in Redis is readable without TOKEN_ENCRYPTION_KEY; a value that does not open is a miss.
 */
export function createStoreOboCache (store: Store, keyring: Keyring, onUnreadable?: () => void): OboCache {
  const keyOf = (key: string) => `obo:${key}`
  const tagOf = (tag: string) => `obo-tag:${tag}`
  const open = (key: string, sealed: string | undefined): OboToken | undefined => {
    if (sealed === undefined) return undefined
    const opened = keyring.open(sealed, key)
    if (opened === undefined) {
      onUnreadable?.()
      return undefined
    }
    return JSON.parse(opened) as OboToken
  }
  return {
    get: async (key) => open(key, await store.get(keyOf(key))),
    tag: async (tag, key, ttlMs) => { await store.setAdd(tagOf(tag), [key], ttlMs) },
    dropTag: async (tag) => {
      const keys = await store.setMembers(tagOf(tag))
      const sealed = keys.length === 0 ? [] : await store.getMany(keys.map(keyOf))
      await store.delete([...keys.map(keyOf), tagOf(tag)])
      return keys.map((key, i) => open(key, sealed[i])).filter((token): token is OboToken => token !== undefined)
    },
    countTag: async (tag) => {
      const keys = await store.setMembers(tagOf(tag))
      if (keys.length === 0) return 0
      return (await store.getMany(keys.map(keyOf))).filter((value) => value !== undefined).length
    },
    set: async (key, token, ttlMs) => { await store.set(keyOf(key), keyring.seal(JSON.stringify(token), key), ttlMs) },
    delete: async (key) => { await store.delete(keyOf(key)) },
    // Not countable without scanning the store; the metrics count hits and misses instead.
    size: Number.NaN,
  }
}
