// GET|POST /<tenant>/oauth2/v2.0/authorize: validation, a sign-in form, SSO by session cookie, and
// the redirect back with `code` (or an OAuth error). GET /<tenant>/oauth2/v2.0/logout ends the session.
import type { FastifyReply, FastifyRequest } from 'fastify'
import { resolveTenant, type EmulatorContext } from '../context.ts'
import { aadsts, errorDescription, EntraError, type RequestTrace } from '../errors.ts'
import { passwordMatches } from '../grants/password.ts'
import { parseScopes, type RequestedScopes } from '../scopes.ts'
import type { SignInSession } from '../store.ts'
import { clientInfoOf, newSessionId } from '../tokens.ts'
import type { AppRegistration, TestUser } from '../types.ts'
import { formParams, traceOf, type EmulatorApp } from './http.ts'
import { errorPage, formPostPage, signInPage } from './pages.ts'

const SESSION_COOKIE = 'ESTSAUTH'
const RESPONSE_MODES = new Set(['query', 'fragment', 'form_post'])
const PROMPTS = new Set(['login', 'none', 'consent', 'select_account'])
/** Prompts that always show the form, even with a session. */
const INTERACTIVE_PROMPTS = new Set(['login', 'consent', 'select_account'])
const FORM_FIELDS = new Set(['username', 'password', 'emulator_action'])

type Params = Record<string, string | undefined>

interface AuthorizeRequest {
  client: AppRegistration
  redirectUri: string
  responseMode: string
  requested: RequestedScopes
  codeChallenge: string | undefined
  prompt: string | undefined
}

/** Checks after the redirect URI is trusted: failures go back to the client as OAuth errors. */
function validate (context: EmulatorContext, params: Params, client: AppRegistration, redirectUri: string, responseMode: string | undefined): AuthorizeRequest {
  if (responseMode === undefined) throw aadsts.malformedRequest()
  if (params.resource !== undefined) throw aadsts.resourceParameter()
  const responseType = params.response_type
  if (responseType === undefined || responseType === '') throw aadsts.missingParameter('response_type')
  if (responseType !== 'code') throw aadsts.unsupportedResponseType(responseType)
  const scope = params.scope
  if (scope === undefined || scope.trim() === '') throw aadsts.missingParameter('scope')
  const requested = parseScopes(scope, context.registry)
  const codeChallenge = params.code_challenge
  if (codeChallenge !== undefined) {
    // RFC 7636 defaults the method to `plain`, which is refused here.
    if ((params.code_challenge_method ?? 'plain') !== 'S256') throw aadsts.invalidCodeChallengeMethod()
    if (!/^[A-Za-z0-9_-]{43}$/.test(codeChallenge)) throw aadsts.invalidCodeChallengeSize()
  } else if (params.code_challenge_method !== undefined) {
    throw aadsts.missingParameter('code_challenge')
  } else if (client.isPublicClient === true) {
    throw aadsts.pkceRequired()
  }
  const prompt = params.prompt
  if (prompt !== undefined && !PROMPTS.has(prompt)) throw aadsts.malformedRequest()
  return { client, redirectUri, responseMode, requested, codeChallenge, prompt }
}

function hasConsent (context: EmulatorContext, user: TestUser, authorize: AuthorizeRequest): boolean {
  return authorize.requested.resources.every(resource => {
    const granted = context.registry.consentedScopes(user.oid, authorize.client.clientId, resource.app)
    return resource.isDefault ? granted.size > 0 : resource.names.every(name => granted.has(name))
  })
}

/** What accepting the consent prompt does: the user grants the client the requested scopes. */
function recordConsent (context: EmulatorContext, user: TestUser, authorize: AuthorizeRequest): void {
  for (const resource of authorize.requested.resources) {
    const names = resource.isDefault ? (resource.app.exposedScopes ?? []) : resource.names
    context.registry.recordConsent(user.oid, authorize.client.clientId, resource.app.clientId, names)
  }
}

function sendToClient (reply: FastifyReply, trace: RequestTrace, redirectUri: string, responseMode: string, result: Record<string, string>): FastifyReply {
  if (responseMode === 'form_post') return formPostPage(reply, trace, redirectUri, result)
  const target = new URL(redirectUri)
  if (responseMode === 'fragment') target.hash = new URLSearchParams(result).toString()
  else for (const [name, value] of Object.entries(result)) target.searchParams.append(name, value)
  return reply.code(302).header('location', target.toString()).header('cache-control', 'no-store, no-cache').send()
}

function errorResult (err: EntraError, trace: RequestTrace, baseUrl: string): Record<string, string> {
  return { error: err.error, error_description: errorDescription(err, trace), error_uri: `${baseUrl}/error?code=${err.code}` }
}

export function registerAuthorizeRoutes (app: EmulatorApp, context: EmulatorContext): void {
  const handler = async (request: FastifyRequest<{ Params: { tenant: string } }>, reply: FastifyReply) => {
    const trace = traceOf(request)
    let params: Params
    try {
      params = formParams(request.method === 'GET' ? request.query : request.body)
    } catch (err) {
      if (err instanceof EntraError) return errorPage(reply, trace, err)
      throw err
    }
    const tenant = request.params.tenant
    if (resolveTenant(context, tenant) === undefined) return errorPage(reply, trace, aadsts.tenantNotFound(tenant))
    const clientId = params.client_id
    if (clientId === undefined || clientId === '') return errorPage(reply, trace, aadsts.missingParameter('client_id'))
    const client = context.registry.getApp(clientId)
    if (client === undefined) return errorPage(reply, trace, aadsts.appNotFound(clientId, context.registry.tenantDomain))
    const redirectUri = params.redirect_uri
    if (redirectUri === undefined || redirectUri === '') return errorPage(reply, trace, aadsts.noReplyAddress())
    if (!context.registry.redirectUriAllowed(client, redirectUri)) return errorPage(reply, trace, aadsts.redirectUriMismatch(redirectUri, clientId))

    const requestedMode = params.response_mode ?? 'query'
    const responseMode = RESPONSE_MODES.has(requestedMode) ? requestedMode : undefined
    const withState = (result: Record<string, string>) => params.state === undefined ? result : { ...result, state: params.state }
    try {
      const authorize = validate(context, params, client, redirectUri, responseMode)
      const session = await authenticate(request, reply, params, authorize)
      if (session === undefined) return reply
      const code = context.store.issueCode({
        clientId: client.clientId,
        redirectUri,
        codeChallenge: authorize.codeChallenge,
        userOid: session.userOid,
        sid: session.sid,
        scope: authorize.requested.raw,
        nonce: params.nonce,
        authTimeSec: session.authTimeSec,
      })
      context.log?.info({ clientId: client.clientId, oid: session.userOid, correlationId: trace.correlationId }, 'authorization code issued')
      return sendToClient(reply, trace, redirectUri, authorize.responseMode, withState({
        code,
        ...(params.client_info === '1' ? { client_info: clientInfoOf(context, session.userOid) } : {}),
        session_state: session.sid,
      }))
    } catch (err) {
      if (!(err instanceof EntraError)) throw err
      context.log?.info({ clientId: client.clientId, error: err.error, code: err.code, correlationId: trace.correlationId }, 'authorize refused')
      return sendToClient(reply, trace, redirectUri, responseMode ?? 'query', withState(errorResult(err, trace, context.url)))
    }
  }

  /** The signed-in session to issue a code for, or undefined once the sign-in form has been sent. */
  async function authenticate (request: FastifyRequest<{ Params: { tenant: string } }>, reply: FastifyReply, params: Params,
    authorize: AuthorizeRequest): Promise<SignInSession | undefined> {
    const trace = traceOf(request)
    const showForm = (error?: string) => {
      const carried = Object.fromEntries(Object.entries(params).filter(([name, value]) => !FORM_FIELDS.has(name) && value !== undefined)) as Record<string, string>
      signInPage(reply, trace, {
        action: `/${request.params.tenant}/oauth2/v2.0/authorize`,
        params: carried,
        appName: authorize.client.displayName,
        scope: authorize.requested.raw,
        loginHint: params.username ?? params.login_hint ?? '',
        error,
      })
      return undefined
    }
    if (request.method === 'POST' && params.emulator_action === 'sign_in') {
      const user = context.registry.findUser(params.username ?? '')
      if (user === undefined || user.username.toLowerCase() !== (params.username ?? '').toLowerCase()) {
        return showForm('AADSTS50034: This username may be incorrect. Make sure you typed it correctly. Otherwise, contact your admin.')
      }
      if (!passwordMatches(params.password ?? '', user.password)) {
        return showForm('AADSTS50126: Error validating credentials due to invalid username or password.')
      }
      recordConsent(context, user, authorize)
      const session = { sid: newSessionId(), userOid: user.oid, authTimeSec: Math.floor(Date.now() / 1000) }
      reply.setCookie(SESSION_COOKIE, context.store.createSession(session), { path: '/', httpOnly: true, secure: true, sameSite: 'none' })
      return session
    }
    const cookie = request.cookies[SESSION_COOKIE]
    const session = cookie === undefined ? undefined : context.store.sessions.get(cookie)
    const user = session === undefined ? undefined : context.registry.findUser(session.userOid)
    if (authorize.prompt === 'none') {
      if (session === undefined || user === undefined) throw aadsts.loginRequired()
      if (!hasConsent(context, user, authorize)) throw aadsts.silentConsentRequired(authorize.client.clientId, authorize.client.displayName)
      return session
    }
    const canUseSession = session !== undefined && user !== undefined && !INTERACTIVE_PROMPTS.has(authorize.prompt ?? '') && hasConsent(context, user, authorize)
    return canUseSession ? session : showForm()
  }

  app.get('/:tenant/oauth2/v2.0/authorize', handler)
  app.post('/:tenant/oauth2/v2.0/authorize', handler)

  app.get('/:tenant/oauth2/v2.0/logout', async (request: FastifyRequest<{ Querystring: Record<string, string | undefined> }>, reply) => {
    const cookie = request.cookies[SESSION_COOKIE]
    if (cookie !== undefined) context.store.sessions.delete(cookie)
    reply.clearCookie(SESSION_COOKIE, { path: '/' })
    const target = request.query.post_logout_redirect_uri
    const client = request.query.client_id === undefined ? undefined : context.registry.getApp(request.query.client_id)
    // Only a registered redirect URI of the named client may receive the user after sign-out.
    if (target !== undefined && client !== undefined && context.registry.redirectUriAllowed(client, target)) {
      return reply.code(302).header('location', target).send()
    }
    return reply.type('text/html; charset=utf-8').send('<!doctype html><title>Signed out</title><p>You signed out of your account.</p>\n')
  })
}
