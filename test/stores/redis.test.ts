// The Redis store on one real redis-server: the contract, then failing closed and recovering.
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest'
import { Redis } from 'ioredis'
import { createRedisStore } from '../../src/stores/redis.ts'
import { StoreUnavailableError, type Store } from '../../src/stores/types.ts'
import { startRedisServer, type RedisServer } from '../helpers/redis-server.ts'
import { describeStoreContract, eventually } from './contract.ts'

let redis: RedisServer
beforeAll(async () => { redis = await startRedisServer() })
afterAll(async () => { await redis?.stop() })

let namespaces = 0
describeStoreContract('redis (one node)', async (replicas) => {
  const keyPrefix = `contract-${++namespaces}:`
  return Array.from({ length: replicas }, () => createRedisStore({ url: redis.url, keyPrefix }))
})

describe('redis store', () => {
  const opened: Store[] = []
  const open = (options: { url: string, commandTimeoutMs?: number, keyPrefix?: string }): Store => {
    const store = createRedisStore(options)
    opened.push(store)
    return store
  }
  afterEach(async () => {
    for (const store of opened.splice(0)) await store.close()
  })

  it('keeps each keyPrefix to itself and writes the prefixed key', async () => {
    const a = open({ url: redis.url, keyPrefix: 'tenant-a:' })
    const b = open({ url: redis.url, keyPrefix: 'tenant-b:' })
    await a.set('shared-name', 'a', 60_000)
    expect(await b.get('shared-name')).toBeUndefined()
    const raw = new Redis(redis.url)
    try {
      expect(await raw.get('tenant-a:shared-name')).toBe('a')
    } finally {
      raw.disconnect()
    }
  })

  it('a reply error that is a bug (wrong type) is not reported as an outage', async () => {
    const store = open({ url: redis.url, keyPrefix: 'wrongtype:' })
    await store.setAdd('a-set', ['m'], 60_000)
    const error = await store.get('a-set').catch((e: unknown) => e)
    expect(error).toBeInstanceOf(Error)
    expect(error).not.toBeInstanceOf(StoreUnavailableError)
    expect(String(error)).toMatch(/WRONGTYPE/)
  })
})

// Its own server: these tests stop and start it.
describe('redis store when Redis is down', () => {
  const COMMAND_TIMEOUT_MS = 500
  // The bound the operations promise, with room for a loaded machine; they must not hang, nor wait for Redis.
  const BOUND_MS = COMMAND_TIMEOUT_MS + 2500
  let server: RedisServer
  const opened: Store[] = []
  const open = (): Store => {
    const store = createRedisStore({ url: server.url, commandTimeoutMs: COMMAND_TIMEOUT_MS, keyPrefix: 'outage:' })
    opened.push(store)
    return store
  }
  beforeAll(async () => { server = await startRedisServer() })
  afterAll(async () => { await server?.stop() })
  afterEach(async () => {
    for (const store of opened.splice(0)) await store.close()
    await server.restart()
  })

  const everyOperation = (store: Store): Array<[string, () => Promise<unknown>]> => [
    ['get', async () => await store.get('k')],
    ['getMany', async () => await store.getMany(['k', 'l'])],
    ['set', async () => { await store.set('k', 'v', 60_000) }],
    ['setIfAbsent', async () => await store.setIfAbsent('lock', 'v', 60_000)],
    ['compareAndSet', async () => await store.compareAndSet('k', 'v', 'w', 60_000)],
    ['take', async () => await store.take('k')],
    ['delete', async () => { await store.delete(['k', 'l']) }],
    ['increment', async () => await store.increment('n', 60_000)],
    ['remainingTtlMs', async () => await store.remainingTtlMs('k')],
    ['setAdd', async () => { await store.setAdd('s', ['m'], 60_000) }],
    ['setRemove', async () => { await store.setRemove('s', ['m']) }],
    ['setMembers', async () => await store.setMembers('s')],
    ['ping', async () => { await store.ping() }],
  ]

  /** Every operation rejects with StoreUnavailableError, each within the bound. */
  const expectAllUnavailable = async (store: Store) => {
    const outcomes = await Promise.all(everyOperation(store).map(async ([name, operation]) => {
      const started = performance.now()
      const error = await operation().then(() => undefined, (e: unknown) => e)
      return { name, error, elapsedMs: performance.now() - started }
    }))
    for (const { name, error, elapsedMs } of outcomes) {
      expect(error, name).toBeInstanceOf(StoreUnavailableError)
      expect(elapsedMs, name).toBeLessThan(BOUND_MS)
    }
  }

  it('every operation rejects with StoreUnavailableError within the bound, and the same store works once Redis is back', async () => {
    const store = open()
    await store.set('before', 'v', 60_000)
    await server.stop()
    await expectAllUnavailable(store)
    // Still failing closed on a second round: nothing piled up, nothing waits for Redis.
    await expectAllUnavailable(store)

    await server.restart()
    await eventually(async () => await store.ping().then(() => true, () => false))
    await store.set('after', 'v', 60_000)
    expect(await store.get('after')).toBe('v')
    expect(await store.increment('n', 60_000)).toBe(1)
  })

  it('a store created while Redis is down rejects, then works when Redis starts', async () => {
    await server.stop()
    const store = open()
    await expectAllUnavailable(store)
    await server.restart()
    await eventually(async () => await store.ping().then(() => true, () => false))
    expect(await store.setIfAbsent('lock', 'owner', 60_000)).toBe(true)
  })

  it('a Redis that accepts connections but does not answer rejects within the bound, and recovers', async () => {
    const store = open()
    await store.ping()
    server.freeze()
    try {
      await expectAllUnavailable(store)
    } finally {
      server.thaw()
    }
    await eventually(async () => await store.ping().then(() => true, () => false))
    await store.set('k', 'v', 60_000)
    expect(await store.get('k')).toBe('v')
  })

  it('close() returns promptly while Redis is down, and a closed store rejects', async () => {
    const store = open()
    await store.ping()
    await server.stop()
    const started = performance.now()
    await store.close()
    expect(performance.now() - started).toBeLessThan(BOUND_MS)
    await expect(store.get('k')).rejects.toBeInstanceOf(StoreUnavailableError)
  })
})
