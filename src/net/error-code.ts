/**
 * A short machine code for a transport failure (ECONNREFUSED, UND_ERR_SOCKET, CERT_HAS_EXPIRED…) found on the
 * error or its causes, or undefined: safe for logs and messages, never text from the peer.
 */
export function transportErrorCode (err: unknown): string | undefined {
  for (let current: unknown = err, depth = 0; current !== undefined && current !== null && depth < 4; depth++) {
    const code = (current as { code?: unknown }).code
    if (typeof code === 'string' && /^[A-Z0-9_]{2,60}$/.test(code)) return code
    current = (current as { cause?: unknown }).cause
  }
  return undefined
}
