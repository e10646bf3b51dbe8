// GET|POST /<tenant>/oauth2/v2.0/authorize: validation, a sign-in form, SSO by session cookie, step-up
// for `claims`, the consent prompt, and the redirect back with `code` (or an OAuth error).
// GET /<tenant>/oauth2/v2.0/logout ends the session.
// @see https://learn.microsoft.com/en-us/entra/identity-platform/v2-oauth2-auth-code-flow
import { randomBytes } from 'node:crypto'
import type { FastifyReply, FastifyRequest } from 'fastify'
import { demandsStepUp, mergeStepUp, NO_STEP_UP, parseClaimsParameter, satisfies, type ClaimsRequest } from '../claims.ts'
import { resolveTenantScope, type EmulatorContext } from '../context.ts'
import { aadsts, errorDescription, EntraError, type RequestTrace } from '../errors.ts'
import { passwordMatches } from '../grants/password.ts'
import { isAdminScope, isConsentAdmin, scopeNamesOf, type Tenant } from '../registry.ts'
import { parseScopes, type RequestedScopes, type ResourceRequest } from '../scopes.ts'
import type { SignInSession } from '../store.ts'
import { clientInfoOf, newSessionId } from '../tokens.ts'
import type { AppRegistration, RedirectUri, TestUser } from '../types.ts'
import { formParams, traceOf, type EmulatorApp } from './http.ts'
import { adminApprovalPage, consentPage, errorPage, formPostPage, signInPage } from './pages.ts'

export const SESSION_COOKIE = 'ESTSAUTH'
const RESPONSE_MODES = new Set(['query', 'fragment', 'form_post'])
const PROMPTS = new Set(['login', 'none', 'consent', 'select_account'])
/** Prompts that always show the form, even with a session. */
const INTERACTIVE_PROMPTS = new Set(['login', 'select_account'])
export const FORM_FIELDS = new Set(['username', 'password', 'emulator_action', 'consent', 'emulator_ticket'])
const TICKET_LIFETIME_MS = 10 * 60_000

type Params = Record<string, string | undefined>

interface AuthorizeRequest {
  client: AppRegistration
  redirectUri: string
  redirectType: RedirectUri['type']
  responseMode: string
  scopeRaw: string
  claims: ClaimsRequest | undefined
  codeChallenge: string | undefined
  prompt: string | undefined
}

/** A signed-in user between the sign-in form and the consent prompt (carried in the form, not a cookie). */
export interface ConsentTicket {
  session: SignInSession
  expiresAtMs: number
}

/** Checks after the redirect URI is trusted: failures go back to the client as OAuth errors. */
function validate (params: Params, client: AppRegistration, redirectUri: string, redirectType: RedirectUri['type'], responseMode: string | undefined): AuthorizeRequest {
  if (responseMode === undefined) throw aadsts.malformedRequest()
  if (params.resource !== undefined) throw aadsts.resourceParameter()
  const responseType = params.response_type
  if (responseType === undefined || responseType === '') throw aadsts.missingParameter('response_type')
  if (responseType !== 'code') throw aadsts.unsupportedResponseType(responseType)
  const scope = params.scope
  if (scope === undefined || scope.trim() === '') throw aadsts.missingParameter('scope')
  const claims = parseClaimsParameter(params.claims)
  const codeChallenge = params.code_challenge
  if (codeChallenge !== undefined) {
    // RFC 7636 defaults the method to `plain`, which is refused here.
    if ((params.code_challenge_method ?? 'plain') !== 'S256') throw aadsts.invalidCodeChallengeMethod()
    if (!/^[A-Za-z0-9_-]{43}$/.test(codeChallenge)) throw aadsts.invalidCodeChallengeSize()
  } else if (params.code_challenge_method !== undefined) {
    throw aadsts.missingParameter('code_challenge')
  } else if (client.isPublicClient === true || redirectType === 'spa') {
    throw aadsts.pkceRequired()
  }
  const prompt = params.prompt
  if (prompt !== undefined && !PROMPTS.has(prompt)) throw aadsts.malformedRequest()
  return { client, redirectUri, redirectType, responseMode, scopeRaw: scope, claims, codeChallenge, prompt }
}

/** The scopes of one resource the user still has to grant (a `.default` with no grant asks for them all). */
function missingScopes (context: EmulatorContext, tenant: Tenant, user: TestUser, client: AppRegistration, resource: ResourceRequest): string[] {
  const granted = context.registry.consentedScopes(user.oid, client.clientId, resource.app, tenant)
  if (resource.isDefault) return granted.size > 0 ? [] : scopeNamesOf(resource.app)
  return resource.names.filter(name => !granted.has(name))
}

export interface ConsentNeed {
  /** Per resource, the scope names still to grant. */
  missing: Array<{ resource: ResourceRequest, names: string[] }>
  /** Only an administrator can grant them (admin-only scopes, or user consent turned off). */
  needsAdmin: boolean
}

export function consentNeed (context: EmulatorContext, tenant: Tenant, user: TestUser, client: AppRegistration, requested: RequestedScopes,
  everything = false): ConsentNeed {
  const missing = requested.resources
    .map(resource => ({ resource, names: everything ? (resource.isDefault ? scopeNamesOf(resource.app) : resource.names) : missingScopes(context, tenant, user, client, resource) }))
    .filter(entry => entry.names.length > 0)
  const adminOnly = missing.some(({ resource, names }) => names.some(name => isAdminScope(resource.app, name)))
  return { missing, needsAdmin: missing.length > 0 && (adminOnly || !tenant.userConsentAllowed) }
}

/** What accepting the prompt does: the user (or, for admin-only needs, the admin for everyone) grants the scopes. */
export function grantNeed (context: EmulatorContext, tenant: Tenant, user: TestUser, client: AppRegistration, need: ConsentNeed, forOrganization: boolean): void {
  for (const { resource, names } of need.missing) {
    if (forOrganization) context.registry.recordAdminConsent(tenant, client.clientId, resource.app.clientId, names)
    else context.registry.recordConsent(user.oid, client.clientId, resource.app.clientId, names, tenant)
  }
}

export function scopeStrings (need: ConsentNeed): string[] {
  return need.missing.flatMap(({ resource, names }) => names.map(name => {
    const identifier = resource.identifier === '' ? '' : `${resource.identifier}/`
    return `${identifier}${name}`
  }))
}

export function sendToClient (reply: FastifyReply, trace: RequestTrace, redirectUri: string, responseMode: string, result: Record<string, string>): FastifyReply {
  if (responseMode === 'form_post') return formPostPage(reply, trace, redirectUri, result)
  const target = new URL(redirectUri)
  if (responseMode === 'fragment') target.hash = new URLSearchParams(result).toString()
  else for (const [name, value] of Object.entries(result)) target.searchParams.append(name, value)
  return reply.code(302).header('location', target.toString()).header('cache-control', 'no-store, no-cache').send()
}

export function errorResult (err: EntraError, trace: RequestTrace, baseUrl: string): Record<string, string> {
  return { error: err.error, error_description: errorDescription(err, trace), error_uri: `${baseUrl}/error?code=${err.code}` }
}

export function carriedParams (params: Params): Record<string, string> {
  return Object.fromEntries(Object.entries(params).filter(([name, value]) => !FORM_FIELDS.has(name) && value !== undefined)) as Record<string, string>
}

export class ConsentTickets {
  readonly #tickets = new Map<string, ConsentTicket>()
  readonly #now: () => number

  constructor (now: () => number) {
    this.#now = now
  }

  issue (session: SignInSession): string {
    const now = this.#now()
    for (const [id, ticket] of this.#tickets) if (ticket.expiresAtMs <= now) this.#tickets.delete(id)
    const id = randomBytes(24).toString('base64url')
    this.#tickets.set(id, { session, expiresAtMs: now + TICKET_LIFETIME_MS })
    return id
  }

  /** Single use. */
  take (id: string | undefined): SignInSession | undefined {
    if (id === undefined) return undefined
    const ticket = this.#tickets.get(id)
    this.#tickets.delete(id)
    return ticket !== undefined && ticket.expiresAtMs > this.#now() ? ticket.session : undefined
  }
}

type TenantRequest = FastifyRequest<{ Params: { tenant: string } }>

export function registerAuthorizeRoutes (app: EmulatorApp, context: EmulatorContext, tickets: ConsentTickets): void {
  const handler = async (request: TenantRequest, reply: FastifyReply) => {
    const trace = traceOf(request)
    let params: Params
    try {
      params = formParams(request.method === 'GET' ? request.query : request.body)
    } catch (err) {
      if (err instanceof EntraError) return errorPage(reply, trace, err)
      throw err
    }
    const segment = request.params.tenant
    const scope = resolveTenantScope(context, segment)
    if (scope === undefined) return errorPage(reply, trace, aadsts.tenantNotFound(segment))
    const clientId = params.client_id
    if (clientId === undefined || clientId === '') return errorPage(reply, trace, aadsts.missingParameter('client_id'))
    const pathTenant = scope.kind === 'tenant' ? scope.tenant : undefined
    const client = pathTenant === undefined ? context.registry.getApp(clientId) : context.registry.servicePrincipal(pathTenant, clientId)
    if (client === undefined) return errorPage(reply, trace, aadsts.appNotFound(clientId, pathTenant?.domain ?? context.registry.tenantDomain))
    const redirectUri = params.redirect_uri
    if (redirectUri === undefined || redirectUri === '') return errorPage(reply, trace, aadsts.noReplyAddress())
    const registered = context.registry.matchRedirectUri(client, redirectUri)
    if (registered === undefined) return errorPage(reply, trace, aadsts.redirectUriMismatch(redirectUri, clientId))

    const requestedMode = params.response_mode ?? 'query'
    const responseMode = RESPONSE_MODES.has(requestedMode) ? requestedMode : undefined
    const withState = (result: Record<string, string>) => params.state === undefined ? result : { ...result, state: params.state }
    const refuse = (err: EntraError) => {
      context.log?.info({ clientId: client.clientId, error: err.error, code: err.code, correlationId: trace.correlationId }, 'authorize refused')
      return sendToClient(reply, trace, redirectUri, responseMode ?? 'query', withState(errorResult(err, trace, context.url)))
    }
    try {
      const authorize = validate(params, client, redirectUri, registered.type, responseMode)
      // Scopes are checked against the path's tenant now, and against the user's tenant after sign-in.
      parseScopes(authorize.scopeRaw, context.registry, pathTenant ?? context.registry.homeTenant, client.displayName)
      const session = await authenticate(request, reply, params, authorize, pathTenant)
      if (session === undefined) return reply
      const tenant = context.registry.tenant(session.tenantId) ?? context.registry.homeTenant
      const user = tenant.findUser(session.userOid)
      if (user === undefined) throw aadsts.loginRequired()
      const requested = parseScopes(authorize.scopeRaw, context.registry, tenant, client.displayName)

      const action = `/${segment}/oauth2/v2.0/authorize`
      if (params.emulator_action === 'return_without_consent') throw aadsts.adminConsentRequired()
      if (params.emulator_action === 'consent') {
        if (params.consent !== 'accept') throw aadsts.userDeclinedConsent()
        const need = consentNeed(context, tenant, user, client, requested, authorize.prompt === 'consent')
        if (need.needsAdmin && !isConsentAdmin(user)) throw aadsts.adminConsentRequired()
        grantNeed(context, tenant, user, client, need, need.needsAdmin)
      } else {
        const need = consentNeed(context, tenant, user, client, requested, authorize.prompt === 'consent')
        if (need.missing.length > 0) {
          if (authorize.prompt === 'none') throw aadsts.silentConsentRequired(client.clientId, client.displayName)
          const ticket = tickets.issue(session)
          const carried = { ...carriedParams(params), emulator_ticket: ticket }
          if (need.needsAdmin && !isConsentAdmin(user)) return adminApprovalPage(reply, trace, { action, params: carried, appName: client.displayName })
          return consentPage(reply, trace, { action, params: carried, appName: client.displayName, username: user.username, scopes: scopeStrings(need), forOrganization: need.needsAdmin })
        }
      }

      const code = context.store.issueCode({
        clientId: client.clientId,
        tenantId: tenant.id,
        redirectUri,
        redirectType: registered.type,
        codeChallenge: authorize.codeChallenge,
        userOid: session.userOid,
        sid: session.sid,
        scope: authorize.scopeRaw,
        nonce: params.nonce,
        authTimeSec: session.authTimeSec,
        stepUp: session.stepUp,
      })
      context.log?.info({ clientId: client.clientId, oid: session.userOid, correlationId: trace.correlationId }, 'authorization code issued')
      return sendToClient(reply, trace, redirectUri, authorize.responseMode, withState({
        code,
        ...(params.client_info === '1' ? { client_info: clientInfoOf(tenant.id, session.userOid) } : {}),
        session_state: session.sid,
      }))
    } catch (err) {
      if (!(err instanceof EntraError)) throw err
      return refuse(err)
    }
  }

  /** The signed-in session to issue a code for, or undefined once a page (sign-in form) has been sent. */
  async function authenticate (request: TenantRequest, reply: FastifyReply, params: Params, authorize: AuthorizeRequest,
    pathTenant: Tenant | undefined): Promise<SignInSession | undefined> {
    const trace = traceOf(request)
    const showForm = (error?: string) => {
      signInPage(reply, trace, {
        action: `/${request.params.tenant}/oauth2/v2.0/authorize`,
        params: carriedParams(params),
        appName: authorize.client.displayName,
        scope: authorize.scopeRaw,
        loginHint: params.username ?? params.login_hint ?? '',
        error,
      })
      return undefined
    }
    if (request.method === 'POST' && (params.emulator_action === 'consent' || params.emulator_action === 'return_without_consent')) {
      const session = tickets.take(params.emulator_ticket)
      if (session === undefined) return showForm('Your sign-in timed out. Sign in again.')
      return session
    }
    if (request.method === 'POST' && params.emulator_action === 'sign_in') {
      const username = params.username ?? ''
      const tenant = pathTenant ?? context.registry.tenantOfUsername(username)
      const user = tenant?.findUser(username)
      if (tenant === undefined || user === undefined || user.username.toLowerCase() !== username.toLowerCase()) {
        return showForm('AADSTS50034: This username may be incorrect. Make sure you typed it correctly. Otherwise, contact your admin.')
      }
      if (!passwordMatches(params.password ?? '', user.password)) {
        return showForm('AADSTS50126: Error validating credentials due to invalid username or password.')
      }
      // A multi-tenant sign-in lands in the user's own tenant, where the app must be provisioned.
      if (!context.registry.isProvisioned(tenant, authorize.client.clientId)) throw aadsts.appNotFound(authorize.client.clientId, tenant.domain)
      // Signing in with the form is the interactive step a claims request (acrs, capolids) asks for.
      const session: SignInSession = {
        sid: newSessionId(),
        tenantId: tenant.id,
        userOid: user.oid,
        authTimeSec: Math.floor(context.clock.now() / 1000),
        stepUp: mergeStepUp(NO_STEP_UP, authorize.claims),
      }
      reply.setCookie(SESSION_COOKIE, context.store.createSession(session), { path: '/', httpOnly: true, secure: true, sameSite: 'none' })
      return session
    }
    const cookie = request.cookies[SESSION_COOKIE]
    const found = cookie === undefined ? undefined : context.store.sessions.get(cookie)
    // A session is for one tenant; another tenant's sign-in starts over.
    const session = found !== undefined && (pathTenant === undefined || pathTenant.id === found.tenantId) ? found : undefined
    const user = session === undefined ? undefined : context.registry.tenant(session.tenantId)?.findUser(session.userOid)
    const stepUpMissing = session !== undefined && demandsStepUp(authorize.claims) && authorize.claims !== undefined && !satisfies(session.stepUp, authorize.claims)
    if (authorize.prompt === 'none') {
      if (session === undefined || user === undefined) throw aadsts.loginRequired()
      if (stepUpMissing) throw aadsts.mfaRequired(authorize.client.clientId, params.claims ?? '')
      return session
    }
    const canUseSession = session !== undefined && user !== undefined && !INTERACTIVE_PROMPTS.has(authorize.prompt ?? '') && !stepUpMissing
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
