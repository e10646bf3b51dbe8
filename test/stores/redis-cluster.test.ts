// The Redis store on a real three-node Redis Cluster: the contract, multi-key operations across nodes, a node lost and back.
import { createRequire } from 'node:module'
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest'
import { createRedisStore } from '../../src/stores/redis.ts'
import { StoreUnavailableError, type Store } from '../../src/stores/types.ts'
import { startRedisCluster, type RedisCluster } from '../helpers/redis-server.ts'
import { describeStoreContract, eventually } from './contract.ts'

const keySlot = createRequire(import.meta.url)('cluster-key-slot') as (key: string) => number
const SLOTS = 16384

let cluster: RedisCluster
beforeAll(async () => { cluster = await startRedisCluster(3) })
afterAll(async () => { await cluster?.stop() })

let namespaces = 0
describeStoreContract('redis cluster (3 nodes)', async (replicas) => {
  const keyPrefix = `contract-${++namespaces}:`
  return Array.from({ length: replicas }, () => createRedisStore({ clusterNodes: cluster.nodes, keyPrefix }))
})

describe('redis cluster store', () => {
  const COMMAND_TIMEOUT_MS = 500
  const BOUND_MS = COMMAND_TIMEOUT_MS + 2500
  const opened: Store[] = []
  const open = (keyPrefix: string): Store => {
    const store = createRedisStore({ clusterNodes: cluster.nodes, keyPrefix, commandTimeoutMs: COMMAND_TIMEOUT_MS })
    opened.push(store)
    return store
  }
  afterEach(async () => {
    for (const store of opened.splice(0)) await store.close()
  })
  // The node that owns a key: slots were split evenly in node order (test/helpers/redis-server.ts).
  const nodeOf = (key: string) => Math.floor((keySlot(key) * cluster.nodes.length) / SLOTS)
  /** `count` keys owned by node `node` (with the store's prefix), and as many on the other nodes. */
  const keysOn = (prefix: string, node: number, count: number): { on: string[], elsewhere: string[] } => {
    const on: string[] = []
    const elsewhere: string[] = []
    for (let i = 0; on.length < count || elsewhere.length < count; i++) {
      const name = `key-${i}`
      const list = nodeOf(prefix + name) === node ? on : elsewhere
      if (list.length < count) list.push(name)
    }
    return { on, elsewhere }
  }

  it('getMany and delete take keys from every node in one call', async () => {
    const prefix = 'spread:'
    const store = open(prefix)
    const keys = Array.from({ length: 30 }, (_v, i) => `k${i}`)
    expect(new Set(keys.map((key) => nodeOf(prefix + key))).size).toBe(3)
    for (const key of keys) await store.set(key, `v-${key}`, 60_000)
    expect(await store.getMany(keys)).toEqual(keys.map((key) => `v-${key}`))
    await store.delete(keys)
    expect(await store.getMany(keys)).toEqual(keys.map(() => undefined))
  })

  it('with a node down, its keys reject within the bound; once it is back the same store works again', async () => {
    const prefix = 'node-loss:'
    const store = open(prefix)
    await store.ping()
    const { on } = keysOn(prefix, 2, 3)
    await store.set(on[0]!, 'before', 60_000)
    const expectUnavailable = async (operation: () => Promise<unknown>) => {
      const started = performance.now()
      await expect(operation()).rejects.toBeInstanceOf(StoreUnavailableError)
      expect(performance.now() - started).toBeLessThan(BOUND_MS)
    }
    await cluster.servers[2]!.restart(async () => {
      await expectUnavailable(async () => await store.get(on[1]!))
      await expectUnavailable(async () => { await store.set(on[1]!, 'v', 60_000) })
      await expectUnavailable(async () => await store.getMany(on))
      await expectUnavailable(async () => { await store.ping() })
    })
    await eventually(async () => await store.ping().then(() => true, () => false), 30_000)
    await eventually(async () => await store.set(on[2]!, 'after', 60_000).then(() => true, () => false), 30_000)
    expect(await store.get(on[2]!)).toBe('after')
  })
})
