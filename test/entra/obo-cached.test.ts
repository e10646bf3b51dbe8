// OboService.cached: the gateway's hit without a promise. It answers only what exchange() would answer from the
// cache (a token still clear of the refresh skew), only from a cache in this process, and counts as a hit.
import { randomBytes } from 'node:crypto'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { UserAssertion } from '../../src/caller/user-assertion.ts'
import { createKeyring } from '../../src/crypto/keyring.ts'
import { OboService, type OboResult } from '../../src/entra/obo.ts'
import { createMemoryStore } from '../../src/stores/memory.ts'
import { createMemoryOboCache, createStoreOboCache } from '../../src/stores/obo-cache.ts'
import { startTestStack, type TestStack } from '../helpers/stack.ts'

let stack: TestStack
let user: UserAssertion
let scopes: string[]

beforeAll(async () => {
  stack = await startTestStack()
  user = await stack.relay.services.validateAccessToken(await stack.userToken('alice@contoso.test'))
  scopes = (await stack.relay.services.discovery.resolve('notes')).scopes
})
afterAll(async () => { await stack?.close() })

function service (cache: ReturnType<typeof createMemoryOboCache>, clock: { now: number }, outcomes: Array<OboResult['cache']>): OboService {
  const { msal, logger } = stack.relay.services
  return new OboService({ msal, logger, cache, now: () => clock.now, onResult: (outcome) => { outcomes.push(outcome) } })
}

describe('OboService.cached', () => {
  it('in-process cache: nothing before the exchange, then the cached token as a counted hit, until the refresh skew', async () => {
    const clock = { now: Date.now() }
    const outcomes: Array<OboResult['cache']> = []
    const obo = service(createMemoryOboCache(100), clock, outcomes)
    expect(obo.cached(user, scopes)).toBeUndefined()
    const before = stack.oboCalls()
    const fresh = await obo.exchange(user, scopes)
    expect(fresh.cache).toBe('miss')
    expect(stack.oboCalls()).toBe(before + 1)

    const hit = obo.cached(user, scopes)
    expect(hit).toMatchObject({ cache: 'hit', accessToken: fresh.accessToken, expiresAt: fresh.expiresAt })
    expect(outcomes).toEqual(['miss', 'hit'])
    // Other scopes are another key, and so is a claims challenge; a forced refresh takes nothing from the cache.
    expect(obo.cached(user, ['api://other/user_impersonation'])).toBeUndefined()
    expect(obo.cached(user, scopes, { claims: '{"access_token":{"acrs":{"essential":true,"value":"c1"}}}' })).toBeUndefined()
    expect(obo.cached(user, scopes, { forceRefresh: true })).toBeUndefined()
    expect(outcomes).toEqual(['miss', 'hit'])

    // Five minutes (the default skew) before expiry it is no longer answered, as exchange() would not.
    clock.now = fresh.expiresAt - 300_000
    expect(obo.cached(user, scopes)).toBeUndefined()
    clock.now = fresh.expiresAt - 300_001
    expect(obo.cached(user, scopes)?.accessToken).toBe(fresh.accessToken)
    expect(stack.oboCalls()).toBe(before + 1)
  })

  it('a claims challenge\'s token is found under its own claims only, as exchange() would find it', async () => {
    const outcomes: Array<OboResult['cache']> = []
    const obo = service(createMemoryOboCache(100), { now: Date.now() }, outcomes)
    // Client capabilities only: claims the user's token satisfies, so Entra (the emulator) issues under them.
    const claims = '{"access_token":{"xms_cc":{"values":["cp1"]}}}'
    const challenged = await obo.exchange(user, scopes, { claims })
    expect(obo.cached(user, scopes, { claims })?.accessToken).toBe(challenged.accessToken)
    expect(obo.cached(user, scopes)).toBeUndefined()
    expect(obo.cached(user, scopes, { claims, forceRefresh: true })).toBeUndefined()
    expect(outcomes).toEqual(['miss', 'hit'])
  })

  it('a shared (store-backed) cache has no answer without waiting: exchange() still hits it', async () => {
    const clock = { now: Date.now() }
    const outcomes: Array<OboResult['cache']> = []
    const cache = createStoreOboCache(createMemoryStore(), createKeyring({ current: randomBytes(32), purpose: 'obo-cache' }))
    const obo = service(cache, clock, outcomes)
    const fresh = await obo.exchange(user, scopes)
    expect(obo.cached(user, scopes)).toBeUndefined()
    expect((await obo.exchange(user, scopes)).accessToken).toBe(fresh.accessToken)
    expect(outcomes).toEqual(['miss', 'hit'])
  })
})
