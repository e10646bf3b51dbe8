// GET /<tenant>/v2.0/adminconsent: an administrator signs in and grants an app its scopes for the whole
// tenant (provisioning it there), then goes back with admin_consent=True, tenant, scope and state.
// @see https://learn.microsoft.com/en-us/entra/identity-platform/v2-admin-consent
import type { FastifyReply, FastifyRequest } from 'fastify'
import { NO_STEP_UP } from '../claims.ts'
import { resolveTenantScope, type EmulatorContext } from '../context.ts'
import { aadsts, EntraError } from '../errors.ts'
import { passwordMatches } from '../grants/password.ts'
import { isConsentAdmin, scopeNamesOf, type Tenant } from '../registry.ts'
import { parseScopes } from '../scopes.ts'
import { newSessionId } from '../tokens.ts'
import type { AppRegistration } from '../types.ts'
import { carriedParams, errorResult, sendToClient, type ConsentTickets } from './authorize.ts'
import { formParams, traceOf, type EmulatorApp } from './http.ts'
import { consentPage, errorPage, signInPage } from './pages.ts'

type TenantRequest = FastifyRequest<{ Params: { tenant: string } }>

/** A single-tenant app exists only in its home tenant; a multi-tenant one may be consented into others. */
function mayProvision (app: AppRegistration, tenant: Tenant): boolean {
  return tenant.home || app.signInAudience === 'AzureADMultipleOrgs'
}

/** Grants the scopes for everyone in the tenant; the app (and its own API) gets a service principal there. */
function grantForTenant (context: EmulatorContext, tenant: Tenant, client: AppRegistration, scope: string): void {
  const wasProvisioned = tenant.provisioned.has(client.clientId.toLowerCase())
  tenant.provisioned.add(client.clientId.toLowerCase())
  try {
    for (const resource of parseScopes(scope, context.registry, tenant, client.displayName).resources) {
      context.registry.recordAdminConsent(tenant, client.clientId, resource.app.clientId, resource.isDefault ? scopeNamesOf(resource.app) : resource.names)
    }
  } catch (err) {
    if (!wasProvisioned) tenant.provisioned.delete(client.clientId.toLowerCase())
    throw err
  }
}

export function registerAdminConsentRoute (app: EmulatorApp, context: EmulatorContext, tickets: ConsentTickets): void {
  const handler = async (request: TenantRequest, reply: FastifyReply) => {
    const trace = traceOf(request)
    let params: Record<string, string | undefined>
    try {
      params = formParams(request.method === 'GET' ? request.query : request.body)
    } catch (err) {
      if (err instanceof EntraError) return errorPage(reply, trace, err)
      throw err
    }
    const segment = request.params.tenant
    const scoped = resolveTenantScope(context, segment)
    if (scoped === undefined) return errorPage(reply, trace, aadsts.tenantNotFound(segment))
    const pathTenant = scoped.kind === 'tenant' ? scoped.tenant : undefined
    const clientId = params.client_id
    if (clientId === undefined || clientId === '') return errorPage(reply, trace, aadsts.missingParameter('client_id'))
    const client = context.registry.getApp(clientId)
    if (client === undefined || (pathTenant !== undefined && !mayProvision(client, pathTenant))) {
      return errorPage(reply, trace, aadsts.appNotFound(clientId, pathTenant?.domain ?? context.registry.tenantDomain))
    }
    const redirectUri = params.redirect_uri
    if (redirectUri === undefined || redirectUri === '') return errorPage(reply, trace, aadsts.noReplyAddress())
    if (!context.registry.redirectUriAllowed(client, redirectUri)) return errorPage(reply, trace, aadsts.redirectUriMismatch(redirectUri, clientId))
    const withState = (result: Record<string, string>) => params.state === undefined ? result : { ...result, state: params.state }
    const action = `/${segment}/v2.0/adminconsent`

    try {
      const scope = params.scope
      if (scope === undefined || scope.trim() === '') throw aadsts.missingParameter('scope')
      if (request.method === 'POST' && params.emulator_action === 'consent') {
        const session = tickets.take(params.emulator_ticket)
        const tenant = session === undefined ? undefined : context.registry.tenant(session.tenantId)
        if (session === undefined || tenant === undefined) throw aadsts.loginRequired()
        if (params.consent !== 'accept') throw aadsts.adminDeclinedConsent()
        grantForTenant(context, tenant, client, scope)
        context.log?.info({ clientId: client.clientId, tenantId: tenant.id, correlationId: trace.correlationId }, 'admin consent granted')
        return sendToClient(reply, trace, redirectUri, 'query', withState({ admin_consent: 'True', tenant: tenant.id, scope }))
      }
      const form = (error?: string) => signInPage(reply, trace, {
        action, params: carriedParams(params), appName: client.displayName, scope, loginHint: params.login_hint ?? '', error,
      })
      if (request.method !== 'POST' || params.emulator_action !== 'sign_in') return form()
      const username = params.username ?? ''
      const tenant = pathTenant ?? context.registry.tenantOfUsername(username)
      const user = tenant?.findUser(username)
      if (tenant === undefined || user === undefined) return form('AADSTS50034: This username may be incorrect. Make sure you typed it correctly. Otherwise, contact your admin.')
      if (!passwordMatches(params.password ?? '', user.password)) return form('AADSTS50126: Error validating credentials due to invalid username or password.')
      if (!mayProvision(client, tenant)) throw aadsts.appNotFound(client.clientId, tenant.domain)
      if (!isConsentAdmin(user)) throw aadsts.notAnAdmin()
      const ticket = tickets.issue({ sid: newSessionId(), tenantId: tenant.id, userOid: user.oid, authTimeSec: Math.floor(context.clock.now() / 1000), stepUp: NO_STEP_UP })
      return consentPage(reply, trace, {
        action,
        params: { ...carriedParams(params), emulator_ticket: ticket },
        appName: client.displayName,
        username: user.username,
        scopes: scope.split(' ').filter(Boolean),
        forOrganization: true,
      })
    } catch (err) {
      if (!(err instanceof EntraError)) throw err
      context.log?.info({ clientId: client.clientId, error: err.error, code: err.code, correlationId: trace.correlationId }, 'admin consent refused')
      return sendToClient(reply, trace, redirectUri, 'query', withState(errorResult(err, trace, context.url)))
    }
  }
  app.get('/:tenant/v2.0/adminconsent', handler)
  app.post('/:tenant/v2.0/adminconsent', handler)
}
