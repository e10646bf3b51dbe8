import { describe, expect, it } from 'vitest'
import { createMemoryStore, packValue, unpackValue } from '../../src/stores/memory.ts'
import { describeStoreContract } from './contract.ts'

// One process: every "replica" is the same store.
describeStoreContract('memory', async (replicas) => {
  const store = createMemoryStore()
  return Array.from({ length: replicas }, () => store)
})

describe('memory store', () => {
  it('is bounded: the least recently used entry goes first', async () => {
    const store = createMemoryStore({ maxEntries: 10 })
    for (let i = 0; i < 50; i++) await store.set(`k${i}`, 'v', 60_000)
    expect(await store.get('k0')).toBeUndefined()
    expect(await store.get('k49')).toBe('v')
  })
})

describe('memory store: sealed values held as their bytes', () => {
  const b64 = (n: number, seed: number): string => Buffer.from(Array.from({ length: n }, (_, i) => (i * 31 + seed * 7) % 256)).toString('base64url')
  // Every value reads back exactly as written, whichever of them are packed.
  const values = [
    `v1.AbCdEfGh.${b64(600, 1)}`,
    `v1.AbCdEfGh.${b64(47, 2)}`, // tail under the packing bound
    b64(200, 3), // no prefix at all
    `v1.k.${b64(200, 4).slice(0, -1)}`, // a tail whose last character carries bits its bytes do not (not canonical)
    `v1.k.${b64(200, 5)}=`, // padded: not base64url's canonical spelling
    `v1.k.${b64(100, 6)}+/`, // standard base64's alphabet
    `\u0001${b64(200, 7)}`, // the marks themselves, as a caller's value
    `\u0002v1.k.${b64(200, 8)}`,
    '\u0001',
    `${'p'.repeat(300)}.${b64(200, 9)}`, // a prefix too long to count in one byte
    `é.ü.${b64(200, 10)}`, // latin1 prefix
    `☃.${b64(200, 11)}`, // a prefix beyond latin1
    `{"a":"${b64(300, 12)}"}`,
    '',
    '1',
  ]
  it('reads back every value exactly, through get, getMany, take and compareAndSet', async () => {
    const store = createMemoryStore()
    for (const [i, v] of values.entries()) await store.set(`k${i}`, v, 60_000)
    for (const [i, v] of values.entries()) expect(await store.get(`k${i}`)).toBe(v)
    expect(await store.getMany(values.map((_, i) => `k${i}`))).toEqual(values)
    for (const [i, v] of values.entries()) {
      expect(await store.compareAndSet(`k${i}`, v, `${v}.x`, 60_000)).toBe(true)
      expect(await store.compareAndSet(`k${i}`, v, 'no', 60_000)).toBe(false)
      expect(await store.take(`k${i}`)).toBe(`${v}.x`)
      expect(await store.setIfAbsent(`k${i}`, v, 60_000)).toBe(true)
      expect(await store.get(`k${i}`)).toBe(v)
    }
  })

  it('holds a sealed value as its bytes: three quarters of its text, one byte a character', () => {
    const sealed = `v1.AbCdEfGh.${b64(3000, 13)}`
    const held = packValue(sealed)
    expect(held.length).toBe(2 + 'v1.AbCdEfGh.'.length + 3000)
    expect(Buffer.from(held, 'latin1').toString('latin1')).toBe(held)
    expect(unpackValue(held)).toBe(sealed)
    // Values that are not sealed-looking are held as they are.
    for (const v of ['{"a":1}', 'v1.k.short', `v1.k.${b64(100, 1)}=`]) expect(packValue(v)).toBe(v)
  })
})
