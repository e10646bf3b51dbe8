// Two relay replicas behind one PUBLIC_URL sharing the store — a memory store, then a real redis-server through the
// unchanged Redis store: the authorization server's keys, tokens, grants, DPoP nonces and refresh-token reuse
// detection are one state, whichever replica answers.
import * as oauth from 'oauth4webapi'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createLogger } from '../../src/observability/logger.ts'
import { createRelay, type Relay } from '../../src/relay.ts'
import { createMemoryStore } from '../../src/stores/memory.ts'
import { createRedisStore } from '../../src/stores/redis.ts'
import type { Store } from '../../src/stores/types.ts'
import { startRedisServer, type RedisServer } from '../helpers/redis-server.ts'
import { dpopBoundTokens, insecure, proof, withNonceRetry } from '../helpers/oauth.ts'
import { startTestStack, type TestStack } from '../helpers/stack.ts'

const OPERATOR_TOKEN = 'operator-token-for-the-replica-test-0123456789'
let redis: RedisServer | undefined
afterAll(async () => { await redis?.stop() })

const suites: Array<[string, () => Promise<{ store: Store, transientStore: Store }>]> = [
  ['a memory store', async () => ({ store: createMemoryStore(), transientStore: createMemoryStore() })],
  ['redis', async () => {
    redis ??= await startRedisServer()
    return { store: createRedisStore({ url: redis.url, keyPrefix: 'durable:' }), transientStore: createRedisStore({ url: redis.url, keyPrefix: 'transient:' }) }
  }],
]

for (const [name, makeStores] of suites) {
  describe(`replicas sharing ${name}`, () => {
    let store: Store
    let transientStore: Store
    let stack: TestStack
    let second: Relay
    let secondUrl: string

    async function startReplica (): Promise<{ relay: Relay, url: string }> {
      const relay = await createRelay({ config: stack.config, logger: createLogger('silent'), store, transientStore })
      await relay.app.listen({ host: '127.0.0.1', port: 0 })
      const address = relay.app.server.address()
      return { relay, url: `http://127.0.0.1:${typeof address === 'object' && address !== null ? address.port : 0}` }
    }

    beforeAll(async () => {
      ;({ store, transientStore } = await makeStores())
      stack = await startTestStack({ relay: { store, transientStore }, relayEnv: { OPERATOR_API_TOKEN: OPERATOR_TOKEN } })
      ;({ relay: second, url: secondUrl } = await startReplica())
    })
    afterAll(async () => {
      await second?.close()
      await stack?.close()
      await store?.close()
      await transientStore?.close()
    })

    const jwks = async (base: string) => await (await fetch(`${base}/oauth/jwks`)).json() as { keys: Array<{ kid: string }> }

    it('publish the same JWKS and accept each other\'s tokens, DPoP nonces included', async () => {
      expect(await jwks(secondUrl)).toEqual(await jwks(stack.relayUrl))
      const issued = await dpopBoundTokens(stack)
      const token = issued.tokens.access_token
      // The proof names PUBLIC_URL, whichever replica the load balancer picks.
      const nonce = stack.relay.services.agentAuth.nonces.next()
      const answer = await fetch(`${secondUrl}/v1/me`, { headers: { authorization: `DPoP ${token}`, dpop: await proof(issued.dpop, { htm: 'GET', htu: `${stack.relayUrl}/v1/me`, nonce }, token) } })
      expect(answer.status).toBe(200)
      expect(await answer.json()).toMatchObject({ mode: 'agent', upn: 'alice@contoso.test' })
    })

    it('a refresh token rotated at one replica and replayed at the other revokes the grant', async () => {
      const { raw, dpop, tokens } = await dpopBoundTokens(stack)
      const handle = dpop.handle(raw.client)
      // The load balancer: the request names PUBLIC_URL (so does the DPoP proof's htu), the replica answers.
      const via = (base: string) => ({ [oauth.customFetch]: async (url: string, init: RequestInit) => await fetch(url.replace(stack.relayUrl, base), init) })
      const refresh = async (base: string, refreshToken: string) => await withNonceRetry(async () => await oauth.processRefreshTokenResponse(raw.as, raw.client,
        await oauth.refreshTokenGrantRequest(raw.as, raw.client, raw.auth, refreshToken, { ...insecure, ...via(base), DPoP: handle })))
      const rotated = await refresh(secondUrl, tokens.refresh_token!)
      const reused = await refresh(stack.relayUrl, tokens.refresh_token!).then(() => undefined, (err: unknown) => err)
      expect(reused).toBeInstanceOf(oauth.ResponseBodyError)
      expect(((reused as oauth.ResponseBodyError).cause as { reason: string }).reason).toBe('refresh_token_reused')
      expect(await refresh(secondUrl, rotated.refresh_token!).then(() => 'worked', () => 'refused')).toBe('refused')
    })

    it('rotated signing keys: new ones first for every replica started after, old ones still published', async () => {
      const before = (await jwks(stack.relayUrl)).keys.map((k) => k.kid)
      const rotated = await fetch(`${stack.relayUrl}/admin/agent-signing-keys/rotate`, { method: 'POST', headers: { authorization: `Bearer ${OPERATOR_TOKEN}` } })
      expect(rotated.status).toBe(200)
      const third = await startReplica()
      try {
        const after = (await jwks(third.url)).keys.map((k) => k.kid)
        expect(after.slice(2)).toEqual(before)
        expect(after.slice(0, 2)).not.toEqual(before)
      } finally {
        await third.relay.close()
      }
    })
  })
}
