// Single-flight across replicas (DESIGN §6): for one key, only the replica holding a short lock in the shared
// store does the work; the others wait for its result to appear in the cache, and fail fast on its error.
import { randomBytes } from 'node:crypto'
import type { Store } from './types.ts'

export interface SharedFlightOptions {
  store: Store
  /** How long the lock lives if its holder dies mid-work: the work's own timeout, plus margin. */
  lockTtlMs: number
  /** How often a waiter looks for the result. */
  pollMs?: number
}

export interface SharedFlightWork<T> {
  /** The result, if another replica already produced it (the cache). */
  cached: () => Promise<T | undefined>
  /** Does the work and stores its result where `cached` finds it. */
  run: () => Promise<T>
  /** What waiters need of the leader's failure (no secrets: reason, description, claims), or undefined. */
  record: (err: unknown) => string | undefined
  /** Rebuilds the leader's failure from its record; `undefined`: the leader vanished without a word. */
  failure: (recorded: string | undefined) => Error
}

export class SharedFlight {
  readonly #o: SharedFlightOptions

  constructor (options: SharedFlightOptions) {
    this.#o = options
  }

  async run<T> (key: string, work: SharedFlightWork<T>): Promise<T> {
    const lockKey = `flight:{${key}}:lock`
    const errorKey = `flight:{${key}}:error`
    const owner = randomBytes(12).toString('base64url')
    const deadline = Date.now() + this.#o.lockTtlMs
    for (;;) {
      if (await this.#o.store.setIfAbsent(lockKey, owner, this.#o.lockTtlMs)) {
        try {
          // Double-checked: a leader that just finished wrote the result before releasing the lock.
          return await work.cached() ?? await work.run()
        } catch (err) {
          const recorded = work.record(err)
          if (recorded !== undefined) await this.#o.store.set(errorKey, recorded, 2_000).catch(() => {})
          throw err
        } finally {
          await this.#o.store.compareAndSet(lockKey, owner, undefined, this.#o.lockTtlMs).catch(() => {})
        }
      }
      // Another replica is at it: wait for its result, its error, or its lock to go away.
      while (Date.now() < deadline) {
        await new Promise((resolve) => setTimeout(resolve, this.#o.pollMs ?? 20))
        const done = await work.cached()
        if (done !== undefined) return done
        const recorded = await this.#o.store.get(errorKey)
        if (recorded !== undefined) throw work.failure(recorded)
        if (await this.#o.store.get(lockKey) === undefined) break
      }
      if (Date.now() >= deadline) throw work.failure(undefined)
    }
  }
}
