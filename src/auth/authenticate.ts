// Who is calling: an Entra bearer for the relay (mode A) or the browser session (mode B). Both yield a UserAssertion.
import type { FastifyRequest } from 'fastify'
import type { InboundTokenValidator } from '../entra/inbound-token.ts'
import type { UserAssertion } from '../entra/user-assertion.ts'
import { errors } from '../errors.ts'
import { readSessionId, type CookieSettings } from './cookies.ts'
import type { SessionService } from './sessions.ts'

declare module 'fastify' {
  interface FastifyRequest {
    user?: UserAssertion
  }
}

export interface Authenticator {
  (request: FastifyRequest): Promise<UserAssertion>
}

const SAFE_METHODS = new Set(['GET', 'HEAD', 'OPTIONS'])

export function createAuthenticator (o: {
  validateAccessToken: InboundTokenValidator
  sessions: SessionService
  cookies: CookieSettings
  publicUrl: URL
  loginUrl: () => string
}): Authenticator {
  return async function authenticate (request: FastifyRequest): Promise<UserAssertion> {
    const authorization = request.headers.authorization
    if (authorization !== undefined) {
      const match = /^Bearer ([\w.~+/-]+=*)$/i.exec(authorization.trim())
      if (match === null) throw errors.invalidToken('The Authorization header must be "Bearer <access token>".')
      const user = await o.validateAccessToken(match[1] as string)
      request.user = user
      return user
    }
    const sessionId = readSessionId(request, o.cookies)
    if (sessionId !== undefined) {
      const record = await o.sessions.get(sessionId)
      if (record !== undefined) {
        // CSRF: a cookie-authenticated state change must come from the relay's own pages.
        if (!SAFE_METHODS.has(request.method) && request.headers.origin !== o.publicUrl.origin) {
          throw errors.accessDenied('Cross-site request refused: send an Origin header matching the relay.')
        }
        const user = await o.sessions.userAssertion(sessionId, record)
        request.user = user
        return user
      }
    }
    throw errors.unauthenticated('Sign in at /auth/login or send an Entra access token for the relay.', { extra: { login_url: o.loginUrl() } })
  }
}
