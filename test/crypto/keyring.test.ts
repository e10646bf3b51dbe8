import { randomBytes } from 'node:crypto'
import { describe, expect, it } from 'vitest'
import { createKeyring, deriveKey, keyIdOf } from '../../src/crypto/keyring.ts'

const PURPOSE = 'msal-cache'
const AAD = 'tid.oid-of-alice'
const keyA = randomBytes(32)
const keyB = randomBytes(32)

describe('keyring sealing (AES-256-GCM, HKDF per purpose)', () => {
  it('round-trips under the current key, never shows the plaintext, and seals differently each time', () => {
    const keyring = createKeyring({ current: keyA, purpose: PURPOSE })
    const plaintext = '{"RefreshToken":{"secret":"refresh-token-value"}} ünïcødé ✓'
    const sealed = keyring.seal(plaintext, AAD)
    expect(sealed).not.toContain('refresh-token-value')
    expect(keyring.open(sealed, AAD)).toBe(plaintext)
    expect(keyring.seal(plaintext, AAD)).not.toBe(sealed)
    expect(keyring.open(keyring.seal('', ''), '')).toBe('')
  })

  it('carries the short, public id of the key it was sealed under', () => {
    const keyring = createKeyring({ current: keyA, purpose: PURPOSE })
    const sealed = keyring.seal('secret', AAD)
    expect(sealed.split('.').slice(0, 2)).toEqual(['v1', keyring.currentKeyId])
    expect(keyring.currentKeyId).toBe(keyIdOf(deriveKey(keyA, PURPOSE)))
    expect(keyring.currentKeyId).toMatch(/^[\w-]{8}$/)
    // Stable for the same key and purpose (every replica names it alike); distinct across keys and purposes.
    expect(createKeyring({ current: Buffer.from(keyA), purpose: PURPOSE }).currentKeyId).toBe(keyring.currentKeyId)
    expect(createKeyring({ current: keyB, purpose: PURPOSE }).currentKeyId).not.toBe(keyring.currentKeyId)
    expect(createKeyring({ current: keyA, purpose: 'login-transaction' }).currentKeyId).not.toBe(keyring.currentKeyId)
  })

  it('derives keys as src/stores/sealed.ts does (HKDF-SHA256, info obo-relay/<purpose>), one per purpose', () => {
    // Pinned: replicas and stored values depend on the derivation never changing.
    expect(deriveKey(Buffer.alloc(32, 7), 'msal-cache').toString('hex')).toBe('4a9bbc09a99ed67ba4e5e35d72a4a4286b5904949ed6029ea1b75b92677496be')
    expect(deriveKey(keyA, 'a').equals(deriveKey(keyA, 'b'))).toBe(false)
  })

  it('binds a value to its aad: another aad opens nothing', () => {
    const keyring = createKeyring({ current: keyA, purpose: PURPOSE })
    const sealed = keyring.seal('secret', 'alice')
    expect(keyring.open(sealed, 'bob')).toBeUndefined()
    expect(keyring.open(sealed, 'alice ')).toBeUndefined()
    expect(keyring.open(sealed, '')).toBeUndefined()
  })

  it('opens nothing under another master key or another purpose', () => {
    const sealed = createKeyring({ current: keyA, purpose: PURPOSE }).seal('secret', AAD)
    expect(createKeyring({ current: keyB, purpose: PURPOSE }).open(sealed, AAD)).toBeUndefined()
    expect(createKeyring({ current: keyA, purpose: 'cookie' }).open(sealed, AAD)).toBeUndefined()
  })

  it('opens nothing tampered: any byte of iv, ciphertext or tag, the key id, a second spelling, or garbage', () => {
    const keyring = createKeyring({ current: keyA, previous: keyB, purpose: PURPOSE })
    const sealed = keyring.seal('secret value', AAD)
    const [format, keyId, payload] = sealed.split('.') as [string, string, string]
    const body = Buffer.from(payload, 'base64url')
    for (let i = 0; i < body.length; i++) {
      const flipped = Buffer.from(body)
      flipped[i]! ^= 0x01
      expect(keyring.open(`${format}.${keyId}.${flipped.toString('base64url')}`, AAD), `byte ${i}`).toBeUndefined()
    }
    const previousId = createKeyring({ current: keyB, purpose: PURPOSE }).currentKeyId
    expect(keyring.open(`${format}.${previousId}.${payload}`, AAD)).toBeUndefined()
    expect(keyring.open(`v2.${keyId}.${payload}`, AAD)).toBeUndefined()
    expect(keyring.open(`${sealed}.`, AAD)).toBeUndefined()
    expect(keyring.open(`${format}.${keyId}.${payload.slice(0, -4)}`, AAD)).toBeUndefined()
    expect(keyring.open(`${format}.${keyId}.${payload}=`, AAD)).toBeUndefined()
    for (const garbage of ['', 'v1', 'v1..', 'v1.x.', 'not sealed at all', randomBytes(64).toString('base64url'), `v1.${keyId}.${randomBytes(40).toString('base64url')}`]) {
      expect(keyring.open(garbage, AAD), garbage).toBeUndefined()
      expect(keyring.sealedUnderPrevious(garbage), garbage).toBe(false)
    }
  })

  it('after a rotation opens values under the previous key, says they need re-sealing, and seals under the current one', () => {
    const beforeRotation = createKeyring({ current: keyA, purpose: PURPOSE })
    const afterRotation = createKeyring({ current: keyB, previous: keyA, purpose: PURPOSE })
    const old = beforeRotation.seal('cache partition', AAD)

    expect(afterRotation.open(old, AAD)).toBe('cache partition')
    expect(afterRotation.sealedUnderPrevious(old)).toBe(true)
    // Still bound to its aad under the previous key.
    expect(afterRotation.open(old, 'bob')).toBeUndefined()

    const resealed = afterRotation.seal(afterRotation.open(old, AAD)!, AAD)
    expect(afterRotation.sealedUnderPrevious(resealed)).toBe(false)
    expect(resealed.split('.')[1]).toBe(afterRotation.currentKeyId)
    expect(createKeyring({ current: keyB, purpose: PURPOSE }).open(resealed, AAD)).toBe('cache partition')
    expect(beforeRotation.open(resealed, AAD)).toBeUndefined()
  })

  it('opens nothing under a key it no longer holds (the previous one dropped) or never held', () => {
    const old = createKeyring({ current: keyA, purpose: PURPOSE }).seal('secret', AAD)
    const rotatedTwice = createKeyring({ current: randomBytes(32), previous: keyB, purpose: PURPOSE })
    expect(rotatedTwice.open(old, AAD)).toBeUndefined()
    expect(rotatedTwice.sealedUnderPrevious(old)).toBe(false)
    expect(createKeyring({ current: keyB, purpose: PURPOSE }).open(old, AAD)).toBeUndefined()
  })

  it('refuses master keys that are not 32 bytes', () => {
    expect(() => createKeyring({ current: randomBytes(16), purpose: PURPOSE })).toThrow(/current sealing key must be 32 bytes/)
    expect(() => createKeyring({ current: keyA, previous: Buffer.alloc(0), purpose: PURPOSE })).toThrow(/previous sealing key must be 32 bytes/)
  })
})
