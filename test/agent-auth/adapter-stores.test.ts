// What an unauthenticated caller can make the authorization server store (a registered client above all) goes
// to the transient store: in memory, a flood of registrations evicts registrations, never a token or a grant.
import { randomBytes } from 'node:crypto'
import { expect, it } from 'vitest'
import { createStoreAdapter } from '../../src/agent-auth/adapter.ts'
import { createKeyring } from '../../src/crypto/keyring.ts'
import { createMemoryStore } from '../../src/stores/memory.ts'

it('registered clients go to the transient store, tokens and grants to the durable one', async () => {
  const durable = createMemoryStore()
  const transient = createMemoryStore({ maxEntries: 3 })
  const adapter = createStoreAdapter({ stores: { durable, transient }, keyring: createKeyring({ current: randomBytes(32), purpose: 'test' }), onConcurrentReuse: async () => {} })
  await adapter('AccessToken').upsert('at-1', { grantId: 'g-1', accountId: 'a' }, 600)
  await adapter('Grant').upsert('g-1', { accountId: 'a' }, 600)
  // A flood of registrations, more than the transient store holds.
  for (let i = 0; i < 10; i++) await adapter('Client').upsert(`client-${i}`, { client_id: `client-${i}` })
  expect(await adapter('Client').find('client-9')).toMatchObject({ client_id: 'client-9' })
  expect(await adapter('Client').find('client-0')).toBeUndefined()
  expect(await adapter('AccessToken').find('at-1')).toMatchObject({ grantId: 'g-1' })
  expect(await adapter('Grant').find('g-1')).toMatchObject({ accountId: 'a' })
})
