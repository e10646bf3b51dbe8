// A small cache of cacheable results keyed by method and params, scoped as their `cacheScope` says.
import { sha256b64url } from '../../crypto/hash.ts'
import type { CacheScope } from './types.ts'

interface Entry<T> { value: T, expiresAt: number }

/**
 * `public` entries serve every caller; `private` ones only the authorization context that fetched them.
 * Bounded: the oldest entry goes first. Freshness is `now < received + ttlMs`.
 * @see server/utilities/caching.mdx § Cacheable Model, § Cache Scope Field
 */
export class ResultCache<T> {
  private readonly entries = new Map<string, Entry<T>>()
  private readonly maxEntries: number
  private readonly now: () => number

  constructor (maxEntries: number, now: () => number) {
    this.maxEntries = maxEntries
    this.now = now
  }

  get (key: string, context: string): T | undefined {
    return this.fresh(`public|${key}`) ?? this.fresh(`private|${context}|${key}`)
  }

  set (key: string, context: string, value: T, ttlMs: number, scope: CacheScope): void {
    if (ttlMs <= 0) return
    const entryKey = scope === 'public' ? `public|${key}` : `private|${context}|${key}`
    this.entries.delete(entryKey)
    this.entries.set(entryKey, { value, expiresAt: this.now() + ttlMs })
    for (const oldest of this.entries.keys()) {
      if (this.entries.size <= this.maxEntries) break
      this.entries.delete(oldest)
    }
  }

  clear (): void {
    this.entries.clear()
  }

  private fresh (entryKey: string): T | undefined {
    const entry = this.entries.get(entryKey)
    if (entry === undefined) return undefined
    if (this.now() < entry.expiresAt) return entry.value
    this.entries.delete(entryKey)
    return undefined
  }
}

/** An authorization context: a digest of the `Authorization` header (its token), so no token is kept as a key. */
export function authorizationContextOf (headers: Readonly<Record<string, string>>): string {
  const authorization = Object.entries(headers).find(([name]) => name.toLowerCase() === 'authorization')?.[1] ?? ''
  return sha256b64url(authorization)
}

/** A server's `ttlMs` as a client should read it: absent, negative or not a number is 0; capped at `maxTtlMs`. */
export function ttlOf (ttlMs: unknown, maxTtlMs: number): number {
  return typeof ttlMs === 'number' && Number.isFinite(ttlMs) && ttlMs > 0 ? Math.min(ttlMs, maxTtlMs) : 0
}

/** Anything but an explicit `"public"` is treated as private: sharing is what must be asked for. */
export function scopeOf (cacheScope: unknown): CacheScope {
  return cacheScope === 'public' ? 'public' : 'private'
}
