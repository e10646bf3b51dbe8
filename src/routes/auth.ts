// Browser sign-in routes: the HTTP side of EntraSignIn (sealed per-sign-in cookies, the session cookie).
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify'
import type { SessionService } from '../caller/browser-sessions.ts'
import { mapAuthorizeError } from '../entra/entra-errors.ts'
import type { EntraSignIn, SignedIn, SignInContinuation, SignInRequest } from '../entra/sign-in.ts'
import { SIGN_IN_TTL_MS } from '../entra/sign-in.ts'
import { relayError, RelayError, type ErrorIntent } from '../errors.ts'
import { PAGE_CSP } from '../http/security-headers.ts'
import { escapeHtml, page } from './page.ts'
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
  /** A sign-in for a waiting agent that failed (declined, refused, Entra down): the agent is told, not left waiting.
   *  Undefined when nobody waits for this continuation (then the browser gets the error page). */
  fail: (continuation: SignInContinuation, err: RelayError, request: FastifyRequest, reply: FastifyReply) => Promise<FastifyReply> | undefined
}

export interface AuthRoutesOptions {
  signIn: EntraSignIn
  sessions: SessionService
  cookies: CookieSettings
  publicUrl: URL
  continuations?: SignInContinuations
  /** Where the user acts on an error's intent (the same URLs the API's errors carry as `login_url`). */
  loginUrl: (intent: ErrorIntent) => string
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
interface CallbackQuery { code?: string, state?: string, error?: string, error_description?: string, admin_consent?: string, tenant?: string }

function sendPage (reply: FastifyReply, status: number, title: string, body: string): FastifyReply {
  return reply.code(status).header('content-security-policy', PAGE_CSP).header('cache-control', 'no-store')
    .type('text/html; charset=utf-8').send(page(title, `<h1>${escapeHtml(title)}</h1>${body}`))
}

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
          error_uri: { type: 'string', maxLength: 2048 },
          admin_consent: { type: 'string', maxLength: 8 },
          tenant: { type: 'string', maxLength: 64 },
          scope: { type: 'string', maxLength: 4096 },
        },
      },
    },
  }, async (request: FastifyRequest<{ Querystring: CallbackQuery }>, reply) => {
    try {
      return await callback(request, reply)
    } catch (err) {
      // A person in a browser gets a page saying what happened and what to do; API clients the JSON error.
      if (!(err instanceof RelayError) || !(request.headers.accept ?? '').includes('text/html')) throw err
      request.log.info({ reason: err.reason, ...err.logFields }, 'sign-in did not complete')
      const action = err.intent === undefined ? undefined : o.loginUrl(err.intent)
      const label = err.intent?.kind === 'admin_consent' ? 'Ask an administrator to grant access (admin consent)' : err.intent?.kind === 'consent' ? 'Sign in again and grant access' : 'Sign in again'
      return sendPage(reply, err.statusCode, 'Sign-in did not complete', `<p id="reason" data-reason="${escapeHtml(err.reason)}">${escapeHtml(err.description)}</p>
${action === undefined ? '' : `<p><a id="action" href="${escapeHtml(action)}">${escapeHtml(label)}</a></p>`}<p><a href="/">Back to the relay</a></p>`)
    }
  })

  async function callback (request: FastifyRequest<{ Querystring: CallbackQuery }>, reply: FastifyReply): Promise<FastifyReply> {
    // Entra's admin consent answer lands here too (redirect_uri of the admin consent URL): no state, no code.
    // https://learn.microsoft.com/en-us/entra/identity-platform/v2-admin-consent#successful-response
    if (request.query.admin_consent !== undefined && request.query.code === undefined) {
      const tenant = /^[0-9a-f-]{36}$/i.test(request.query.tenant ?? '') ? request.query.tenant : undefined
      if (request.query.admin_consent.toLowerCase() === 'true' && request.query.error === undefined) {
        request.log.info({ tid: tenant }, 'admin consent granted')
        return sendPage(reply, 200, 'Access granted', `<p id="reason" data-reason="admin_consent_granted">An administrator${tenant === undefined ? '' : ` of tenant <code>${escapeHtml(tenant)}</code>`} granted the relay access. Users of that tenant can sign in now.</p>
<p><a id="action" href="/auth/login?return_to=/">Sign in</a></p>`)
      }
    }
    // An error redirect without a sign-in of ours behind it (an administrator who refused consent).
    if (request.query.state === undefined && request.query.error !== undefined) {
      throw mapAuthorizeError(request.query.error, request.query.error_description, {})
    }
    const { state } = request.query
    if (state === undefined || state === '') throw relayError('sign_in_state_invalid', 'The sign-in response has no state.')
    const cookieName = loginCookieName(o.cookies, state)
    const transaction = o.signIn.open(request.cookies[cookieName], state)
    if (transaction === undefined) {
      throw relayError('sign_in_state_invalid', 'The sign-in state is unknown, expired or belongs to another browser; start again at /auth/login.')
    }
    reply.clearCookie(cookieName, cookieOptions(o.cookies, 0))
    let signedIn: SignedIn
    try {
      signedIn = await o.signIn.complete(transaction, { code: request.query.code, error: request.query.error, errorDescription: request.query.error_description })
    } catch (err) {
      // A replayed callback (already used) is not this sign-in's outcome: the first one decides.
      if (!(err instanceof RelayError) || transaction.continuation === undefined || err.reason === 'sign_in_state_invalid') throw err
      const told = o.continuations?.fail(transaction.continuation, err, request, reply)
      if (told === undefined) throw err
      request.log.info({ reason: err.reason, ...err.logFields }, 'sign-in for an agent did not complete')
      return await told
    }
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
  }

  // Cross-site posts are refused for all of /auth/ before this runs (http/csrf.ts).
  app.post('/auth/logout', { config, schema: { hide: true } }, async (request, reply) => {
    const sessionId = readSessionId(request, o.cookies)
    if (sessionId !== undefined) await o.sessions.destroy(sessionId)
    reply.clearCookie(names.session, cookieOptions(o.cookies, 0))
    if ((request.headers.accept ?? '').includes('text/html')) return reply.redirect('/', 303)
    return { status: 'signed_out' }
  })
}
