// The authorization server's secrets, shared by every replica: signing keys (JWKS) sealed in the store, created
// once by whichever replica starts first; cookie keys and the DPoP nonce secret derived from TOKEN_ENCRYPTION_KEY.
import { generateKeyPairSync, randomUUID } from 'node:crypto'
import type { JWK } from 'jose'
import { deriveKey, type Keyring } from '../crypto/keyring.ts'
import type { Store } from '../stores/types.ts'

const JWKS_KEY = 'oidc:keys:jwks'
/** Stored "forever" (the store needs a lifetime): far beyond any token the keys sign. */
const JWKS_TTL_MS = 10 * 365 * 86_400_000

export interface SigningKeySet {
  /** Private JWKs; the first key of each type signs, the others only verify (RFC 7517 §5). */
  keys: JWK[]
  createdAt: number
}

/**
 * The shared JWKS: read from the store, else generated and written with `setIfAbsent`, so two replicas starting
 * together end up with the same keys (the loser reads the winner's). Values sealed under the previous
 * TOKEN_ENCRYPTION_KEY are re-sealed under the current one.
 */
export async function loadSigningKeys (store: Store, keyring: Keyring): Promise<SigningKeySet> {
  const existing = await store.get(JWKS_KEY)
  if (existing !== undefined) return openKeys(store, keyring, existing)
  const fresh: SigningKeySet = { keys: generateKeys(), createdAt: Date.now() }
  const sealed = keyring.seal(JSON.stringify(fresh), JWKS_KEY)
  if (await store.setIfAbsent(JWKS_KEY, sealed, JWKS_TTL_MS)) return fresh
  const winner = await store.get(JWKS_KEY)
  if (winner === undefined) throw new Error('the authorization server keys vanished from the store while starting')
  return openKeys(store, keyring, winner)
}

/**
 * Puts a new key of each type first (it signs from the next start of every replica) and keeps the old ones
 * published for verification. Operators run it, then restart the replicas.
 */
export async function rotateSigningKeys (store: Store, keyring: Keyring): Promise<SigningKeySet> {
  const current = await loadSigningKeys(store, keyring)
  const rotated: SigningKeySet = { keys: [...generateKeys(), ...current.keys].slice(0, 6), createdAt: Date.now() }
  await store.set(JWKS_KEY, keyring.seal(JSON.stringify(rotated), JWKS_KEY), JWKS_TTL_MS)
  return rotated
}

async function openKeys (store: Store, keyring: Keyring, sealed: string): Promise<SigningKeySet> {
  const opened = keyring.open(sealed, JWKS_KEY)
  if (opened === undefined) {
    throw new Error('the authorization server keys in the store cannot be opened: TOKEN_ENCRYPTION_KEY differs from the one that sealed them')
  }
  if (keyring.sealedUnderPrevious(sealed)) await store.compareAndSet(JWKS_KEY, sealed, keyring.seal(opened, JWKS_KEY), JWKS_TTL_MS)
  return JSON.parse(opened) as SigningKeySet
}

/** RS256 (the ID token default every client accepts) and ES256. */
function generateKeys (): JWK[] {
  const rsa = generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey.export({ format: 'jwk' }) as JWK
  const ec = generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey.export({ format: 'jwk' }) as JWK
  return [
    { ...rsa, kid: randomUUID(), alg: 'RS256', use: 'sig' },
    { ...ec, kid: randomUUID(), alg: 'ES256', use: 'sig' },
  ]
}

/** Cookie signing keys (Keygrip: the first signs, the rest verify), so cookies survive a key rotation. */
export function cookieKeys (current: Buffer, previous?: Buffer): string[] {
  return [current, previous].filter((key): key is Buffer => key !== undefined).map((key) => deriveKey(key, 'oidc-cookies').toString('base64url'))
}

/** The DPoP nonce secret (RFC 9449 §8): the same on every replica, so a nonce from one is good at another. */
export function dpopNonceSecret (masterKey: Buffer): Buffer {
  return deriveKey(masterKey, 'dpop-nonce')
}
