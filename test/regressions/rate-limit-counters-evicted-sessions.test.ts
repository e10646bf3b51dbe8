// Per-address rate-limit counters, written before authentication, lived in the bounded store that also held
// sessions and tokens: requests from many addresses (X-Forwarded-For behind TRUST_PROXY) evicted alice's session.
import { afterAll, beforeAll, expect, it } from 'vitest'
import { createMemoryStore } from '../../src/stores/memory.ts'
import { signedInBrowser } from '../helpers/sign-in.ts'
import { startTestStack, type TestStack } from '../helpers/stack.ts'

let stack: TestStack
beforeAll(async () => {
  // A store with room for a handful of entries makes the eviction visible with a bounded request count.
  stack = await startTestStack({
    relay: { store: createMemoryStore({ maxEntries: 6 }) },
    relayEnv: { TRUST_PROXY: 'true', RATE_LIMIT_CLIENT_PER_MIN: '1000' },
  })
})
afterAll(async () => { await stack?.close() })

it('requests from 60 addresses do not end a signed-in session', async () => {
  const alice = await signedInBrowser(stack, 'alice@contoso.test')
  expect((await alice.request(`${stack.relayUrl}/v1/me`)).status).toBe(200)
  for (let i = 0; i < 60; i++) {
    expect((await stack.call('/v1/me', { headers: { 'x-forwarded-for': `203.0.113.${i}` } })).status).toBe(401)
  }
  expect((await alice.request(`${stack.relayUrl}/v1/me`)).status).toBe(200)
})

it('the address that counts is the one TRUST_PROXY names: past the limit, 429 with Retry-After for it alone', async () => {
  const limited = await startTestStack({ relayEnv: { TRUST_PROXY: 'true', RATE_LIMIT_CLIENT_PER_MIN: '3' } })
  try {
    const from = (address: string) => limited.call('/v1/me', { headers: { 'x-forwarded-for': address } })
    for (let i = 0; i < 3; i++) expect((await from('198.51.100.7')).status).toBe(401)
    const refused = await from('198.51.100.7')
    expect(refused.status).toBe(429)
    expect(Number(refused.headers.get('retry-after'))).toBeGreaterThan(0)
    expect(refused.body).toMatchObject({ error: 'rate_limited', reason: 'rate_limited' })
    expect((await from('198.51.100.8')).status).toBe(401)
  } finally {
    await limited.close()
  }
})
