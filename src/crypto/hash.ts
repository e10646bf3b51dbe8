import { hash } from 'node:crypto'

/**
 * SHA-256 as base64url: the one way the relay names a secret without holding it (store keys, cache keys).
 * One-shot `crypto.hash` (Node 21.7+): no Hash object per call, which the hot path (the validated-token memo) pays.
 */
export function sha256b64url (value: string | Buffer): string {
  return hash('sha256', value, 'base64url')
}
