// Anonymous /auth/login requests wrote state into the bounded store that also held sessions, evicting them.
import { afterAll, beforeAll, expect, it } from 'vitest'
import { createMemoryStore } from '../../src/stores/memory.ts'
import { signedInBrowser } from '../helpers/sign-in.ts'
import { startTestStack, type TestStack } from '../helpers/stack.ts'

let stack: TestStack
beforeAll(async () => {
  // A store with room for a handful of entries makes the eviction visible with a bounded request count.
  stack = await startTestStack({ relay: { store: createMemoryStore({ maxEntries: 6 }) } })
})
afterAll(async () => { await stack?.close() })

it('a flood of anonymous sign-in starts does not end a signed-in session', async () => {
  const alice = await signedInBrowser(stack, 'alice@contoso.test')
  expect((await alice.request(`${stack.relayUrl}/v1/me`)).status).toBe(200)
  for (let i = 0; i < 50; i++) expect((await stack.call('/auth/login')).status).toBe(302)
  expect((await alice.request(`${stack.relayUrl}/v1/me`)).status).toBe(200)
})
