import type { CookieSerializeOptions } from '@fastify/cookie'
import type { FastifyRequest } from 'fastify'
import { sha256b64url } from '../crypto/hash.ts'

export interface CookieSettings {
  /** https deployments get `Secure` and the `__Host-` prefix (no Domain, Path=/). */
  secure: boolean
}

export function cookieNames (settings: CookieSettings): { session: string } {
  const prefix = settings.secure ? '__Host-' : ''
  return { session: `${prefix}obo_session` }
}

const loginPrefix = (settings: CookieSettings) => `${settings.secure ? '__Host-' : ''}obo_login_`

/** One cookie per pending sign-in, named after its state, so two tabs signing in never collide. */
export function loginCookieName (settings: CookieSettings, state: string): string {
  return `${loginPrefix(settings)}${sha256b64url(state).slice(0, 16)}`
}

/** The pending sign-in cookies a request carries. */
export function loginCookieNames (request: FastifyRequest, settings: CookieSettings): string[] {
  const prefix = loginPrefix(settings)
  return Object.keys(request.cookies).filter((name) => name.startsWith(prefix))
}

export function cookieOptions (settings: CookieSettings, maxAgeSec: number): CookieSerializeOptions {
  return { httpOnly: true, sameSite: 'lax', secure: settings.secure, path: '/', maxAge: maxAgeSec }
}

/** The session id from the signed cookie, or undefined when absent or its signature is wrong. */
export function readSessionId (request: FastifyRequest, settings: CookieSettings): string | undefined {
  const raw = request.cookies[cookieNames(settings).session]
  if (raw === undefined) return undefined
  const unsigned = request.unsignCookie(raw)
  return unsigned.valid && unsigned.value !== null ? unsigned.value : undefined
}
