import { randomBytes } from 'node:crypto'
import { describe, expect, it } from 'vitest'
import { createSealer, deriveKey } from '../../src/stores/sealed.ts'

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
