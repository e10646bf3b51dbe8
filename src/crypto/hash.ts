import { createHash } from 'node:crypto'

/** SHA-256 as base64url: the one way the relay names a secret without holding it (store keys, cache keys). */
export function sha256b64url (value: string | Buffer): string {
  return createHash('sha256').update(value).digest('base64url')
}
