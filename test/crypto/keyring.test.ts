import { randomBytes } from 'node:crypto'
import { describe, expect, it } from 'vitest'
import { createKeyring, deriveKey, keyIdOf } from '../../src/crypto/keyring.ts'

const PURPOSE = 'msal-cache'
const AAD = 'tid.oid-of-alice'
const keyA = randomBytes(32)
const keyB = randomBytes(32)
const PINNED_V1 = 'v1.rgbEsqCQ.QlOQLlO1yJFwD4vUf0tg0EZt5qOGi8g9eAO0QAC-9DyMqAQGuQSAqSjriUFRgiod4SB5E6Ixe3up6JdvBqC4aoPiBrONr5It6KhxaDvKVrbITxomJNYhU8HEMNkWinxNuHs71e07IlXcC-eQG6-PwomOKsV1VL1vBcmw5_hT8mUp4iwcTOzjFr3248wZhfQX1PmTiJ-ujN4wZB1BeE-ZrZrW3hCPw9D5_InjJzGLJJhzrge7OwEh7kt5YQVdoSqh8-KHsTIkdL1t9Ch2b_2uItO0DQt-7IA5XpGJ6EZEyJ287EM2dUH5Y0Nl-8XeoJ2Yx-Ro_R7LpHIhPvWdrPk_nmGIdpDaae9rexN_WBFeJFO5AF358RL1ETwwAPm3FqE6jHC-gJiTF8Kh6GdtB7TViyG94-EgNxFVVeu02GWmvDjsVnEqpBz3CAD_Dti2__33l2sJ1DIjvMF3gZf4h3CsrinYOPmMTg'

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

  it('with compress, seals values of 256 bytes and more DEFLATEd (v2) when that makes them smaller, and opens both formats', () => {
    const keyring = createKeyring({ current: keyA, purpose: PURPOSE, compress: true })
    // An MSAL cache: JSON whose field names and account ids repeat around random token text.
    const account = 'a11ce000-0000-0000-0000-000000000001.11111111-1111-1111-1111-111111111111'
    const cache = JSON.stringify({
      Account: { [account]: { home_account_id: account, environment: 'login.microsoftonline.com', realm: '11111111-1111-1111-1111-111111111111' } },
      AccessToken: { [`${account}-accesstoken`]: { home_account_id: account, environment: 'login.microsoftonline.com', secret: randomBytes(1000).toString('base64url') } },
      RefreshToken: { [`${account}-refreshtoken`]: { home_account_id: account, environment: 'login.microsoftonline.com', secret: randomBytes(600).toString('base64url') } },
    })
    const sealed = keyring.seal(cache, AAD)
    expect(sealed.split('.')[0]).toBe('v2')
    const v1Length = `v1.${keyring.currentKeyId}.`.length + Math.ceil((12 + Buffer.byteLength(cache) + 16) * 4 / 3)
    expect(sealed.length).toBeLessThan(v1Length * 0.85)
    expect(keyring.open(sealed, AAD)).toBe(cache)
    // Short values are sealed as they are.
    expect(keyring.seal('x'.repeat(255), AAD).split('.')[0]).toBe('v1')
    expect(keyring.seal('x'.repeat(256), AAD).split('.')[0]).toBe('v2')
    // Without compress (values written or opened on every request) nothing is compressed; v2 values still open.
    const plain = createKeyring({ current: keyA, purpose: PURPOSE })
    expect(plain.seal(cache, AAD).split('.')[0]).toBe('v1')
    expect(plain.open(sealed, AAD)).toBe(cache)
    // The format is authenticated: a v2 value relabelled v1 (and the other way round) opens nothing.
    const [, keyId, payload] = sealed.split('.') as [string, string, string]
    expect(keyring.open(`v1.${keyId}.${payload}`, AAD)).toBeUndefined()
    const [, shortId, shortPayload] = keyring.seal('secret', AAD).split('.') as [string, string, string]
    expect(keyring.open(`v2.${shortId}.${shortPayload}`, AAD)).toBeUndefined()
    // Still bound to its aad and key, and flipped bytes open nothing.
    expect(keyring.open(sealed, 'bob')).toBeUndefined()
    expect(createKeyring({ current: keyB, purpose: PURPOSE }).open(sealed, AAD)).toBeUndefined()
    const body = Buffer.from(payload, 'base64url')
    body[20]! ^= 0x01
    expect(keyring.open(`v2.${keyId}.${body.toString('base64url')}`, AAD)).toBeUndefined()
  })

  it('opens values sealed before compression existed (v1, pinned), so stored partitions survive the upgrade', () => {
    // Sealed by the v1-only keyring of commit eeebb99 under Buffer.alloc(32, 7), purpose msal-cache, aad "alice".
    const keyring = createKeyring({ current: Buffer.alloc(32, 7), purpose: PURPOSE })
    expect(keyring.open(PINNED_V1, 'alice')).toBe(`{"RefreshToken":{"secret":"${'r'.repeat(300)}"}}`)
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
