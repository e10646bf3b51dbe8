/**
 * Shared state behind one interface (DESIGN §10): a memory implementation for one process, Redis for
 * replicas. Values are strings; callers seal secrets before storing them.
 */
export interface KeyValueStore {
  get: (key: string) => Promise<string | undefined>
  set: (key: string, value: string, ttlSec: number) => Promise<void>
  /** Sets only when absent; true when this call set it (locks, single-use markers). */
  setIfAbsent: (key: string, value: string, ttlSec: number) => Promise<boolean>
  /** Atomically reads and deletes (single-use values such as login state). */
  take: (key: string) => Promise<string | undefined>
  delete: (key: string) => Promise<void>
  ping: () => Promise<void>
  close: () => Promise<void>
}
