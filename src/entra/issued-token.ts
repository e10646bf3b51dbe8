// What a token Entra issued says about itself, read without verifying it (it came from Entra over TLS; the relay
// only needs to know which API it is for before sending it on). Nothing for an opaque token.
import { decodeJwt } from 'jose'

export function issuedTokenClaims (accessToken: string): { audience?: string, version?: string } {
  try {
    const payload = decodeJwt(accessToken)
    const aud = typeof payload.aud === 'string' ? payload.aud : Array.isArray(payload.aud) && typeof payload.aud[0] === 'string' ? payload.aud[0] : undefined
    return { ...(aud === undefined ? {} : { audience: aud }), ...(typeof payload.ver === 'string' ? { version: payload.ver } : {}) }
  } catch {
    return {}
  }
}
