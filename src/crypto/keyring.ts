import { createCipheriv, createDecipheriv, createHmac, createSecretKey, hkdfSync, randomBytes, type KeyObject } from 'node:crypto'
import { deflateRawSync, inflateRawSync } from 'node:zlib'

/**
 * Sealing of values at rest (MSAL cache partitions, tokens in the shared store) with key rotation: AES-256-GCM
 * under a key derived per purpose from TOKEN_ENCRYPTION_KEY, tagged with a key id so that values sealed under
 * TOKEN_ENCRYPTION_KEY_PREVIOUS still open while callers re-seal them under the current key.
 *
 * Format: `v1.<key id>.<base64url(iv ‖ ciphertext ‖ tag)>`; the GCM additional data is the header plus the caller's `aad`.
 * `v2` is the same over the raw-DEFLATE of the plaintext: a keyring made with `compress` (MSAL cache partitions, the provider's refresh tokens)
 * compresses values of COMPRESS_MIN_BYTES and more before sealing them when that makes them smaller. The format is
 * in the authenticated header, so a value cannot be passed off as the other one. Compression before encryption
 * leaks only a sealed value's length, to whoever reads the store, and no one outside can put chosen text next to a
 * token in one value and watch the length change (the CRIME conditions): a partition holds Entra's answers, and a
 * refresh-token record a new random token each, beside only what its own client asked for.
 */
export interface Keyring {
  /** Seals under the current key, bound to `aad` (where the value is stored, e.g. the user's partition key). */
  seal: (plaintext: string, aad: string) => string
  /** The plaintext, or undefined when the value is not ours: tampered, another `aad`, an unknown or wrong key. */
  open: (sealed: string, aad: string) => string | undefined
  /** True when the value carries the previous key's id: open it and seal it again under the current key. */
  sealedUnderPrevious: (sealed: string) => boolean
  /** The current key's id, as it appears in sealed values (not secret). */
  currentKeyId: string
}

export interface KeyringOptions {
  /** The 32-byte master key (TOKEN_ENCRYPTION_KEY); every value is sealed under it. */
  current: Buffer
  /** The master key before the last rotation (TOKEN_ENCRYPTION_KEY_PREVIOUS); values under it still open. */
  previous?: Buffer | undefined
  /** What the values are for; each purpose gets its own derived key, so one key never serves two uses. */
  purpose: string
  /**
   * Seal values of COMPRESS_MIN_BYTES and more as v2 (DEFLATE first). For values written seldom and held long
   * (MSAL partitions); not for ones written or opened on every request, where zlib's per-call set-up costs more
   * than the bytes it saves. Either keyring opens both formats.
   */
  compress?: boolean
}

const MASTER_KEY_BYTES = 32
const IV_BYTES = 12
const TAG_BYTES = 16
const KEY_ID_BYTES = 6
const FORMAT = 'v1'
const COMPRESSED_FORMAT = 'v2'
/** Below this many bytes compression seldom pays (DEFLATE's block overhead, base64url of random token bytes). */
const COMPRESS_MIN_BYTES = 256
/** An opened value inflates to at most this: sealed values are ours, but a bound costs nothing. */
const MAX_PLAINTEXT_BYTES = 16 * 1024 * 1024

/** A purpose-bound 32-byte key from the master key (HKDF-SHA256), as src/stores/sealed.ts derives it. */
export function deriveKey (masterKey: Buffer, purpose: string): Buffer {
  return Buffer.from(hkdfSync('sha256', masterKey, Buffer.alloc(0), `obo-relay/${purpose}`, 32))
}

/** A short public name for a derived key: a one-way function of it, so it tells nothing about the key. */
export function keyIdOf (key: Buffer): string {
  return createHmac('sha256', key).update('obo-relay/key-id').digest().subarray(0, KEY_ID_BYTES).toString('base64url')
}

export function createKeyring (options: KeyringOptions): Keyring {
  const current = namedKey(options.current, options.purpose, 'current')
  const previous = options.previous === undefined ? undefined : namedKey(options.previous, options.purpose, 'previous')
  // Ids are 48 bits: equal ids for two keys are practically impossible, but then both are tried.
  const keysById = (id: string) => [current, previous].filter((k): k is NamedKey => k !== undefined && k.id === id)

  return {
    currentKeyId: current.id,
    seal: (plaintext, aad) => {
      let bytes = Buffer.from(plaintext, 'utf8')
      let format = FORMAT
      if (options.compress === true && bytes.length >= COMPRESS_MIN_BYTES) {
        const deflated = deflateRawSync(bytes)
        if (deflated.length < bytes.length) {
          bytes = deflated
          format = COMPRESSED_FORMAT
        }
      }
      const header = `${format}.${current.id}.`
      const iv = randomBytes(IV_BYTES)
      const cipher = createCipheriv('aes-256-gcm', current.key, iv)
      cipher.setAAD(Buffer.from(header + aad, 'utf8'))
      const ciphertext = Buffer.concat([cipher.update(bytes), cipher.final()])
      // One flat string (ASCII, so latin1 is exact): `header + body` alone is a tree of the two, held as such by
      // a memory store for as long as the value lives.
      return Buffer.from(header + Buffer.concat([iv, ciphertext, cipher.getAuthTag()]).toString('base64url'), 'latin1').toString('latin1')
    },
    open: (sealed, aad) => {
      const parts = parse(sealed)
      if (parts === undefined) return undefined
      for (const { key } of keysById(parts.keyId)) {
        const plaintext = decrypt(key, parts, aad)
        if (plaintext !== undefined) return plaintext
      }
      return undefined
    },
    sealedUnderPrevious: (sealed) => {
      const keyId = parse(sealed)?.keyId
      return previous !== undefined && keyId === previous.id && keyId !== current.id
    },
  }
}

/** The derived key as a KeyObject: created once, not imported again by every cipher. */
interface NamedKey { key: KeyObject, id: string }
interface SealedParts { header: string, keyId: string, body: Buffer, compressed: boolean }

function namedKey (masterKey: Buffer, purpose: string, which: string): NamedKey {
  if (masterKey.length !== MASTER_KEY_BYTES) throw new Error(`the ${which} sealing key must be ${MASTER_KEY_BYTES} bytes, not ${masterKey.length}`)
  const key = deriveKey(masterKey, purpose)
  return { key: createSecretKey(key), id: keyIdOf(key) }
}

function parse (sealed: string): SealedParts | undefined {
  if (typeof sealed !== 'string') return undefined
  const [format, keyId, payload, ...rest] = sealed.split('.')
  if ((format !== FORMAT && format !== COMPRESSED_FORMAT) || keyId === undefined || payload === undefined || rest.length > 0) return undefined
  if (!/^[\w-]+$/.test(keyId) || !/^[\w-]*$/.test(payload)) return undefined
  const body = Buffer.from(payload, 'base64url')
  // Only the canonical encoding: no second spelling of the same bytes passes for the sealed value.
  if (body.length < IV_BYTES + TAG_BYTES || body.toString('base64url') !== payload) return undefined
  return { header: `${format}.${keyId}.`, keyId, body, compressed: format === COMPRESSED_FORMAT }
}

function decrypt (key: KeyObject, { header, body, compressed }: SealedParts, aad: string): string | undefined {
  try {
    const decipher = createDecipheriv('aes-256-gcm', key, body.subarray(0, IV_BYTES), { authTagLength: TAG_BYTES })
    decipher.setAAD(Buffer.from(header + aad, 'utf8'))
    decipher.setAuthTag(body.subarray(body.length - TAG_BYTES))
    const plaintext = Buffer.concat([decipher.update(body.subarray(IV_BYTES, body.length - TAG_BYTES)), decipher.final()])
    return (compressed ? inflateRawSync(plaintext, { maxOutputLength: MAX_PLAINTEXT_BYTES }) : plaintext).toString('utf8')
  } catch {
    return undefined
  }
}
