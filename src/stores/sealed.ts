import { createCipheriv, createDecipheriv, hkdfSync, randomBytes } from 'node:crypto'

/** Derives a purpose-bound 32-byte key from TOKEN_ENCRYPTION_KEY (HKDF-SHA256), so one key never serves two uses. */
export function deriveKey (masterKey: Buffer, purpose: string): Buffer {
  return Buffer.from(hkdfSync('sha256', masterKey, Buffer.alloc(0), `obo-relay/${purpose}`, 32))
}

export interface Sealer {
  seal: (plaintext: string) => string
  /** Returns undefined when the value was not sealed by this key (tampered, or another key). */
  open: (sealed: string) => string | undefined
}

/** AES-256-GCM with a random 96-bit IV; `aad` binds a value to where it is stored (e.g. the user key). */
export function createSealer (key: Buffer): Sealer & { sealFor: (plaintext: string, aad: string) => string, openFor: (sealed: string, aad: string) => string | undefined } {
  const sealFor = (plaintext: string, aad: string): string => {
    const iv = randomBytes(12)
    const cipher = createCipheriv('aes-256-gcm', key, iv)
    cipher.setAAD(Buffer.from(aad))
    const body = Buffer.concat([cipher.update(plaintext, 'utf8'), cipher.final()])
    return Buffer.concat([iv, cipher.getAuthTag(), body]).toString('base64url')
  }
  const openFor = (sealed: string, aad: string): string | undefined => {
    try {
      const raw = Buffer.from(sealed, 'base64url')
      const decipher = createDecipheriv('aes-256-gcm', key, raw.subarray(0, 12))
      decipher.setAAD(Buffer.from(aad))
      decipher.setAuthTag(raw.subarray(12, 28))
      return Buffer.concat([decipher.update(raw.subarray(28)), decipher.final()]).toString('utf8')
    } catch {
      return undefined
    }
  }
  return { sealFor, openFor, seal: (p) => sealFor(p, ''), open: (s) => openFor(s, '') }
}
