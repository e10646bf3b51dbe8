// Server-side state behind opaque artifacts: authorization codes, refresh tokens, sign-in sessions.
import { randomBytes } from 'node:crypto'

/** Entra's codes live 10 minutes. */
export const CODE_LIFETIME_SEC = 600

export interface AuthorizationCodeGrant {
  clientId: string
  redirectUri: string
  codeChallenge: string | undefined
  userOid: string
  sid: string
  /** The scope requested at /authorize (consent was recorded for it). */
  scope: string
  nonce: string | undefined
  authTimeSec: number
  expiresAtMs: number
  redeemed: boolean
}

export interface RefreshGrant {
  clientId: string
  userOid: string
  sid: string
  authTimeSec: number
  issuedAtMs: number
  expiresAtMs: number
}

export interface SignInSession {
  sid: string
  userOid: string
  authTimeSec: number
}

/** Artifacts are opaque to clients, as Entra's are (they are not JWTs). */
function opaque (prefix: string, bytes: number): string {
  return `${prefix}${randomBytes(bytes).toString('base64url')}`
}

function sweep<T extends { expiresAtMs: number }> (map: Map<string, T>, now: number): void {
  if (map.size < 1000) return
  for (const [key, value] of map) if (value.expiresAtMs < now) map.delete(key)
}

export class GrantStore {
  readonly codes = new Map<string, AuthorizationCodeGrant>()
  readonly refreshTokens = new Map<string, RefreshGrant>()
  readonly sessions = new Map<string, SignInSession>()

  issueCode (grant: Omit<AuthorizationCodeGrant, 'expiresAtMs' | 'redeemed'>): string {
    const now = Date.now()
    sweep(this.codes, now)
    const code = opaque('1.AQ', 96)
    this.codes.set(code, { ...grant, expiresAtMs: now + CODE_LIFETIME_SEC * 1000, redeemed: false })
    return code
  }

  /** The refresh token's inactivity window restarts with each new token (Entra's sliding lifetime). */
  issueRefreshToken (grant: Omit<RefreshGrant, 'issuedAtMs' | 'expiresAtMs'>, lifetimeSec: number): string {
    const now = Date.now()
    sweep(this.refreshTokens, now)
    const token = opaque('1.AR', 128)
    this.refreshTokens.set(token, { ...grant, issuedAtMs: now, expiresAtMs: now + lifetimeSec * 1000 })
    return token
  }

  createSession (session: SignInSession): string {
    const cookie = opaque('', 32)
    this.sessions.set(cookie, session)
    return cookie
  }

  clear (): void {
    this.codes.clear()
    this.refreshTokens.clear()
    this.sessions.clear()
  }
}
