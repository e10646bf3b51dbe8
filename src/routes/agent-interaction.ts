// The authorization server's login interaction (DESIGN §5): the relay's consent page for the client, then the
// Entra sign-in (the same /auth/callback), then back to the provider with the user and the grant. The Entra
// redirect does not carry the provider's interaction cookie (it is scoped to /oauth/interaction/<uid>), so the
// callback leaves the sign-in result sealed in the store and sends the browser to /oauth/interaction/<uid>/complete,
// where the interaction cookie is sent: that route requires both it and a one-time cookie the callback set.
import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto'
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify'
import type { InteractionResults, Provider } from 'oidc-provider'
import type { AgentGrants } from '../agent-auth/grants.ts'
import { consentPage, donePage, pageCsp } from '../agent-auth/pages.ts'
import { INTERACTION_PATH } from '../agent-auth/provider.ts'
import { OIDC_SCOPES, RESOURCE_SCOPES, type AgentScope } from '../agent-auth/scopes.ts'
import { sha256b64url } from '../crypto/hash.ts'
import type { Keyring } from '../crypto/keyring.ts'
import type { EntraSignIn, SignedIn } from '../entra/sign-in.ts'
import { SIGN_IN_TTL_MS } from '../entra/sign-in.ts'
import { relayError, type RelayError } from '../errors.ts'
import { cookieOptions, type CookieSettings } from '../http/cookies.ts'
import { isSameOrigin } from '../http/csrf.ts'
import { SECURITY_HEADERS } from '../http/security-headers.ts'
import type { Store } from '../stores/types.ts'
import { beginBrowserSignIn, type SignInContinuations } from './auth.ts'
import { pinToPublicUrl } from './oauth.ts'

export interface AgentInteractionOptions {
  provider: Provider
  grants: AgentGrants
  signIn: EntraSignIn
  cookies: CookieSettings
  publicUrl: URL
  /** The Entra authority origin: the consent form's submission ends there (CSP form-action). */
  authorityOrigin: string
  /** Sign-in results waiting for /complete (10 minutes, single use). */
  pending: Store
  /** Seals them (purpose `agent-pending-sign-in`). */
  keyring: Keyring
  /** Keys the consent form's CSRF token. */
  csrfKey: Buffer
  /** The signed-in browser user of the relay's own page, if any: a remembered consent skips the page. */
  browserAccount: (request: FastifyRequest) => Promise<string | undefined>
  /** What a resource indicator gives access to, for the consent page. */
  describeResource: (indicator: string) => string
}

interface PendingSignIn {
  signedIn: SignedIn
  /** sha256 of the one-time cookie the callback set in this browser. */
  binding: string
  /** The consent page was skipped for this account's remembered consent. */
  rememberedFor?: string
}

/** A sign-in that failed: the agent gets this authorization error (RFC 6749 §4.1.2.1) instead of waiting. */
interface PendingFailure {
  failure: { error: 'access_denied' | 'server_error' | 'temporarily_unavailable', description: string, reason: string }
  binding: string
}

/** The authorization error an agent gets for a failed sign-in: the relay's own description, never Entra's text. */
export function authorizationErrorFor (err: RelayError): PendingFailure['failure'] {
  const error = err.statusCode === 503 ? 'temporarily_unavailable' : err.statusCode >= 500 ? 'server_error' : 'access_denied'
  // A 5xx description speaks to the relay's operator (settings, credentials): the agent gets a plain one.
  const description = err.statusCode >= 500 ? 'The sign-in could not be completed; try again later.' : err.description
  return { error, description, reason: err.reason }
}

type Details = Awaited<ReturnType<Provider['interactionDetails']>>

const pendingKey = (uid: string) => `agent:pending-sign-in:${sha256b64url(uid)}`
const bindingCookieName = (cookies: CookieSettings, uid: string) => `${cookies.secure ? '__Host-' : ''}obo_agent_${sha256b64url(uid).slice(0, 16)}`

/** What the request asks for: identity scopes, the relay's scopes (tools:read at least) and the resources. */
export function requestedAccess (params: Details['params']): { identityScopes: string[], scopes: AgentScope[], requestedScopes: AgentScope[], resources: string[] } {
  const asked = new Set(String(params.scope ?? '').split(' ').filter((s) => s !== ''))
  const raw = params.resource as unknown
  const resources = [...new Set(Array.isArray(raw) ? raw.map(String) : typeof raw === 'string' ? [raw] : [])]
  const scopes = RESOURCE_SCOPES.filter((s) => asked.has(s))
  return {
    identityScopes: OIDC_SCOPES.filter((s) => asked.has(s)),
    scopes: resources.length === 0 ? [] : scopes.length === 0 ? ['tools:read'] : scopes,
    requestedScopes: scopes,
    resources,
  }
}

export function agentInteractionRoutes (o: AgentInteractionOptions): { routes: (app: FastifyInstance) => Promise<void>, continuations: SignInContinuations } {
  const csrfFor = (uid: string) => createHmac('sha256', o.csrfKey).update(`consent:${uid}`).digest('base64url')

  /** The interaction this browser started; a missing or foreign interaction cookie is a clear 400. */
  const detailsOf = async (request: FastifyRequest<{ Params: { uid: string } }>, reply: FastifyReply): Promise<Details> => {
    pinToPublicUrl(request, o.publicUrl)
    let details: Details
    try {
      details = await o.provider.interactionDetails(request.raw, reply.raw)
    } catch {
      throw relayError('interaction_invalid', 'This authorization request is unknown, expired or belongs to another browser; start again from the agent.')
    }
    if (details.uid !== request.params.uid) throw relayError('interaction_invalid', 'This authorization request belongs to another page; start again from the agent.')
    return details
  }

  const checkForm = (request: FastifyRequest<{ Params: { uid: string }, Body: { csrf?: string } | undefined }>): void => {
    if (!isSameOrigin(request, o.publicUrl, { requireOrigin: false })) throw relayError('cross_site_refused', 'Cross-site request refused.')
    const given = Buffer.from(String(request.body?.csrf ?? ''))
    const expected = Buffer.from(csrfFor(request.params.uid))
    if (given.length !== expected.length || !timingSafeEqual(given, expected)) throw relayError('cross_site_refused', 'The consent form is not from this page; reload it.')
  }

  const toEntra = async (request: FastifyRequest, reply: FastifyReply, details: Details, status: 302 | 303, rememberedFor?: string): Promise<FastifyReply> => {
    const accountId = rememberedFor ?? details.session?.accountId
    const profile = accountId === undefined ? undefined : await o.grants.profile(accountId)
    return await beginBrowserSignIn(o, request, reply, {
      returnTo: '/',
      loginHint: profile?.upn,
      continuation: { kind: 'agent_interaction', uid: details.uid, ...(rememberedFor === undefined ? {} : { rememberedFor }) },
    }, status)
  }

  /** Ends the interaction: oidc-provider answers with its own redirect (resume), on the raw response. */
  const finish = async (request: FastifyRequest, reply: FastifyReply, result: InteractionResults): Promise<void> => {
    reply.hijack()
    for (const [name, value] of Object.entries(SECURITY_HEADERS)) reply.raw.setHeader(name, value)
    reply.raw.setHeader('x-request-id', request.id)
    await o.provider.interactionFinished(request.raw, reply.raw, result, { mergeWithLastSubmission: false })
  }

  const routes = async (app: FastifyInstance): Promise<void> => {
    const config = { auth: 'public' } as const
    const params = { type: 'object', required: ['uid'], properties: { uid: { type: 'string', pattern: '^[\\w-]{1,64}$' } } }
    const formBody = { type: 'object', properties: { csrf: { type: 'string', maxLength: 128 }, decision: { type: 'string', maxLength: 16 } } }

    app.get(`${INTERACTION_PATH}/:uid`, { config, schema: { hide: true, params } }, async (request: FastifyRequest<{ Params: { uid: string } }>, reply) => {
      const details = await detailsOf(request, reply)
      const clientId = String(details.params.client_id)
      const client = await o.provider.Client.find(clientId)
      if (client === undefined) throw relayError('interaction_invalid', 'The agent of this request is unknown.')
      const access = requestedAccess(details.params)
      const known = details.session?.accountId ?? await o.browserAccount(request)
      // Approved before by this user for all of it: straight to the Entra sign-in.
      if (known !== undefined && await o.grants.consentCovers(known, clientId, { scopes: access.scopes, resources: access.resources })) {
        return await toEntra(request, reply, details, 302, known)
      }
      const redirectUri = typeof details.params.redirect_uri === 'string' ? URL.parse(details.params.redirect_uri) : null
      const profile = known === undefined ? undefined : await o.grants.profile(known)
      reply.header('content-security-policy', pageCsp([o.authorityOrigin, ...(redirectUri === null ? [] : [redirectUri.origin])]))
      reply.header('cache-control', 'no-store').type('text/html; charset=utf-8')
      return consentPage({
        uid: details.uid,
        csrf: csrfFor(details.uid),
        clientName: client.clientName ?? clientId,
        clientId,
        redirectHost: redirectUri === null ? 'this device (device sign-in)' : redirectUri.host,
        clientSource: (client as { clientIdMetadataDocument?: boolean }).clientIdMetadataDocument === true ? 'metadata document' : (client as { noManage?: boolean }).noManage === true ? 'configured' : 'registered',
        resources: access.resources.map((indicator) => ({ indicator, description: o.describeResource(indicator) })),
        scopes: access.scopes,
        identityScopes: access.identityScopes,
        signedInAs: profile?.upn ?? profile?.name,
      })
    })

    // "state set only after approval": the Entra transaction (state, PKCE, nonce) is created here.
    app.post(`${INTERACTION_PATH}/:uid/confirm`, { config, schema: { hide: true, params, body: formBody } }, async (request: FastifyRequest<{ Params: { uid: string }, Body: { csrf?: string } }>, reply) => {
      checkForm(request)
      const details = await detailsOf(request, reply)
      return await toEntra(request, reply, details, 303)
    })

    app.post(`${INTERACTION_PATH}/:uid/abort`, { config, schema: { hide: true, params, body: formBody } }, async (request: FastifyRequest<{ Params: { uid: string }, Body: { csrf?: string } }>, reply) => {
      checkForm(request)
      const details = await detailsOf(request, reply)
      request.log.info({ audit: 'consent.denied', clientId: details.params.client_id }, 'audit')
      await finish(request, reply, { error: 'access_denied', error_description: 'The user did not allow this agent.' })
    })

    app.get(`${INTERACTION_PATH}/:uid/complete`, { config, schema: { hide: true, params } }, async (request: FastifyRequest<{ Params: { uid: string } }>, reply) => {
      const details = await detailsOf(request, reply)
      const cookieName = bindingCookieName(o.cookies, details.uid)
      const binding = request.cookies[cookieName]
      const sealed = await o.pending.take(pendingKey(details.uid))
      const opened = sealed === undefined ? undefined : o.keyring.open(sealed, pendingKey(details.uid))
      const pending = opened === undefined ? undefined : JSON.parse(opened) as PendingSignIn | PendingFailure
      reply.clearCookie(cookieName, cookieOptions(o.cookies, 0))
      if (pending === undefined || binding === undefined || sha256b64url(binding) !== pending.binding) {
        throw relayError('interaction_invalid', 'The sign-in for this authorization is missing, used or from another browser; start again from the agent.')
      }
      if ('failure' in pending) {
        request.log.info({ audit: 'authorization.failed', clientId: details.params.client_id, reason: pending.failure.reason }, 'audit')
        await finish(request, reply, { error: pending.failure.error, error_description: pending.failure.description })
        return
      }
      const { signedIn } = pending
      const accountId = `${signedIn.tid}.${signedIn.oid}`
      const clientId = String(details.params.client_id)
      const client = await o.provider.Client.find(clientId)
      if (client === undefined) throw relayError('interaction_invalid', 'The agent of this request is unknown.')
      const access = requestedAccess(details.params)
      // Nobody saw the consent page: only the account whose consent was remembered may complete it.
      if (pending.rememberedFor !== undefined && pending.rememberedFor !== accountId && !await o.grants.consentCovers(accountId, clientId, { scopes: access.scopes, resources: access.resources })) {
        request.log.info({ audit: 'consent.denied', clientId, account: accountId, why: 'another account signed in' }, 'audit')
        await finish(request, reply, { error: 'access_denied', error_description: 'The account that signed in has not allowed this agent; start again from the agent.' })
        return
      }

      // One grant per user and client (and provider session): an earlier one for the same pair grows.
      let grant = details.grantId === undefined ? undefined : await o.provider.Grant.find(details.grantId)
      if (grant !== undefined && (grant.accountId !== accountId || grant.clientId !== clientId)) grant = undefined
      grant ??= new o.provider.Grant({ accountId, clientId })
      // oidc-provider counts every scope it knows (ours too) as an "OIDC" scope of the grant.
      const statics = [...access.identityScopes, ...access.requestedScopes]
      if (statics.length > 0) grant.addOIDCScope(statics.join(' '))
      const missingClaims = (details.prompt.details as { missingOIDCClaims?: string[] }).missingOIDCClaims
      if (missingClaims !== undefined) grant.addOIDCClaims(missingClaims)
      for (const resource of access.resources) grant.addResourceScope(resource, access.scopes.join(' '))
      const grantId = await grant.save()

      const redirectUri = typeof details.params.redirect_uri === 'string' ? URL.parse(details.params.redirect_uri) : null
      await o.grants.save({
        grantId,
        accountId,
        tid: signedIn.tid,
        oid: signedIn.oid,
        upn: signedIn.upn,
        name: signedIn.name,
        homeAccountId: signedIn.homeAccountId,
        clientId,
        clientName: client.clientName,
        redirectHost: redirectUri === null ? 'device' : redirectUri.host,
        resources: Object.keys(grant.resources ?? {}),
        scopes: [...new Set(Object.values(grant.resources ?? {}).flatMap((scope) => String(scope).split(' ')))].filter((s) => s !== ''),
      }, signedIn)
      await o.grants.rememberConsent(accountId, clientId, { scopes: access.scopes, resources: access.resources })
      await finish(request, reply, { login: { accountId, remember: false }, consent: { grantId } })
    })
  }

  const continuations: SignInContinuations = {
    beginForGrant: async (grantId) => {
      const record = await o.grants.get(grantId)
      if (record === undefined) throw relayError('grant_unknown', 'This agent connection no longer exists; connect the agent again.')
      return { loginHint: record.upn }
    },
    complete: async (signedIn, _request, reply) => {
      const continuation = signedIn.continuation
      if (continuation?.kind === 'agent_grant') {
        const record = await o.grants.reauthenticate(continuation.grantId, signedIn)
        reply.header('content-security-policy', pageCsp()).header('cache-control', 'no-store').type('text/html; charset=utf-8')
        return reply.send(donePage('Signed in again', `${record.clientName ?? record.clientId} can act for you again. You can close this page.`))
      }
      if (continuation?.kind !== 'agent_interaction') throw relayError('sign_in_state_invalid', 'This sign-in cannot be completed here.')
      return await toComplete(reply, continuation.uid, (binding) => ({ signedIn, binding, ...(continuation.rememberedFor === undefined ? {} : { rememberedFor: continuation.rememberedFor }) }))
    },
    // Only an interaction has an agent waiting on it; a grant's sign-in again shows the error page.
    fail: (continuation, err, _request, reply) => continuation.kind !== 'agent_interaction'
      ? undefined
      : toComplete(reply, continuation.uid, (binding) => ({ failure: authorizationErrorFor(err), binding })),
  }

  /** Leaves the callback's outcome sealed for /complete, bound to this browser by a one-time cookie, and goes there. */
  async function toComplete (reply: FastifyReply, uid: string, outcome: (binding: string) => PendingSignIn | PendingFailure): Promise<FastifyReply> {
    const binding = randomBytes(32).toString('base64url')
    const key = pendingKey(uid)
    await o.pending.set(key, o.keyring.seal(JSON.stringify(outcome(sha256b64url(binding))), key), SIGN_IN_TTL_MS)
    reply.setCookie(bindingCookieName(o.cookies, uid), binding, cookieOptions(o.cookies, SIGN_IN_TTL_MS / 1000))
    return reply.redirect(`${INTERACTION_PATH}/${encodeURIComponent(uid)}/complete`, 303)
  }
  return { routes, continuations }
}
