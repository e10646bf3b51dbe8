import { describe, expect, it } from 'vitest'
import { createMemoryStore } from '../../src/stores/memory.ts'
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
