import { createRequire } from 'node:module'
import type { ConnectionOptions } from 'node:tls'
import { Cluster, Redis } from 'ioredis'
import { StoreUnavailableError, type Store } from './types.ts'

// The slot function ioredis itself routes by (it ships no types).
const keySlot = createRequire(import.meta.url)('cluster-key-slot') as (key: string) => number

interface CommonOptions {
  /** Prepended to every key, so deployments can share one Redis (e.g. `obo-relay:`). */
  keyPrefix?: string
  /** Bound of every operation, waiting for a (re)connection included; then it rejects with StoreUnavailableError. */
  commandTimeoutMs?: number
  /** Bound of one TCP/TLS connection attempt. */
  connectTimeoutMs?: number
  /** Longest pause between reconnection attempts; the store never stops trying. */
  maxReconnectDelayMs?: number
  /** Connection errors while the store keeps reconnecting (for logging; operations reject on their own). */
  onConnectionError?: (error: Error) => void
}

export interface RedisNodeAddress { host: string, port: number }

export type RedisStoreOptions = CommonOptions & (
  /** One node: `redis://[user:password@]host:port[/db]`, or `rediss://` for TLS. */
  | { url: string, clusterNodes?: never }
  /** A Redis Cluster: some of its nodes; the rest are discovered. */
  | { clusterNodes: readonly RedisNodeAddress[], url?: never, username?: string, password?: string, tls?: ConnectionOptions }
)

const DEFAULT_COMMAND_TIMEOUT_MS = 1500
const DEFAULT_CONNECT_TIMEOUT_MS = 2000
const DEFAULT_MAX_RECONNECT_DELAY_MS = 1000
// Replies that mean "not now" rather than "wrong command": the store is unavailable, not broken.
const TRANSIENT_REPLY = /^(CLUSTERDOWN|LOADING|READONLY|MASTERDOWN|TRYAGAIN|BUSY|NOREPLICAS|MOVED|ASK)\b/

// Only absent (expected unset) or the expected string value may be replaced; a set never is.
const COMPARE_AND_SET = `
local kind = redis.call('TYPE', KEYS[1])['ok']
if ARGV[1] == '1' then
  if kind ~= 'string' or redis.call('GET', KEYS[1]) ~= ARGV[2] then return 0 end
elseif kind ~= 'none' then return 0 end
if ARGV[3] == '1' then redis.call('SET', KEYS[1], ARGV[4], 'PX', ARGV[5]) else redis.call('DEL', KEYS[1]) end
return 1`
// A fixed window: only the increment that creates the counter sets its expiry.
const INCREMENT = `
local count = redis.call('INCR', KEYS[1])
if count == 1 or redis.call('PTTL', KEYS[1]) == -1 then redis.call('PEXPIRE', KEYS[1], ARGV[1]) end
return count`
// The set lives at least ARGV[1] ms more: a longer remaining TTL is kept, a shorter one extended.
const SET_ADD = `
local remaining = redis.call('PTTL', KEYS[1])
redis.call('SADD', KEYS[1], unpack(ARGV, 2))
if remaining == -2 or (remaining >= 0 and remaining < tonumber(ARGV[1])) then redis.call('PEXPIRE', KEYS[1], ARGV[1]) end
return 1`
// GETDEL needs Redis 6.2; managed Redis services still run 6.0.
const TAKE = `
local value = redis.call('GET', KEYS[1])
if value then redis.call('DEL', KEYS[1]) end
return value`
const SCRIPTS = {
  oboTake: { numberOfKeys: 1, lua: TAKE },
  oboCompareAndSet: { numberOfKeys: 1, lua: COMPARE_AND_SET },
  oboIncrement: { numberOfKeys: 1, lua: INCREMENT },
  oboSetAdd: { numberOfKeys: 1, lua: SET_ADD },
} as const
type ScriptName = keyof typeof SCRIPTS
type ScriptCommand = (key: string, ...args: Array<string | number>) => Promise<unknown>

/**
 * The Store on Redis (one node or a Cluster), for replicas sharing state (DESIGN §10). Fails closed: with Redis
 * unreachable every operation rejects with StoreUnavailableError within `commandTimeoutMs` (nothing is queued to run
 * later), and the same store works again once Redis is back.
 */
export function createRedisStore (options: RedisStoreOptions): Store {
  const prefix = options.keyPrefix ?? ''
  const commandTimeoutMs = options.commandTimeoutMs ?? DEFAULT_COMMAND_TIMEOUT_MS
  const maxReconnectDelayMs = options.maxReconnectDelayMs ?? DEFAULT_MAX_RECONNECT_DELAY_MS
  const reconnectDelay = (attempt: number) => Math.min(50 * attempt, maxReconnectDelayMs)
  // No offline queue and no resending: a command that failed must not run later behind the caller's back.
  const connection = {
    commandTimeout: commandTimeoutMs,
    connectTimeout: options.connectTimeoutMs ?? DEFAULT_CONNECT_TIMEOUT_MS,
    maxRetriesPerRequest: 0,
    autoResendUnfulfilledCommands: false,
  }
  const isCluster = options.clusterNodes !== undefined
  const client: Redis | Cluster = options.clusterNodes !== undefined
    ? new Cluster([...options.clusterNodes], {
      enableOfflineQueue: false,
      clusterRetryStrategy: reconnectDelay,
      // A node that restarts with its slots unchanged is reconnected, not only discovered again by a MOVED.
      clusterNodeRetryStrategy: reconnectDelay,
      slotsRefreshTimeout: commandTimeoutMs,
      redisOptions: {
        ...connection,
        ...(options.username === undefined ? {} : { username: options.username }),
        ...(options.password === undefined ? {} : { password: options.password }),
        ...(options.tls === undefined ? {} : { tls: options.tls }),
      },
    })
    : new Redis(options.url, { ...connection, enableOfflineQueue: false, retryStrategy: reconnectDelay })
  client.on(isCluster ? 'node error' : 'error', (error: Error) => options.onConnectionError?.(error))
  if (isCluster) client.on('error', (error: Error) => options.onConnectionError?.(error))
  for (const [name, script] of Object.entries(SCRIPTS)) client.defineCommand(name, script)
  // defineCommand adds methods that ioredis's types cannot know of.
  const script = (name: ScriptName): ScriptCommand => (client as unknown as Record<ScriptName, ScriptCommand>)[name].bind(client)

  let closed = false
  let readyWaiter: Promise<void> | undefined
  // One 'ready' listener per outage, however many operations wait for it.
  const nextReady = () => (readyWaiter ??= new Promise<void>((resolve) => client.once('ready', () => { readyWaiter = undefined; resolve() })))

  /** Runs one operation within the bound, waiting for a (re)connection inside the same bound. */
  async function bounded<T> (operation: () => Promise<T>): Promise<T> {
    if (closed) throw new StoreUnavailableError('the shared store is closed')
    let timer: NodeJS.Timeout | undefined
    const timeout = new Promise<never>((_resolve, reject) => {
      timer = setTimeout(() => reject(new StoreUnavailableError(`the shared store did not answer within ${commandTimeoutMs} ms`)), commandTimeoutMs)
    })
    try {
      if (client.status !== 'ready') await Promise.race([nextReady(), timeout])
      return await Promise.race([operation(), timeout])
    } catch (error) {
      throw asStoreError(error)
    } finally {
      clearTimeout(timer)
    }
  }

  const key = (name: string) => prefix + name
  // A multi-key command must stay in one cluster slot: group by slot, keeping each key's position.
  const bySlot = (keys: readonly string[]): number[][] => {
    if (!isCluster) return [keys.map((_k, i) => i)]
    const groups = new Map<number, number[]>()
    keys.forEach((k, i) => {
      const slot = keySlot(k)
      const group = groups.get(slot)
      if (group === undefined) groups.set(slot, [i])
      else group.push(i)
    })
    return [...groups.values()]
  }
  const px = (ttlMs: number) => Math.max(1, Math.ceil(ttlMs))

  return {
    get: async (name) => await bounded(async () => (await client.get(key(name))) ?? undefined),
    getMany: async (names) => {
      if (names.length === 0) return []
      const keys = names.map(key)
      return await bounded(async () => {
        const values = new Array<string | undefined>(keys.length)
        await Promise.all(bySlot(keys).map(async (positions) => {
          const found = await client.mget(positions.map((i) => keys[i]!))
          positions.forEach((position, j) => { values[position] = found[j] ?? undefined })
        }))
        return values
      })
    },
    set: async (name, value, ttlMs) => { await bounded(async () => await client.set(key(name), value, 'PX', px(ttlMs))) },
    setIfAbsent: async (name, value, ttlMs) => await bounded(async () => (await client.set(key(name), value, 'PX', px(ttlMs), 'NX')) === 'OK'),
    compareAndSet: async (name, expected, next, ttlMs) => await bounded(async () => {
      const changed = await script('oboCompareAndSet')(key(name), expected === undefined ? '0' : '1', expected ?? '', next === undefined ? '0' : '1', next ?? '', px(ttlMs))
      return changed === 1
    }),
    take: async (name) => await bounded(async () => ((await script('oboTake')(key(name))) as string | null) ?? undefined),
    delete: async (names) => {
      const keys = (typeof names === 'string' ? [names] : names).map(key)
      if (keys.length === 0) return
      await bounded(async () => await Promise.all(bySlot(keys).map(async (positions) => await client.del(positions.map((i) => keys[i]!)))))
    },
    increment: async (name, ttlMs) => await bounded(async () => Number(await script('oboIncrement')(key(name), px(ttlMs)))),
    remainingTtlMs: async (name) => await bounded(async () => {
      const remaining = await client.pttl(key(name))
      return remaining >= 0 ? remaining : undefined
    }),
    setAdd: async (name, members, ttlMs) => {
      if (members.length === 0) return
      await bounded(async () => await script('oboSetAdd')(key(name), px(ttlMs), ...members))
    },
    setRemove: async (name, members) => {
      if (members.length === 0) return
      await bounded(async () => await client.srem(key(name), ...members))
    },
    setMembers: async (name) => await bounded(async () => await client.smembers(key(name))),
    ping: async () => {
      await bounded(async () => {
        // A cluster is usable only if every master answers: each holds some of the keys.
        const nodes = client instanceof Cluster ? client.nodes('master') : [client]
        if (nodes.length === 0) throw new StoreUnavailableError('the Redis cluster has no reachable master')
        await Promise.all(nodes.map(async (node) => await node.ping()))
      })
    },
    close: async () => {
      if (closed) return
      closed = true
      try {
        if (client.status === 'ready') await Promise.race([client.quit(), new Promise((resolve) => setTimeout(resolve, commandTimeoutMs).unref())])
      } catch {
        // Quitting is a courtesy to the server; disconnecting below is what releases the connection.
      } finally {
        client.disconnect()
      }
    },
  }
}

function asStoreError (error: unknown): Error {
  if (error instanceof StoreUnavailableError) return error
  const message = error instanceof Error ? error.message : String(error)
  // A reply error that is not transient is a bug in the command, not an outage: keep it visible as such.
  if (error instanceof Error && error.name === 'ReplyError' && !TRANSIENT_REPLY.test(message)) return error
  return new StoreUnavailableError(`the shared store is unavailable: ${message}`, { cause: error })
}
