// The Store contract (src/stores/types.ts), run against every implementation: memory, Redis, Redis Cluster.
import { afterEach, describe, expect, it } from 'vitest'
import type { Store } from '../../src/stores/types.ts'

/**
 * Opens `replicas` stores on one fresh namespace that see the same state: for Redis, separate connections (as
 * replicas of the relay have); for memory, the one process's store.
 */
export type OpenStores = (replicas: number) => Promise<Store[]>

const LONG_TTL_MS = 60_000
// Short TTLs are only ever waited out by polling, never asserted against a clock.
const SHORT_TTL_MS = 40
const RACERS = 24

export function describeStoreContract (name: string, openStores: OpenStores): void {
  describe(`${name}: Store contract`, () => {
    const opened = new Set<Store>()
    const open = async (replicas = 1): Promise<Store[]> => {
      const stores = await openStores(replicas)
      for (const store of stores) opened.add(store)
      return stores
    }
    const openOne = async (): Promise<Store> => (await open(1))[0]!
    afterEach(async () => {
      for (const store of opened) await store.close()
      opened.clear()
    })
    /** The same call from many callers at once, spread over the replicas. */
    const race = async <T>(stores: Store[], call: (store: Store, i: number) => Promise<T>): Promise<T[]> =>
      await Promise.all(Array.from({ length: RACERS }, async (_v, i) => await call(stores[i % stores.length]!, i)))

    describe('get, set, getMany', () => {
      it('reads what was set, undefined when absent, the last value after an overwrite', async () => {
        const store = await openOne()
        expect(await store.get('absent')).toBeUndefined()
        await store.set('k', 'v1', LONG_TTL_MS)
        expect(await store.get('k')).toBe('v1')
        await store.set('k', 'v2', LONG_TTL_MS)
        expect(await store.get('k')).toBe('v2')
      })

      it('keeps values exactly: empty, unicode, JSON, long', async () => {
        const store = await openOne()
        const values = ['', 'ünïcødé ✓ 日本', JSON.stringify({ a: [1, 'two'], b: null }), 'x'.repeat(100_000)]
        for (const [i, value] of values.entries()) await store.set(`v${i}`, value, LONG_TTL_MS)
        expect(await store.getMany(values.map((_v, i) => `v${i}`))).toEqual(values)
      })

      it('expires a value after its TTL; an overwrite sets a new TTL', async () => {
        const store = await openOne()
        await store.set('short', 'x', SHORT_TTL_MS)
        await eventually(async () => (await store.get('short')) === undefined)
        await store.set('renewed', 'x', SHORT_TTL_MS)
        await store.set('renewed', 'y', LONG_TTL_MS)
        expect(await store.remainingTtlMs('renewed')).toBeGreaterThan(SHORT_TTL_MS)
      })

      it('getMany answers in order with undefined for missing keys, across slots and hash tags', async () => {
        const store = await openOne()
        const keys = [...Array.from({ length: 40 }, (_v, i) => `spread:${i}`), '{user-1}:a', '{user-1}:b', '{user-2}:a']
        for (const key of keys) await store.set(key, `value of ${key}`, LONG_TTL_MS)
        const asked = ['missing-1', ...keys, 'missing-2', keys[3]!]
        expect(await store.getMany(asked)).toEqual(asked.map((key) => (key.startsWith('missing') ? undefined : `value of ${key}`)))
        expect(await store.getMany([])).toEqual([])
      })
    })

    describe('setIfAbsent', () => {
      it('sets only when absent and leaves the first value in place', async () => {
        const store = await openOne()
        expect(await store.setIfAbsent('lock', 'first', LONG_TTL_MS)).toBe(true)
        expect(await store.setIfAbsent('lock', 'second', LONG_TTL_MS)).toBe(false)
        expect(await store.get('lock')).toBe('first')
      })

      it('can set again once the first value expired', async () => {
        const store = await openOne()
        expect(await store.setIfAbsent('marker', 'a', SHORT_TTL_MS)).toBe(true)
        await eventually(async () => await store.setIfAbsent('marker', 'b', LONG_TTL_MS))
        expect(await store.get('marker')).toBe('b')
      })

      it('exactly one of many concurrent callers wins, and its value is stored', async () => {
        const stores = await open(3)
        const won = await race(stores, async (store, i) => await store.setIfAbsent('contended', `caller-${i}`, LONG_TTL_MS))
        expect(won.filter(Boolean)).toHaveLength(1)
        expect(await stores[0]!.get('contended')).toBe(`caller-${won.indexOf(true)}`)
      })
    })

    describe('compareAndSet', () => {
      it('with expected undefined, sets only an absent key', async () => {
        const store = await openOne()
        expect(await store.compareAndSet('cas', undefined, 'v1', LONG_TTL_MS)).toBe(true)
        expect(await store.get('cas')).toBe('v1')
        expect(await store.compareAndSet('cas', undefined, 'v2', LONG_TTL_MS)).toBe(false)
        expect(await store.get('cas')).toBe('v1')
      })

      it('replaces the expected value with the new TTL, refuses a mismatch or an absent key', async () => {
        const store = await openOne()
        await store.set('cas', 'v1', SHORT_TTL_MS * 50)
        expect(await store.compareAndSet('cas', 'other', 'v2', LONG_TTL_MS)).toBe(false)
        expect(await store.get('cas')).toBe('v1')
        expect(await store.compareAndSet('cas', 'v1', 'v2', LONG_TTL_MS)).toBe(true)
        expect(await store.get('cas')).toBe('v2')
        expect(await store.remainingTtlMs('cas')).toBeGreaterThan(SHORT_TTL_MS * 50)
        expect(await store.compareAndSet('absent', 'v1', 'v2', LONG_TTL_MS)).toBe(false)
        expect(await store.get('absent')).toBeUndefined()
      })

      it('with next undefined, deletes only the expected value (lock release by its owner)', async () => {
        const store = await openOne()
        await store.set('lock', 'owner-a', LONG_TTL_MS)
        expect(await store.compareAndSet('lock', 'owner-b', undefined, LONG_TTL_MS)).toBe(false)
        expect(await store.get('lock')).toBe('owner-a')
        expect(await store.compareAndSet('lock', 'owner-a', undefined, LONG_TTL_MS)).toBe(true)
        expect(await store.get('lock')).toBeUndefined()
        expect(await store.remainingTtlMs('lock')).toBeUndefined()
      })

      it('never replaces a set, whatever was expected', async () => {
        const store = await openOne()
        await store.setAdd('index', ['m'], LONG_TTL_MS)
        expect(await store.compareAndSet('index', undefined, 'v', LONG_TTL_MS)).toBe(false)
        expect(await store.compareAndSet('index', 'm', 'v', LONG_TTL_MS)).toBe(false)
        expect(await store.setMembers('index')).toEqual(['m'])
      })

      it('exactly one of many concurrent rotations of the same value wins', async () => {
        const stores = await open(3)
        await stores[0]!.set('refresh', 'generation-0', LONG_TTL_MS)
        const won = await race(stores, async (store, i) => await store.compareAndSet('refresh', 'generation-0', `generation-1-by-${i}`, LONG_TTL_MS))
        expect(won.filter(Boolean)).toHaveLength(1)
        expect(await stores[1]!.get('refresh')).toBe(`generation-1-by-${won.indexOf(true)}`)
      })
    })

    describe('take', () => {
      it('returns the value once and removes it', async () => {
        const store = await openOne()
        await store.set('code', 'authorization-code', LONG_TTL_MS)
        expect(await store.take('code')).toBe('authorization-code')
        expect(await store.take('code')).toBeUndefined()
        expect(await store.get('code')).toBeUndefined()
        expect(await store.take('never-set')).toBeUndefined()
      })

      it('gives the value to exactly one of many concurrent callers', async () => {
        const stores = await open(3)
        await stores[0]!.set('single-use', 'the-value', LONG_TTL_MS)
        const taken = await race(stores, async (store) => await store.take('single-use'))
        expect(taken.filter((value) => value !== undefined)).toEqual(['the-value'])
      })
    })

    describe('delete', () => {
      it('deletes one key, many keys across slots, sets too; missing keys and an empty list are fine', async () => {
        const store = await openOne()
        const keys = Array.from({ length: 30 }, (_v, i) => `del:${i}`)
        for (const key of keys) await store.set(key, 'v', LONG_TTL_MS)
        await store.setAdd('del:set', ['m'], LONG_TTL_MS)
        await store.set('kept', 'v', LONG_TTL_MS)

        await store.delete(keys[0]!)
        expect(await store.get(keys[0]!)).toBeUndefined()
        await store.delete([...keys.slice(1), 'del:set', 'never-set'])
        expect(await store.getMany(keys)).toEqual(keys.map(() => undefined))
        expect(await store.setMembers('del:set')).toEqual([])
        await store.delete([])
        await store.delete('never-set')
        expect(await store.get('kept')).toBe('v')
      })
    })

    describe('increment', () => {
      it('counts from 1 in a fixed window: later increments do not extend it', async () => {
        const store = await openOne()
        expect(await store.increment('attempts', LONG_TTL_MS)).toBe(1)
        const windowLeft = await store.remainingTtlMs('attempts')
        expect(windowLeft).toBeGreaterThan(0)
        expect(windowLeft).toBeLessThanOrEqual(LONG_TTL_MS)
        expect(await store.increment('attempts', LONG_TTL_MS * 10)).toBe(2)
        expect(await store.increment('attempts', LONG_TTL_MS * 10)).toBe(3)
        expect(await store.remainingTtlMs('attempts')).toBeLessThanOrEqual(windowLeft!)
      })

      it('starts a new window at 1 once the old one expired', async () => {
        const store = await openOne()
        expect(await store.increment('window', SHORT_TTL_MS)).toBe(1)
        expect(await store.increment('window', SHORT_TTL_MS)).toBeGreaterThanOrEqual(1)
        await eventually(async () => (await store.remainingTtlMs('window')) === undefined)
        expect(await store.increment('window', LONG_TTL_MS)).toBe(1)
      })

      it('gives every concurrent caller its own count', async () => {
        const stores = await open(3)
        const counts = await race(stores, async (store) => await store.increment('concurrent', LONG_TTL_MS))
        expect([...counts].sort((a, b) => a - b)).toEqual(Array.from({ length: RACERS }, (_v, i) => i + 1))
        expect(await stores[0]!.remainingTtlMs('concurrent')).toBeGreaterThan(0)
      })
    })

    describe('remainingTtlMs', () => {
      it('is undefined when absent, at most the TTL for a value and a set', async () => {
        const store = await openOne()
        expect(await store.remainingTtlMs('absent')).toBeUndefined()
        await store.set('value', 'v', LONG_TTL_MS)
        await store.setAdd('set', ['m'], LONG_TTL_MS / 2)
        const valueLeft = await store.remainingTtlMs('value')
        const setLeft = await store.remainingTtlMs('set')
        expect(valueLeft).toBeGreaterThan(LONG_TTL_MS / 2)
        expect(valueLeft).toBeLessThanOrEqual(LONG_TTL_MS)
        expect(setLeft).toBeGreaterThan(0)
        expect(setLeft).toBeLessThanOrEqual(LONG_TTL_MS / 2)
      })
    })

    describe('sets', () => {
      it('adds members once each, removes some, and is gone when empty', async () => {
        const store = await openOne()
        expect(await store.setMembers('grants')).toEqual([])
        await store.setAdd('grants', ['g1', 'g2'], LONG_TTL_MS)
        await store.setAdd('grants', ['g2', 'g3'], LONG_TTL_MS)
        expect((await store.setMembers('grants')).sort()).toEqual(['g1', 'g2', 'g3'])
        await store.setRemove('grants', ['g1', 'not-a-member'])
        expect((await store.setMembers('grants')).sort()).toEqual(['g2', 'g3'])
        await store.setRemove('grants', [])
        await store.setRemove('grants', ['g2', 'g3'])
        expect(await store.setMembers('grants')).toEqual([])
        expect(await store.remainingTtlMs('grants')).toBeUndefined()
        await store.setRemove('never-set', ['m'])
      })

      it('adding no members creates nothing', async () => {
        const store = await openOne()
        await store.setAdd('empty', [], LONG_TTL_MS)
        expect(await store.setMembers('empty')).toEqual([])
        expect(await store.remainingTtlMs('empty')).toBeUndefined()
      })

      it('an add extends a shorter remaining TTL and never shortens a longer one', async () => {
        const store = await openOne()
        await store.setAdd('index', ['a'], LONG_TTL_MS)
        await store.setAdd('index', ['b'], SHORT_TTL_MS)
        expect(await store.remainingTtlMs('index')).toBeGreaterThan(LONG_TTL_MS / 2)
        await store.setAdd('index', ['c'], LONG_TTL_MS * 10)
        expect(await store.remainingTtlMs('index')).toBeGreaterThan(LONG_TTL_MS)
        expect((await store.setMembers('index')).sort()).toEqual(['a', 'b', 'c'])
      })

      it('expires after its TTL', async () => {
        const store = await openOne()
        await store.setAdd('short-set', ['a'], SHORT_TTL_MS)
        await eventually(async () => (await store.setMembers('short-set')).length === 0)
        expect(await store.remainingTtlMs('short-set')).toBeUndefined()
      })

      it('keeps every member of concurrent adds', async () => {
        const stores = await open(3)
        await race(stores, async (store, i) => { await store.setAdd('sessions', [`s${i}`], LONG_TTL_MS) })
        expect((await stores[0]!.setMembers('sessions')).length).toBe(RACERS)
      })
    })

    describe('ping and close', () => {
      it('ping resolves; close can be called twice', async () => {
        const store = await openOne()
        await store.ping()
        await store.close()
        await store.close()
      })
    })
  })
}

/** Polls until the condition holds; the bound only stops a broken implementation from hanging the run. */
export async function eventually (condition: () => Promise<boolean>, timeoutMs = 10_000): Promise<void> {
  const deadline = performance.now() + timeoutMs
  while (!await condition()) {
    if (performance.now() > deadline) throw new Error(`condition not met within ${timeoutMs} ms`)
    await new Promise((resolve) => setTimeout(resolve, 20))
  }
}
