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

/** How many keys stay published: the current one and the ones it replaced most recently. */
const PUBLISHED_KEYS = 3

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

export class SigningKeys {
  #published: SigningKey[]
  #spare: SigningKey | undefined
  #pending: Promise<void> | undefined

  private constructor (first: SigningKey) {
    this.#published = [first]
  }

  static async create (): Promise<SigningKeys> {
    const keys = new SigningKeys(await createCertifiedKey())
    keys.#prepareSpare()
    return keys
  }

  get current (): SigningKey {
    // The constructor publishes one key and rotate() only prepends.
    return this.#published[0] as SigningKey
  }

  find (kid: string): SigningKey | undefined {
    return this.#published.find(key => key.kid === kid)
  }

  /** The JWKS document; `issuer` is set on each key as Entra's v2 keys endpoint does. */
  jwks (issuer: string): { keys: Array<JWK & { issuer: string }> } {
    return { keys: this.#published.map(key => ({ ...key.publicJwk, issuer })) }
  }

  /** Synchronous so callers see the new kid at once; the next spare key is generated in the background. */
  rotate (): void {
    const next = this.#spare ?? createBareKey()
    this.#spare = undefined
    this.#published = [next, ...this.#published].slice(0, PUBLISHED_KEYS)
    this.#prepareSpare()
  }

  /** Resolves once background key generation is done (so close() leaves nothing running). */
  async settled (): Promise<void> {
    await this.#pending
  }

  #prepareSpare (): void {
    if (this.#pending !== undefined) return
    this.#pending = createCertifiedKey()
      .then(key => { this.#spare ??= key })
      .finally(() => { this.#pending = undefined })
  }
}
