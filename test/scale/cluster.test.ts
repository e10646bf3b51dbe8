// The relay on a three-node Redis Cluster (REDIS_CLUSTER_NODES): sessions, sealed OBO cache and the
// cross-replica single-flight work with keys spread over slots.
import { randomBytes } from 'node:crypto'
import { afterAll, beforeAll, expect, it } from 'vitest'
import { startRedisCluster, type RedisCluster } from '../helpers/redis-server.ts'
import { relayEnv, startRelayProcess, type RelayProcess } from '../helpers/relay-process.ts'
import { startTestStack, type TestStack } from '../helpers/stack.ts'

let stack: TestStack
let cluster: RedisCluster
let relays: RelayProcess[] = []

beforeAll(async () => {
  stack = await startTestStack()
  cluster = await startRedisCluster(3)
  const env = relayEnv(stack, { REDIS_CLUSTER_NODES: cluster.nodes.map((n) => `${n.host}:${n.port}`).join(','), TOKEN_ENCRYPTION_KEY: randomBytes(32).toString('base64') })
  relays = [await startRelayProcess(env), await startRelayProcess(env)]
}, 90_000)
afterAll(async () => {
  for (const relay of relays) await relay.stop()
  await cluster?.stop()
  await stack?.close()
})

it('two replicas on a cluster: 30 concurrent cold calls → one OBO exchange, and every call answered', async () => {
  const token = await stack.userToken('alice@contoso.test')
  const calls = Array.from({ length: 30 }, (_, i) => fetch(`${relays[i % 2]!.url}/v1/servers/notes/tools/whoami`, {
    method: 'POST', headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' }, body: '{}',
  }))
  expect((await Promise.all(calls)).map((r) => r.status)).toEqual(Array(30).fill(200))
  expect(stack.oboCalls()).toBe(1)
  const servers = await fetch(`${relays[1]!.url}/v1/servers`, { headers: { authorization: `Bearer ${token}` } })
  expect(((await servers.json()) as { servers: Array<{ status: string }> }).servers.map((s) => s.status)).toEqual(['ok', 'ok'])
})
