// One index set per grant for the keys of all its tokens and codes (not one per model): each model's
// revokeByGrantId still ends only its own, and an index written per model (before the shared one) still counts.
import { randomBytes } from 'node:crypto'
import { expect, it } from 'vitest'
import { createStoreAdapter } from '../../src/agent-auth/adapter.ts'
import { createKeyring } from '../../src/crypto/keyring.ts'
import { sha256b64url } from '../../src/crypto/hash.ts'
import { createMemoryStore } from '../../src/stores/memory.ts'

function setup () {
  const durable = createMemoryStore()
  const transient = createMemoryStore()
  const adapter = createStoreAdapter({ stores: { durable, transient }, keyring: createKeyring({ current: randomBytes(32), purpose: 'test' }), onConcurrentReuse: async () => {} })
  return { durable, adapter }
}

it("revokeByGrantId of one model ends that model's records of the grant, nothing of another model or grant", async () => {
  const { durable, adapter } = setup()
  await adapter('AccessToken').upsert('at-1', { grantId: 'g-1' }, 600)
  await adapter('AccessToken').upsert('at-2', { grantId: 'g-1' }, 600)
  await adapter('RefreshToken').upsert('rt-1', { grantId: 'g-1' }, 600)
  await adapter('RefreshToken').consume('rt-1')
  await adapter('AccessToken').upsert('at-3', { grantId: 'g-2' }, 600)
  const index = `oidc:by-grant:${sha256b64url('g-1')}`
  expect(await durable.setMembers(index)).toHaveLength(3)

  await adapter('AccessToken').revokeByGrantId('g-1')
  expect(await adapter('AccessToken').find('at-1')).toBeUndefined()
  expect(await adapter('AccessToken').find('at-2')).toBeUndefined()
  expect(await adapter('RefreshToken').find('rt-1')).toMatchObject({ grantId: 'g-1', consumed: expect.any(Number) })
  expect(await adapter('AccessToken').find('at-3')).toMatchObject({ grantId: 'g-2' })
  expect(await durable.setMembers(index)).toEqual([`oidc:RefreshToken:${sha256b64url('rt-1')}`])

  await adapter('RefreshToken').revokeByGrantId('g-1')
  expect(await adapter('RefreshToken').find('rt-1')).toBeUndefined()
  // Its consumed mark went with it: a token of the same id is not taken for a reused one.
  expect(await durable.get(`oidc:RefreshToken:${sha256b64url('rt-1')}:consumed`)).toBeUndefined()
  expect(await durable.setMembers(index)).toEqual([])
})

it('a token indexed the way records were before the shared index is revoked with its grant', async () => {
  const { durable, adapter } = setup()
  await adapter('RefreshToken').upsert('rt-old', { grantId: 'g-1' }, 600)
  const key = `oidc:RefreshToken:${sha256b64url('rt-old')}`
  // As an earlier version left it: in the model's own index of the grant.
  await durable.setRemove(`oidc:by-grant:${sha256b64url('g-1')}`, [key])
  await durable.setAdd(`oidc:RefreshToken:grant:${sha256b64url('g-1')}`, [key], 600_000)

  await adapter('RefreshToken').revokeByGrantId('g-1')
  expect(await adapter('RefreshToken').find('rt-old')).toBeUndefined()
  expect(await durable.setMembers(`oidc:RefreshToken:grant:${sha256b64url('g-1')}`)).toEqual([])
})

it('a destroyed token leaves the index of its grant', async () => {
  const { durable, adapter } = setup()
  await adapter('AccessToken').upsert('at-1', { grantId: 'g-1' }, 600)
  await adapter('AccessToken').upsert('at-2', { grantId: 'g-1' }, 600)
  await adapter('AccessToken').destroy('at-1')
  expect(await durable.setMembers(`oidc:by-grant:${sha256b64url('g-1')}`)).toEqual([`oidc:AccessToken:${sha256b64url('at-2')}`])
})

it('a refresh token is stored compressed, an access token and a grant (read on every request) are not', async () => {
  const durable = createMemoryStore()
  const master = randomBytes(32)
  const adapter = createStoreAdapter({
    stores: { durable, transient: createMemoryStore() },
    keyring: createKeyring({ current: master, purpose: 'test' }),
    compressingKeyring: createKeyring({ current: master, purpose: 'test', compress: true }),
    onConcurrentReuse: async () => {},
  })
  const payload = { grantId: 'g-1', accountId: 'a'.repeat(300), scope: 'tools:read tools:call', aud: 'https://relay.example/v1' }
  for (const model of ['RefreshToken', 'AccessToken', 'Grant']) await adapter(model).upsert(`${model}-1`, payload, 600)
  const format = async (model: string) => (await durable.get(`oidc:${model}:${sha256b64url(`${model}-1`)}`))?.split('.')[0]
  expect(await format('RefreshToken')).toBe('v2')
  expect(await format('AccessToken')).toBe('v1')
  expect(await format('Grant')).toBe('v1')
  expect(await adapter('RefreshToken').find('RefreshToken-1')).toEqual(payload)
})

it('a refresh token sealed under the previous key is sealed again compressed under the current one', async () => {
  const durable = createMemoryStore()
  const [oldKey, newKey] = [randomBytes(32), randomBytes(32)]
  const adapterWith = (current: Buffer, previous?: Buffer) => createStoreAdapter({
    stores: { durable, transient: createMemoryStore() },
    keyring: createKeyring({ current, previous, purpose: 'test' }),
    compressingKeyring: createKeyring({ current, previous, purpose: 'test', compress: true }),
    onConcurrentReuse: async () => {},
  })
  const payload = { grantId: 'g-1', accountId: 'a'.repeat(300) }
  await adapterWith(oldKey)('RefreshToken').upsert('rt-1', payload, 600)
  const key = `oidc:RefreshToken:${sha256b64url('rt-1')}`
  const before = await durable.get(key) as string
  expect(await adapterWith(newKey, oldKey)('RefreshToken').find('rt-1')).toEqual(payload)
  const after = await durable.get(key) as string
  expect(after.split('.')[0]).toBe('v2')
  expect(after.split('.')[1]).not.toBe(before.split('.')[1])
})
