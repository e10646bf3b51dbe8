import { LRUCache } from 'lru-cache'
import type { Store } from './types.ts'

/**
 * A value, or a set's members: a few (one grant's tokens, one user's grants; the common case) in an array, more in
 * a Set. Heap per entry is what a session costs in this store (bench S5): a one-member Set's hash table alone
 * is some 250 bytes, an array of one 40.
 */
type Entry = string | Members
type Members = string[] | Set<string>
const ARRAY_MAX_MEMBERS = 16

/**
 * A key as one flat, internalized string: keys are built by concatenation (`oidc:AccessToken:` + a hash), and V8
 * keeps such a string as a tree of its parts (32 bytes a node, the parts besides). Internalizing also makes the
 * key of a record and the same key as a member of an index set one string.
 */
function flat (key: string): string {
  return Object.keys({ [key]: true })[0] ?? key
}

/**
 * Sealed values (`v1.<key id>.<base64url>`, keyring.ts) are most of what a session holds here (bench S5: an agent
 * grant's four sealed records, 5 KB of text). Their base64url tail is kept as the bytes it spells, one byte per
 * character of a latin1 string (3/4 of the text): PACKED, the prefix's length, the prefix, the bytes. Only a
 * canonical tail is packed (the bytes spell it again exactly), so every value reads back as it was written; a
 * value of the store's callers that starts with one of the two marks is kept behind ESCAPED. Redis and the
 * values' format are untouched: this is how this one process holds them.
 */
const PACKED = 1
const ESCAPED = 2
const PACK_MIN_CHARS = 64
const PREFIX_MAX_CHARS = 255

/** Exported for its tests: what the store holds is not reachable through its interface. */
export function packValue (value: string): string {
  const first = value.charCodeAt(0)
  if (first === PACKED || first === ESCAPED) return `\u0002${value}`
  if (value.length < PACK_MIN_CHARS) return value
  const cut = value.lastIndexOf('.') + 1
  if (cut > PREFIX_MAX_CHARS || value.length - cut < PACK_MIN_CHARS) return value
  const tail = cut === 0 ? value : value.slice(cut)
  const bytes = Buffer.from(tail, 'base64url')
  // Buffer.from skips what is not base64url: only a tail its bytes spell again is the bytes.
  if (bytes.toString('base64url') !== tail) return value
  const prefix = Buffer.from(value.slice(0, cut), 'latin1')
  if (prefix.toString('latin1') !== value.slice(0, cut)) return value
  // One flat one-byte string (a concatenation would be a tree of its parts).
  return Buffer.concat([Buffer.from([PACKED, cut]), prefix, bytes]).toString('latin1')
}

export function unpackValue (entry: string): string {
  const first = entry.charCodeAt(0)
  if (first === PACKED) {
    const cut = entry.charCodeAt(1)
    return entry.slice(2, 2 + cut) + Buffer.from(entry.slice(2 + cut), 'latin1').toString('base64url')
  }
  return first === ESCAPED ? entry.slice(1) : entry
}

/**
 * One-process store. Bounded: unauthenticated routes create entries, so memory must not grow without limit;
 * the least recently used entry goes first. Node runs one operation at a time, so each is atomic.
 */
export function createMemoryStore (options: { maxEntries?: number, now?: () => number } = {}): Store {
  const entries = new LRUCache<string, Entry>({
    max: options.maxEntries ?? 100_000,
    ttlAutopurge: false,
    ...(options.now === undefined ? {} : { perf: { now: options.now } }),
  })
  const ttl = (ttlMs: number) => ({ ttl: Math.max(1, Math.ceil(ttlMs)) })
  const value = (key: string): string | undefined => {
    const entry = entries.get(key)
    return typeof entry === 'string' ? unpackValue(entry) : undefined
  }
  const members = (key: string): Members | undefined => {
    const entry = entries.get(key)
    return typeof entry === 'string' ? undefined : entry
  }

  return {
    get: async (key) => value(key),
    getMany: async (keys) => keys.map(value),
    set: async (key, v, ttlMs) => { entries.set(flat(key), packValue(v), ttl(ttlMs)) },
    setIfAbsent: async (key, v, ttlMs) => {
      if (entries.has(key)) return false
      entries.set(flat(key), packValue(v), ttl(ttlMs))
      return true
    },
    compareAndSet: async (key, expected, next, ttlMs) => {
      if (value(key) !== expected || (expected === undefined && entries.has(key))) return false
      if (next === undefined) entries.delete(key)
      else entries.set(flat(key), packValue(next), ttl(ttlMs))
      return true
    },
    take: async (key) => {
      const v = value(key)
      if (v !== undefined) entries.delete(key)
      return v
    },
    delete: async (keys) => {
      for (const key of typeof keys === 'string' ? [keys] : keys) entries.delete(key)
    },
    increment: async (key, ttlMs) => {
      const next = Number(value(key) ?? 0) + 1
      if (next === 1) {
        entries.set(flat(key), '1', ttl(ttlMs))
      } else {
        // Without a new expiry: setting it anew would move the fixed window's end.
        entries.set(key, String(next), { noUpdateTTL: true })
      }
      return next
    },
    remainingTtlMs: async (key) => {
      if (!entries.has(key)) return undefined
      const remaining = entries.getRemainingTTL(key)
      // Whole milliseconds, as Redis answers.
      return Number.isFinite(remaining) ? Math.ceil(remaining) : undefined
    },
    setAdd: async (key, added, ttlMs) => {
      const existing = members(key)
      // Like Redis, which has no empty sets: adding nothing creates nothing.
      if (existing === undefined && added.length === 0) return
      let set: Members = existing ?? []
      if (set instanceof Set) {
        for (const member of added) set.add(flat(member))
      } else {
        // A new array each time, of its exact length (one grown by push keeps room for 16 more).
        const known = set
        const fresh = added.filter((member, i) => !known.includes(member) && added.indexOf(member) === i).map(flat)
        if (fresh.length > 0) set = known.length + fresh.length > ARRAY_MAX_MEMBERS ? new Set(known.concat(fresh)) : known.concat(fresh)
      }
      // A set that lives long enough keeps its expiry; a shorter one is extended.
      if (existing === undefined || entries.getRemainingTTL(key) < ttlMs) entries.set(flat(key), set, ttl(ttlMs))
      else if (set !== existing) entries.set(key, set, { noUpdateTTL: true })
    },
    setRemove: async (key, removed) => {
      const set = members(key)
      if (set === undefined) return
      let size: number
      if (set instanceof Set) {
        for (const member of removed) set.delete(member)
        size = set.size
      } else {
        const gone = new Set(removed)
        const kept = set.filter((member) => !gone.has(member))
        size = kept.length
        if (size > 0 && size < set.length) entries.set(key, kept, { noUpdateTTL: true })
      }
      if (size === 0) entries.delete(key)
    },
    setMembers: async (key) => [...(members(key) ?? [])],
    ping: async () => {},
    close: async () => { entries.clear() },
  }
}
