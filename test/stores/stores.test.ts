import { randomBytes } from 'node:crypto'
import { describe, expect, it } from 'vitest'
import { createMemoryStore } from '../../src/stores/memory.ts'
import { createSealer, deriveKey } from '../../src/stores/sealed.ts'

describe('memory store', () => {
  it('set/get/delete, setIfAbsent, take is single-use', async () => {
    const store = createMemoryStore()
    await store.set('a', '1', 60_000)
    expect(await store.get('a')).toBe('1')
    expect(await store.setIfAbsent('a', '2', 60_000)).toBe(false)
    expect(await store.setIfAbsent('b', '2', 60_000)).toBe(true)
    expect(await store.take('b')).toBe('2')
    expect(await store.take('b')).toBeUndefined()
    await store.delete('a')
    expect(await store.get('a')).toBeUndefined()
  })

  it('expires entries after their TTL', async () => {
    const store = createMemoryStore()
    await store.set('short', 'x', 50)
    await new Promise((resolve) => setTimeout(resolve, 80))
    expect(await store.get('short')).toBeUndefined()
  })

  it('is bounded', async () => {
    const store = createMemoryStore({ maxEntries: 10 })
    for (let i = 0; i < 50; i++) await store.set(`k${i}`, 'v', 60_000)
    expect(await store.get('k0')).toBeUndefined()
    expect(await store.get('k49')).toBe('v')
  })
})

describe('sealing (AES-256-GCM)', () => {
  const master = randomBytes(32)
  const sealer = createSealer(deriveKey(master, 'msal-cache'))

  it('round-trips and never stores the plaintext', () => {
    const sealed = sealer.sealFor('refresh-token-value', 'alice')
    expect(sealed).not.toContain('refresh-token-value')
    expect(sealer.openFor(sealed, 'alice')).toBe('refresh-token-value')
  })

  it('refuses another binding, a tampered value, and another key', () => {
    const sealed = sealer.sealFor('secret', 'alice')
    expect(sealer.openFor(sealed, 'bob')).toBeUndefined()
    const raw = Buffer.from(sealed, 'base64url')
    raw[raw.length - 1]! ^= 1
    expect(sealer.openFor(raw.toString('base64url'), 'alice')).toBeUndefined()
    expect(createSealer(deriveKey(master, 'cookie')).openFor(sealed, 'alice')).toBeUndefined()
  })

  it('derives different keys per purpose', () => {
    expect(deriveKey(master, 'a').equals(deriveKey(master, 'b'))).toBe(false)
  })
})
