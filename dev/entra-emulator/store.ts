// Server-side state behind opaque artifacts: authorization codes, refresh tokens, sign-in sessions, and
// what a step-up sign-in satisfied (by token id, so OBO can carry it on).
import { randomBytes } from 'node:crypto'
import type { StepUp } from './claims.ts'
import type { RedirectUri } from './types.ts'

/** Entra's codes live 10 minutes. */
export const CODE_LIFETIME_SEC = 600

export interface AuthorizationCodeGrant {
  clientId: string
  tenantId: string
  redirectUri: string
  /** The registered redirect URI's platform: `spa` codes yield fixed-lifetime refresh tokens. */
  redirectType: RedirectUri['type']
  codeChallenge: string | undefined
  userOid: string
  sid: string
  /** The scope requested at /authorize (consent was recorded for it). */
  scope: string
  nonce: string | undefined
  authTimeSec: number
  stepUp: StepUp
  expiresAtMs: number
  redeemed: boolean
}

export interface RefreshGrant {
  clientId: string
  tenantId: string
  userOid: string
  sid: string
  authTimeSec: number
  stepUp: StepUp
  /** Set for refresh tokens issued to SPA redirect URIs: when the whole chain ends (no sliding). */
  spaExpiresAtMs: number | undefined
  /** When the first token of this chain was issued (for AADSTS700084's message). */
  chainIssuedAtMs: number
  issuedAtMs: number
  expiresAtMs: number
}

export interface SignInSession {
  sid: string
  tenantId: string
  userOid: string
  authTimeSec: number
  stepUp: StepUp
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
  /** `uti` of an issued access token → what its sign-in satisfied (only when something was). */
  readonly stepUps = new Map<string, StepUp>()
  readonly #now: () => number

  constructor (now: () => number = Date.now) {
    this.#now = now
  }

  issueCode (grant: Omit<AuthorizationCodeGrant, 'expiresAtMs' | 'redeemed'>): string {
    const now = this.#now()
    sweep(this.codes, now)
    const code = opaque('1.AQ', 96)
    this.codes.set(code, { ...grant, expiresAtMs: now + CODE_LIFETIME_SEC * 1000, redeemed: false })
    return code
  }

  /**
   * The refresh token's inactivity window restarts with each new token (Entra's sliding lifetime); a chain
   * begun at a SPA redirect URI ends at its fixed `spaExpiresAtMs` however it is used.
   */
  issueRefreshToken (grant: Omit<RefreshGrant, 'issuedAtMs' | 'expiresAtMs' | 'chainIssuedAtMs'> & { chainIssuedAtMs?: number }, lifetimeSec: number): string {
    const now = this.#now()
    sweep(this.refreshTokens, now)
    const token = opaque('1.AR', 128)
    const expiresAtMs = Math.min(now + lifetimeSec * 1000, grant.spaExpiresAtMs ?? Number.POSITIVE_INFINITY)
    this.refreshTokens.set(token, { ...grant, chainIssuedAtMs: grant.chainIssuedAtMs ?? now, issuedAtMs: now, expiresAtMs })
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
    this.stepUps.clear()
  }
}
