import { LRUCache } from 'lru-cache'
import type { Store } from './types.ts'

type Entry = { kind: 'value', value: string } | { kind: 'set', members: Set<string> }

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
    return entry?.kind === 'value' ? entry.value : undefined
  }
  const members = (key: string): Set<string> | undefined => {
    const entry = entries.get(key)
    return entry?.kind === 'set' ? entry.members : undefined
  }

  return {
    get: async (key) => value(key),
    getMany: async (keys) => keys.map(value),
    set: async (key, v, ttlMs) => { entries.set(key, { kind: 'value', value: v }, ttl(ttlMs)) },
    setIfAbsent: async (key, v, ttlMs) => {
      if (entries.has(key)) return false
      entries.set(key, { kind: 'value', value: v }, ttl(ttlMs))
      return true
    },
    compareAndSet: async (key, expected, next, ttlMs) => {
      if (value(key) !== expected || (expected === undefined && entries.has(key))) return false
      if (next === undefined) entries.delete(key)
      else entries.set(key, { kind: 'value', value: next }, ttl(ttlMs))
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
      const entry = entries.get(key)
      if (entry?.kind !== 'value') {
        entries.set(key, { kind: 'value', value: '1' }, ttl(ttlMs))
        return 1
      }
      // In place: setting the entry again would move the fixed window's expiry.
      entry.value = String(Number(entry.value) + 1)
      return Number(entry.value)
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
      const set = existing ?? new Set<string>()
      for (const member of added) set.add(member)
      // A set that lives long enough keeps its expiry (changed in place); a shorter one is extended.
      if (existing === undefined || entries.getRemainingTTL(key) < ttlMs) entries.set(key, { kind: 'set', members: set }, ttl(ttlMs))
    },
    setRemove: async (key, removed) => {
      const set = members(key)
      if (set === undefined) return
      for (const member of removed) set.delete(member)
      if (set.size === 0) entries.delete(key)
    },
    setMembers: async (key) => [...(members(key) ?? [])],
    ping: async () => {},
    close: async () => { entries.clear() },
  }
}
