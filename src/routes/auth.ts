// Browser sign-in routes: the HTTP side of EntraSignIn (sealed per-sign-in cookies, the session cookie).
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify'
import type { SessionService } from '../caller/browser-sessions.ts'
import type { EntraSignIn, SignedIn, SignInRequest } from '../entra/sign-in.ts'
import { SIGN_IN_TTL_MS } from '../entra/sign-in.ts'
import { relayError } from '../errors.ts'
import { cookieNames, cookieOptions, loginCookieName, loginCookieNames, readSessionId, type CookieSettings } from '../http/cookies.ts'

/** Pending sign-ins a browser may hold at once; older ones are dropped so cookies never outgrow a request. */
const MAX_PENDING_SIGN_INS = 3
const MAX_RETURN_TO = 512

/** Sign-ins that continue elsewhere (agent grants) instead of starting a browser session. */
export interface SignInContinuations {
  /** `/auth/login?grant=<id>`: the grant must exist; its user is Entra's login hint. */
  beginForGrant: (grantId: string) => Promise<{ loginHint: string | undefined }>
  /** The callback of a sign-in whose transaction carries a continuation. */
  complete: (signedIn: SignedIn, request: FastifyRequest, reply: FastifyReply) => Promise<FastifyReply>
}

export interface AuthRoutesOptions {
  signIn: EntraSignIn
  sessions: SessionService
  cookies: CookieSettings
  publicUrl: URL
  continuations?: SignInContinuations
}

/**
 * Starts an Entra sign-in in this browser: the sealed transaction goes into a cookie of its own (the browser
 * binding), the oldest pending ones are dropped, and the browser is sent to Entra.
 */
export async function beginBrowserSignIn (o: { signIn: EntraSignIn, cookies: CookieSettings }, request: FastifyRequest, reply: FastifyReply, signInRequest: SignInRequest, status: 302 | 303 = 302): Promise<FastifyReply> {
  const { authorizeUrl, state, sealed } = await o.signIn.begin(signInRequest)
  const pending = loginCookieNames(request, o.cookies)
    .map((name) => ({ name, expiresAt: o.signIn.expiryOf(request.cookies[name] ?? '') }))
    .sort((a, b) => a.expiresAt - b.expiresAt)
  for (const stale of pending.slice(0, Math.max(0, pending.length - (MAX_PENDING_SIGN_INS - 1)))) {
    reply.clearCookie(stale.name, cookieOptions(o.cookies, 0))
  }
  reply.setCookie(loginCookieName(o.cookies, state), sealed, cookieOptions(o.cookies, SIGN_IN_TTL_MS / 1000))
  return reply.redirect(authorizeUrl, status)
}

/**
 * `return_to` must stay on the relay: a path starting with one `/`, no backslash, no control characters or
 * whitespace (browsers drop tabs/newlines, turning `/\t/evil` into `//evil`), and resolving to our origin.
 */
export function safeReturnTo (value: unknown, publicUrl: URL): string | undefined {
  if (value === undefined || value === '') return '/'
  if (typeof value !== 'string' || value.length > MAX_RETURN_TO) return undefined
  // eslint-disable-next-line no-control-regex
  if (!value.startsWith('/') || value.startsWith('//') || /[\\\s\u0000-\u001f\u007f]/.test(value)) return undefined
  try {
    const resolved = new URL(value, publicUrl)
    // Dot segments collapse after the string checks: `/.//evil` and `/%2e%2e//evil` become `//evil`.
    if (resolved.origin !== publicUrl.origin || resolved.pathname.startsWith('//')) return undefined
    return `${resolved.pathname}${resolved.search}${resolved.hash}`
  } catch {
    return undefined
  }
}

interface LoginQuery { return_to?: string, prompt?: string, claims?: string, consent_scopes?: string, grant?: string }
interface CallbackQuery { code?: string, state?: string, error?: string, error_description?: string }

export async function authRoutes (app: FastifyInstance, o: AuthRoutesOptions): Promise<void> {
  const names = cookieNames(o.cookies)
  const config = { auth: 'public' } as const

  app.get('/auth/login', {
    config,
    schema: {
      hide: true,
      querystring: {
        type: 'object',
        properties: {
          return_to: { type: 'string', maxLength: MAX_RETURN_TO },
          prompt: { type: 'string', maxLength: 32 },
          claims: { type: 'string', maxLength: 8192 },
          consent_scopes: { type: 'string', maxLength: 4096 },
          // An agent grant to sign in again for (the login_url of an agent's 401).
          grant: { type: 'string', pattern: '^[\\w-]{1,128}$' },
        },
      },
    },
  }, async (request: FastifyRequest<{ Querystring: LoginQuery }>, reply) => {
    const returnTo = safeReturnTo(request.query.return_to, o.publicUrl)
    if (returnTo === undefined) throw relayError('return_to_invalid', 'return_to must be a relative path on the relay, such as /v1/me.')
    const { grant } = request.query
    let forGrant: Pick<SignInRequest, 'loginHint' | 'continuation'> = {}
    if (grant !== undefined) {
      if (o.continuations === undefined) throw relayError('grant_unknown', 'This relay has no agent grants.')
      const { loginHint } = await o.continuations.beginForGrant(grant)
      forGrant = { loginHint, continuation: { kind: 'agent_grant', grantId: grant } }
    }
    // The browser binding: only this browser holds the sealed transaction for this state.
    return await beginBrowserSignIn(o, request, reply, {
      returnTo,
      prompt: request.query.prompt,
      claims: request.query.claims,
      consentScopes: request.query.consent_scopes?.split(' ').filter((scope) => scope !== ''),
      ...forGrant,
    })
  })

  app.get('/auth/callback', {
    config,
    schema: {
      hide: true,
      querystring: {
        type: 'object',
        properties: {
          code: { type: 'string', maxLength: 8192 },
          state: { type: 'string', maxLength: 512 },
          error: { type: 'string', maxLength: 256 },
          error_description: { type: 'string', maxLength: 4096 },
        },
      },
    },
  }, async (request: FastifyRequest<{ Querystring: CallbackQuery }>, reply) => {
    const { state } = request.query
    if (state === undefined || state === '') throw relayError('sign_in_state_invalid', 'The sign-in response has no state.')
    const cookieName = loginCookieName(o.cookies, state)
    const transaction = o.signIn.open(request.cookies[cookieName], state)
    if (transaction === undefined) {
      throw relayError('sign_in_state_invalid', 'The sign-in state is unknown, expired or belongs to another browser; start again at /auth/login.')
    }
    reply.clearCookie(cookieName, cookieOptions(o.cookies, 0))
    const signedIn = await o.signIn.complete(transaction, { code: request.query.code, error: request.query.error, errorDescription: request.query.error_description })
    // An agent's sign-in fills that agent's grant, never this browser's session.
    if (signedIn.continuation !== undefined) {
      if (o.continuations === undefined) throw relayError('sign_in_state_invalid', 'This sign-in cannot be completed here.')
      return await o.continuations.complete(signedIn, request, reply)
    }
    // A fresh session id at every sign-in (no fixation), with its own MSAL partition; any session this
    // browser had is ended.
    const previous = readSessionId(request, o.cookies)
    if (previous !== undefined) await o.sessions.destroy(previous)
    const sessionId = await o.sessions.create({
      tid: signedIn.tid,
      oid: signedIn.oid,
      upn: signedIn.upn,
      name: signedIn.name,
      homeAccountId: signedIn.homeAccountId,
      createdAt: Date.now(),
    })
    await o.sessions.savePartition(sessionId, signedIn.serializedCache)
    request.log.info({ tid: signedIn.tid, oid: signedIn.oid, correlationId: signedIn.correlationId }, 'signed in')
    reply.setCookie(names.session, sessionId, { ...cookieOptions(o.cookies, o.sessions.ttlSec), signed: true })
    return reply.redirect(signedIn.returnTo, 302)
  })

  // Cross-site posts are refused for all of /auth/ before this runs (http/csrf.ts).
  app.post('/auth/logout', { config, schema: { hide: true } }, async (request, reply) => {
    const sessionId = readSessionId(request, o.cookies)
    if (sessionId !== undefined) await o.sessions.destroy(sessionId)
    reply.clearCookie(names.session, cookieOptions(o.cookies, 0))
    if ((request.headers.accept ?? '').includes('text/html')) return reply.redirect('/', 303)
    return { status: 'signed_out' }
  })
}
