// Token signing keys. Entra publishes several keys and keeps a rolled-over key in the JWKS for a while,
// so tokens signed before a rotation still verify; the newest key is listed first.
import { createHash, generateKeyPairSync, KeyObject } from 'node:crypto'
import type { JWK } from 'jose'
import { createSelfSignedRsa } from './ca.ts'

export interface SigningKey {
  kid: string
  /** base64url SHA-1 thumbprint of the key's certificate; absent for a key made without one. */
  x5t: string | undefined
  privateKey: KeyObject
  publicJwk: JWK
}

/** How many keys stay published: a pending one, the signing one and the ones it replaced most recently. */
const PUBLISHED_KEYS = 4

async function createCertifiedKey (): Promise<SigningKey> {
  const { cert, keys } = await createSelfSignedRsa('CN=accounts.emulator.localhost')
  const der = Buffer.from(cert.rawData)
  // Entra's kid is the certificate's base64url SHA-1 thumbprint, the same value as x5t.
  const x5t = createHash('sha1').update(der).digest('base64url')
  const { n, e } = KeyObject.from(keys.publicKey).export({ format: 'jwk' })
  return {
    kid: x5t,
    x5t,
    privateKey: KeyObject.from(keys.privateKey),
    publicJwk: { kty: 'RSA', use: 'sig', kid: x5t, x5t, n: n ?? '', e: e ?? '', x5c: [der.toString('base64')] },
  }
}

/** Used only when rotations outpace background generation: a bare key, its kid the RFC 7638 thumbprint. */
function createBareKey (): SigningKey {
  const { privateKey, publicKey } = generateKeyPairSync('rsa', { modulusLength: 2048 })
  const { n, e } = publicKey.export({ format: 'jwk' })
  const kid = createHash('sha256').update(JSON.stringify({ e, kty: 'RSA', n })).digest('base64url')
  return { kid, x5t: undefined, privateKey, publicJwk: { kty: 'RSA', use: 'sig', kid, n: n ?? '', e: e ?? '' } }
}

/**
 * Entra's rollover: a new key is published in the JWKS before it signs anything, so relying parties that
 * refresh their key cache see it in time; the replaced key stays published a while longer.
 * @see https://learn.microsoft.com/en-us/entra/identity-platform/signing-key-rollover
 */
export class SigningKeys {
  #published: SigningKey[]
  #signing: SigningKey
  #pending: { key: SigningKey, activatesAtMs: number } | undefined
  #spare: SigningKey | undefined
  #generating: Promise<void> | undefined
  readonly #now: () => number
  readonly #activationDelayMs: number

  private constructor (first: SigningKey, now: () => number, activationDelaySec: number) {
    this.#published = [first]
    this.#signing = first
    this.#now = now
    this.#activationDelayMs = activationDelaySec * 1000
  }

  static async create (now: () => number = Date.now, activationDelaySec = 86_400): Promise<SigningKeys> {
    const keys = new SigningKeys(await createCertifiedKey(), now, activationDelaySec)
    keys.#prepareSpare()
    return keys
  }

  /** The key that signs tokens now (a pending key takes over once its activation time has come). */
  get current (): SigningKey {
    if (this.#pending !== undefined && this.#now() >= this.#pending.activatesAtMs) this.activate()
    return this.#signing
  }

  get pendingKid (): string | undefined {
    return this.#pending?.key.kid
  }

  find (kid: string): SigningKey | undefined {
    return this.#published.find(key => key.kid === kid)
  }

  /** The JWKS document; `issuer` is set on each key as Entra's v2 keys endpoint does. */
  jwks (issuer: string): { keys: Array<JWK & { issuer: string }> } {
    return { keys: this.#published.map(key => ({ ...key.publicJwk, issuer })) }
  }

  /** Publishes a new key (listed first) that signs only once activated; an earlier pending key is activated first. */
  rotate (): void {
    if (this.#pending !== undefined) this.activate()
    const next = this.#spare ?? createBareKey()
    this.#spare = undefined
    this.#pending = { key: next, activatesAtMs: this.#now() + this.#activationDelayMs }
    this.#publish(next)
    this.#prepareSpare()
  }

  /** The pending key becomes the signing key; the previous one stays published. */
  activate (): string {
    if (this.#pending !== undefined) {
      this.#signing = this.#pending.key
      this.#pending = undefined
    }
    return this.#signing.kid
  }

  /** Resolves once background key generation is done (so close() leaves nothing running). */
  async settled (): Promise<void> {
    await this.#generating
  }

  #publish (key: SigningKey): void {
    const keep = [key, ...this.#published.filter(published => published !== key)]
    // Never drop the signing key; beyond it, keep the most recently replaced ones.
    this.#published = keep.filter((published, index) => index < PUBLISHED_KEYS || published === this.#signing)
  }

  #prepareSpare (): void {
    if (this.#generating !== undefined) return
    this.#generating = createCertifiedKey()
      .then(key => { this.#spare ??= key })
      .finally(() => { this.#generating = undefined })
  }
}
