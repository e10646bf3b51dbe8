// The caller strategies of the auth chain: an Entra bearer for the relay (mode A) and the browser session.
import type { FastifyRequest } from 'fastify'
import type { InboundTokenValidator } from '../caller/entra-bearer.ts'
import type { SessionService } from '../caller/browser-sessions.ts'
import type { RelayTokenVerifier } from '../caller/relay-token.ts'
import type { UserAssertion } from '../caller/user-assertion.ts'
import { relayError } from '../errors.ts'
import type { Caller, CallerStrategy } from './auth.ts'
import { readSessionId, type CookieSettings } from './cookies.ts'
import { isSameOrigin } from './csrf.ts'

const BEARER = /^Bearer +([\w.~+/-]+=*) *$/i
const SAFE_METHODS = new Set(['GET', 'HEAD', 'OPTIONS'])

const RELAY_TOKEN = /^(Bearer|DPoP) +([\w.~+/-]+=*) *$/i
const BEARER_SCHEME = /^bearer /i

/** An Entra token is a JWT (dots): found without running a pattern over its 1–2 KB. */
const isJwtBearer = (authorization: string): boolean => authorization.includes('.') && BEARER_SCHEME.test(authorization)

/**
 * `Authorization: DPoP <relay token>` (with a `DPoP` proof) or `Bearer <relay token>`: tokens the relay's own
 * authorization server issued (opaque, no dots; an Entra token is a JWT and goes to the next strategy).
 */
export function relayTokenStrategy (verifier: RelayTokenVerifier): CallerStrategy {
  return {
    kind: 'agent',
    serves: new Set(['caller']),
    // An Entra bearer is never this strategy's; anything else needs its verifier.
    remembered: (request) => {
      const authorization = request.headers.authorization
      return authorization === undefined || isJwtBearer(authorization) ? 'pass' : undefined
    },
    authenticate: async (request) => {
      const authorization = request.headers.authorization ?? ''
      // The next strategy's.
      if (isJwtBearer(authorization)) return undefined
      const match = RELAY_TOKEN.exec(authorization)
      if (match === null) return undefined
      const scheme = (match[1] as string).toLowerCase() === 'dpop' ? 'DPoP' : 'Bearer'
      const token = match[2] as string
      if (scheme === 'Bearer' && token.includes('.')) return undefined
      const dpop = request.headers.dpop
      const verified = await verifier.verify({
        scheme,
        token,
        // Exactly one proof (RFC 9449 §4.3 check 1); several headers arrive joined by commas.
        proof: typeof dpop === 'string' && !dpop.includes(',') ? dpop : undefined,
        method: request.method,
        path: request.url.split('?')[0] ?? '/',
      })
      return {
        kind: 'agent',
        user: verified.user,
        scheme,
        grant: verified.grant,
        ...(verified.dpopNonce === undefined ? {} : { dpopNonce: verified.dpopNonce }),
        ...(verified.expiresAt === undefined ? {} : { expiresAt: verified.expiresAt }),
        stillValid: async () => await verifier.stillValid(token, verified.grant.id),
      }
    },
  }
}

/** `Authorization: Bearer <Entra access token for the relay>`. */
export function entraBearerStrategy (validate: InboundTokenValidator): CallerStrategy {
  const callerOf = (user: UserAssertion): Caller => ({ kind: 'entra_bearer', user, scheme: 'Bearer', expiresAt: user.exp })
  return {
    kind: 'entra_bearer',
    serves: new Set(['caller']),
    remembered: (request) => {
      const authorization = request.headers.authorization
      if (authorization === undefined) return 'pass'
      // Only the plain form (`Bearer <token>`, one space, nothing after) is looked up as it is: a token the memo
      // holds was validated, BEARER's character check included, so a hit needs no pattern run over its 1–2 KB.
      if (!authorization.startsWith('Bearer ') || authorization.charCodeAt(7) === 32 || authorization.endsWith(' ')) return undefined
      const user = validate.remembered(authorization.slice(7))
      return user === undefined ? undefined : callerOf(user)
    },
    authenticate: async (request) => {
      const authorization = request.headers.authorization
      if (authorization === undefined) return undefined
      const match = BEARER.exec(authorization)
      if (match === null) throw relayError('token_malformed', 'The Authorization header must be "Bearer <access token>".')
      // An Entra token cannot be revoked here; what it opened ends when it expires.
      return callerOf(await validate(match[1] as string))
    },
  }
}

/** The signed session cookie from `/auth/login`; a state-changing request must come from the relay's own pages. */
export function browserSessionStrategy (sessions: SessionService, cookies: CookieSettings, publicUrl: URL): CallerStrategy & { optional: (request: FastifyRequest) => Promise<Caller | undefined> } {
  const authenticate = async (request: FastifyRequest): Promise<Caller | undefined> => {
    const sessionId = readSessionId(request, cookies)
    if (sessionId === undefined) return undefined
    const record = await sessions.get(sessionId)
    if (record === undefined) return undefined
    // CSRF: a cookie-authenticated state change must carry the relay's own Origin.
    if (!SAFE_METHODS.has(request.method) && !isSameOrigin(request, publicUrl, { requireOrigin: true })) {
      throw relayError('cross_site_refused', 'Cross-site request refused: send an Origin header matching the relay.')
    }
    return { kind: 'session', user: await sessions.userAssertion(sessionId, record), scheme: 'Bearer', stillValid: async () => await sessions.get(sessionId) !== undefined }
  }
  return {
    kind: 'session',
    serves: new Set(['caller', 'browser']),
    authenticate,
    /** For pages that show a sign-in link instead of refusing. */
    optional: authenticate,
  }
}
