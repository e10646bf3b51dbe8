// The shared-store OBO cache: tokens sealed under the key (nothing readable in the store), a value sealed under
// another key is a miss (and reported), grant tags drop their tokens together.
import { randomBytes } from 'node:crypto'
import { describe, expect, it } from 'vitest'
import { createKeyring } from '../../src/crypto/keyring.ts'
import { createMemoryStore } from '../../src/stores/memory.ts'
import { createStoreOboCache } from '../../src/stores/obo-cache.ts'

describe('createStoreOboCache', () => {
  const token = { accessToken: 'eyJhbGciOiJSUzI1NiJ9.secret-payload.sig', expiresAt: Date.now() + 3_600_000 }

  it('seals what it stores and reads it back', async () => {
    const store = createMemoryStore()
    const cache = createStoreOboCache(store, createKeyring({ current: randomBytes(32), purpose: 'obo-cache' }))
    await cache.set('k1', token, 60_000)
    expect(await cache.get('k1')).toEqual(token)
    const raw = await store.get('obo:k1')
    expect(raw).toMatch(/^v1\./)
    expect(raw).not.toContain('secret-payload')
  })

  it('a value sealed under another key is a miss, and says so', async () => {
    const store = createMemoryStore()
    await createStoreOboCache(store, createKeyring({ current: randomBytes(32), purpose: 'obo-cache' })).set('k1', token, 60_000)
    let unreadable = 0
    const other = createStoreOboCache(store, createKeyring({ current: randomBytes(32), purpose: 'obo-cache' }), () => { unreadable++ })
    expect(await other.get('k1')).toBeUndefined()
    expect(unreadable).toBe(1)
  })

  it('the previous key still opens values sealed before a rotation', async () => {
    const store = createMemoryStore()
    const old = randomBytes(32)
    await createStoreOboCache(store, createKeyring({ current: old, purpose: 'obo-cache' })).set('k1', token, 60_000)
    expect(await createStoreOboCache(store, createKeyring({ current: randomBytes(32), previous: old, purpose: 'obo-cache' })).get('k1')).toEqual(token)
  })

  it('drops a grant\'s tokens together', async () => {
    const cache = createStoreOboCache(createMemoryStore(), createKeyring({ current: randomBytes(32), purpose: 'obo-cache' }))
    await cache.set('a', token, 60_000)
    await cache.set('b', { ...token, accessToken: 'other' }, 60_000)
    await cache.tag('grant-1', 'a', 60_000)
    await cache.tag('grant-1', 'b', 60_000)
    expect(await cache.countTag('grant-1')).toBe(2)
    expect((await cache.dropTag('grant-1')).map((t) => t.accessToken).sort()).toEqual([token.accessToken, 'other'].sort())
    expect(await cache.get('a')).toBeUndefined()
    expect(await cache.countTag('grant-1')).toBe(0)
  })
})
