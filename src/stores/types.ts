/**
 * Store primitives (DESIGN §10): every piece of shared state sits behind this one interface, with a memory
 * implementation for one process and a Redis one for replicas. Each operation is atomic on its own, so
 * domain stores never need a racy read-modify-write. Values are strings; callers seal secrets first.
 *
 * Keys: `<namespace>:<…>`. An operation that must be atomic across several keys is not offered; where a
 * caller reads or deletes several keys together, wrapping the shared part in `{…}` (a Redis Cluster hash
 * tag) keeps them in one slot, but implementations accept keys from different slots too.
 */
export interface Store {
  get: (key: string) => Promise<string | undefined>
  /** Several keys in one round trip; missing ones are undefined, in order. */
  getMany: (keys: readonly string[]) => Promise<Array<string | undefined>>
  set: (key: string, value: string, ttlMs: number) => Promise<void>
  /** Sets only when absent; true when this call set it (locks, single-use markers). */
  setIfAbsent: (key: string, value: string, ttlMs: number) => Promise<boolean>
  /**
   * Replaces the value only if it is still `expected` (`undefined`: only if absent); `next` undefined deletes.
   * True when this call changed it (refresh-token rotation, lock release by its owner).
   */
  compareAndSet: (key: string, expected: string | undefined, next: string | undefined, ttlMs: number) => Promise<boolean>
  /** Reads and deletes at once: the value goes to exactly one caller. */
  take: (key: string) => Promise<string | undefined>
  delete: (keys: string | readonly string[]) => Promise<void>
  /** Adds 1 to a counter and returns the new value; a new counter lives `ttlMs` (a fixed window). */
  increment: (key: string, ttlMs: number) => Promise<number>
  /** Milliseconds until the key expires; undefined when absent. */
  remainingTtlMs: (key: string) => Promise<number | undefined>
  /** Adds members to a set (an index such as "grants of this user"); the set lives at least `ttlMs` more. */
  setAdd: (key: string, members: readonly string[], ttlMs: number) => Promise<void>
  setRemove: (key: string, members: readonly string[]) => Promise<void>
  setMembers: (key: string) => Promise<string[]>
  /** Resolves when the store answers; rejects with StoreUnavailableError otherwise. */
  ping: () => Promise<void>
  close: () => Promise<void>
}

/** The store cannot be reached: callers fail closed (503 + Retry-After), never fall back to less state. */
export class StoreUnavailableError extends Error {
  constructor (message = 'the shared store is unavailable', options?: { cause?: unknown }) {
    super(message, options)
    this.name = 'StoreUnavailableError'
  }
}
