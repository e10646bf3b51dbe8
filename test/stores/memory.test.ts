import { describe, expect, it } from 'vitest'
import { createMemoryStore } from '../../src/stores/memory.ts'

describe('memory store', () => {
  it('is bounded: the least recently used entry goes first', async () => {
    const store = createMemoryStore({ maxEntries: 10 })
    for (let i = 0; i < 50; i++) await store.set(`k${i}`, 'v', 60_000)
    expect(await store.get('k0')).toBeUndefined()
    expect(await store.get('k49')).toBe('v')
  })
})
