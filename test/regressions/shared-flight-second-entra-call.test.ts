// Across replicas a waiter could miss the cache just before the leader wrote it, then see the lock released and
// take it: a second Entra call. The cross-replica single-flight, on a shared store: one run for many callers.
import { describe, expect, it } from 'vitest'
import { createMemoryStore } from '../../src/stores/memory.ts'
import { SharedFlight } from '../../src/stores/shared-flight.ts'

describe('SharedFlight', () => {
  it('one run for many callers on several instances, including callers arriving as the leader lands', async () => {
    const store = createMemoryStore()
    const replicas = [new SharedFlight({ store, lockTtlMs: 5000, pollMs: 1 }), new SharedFlight({ store, lockTtlMs: 5000, pollMs: 1 })]
    let runs = 0
    let result: string | undefined
    const work = {
      cached: async () => result,
      run: async () => {
        runs++
        await new Promise((resolve) => setTimeout(resolve, 20))
        result = 'token'
        return result
      },
      record: () => undefined,
      failure: () => new Error('failed'),
    }
    const callers = Array.from({ length: 50 }, async (_, i) => {
      // Spread over the leader's whole run and just after it.
      await new Promise((resolve) => setTimeout(resolve, i % 25))
      return await replicas[i % 2]!.run('k', work)
    })
    expect(new Set(await Promise.all(callers))).toEqual(new Set(['token']))
    expect(runs).toBe(1)
  })

  it('waiters fail with the leader\'s recorded failure', async () => {
    const store = createMemoryStore()
    const a = new SharedFlight({ store, lockTtlMs: 5000, pollMs: 1 })
    const b = new SharedFlight({ store, lockTtlMs: 5000, pollMs: 1 })
    const work = {
      cached: async () => undefined,
      run: async () => { await new Promise((resolve) => setTimeout(resolve, 20)); throw new Error('entra said no') },
      record: (err: unknown) => (err as Error).message,
      failure: (recorded: string | undefined) => new Error(`leader: ${recorded ?? 'gone'}`),
    }
    // Observed at once: the leader fails before the waiter's outcome is awaited.
    const leader = a.run('k', work).then(() => 'resolved', (err: unknown) => (err as Error).message)
    await new Promise((resolve) => setTimeout(resolve, 5))
    await expect(b.run('k', { ...work, run: async () => { throw new Error('the waiter must not run') } })).rejects.toThrow('leader: entra said no')
    expect(await leader).toBe('entra said no')
  })
})
