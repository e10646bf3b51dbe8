// Browser sign-in through Entra (auth code + PKCE + state + nonce; the relay is a confidential client).
import { createHash, randomBytes } from 'node:crypto'
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify'
import { mapEntraError, type LoginUrlBuilder } from '../entra/entra-errors.ts'
import type { EntraExchangeRecord, MsalFactory } from '../entra/msal.ts'
import { errors } from '../errors.ts'
import type { Sealer } from '../stores/sealed.ts'
import type { Store } from '../stores/types.ts'
import type { SessionService } from './sessions.ts'
import { cookieNames, cookieOptions, loginCookieName, loginCookieNames, readSessionId, type CookieSettings } from './cookies.ts'

const LOGIN_STATE_TTL_SEC = 600
/** Pending sign-ins a browser may hold at once; older ones are dropped so cookies never outgrow a request. */
const MAX_PENDING_SIGN_INS = 3
const MAX_RETURN_TO = 512
const PROMPTS = new Set(['login', 'consent', 'select_account'])

/** Sealed into a cookie of its own per sign-in: the server keeps nothing until the callback. */
interface LoginTransaction {
  state: string
  codeVerifier: string
  nonce: string
  returnTo: string
  /** Epoch ms after which the transaction is refused. */
  expiresAt: number
}

export interface LoginRoutesOptions {
  msal: MsalFactory
  sessions: SessionService
  /** Single-use markers of redeemed states: kept apart from sessions so no flood can evict those. */
  transientStore: Store
  /** Seals login transactions into their cookie (AES-256-GCM). */
  sealer: Sealer & { sealFor: (p: string, aad: string) => string, openFor: (s: string, aad: string) => string | undefined }
  allowedTenants: string[]
  /** Scopes a consent sign-in may ask for: those of the configured MCP servers (never arbitrary ones). */
  consentableScopes: () => string[]
  relayScope: string
  redirectUri: string
  publicUrl: URL
  cookies: CookieSettings
  loginUrl: LoginUrlBuilder
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

/** The oldest pending sign-ins beyond the limit (unreadable ones first), to make room for a new one. */
function pendingToDrop (cookies: Record<string, string | undefined>, names: string[], sealer: LoginRoutesOptions['sealer']): string[] {
  const byAge = names.map((name) => {
    const opened = sealer.openFor(cookies[name] ?? '', 'login')
    return { name, expiresAt: opened === undefined ? 0 : (JSON.parse(opened) as LoginTransaction).expiresAt }
  }).sort((a, b) => a.expiresAt - b.expiresAt)
  return byAge.slice(0, Math.max(0, byAge.length - (MAX_PENDING_SIGN_INS - 1))).map((entry) => entry.name)
}

export async function loginRoutes (app: FastifyInstance, o: LoginRoutesOptions): Promise<void> {
  const names = cookieNames(o.cookies)

  app.get('/auth/login', {
    schema: {
      querystring: {
        type: 'object',
        properties: {
          return_to: { type: 'string', maxLength: MAX_RETURN_TO },
          prompt: { type: 'string', maxLength: 32 },
          claims: { type: 'string', maxLength: 8192 },
          consent_scopes: { type: 'string', maxLength: 4096 },
        },
      },
    },
  }, async (request: FastifyRequest<{ Querystring: { return_to?: string, prompt?: string, claims?: string, consent_scopes?: string } }>, reply) => {
    const returnTo = safeReturnTo(request.query.return_to, o.publicUrl)
    if (returnTo === undefined) throw errors.invalidRequest('return_to must be a relative path on the relay, such as /v1/me.')
    const prompt = request.query.prompt
    if (prompt !== undefined && !PROMPTS.has(prompt)) throw errors.invalidRequest('prompt must be login, consent or select_account.')
    let claims: string | undefined
    if (request.query.claims !== undefined) {
      claims = Buffer.from(request.query.claims, 'base64url').toString('utf8')
      try {
        JSON.parse(claims)
      } catch {
        throw errors.invalidRequest('claims must be a base64url-encoded JSON claims request.')
      }
    }

    // Consent for downstream APIs in the same sign-in (Entra's combined consent): OBO needs the user's grant
    // of the relay → MCP server delegation, which signing in for the relay's own scope does not give.
    const consentScopes = request.query.consent_scopes?.split(' ').filter((scope) => scope !== '') ?? []
    const consentable = new Set(o.consentableScopes())
    if (consentScopes.some((scope) => !consentable.has(scope))) {
      throw errors.invalidRequest('consent_scopes may only name scopes of the configured MCP servers.')
    }

    const state = randomBytes(32).toString('base64url')
    const nonce = randomBytes(32).toString('base64url')
    const codeVerifier = randomBytes(32).toString('base64url')
    const codeChallenge = createHash('sha256').update(codeVerifier).digest('base64url')
    const transaction: LoginTransaction = { state, codeVerifier, nonce, returnTo, expiresAt: Date.now() + LOGIN_STATE_TTL_SEC * 1000 }
    const sealedTransaction = o.sealer.sealFor(JSON.stringify(transaction), 'login')

    const client = await o.msal.client().catch((err: unknown) => { throw mapEntraError(err, { record: {}, loginUrl: o.loginUrl, what: 'the sign-in' }) })
    const url = await client.getAuthCodeUrl({
      scopes: [o.relayScope],
      redirectUri: o.redirectUri,
      state,
      nonce,
      codeChallenge,
      codeChallengeMethod: 'S256',
      responseMode: 'query',
      ...(prompt === undefined ? {} : { prompt }),
      ...(claims === undefined ? {} : { claims }),
      ...(consentScopes.length === 0 ? {} : { extraScopesToConsent: consentScopes }),
    })
    // The browser binding: only this browser holds the sealed transaction for this state.
    for (const stale of pendingToDrop(request.cookies, loginCookieNames(request, o.cookies), o.sealer)) {
      reply.clearCookie(stale, cookieOptions(o.cookies, 0))
    }
    reply.setCookie(loginCookieName(o.cookies, state), sealedTransaction, cookieOptions(o.cookies, LOGIN_STATE_TTL_SEC))
    return reply.redirect(url, 302)
  })

  app.get('/auth/callback', {
    schema: {
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
  }, async (request: FastifyRequest<{ Querystring: { code?: string, state?: string, error?: string, error_description?: string } }>, reply) => {
    const { code, state } = request.query
    if (state === undefined || state === '') throw errors.invalidRequest('The sign-in response has no state.')
    const cookieName = loginCookieName(o.cookies, state)
    const sealed = request.cookies[cookieName]
    const opened = sealed === undefined ? undefined : o.sealer.openFor(sealed, 'login')
    const transaction = opened === undefined ? undefined : JSON.parse(opened) as LoginTransaction
    if (transaction === undefined || transaction.state !== state || transaction.expiresAt < Date.now()) {
      throw errors.invalidRequest('The sign-in state is unknown, expired or belongs to another browser; start again at /auth/login.')
    }
    reply.clearCookie(cookieName, cookieOptions(o.cookies, 0))
    // Single use, even if the cookie is replayed: the first callback for a state marks it redeemed.
    const stateKey = createHash('sha256').update(state).digest('base64url')
    if (!await o.transientStore.setIfAbsent(`login-used:${stateKey}`, '1', LOGIN_STATE_TTL_SEC * 1000)) {
      throw errors.invalidRequest('The sign-in state was already used; start again at /auth/login.')
    }
    if (request.query.error !== undefined) {
      const aadsts = /AADSTS(\d+)/.exec(request.query.error_description ?? '')?.[1]
      throw errors.accessDenied(`Entra did not complete the sign-in (${request.query.error.replace(/[^\w]/g, '')}${aadsts === undefined ? '' : `, AADSTS${aadsts}`}).`)
    }
    if (code === undefined || code === '') throw errors.invalidRequest('The sign-in response has no code.')

    const record: EntraExchangeRecord = {}
    let client
    let result
    try {
      client = await o.msal.client({ record })
      result = await client.acquireTokenByCode(
        { code, scopes: [o.relayScope], redirectUri: o.redirectUri, codeVerifier: transaction.codeVerifier, state, nonce: transaction.nonce },
        { code, state, nonce: transaction.nonce }
      )
    } catch (err) {
      const mapped = mapEntraError(err, { record, loginUrl: o.loginUrl, what: 'the sign-in' })
      request.log.warn({ ...mapped.logFields, error: mapped.code }, 'code redemption failed')
      throw mapped
    }
    const claims = result.idTokenClaims as Record<string, unknown>
    const account = result.account
    if (account === null || claims.nonce !== transaction.nonce || typeof claims.oid !== 'string' || typeof claims.tid !== 'string') {
      throw errors.accessDenied('The sign-in response failed validation.')
    }
    if (!o.allowedTenants.includes(claims.tid)) {
      request.log.warn({ tid: claims.tid, oid: claims.oid }, 'sign-in from a tenant that is not allowed')
      throw errors.accessDenied('Users of this tenant may not use the relay.')
    }
    // A fresh session id at every sign-in (no fixation), with its own MSAL partition; any session this
    // browser had is ended.
    const previous = readSessionId(request, o.cookies)
    if (previous !== undefined) await o.sessions.destroy(previous)
    const sessionId = await o.sessions.create({
      tid: claims.tid,
      oid: claims.oid,
      upn: typeof claims.preferred_username === 'string' ? claims.preferred_username : undefined,
      name: typeof claims.name === 'string' ? claims.name : undefined,
      homeAccountId: account.homeAccountId,
      createdAt: Date.now(),
    })
    await o.sessions.savePartition(sessionId, client.getTokenCache().serialize())
    request.log.info({ tid: claims.tid, oid: claims.oid, correlationId: record.correlationId }, 'signed in')
    reply.setCookie(names.session, sessionId, { ...cookieOptions(o.cookies, o.sessions.ttlSec), signed: true })
    return reply.redirect(transaction.returnTo, 302)
  })

  app.post('/auth/logout', async (request, reply: FastifyReply) => {
    const sessionId = readSessionId(request, o.cookies)
    if (sessionId !== undefined) {
      const origin = request.headers.origin
      if (origin !== undefined && origin !== o.publicUrl.origin) throw errors.accessDenied('Cross-site sign-out refused.')
      await o.sessions.destroy(sessionId)
    }
    reply.clearCookie(names.session, cookieOptions(o.cookies, 0))
    if ((request.headers.accept ?? '').includes('text/html')) return reply.redirect('/', 303)
    return { status: 'signed_out' }
  })
}
