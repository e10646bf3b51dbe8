// DPoP at the relay's resources (RFC 9449 §4.3, §7, §9): the proof of a request carrying a relay-issued token.
// Nonces come from the same secret and time steps as the authorization server's (oidc-provider derives each step's
// nonce with HKDF-SHA256(secret, step, "DPoP")), so one nonce serves a client at the token endpoint and at /v1.
import { hkdfSync, timingSafeEqual } from 'node:crypto'
import { calculateJwkThumbprint, errors as joseErrors, importJWK, jwtVerify, type CryptoKey, type JWK, type JWTHeaderParameters } from 'jose'
import { LRUCache } from 'lru-cache'
import { sha256b64url } from '../crypto/hash.ts'
import { relayError, type RelayError } from '../errors.ts'
import type { Store } from '../stores/types.ts'

const STEP_SEC = 60
/** Nonces of the two steps before and after the current one are accepted (5 minutes), as the provider does. */
const WINDOW = 2
/** A proof's `iat` may be this far from now. */
export const PROOF_MAX_AGE_SEC = 300

export const DPOP_ALGORITHMS = ['ES256', 'EdDSA', 'Ed25519']

export class DpopNonces {
  readonly #secret: Buffer
  readonly #now: () => number
  /** Derived nonces by time step (each is a pure function of the secret and the step). */
  readonly #byStep = new Map<number, string>()

  constructor (secret: Buffer, now: () => number = Date.now) {
    if (secret.length !== 32) throw new TypeError('the DPoP nonce secret must be 32 bytes')
    this.#secret = secret
    this.#now = now
  }

  #at (step: number): string {
    let nonce = this.#byStep.get(step)
    if (nonce === undefined) {
      const salt = Buffer.alloc(8)
      salt.writeBigInt64BE(BigInt(step))
      nonce = Buffer.from(hkdfSync('sha256', this.#secret, salt, 'DPoP', 32)).toString('base64url')
      // The window moves one step a minute: the few steps around now are all ever asked for.
      if (this.#byStep.size >= 16) this.#byStep.clear()
      this.#byStep.set(step, nonce)
    }
    return nonce
  }

  #step (): number {
    return Math.floor(this.#now() / 1000 / STEP_SEC)
  }

  /** The nonce a client should use next (RFC 9449 §8.1 `DPoP-Nonce`). */
  next (): string {
    return this.#at(this.#step() + 1)
  }

  valid (nonce: string): boolean {
    const step = this.#step()
    let ok = false
    for (let s = step - WINDOW; s <= step + WINDOW; s++) {
      const expected = Buffer.from(this.#at(s))
      const given = Buffer.from(nonce)
      if (given.length === expected.length && timingSafeEqual(given, expected)) ok = true
    }
    return ok
  }
}

export interface ProofExpectations {
  method: string
  /** The request URL without query and fragment. */
  htu: string
  accessToken: string
  /** `cnf.jkt` of the token (RFC 9449 §6). */
  jkt: string
}

export interface DpopVerifierOptions {
  nonces: DpopNonces
  /** `jti` replay marks (RFC 9449 §11.1). */
  replay: Store
  now?: () => number
}

/** Verifies one proof; every failure is a 401 the client can act on (`invalid_dpop_proof` or `use_dpop_nonce`). */
export async function verifyDpopProof (proof: string, expected: ProofExpectations, o: DpopVerifierOptions): Promise<{ nextNonce: string | undefined }> {
  const invalid = (description: string): RelayError => relayError('dpop_proof_invalid', description, {
    challenge: { error: 'invalid_dpop_proof', errorDescription: description },
  })
  let payload: Record<string, unknown>
  let jwk: JWK
  try {
    // The key in the header (refused when private); `algorithms` refuses HS256 and anything but ES256/EdDSA.
    const verified = await jwtVerify(proof, embeddedPublicKey, { typ: 'dpop+jwt', algorithms: DPOP_ALGORITHMS })
    payload = verified.payload as Record<string, unknown>
    jwk = verified.protectedHeader.jwk as JWK
  } catch (err) {
    if (err instanceof joseErrors.JOSEAlgNotAllowed) throw invalid('The DPoP proof must be signed with ES256 or EdDSA.')
    if (err instanceof joseErrors.JOSEError && /public key/.test(err.message)) throw invalid('The DPoP proof\'s jwk must be a public key.')
    throw invalid('The DPoP proof is not a valid dpop+jwt signed by the key in its header.')
  }
  const nowSec = Math.floor((o.now ?? Date.now)() / 1000)
  if (typeof payload.jti !== 'string' || payload.jti === '' || payload.jti.length > 256) throw invalid('The DPoP proof must have a jti.')
  if (payload.htm !== expected.method) throw invalid('The DPoP proof\'s htm does not match the request method.')
  if (typeof payload.htu !== 'string' || stripQuery(payload.htu) !== expected.htu) throw invalid('The DPoP proof\'s htu does not match the request URL.')
  if (typeof payload.iat !== 'number' || Math.abs(nowSec - payload.iat) > PROOF_MAX_AGE_SEC) throw invalid('The DPoP proof\'s iat is not recent enough.')
  if (payload.ath !== sha256b64url(expected.accessToken)) throw invalid('The DPoP proof\'s ath does not match the access token.')
  if (await thumbprintOf(jwk) !== expected.jkt) throw invalid('The DPoP proof is signed by another key than the one the token is bound to.')
  const nextNonce = o.nonces.next()
  if (typeof payload.nonce !== 'string' || !o.nonces.valid(payload.nonce)) {
    const description = payload.nonce === undefined ? 'A DPoP nonce is required: retry with the nonce in the DPoP-Nonce header.' : 'The DPoP nonce is invalid or expired: retry with the nonce in the DPoP-Nonce header.'
    throw relayError('dpop_nonce_required', description, {
      challenge: { error: 'use_dpop_nonce', errorDescription: description },
      headers: { 'dpop-nonce': nextNonce },
    })
  }
  // Checked last: a proof refused for another reason does not burn its jti.
  if (!await o.replay.setIfAbsent(`dpop-jti:${sha256b64url(`${expected.jkt}:${payload.jti}`)}`, '1', (PROOF_MAX_AGE_SEC * 2 + STEP_SEC * WINDOW) * 1000)) {
    throw invalid('The DPoP proof was already used (its jti was seen before).')
  }
  return { nextNonce: payload.nonce === nextNonce ? undefined : nextNonce }
}

/**
 * jose's EmbeddedJWK, with the imported key remembered by its JWK: an agent signs every proof with one key, so
 * it is imported once, not once per request. Same checks: `jwk` must be an object and a public key.
 */
const importedKeys = new LRUCache<string, Promise<CryptoKey | Uint8Array>>({ max: 1_000 })
async function embeddedPublicKey (header: JWTHeaderParameters): Promise<CryptoKey> {
  const jwk = header.jwk as unknown
  if (typeof jwk !== 'object' || jwk === null || Array.isArray(jwk)) throw new joseErrors.JWSInvalid('"jwk" (JSON Web Key) Header Parameter must be a JSON object')
  const cacheKey = `${header.alg}:${JSON.stringify(jwk)}`
  let imported = importedKeys.get(cacheKey)
  if (imported === undefined) {
    imported = importJWK({ ...(jwk as JWK), ext: true }, header.alg)
    importedKeys.set(cacheKey, imported)
    imported.catch(() => { importedKeys.delete(cacheKey) })
  }
  const key = await imported
  if (key instanceof Uint8Array || key.type !== 'public') throw new joseErrors.JWSInvalid('"jwk" (JSON Web Key) Header Parameter must be a public key')
  return key
}

/** RFC 7638 thumbprints by JWK (a pure function of the key), so a request does not hash its proof's key again. */
const thumbprints = new LRUCache<string, string>({ max: 1_000 })
async function thumbprintOf (jwk: JWK): Promise<string> {
  const cacheKey = JSON.stringify(jwk)
  let thumbprint = thumbprints.get(cacheKey)
  if (thumbprint === undefined) {
    thumbprint = await calculateJwkThumbprint(jwk)
    thumbprints.set(cacheKey, thumbprint)
  }
  return thumbprint
}

function stripQuery (url: string): string | undefined {
  const parsed = URL.parse(url)
  if (parsed === null) return undefined
  parsed.search = ''
  parsed.hash = ''
  return parsed.href
}
