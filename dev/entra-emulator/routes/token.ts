// POST /<tenant>/oauth2/v2.0/token
import type { FastifyRequest } from 'fastify'
import { decodeJwt } from 'jose'
import { authenticateClient } from '../client-auth.ts'
import { resolveTenantScope, type EmulatorContext } from '../context.ts'
import { aadsts } from '../errors.ts'
import { faultOutcome, FRONT_DOOR_FAULTS, POLICY_FAULTS, type FaultTarget } from '../faults.ts'
import { claimsOf } from '../grants/common.ts'
import { GRANT_HANDLERS, grantNameOf } from '../grants/index.ts'
import type { Tenant } from '../registry.ts'
import { tokenResponse, type Issuance } from '../tokens.ts'
import type { GrantName, TestUser } from '../types.ts'
import { formParams, traceHeaders, traceOf, type EmulatorApp } from './http.ts'

const FORM_CONTENT_TYPE = /^application\/x-www-form-urlencoded\b/i

function peekAssertion (body: Record<string, string | undefined>): { oid?: unknown, tid?: unknown } {
  try {
    return decodeJwt(body.assertion ?? '')
  } catch {
    return {}
  }
}

/**
 * The tenant of a request to `organizations` / `common`, as Entra infers it: from the username's domain,
 * the code or refresh token, or the assertion's `tid`; the home tenant when nothing tells.
 */
function inferTenant (context: EmulatorContext, grant: GrantName, body: Record<string, string | undefined>): Tenant {
  const { registry, store } = context
  const byId = (id: unknown) => typeof id === 'string' ? registry.tenant(id) : undefined
  const inferred = (() => {
    switch (grant) {
      case 'password': return body.username === undefined ? undefined : registry.tenantOfUsername(body.username)
      case 'authorization_code': return byId(body.code === undefined ? undefined : store.codes.get(body.code)?.tenantId)
      case 'refresh_token': return byId(body.refresh_token === undefined ? undefined : store.refreshTokens.get(body.refresh_token)?.tenantId)
      case 'on_behalf_of': return byId(peekAssertion(body).tid)
      case 'client_credentials': return undefined
    }
  })()
  return inferred ?? registry.homeTenant
}

/** Who a request is for, read without validating anything: faults at the front door are scoped by it. */
function peekUser (context: EmulatorContext, tenant: Tenant, grant: GrantName, body: Record<string, string | undefined>): TestUser | undefined {
  const { store } = context
  const oid = (value: unknown) => typeof value === 'string' ? tenant.findUser(value) : undefined
  switch (grant) {
    case 'password': return oid(body.username)
    case 'authorization_code': return oid(body.code === undefined ? undefined : store.codes.get(body.code)?.userOid)
    case 'refresh_token': return oid(body.refresh_token === undefined ? undefined : store.refreshTokens.get(body.refresh_token)?.userOid)
    case 'on_behalf_of': return oid(peekAssertion(body).oid)
    case 'client_credentials': return undefined
  }
}

async function throwIfFault (context: EmulatorContext, target: FaultTarget, kinds: typeof FRONT_DOOR_FAULTS,
  about: { clientId: string, clientName: string, resourceId: string }): Promise<void> {
  const fault = context.faults.take(target, kinds)
  if (fault === undefined) return
  const outcome = await faultOutcome(fault, about)
  if (outcome !== undefined) throw outcome
}

function describe (issuance: Issuance): Record<string, unknown> {
  return issuance.kind === 'app'
    ? { clientId: issuance.client.clientId, resource: issuance.resource.clientId, appOnly: true }
    : { clientId: issuance.client.clientId, resource: issuance.resource.clientId, oid: issuance.user.oid, scp: issuance.scopeNames.join(' ') }
}

export function registerTokenRoute (app: EmulatorApp, context: EmulatorContext): void {
  app.get('/:tenant/oauth2/v2.0/token', async () => { throw aadsts.postOnly('GET') })

  app.post('/:tenant/oauth2/v2.0/token', async (request: FastifyRequest<{ Params: { tenant: string } }>, reply) => {
    const trace = traceOf(request)
    const tenantScope = resolveTenantScope(context, request.params.tenant)
    if (tenantScope === undefined) throw aadsts.tenantNotFound(request.params.tenant)
    // Entra reads only form bodies; anything else looks like a request without parameters.
    const body = FORM_CONTENT_TYPE.test(request.headers['content-type'] ?? '') ? formParams(request.body) : {}
    const grantType = body.grant_type
    if (grantType === undefined || grantType === '') throw aadsts.missingParameter('grant_type')
    const grant = grantNameOf(grantType)
    if (grant === undefined) throw aadsts.unsupportedGrantType(grantType)
    context.calls[grant] += 1
    const tenant = tenantScope.kind === 'tenant' ? tenantScope.tenant : inferTenant(context, grant, body)
    const scope = body.scope ?? ''
    const about = { clientId: body.client_id ?? '', clientName: body.client_id ?? '', resourceId: scope }
    await throwIfFault(context, { grant, scope, user: peekUser(context, tenant, grant, body) }, FRONT_DOOR_FAULTS, about)
    if (body.resource !== undefined) throw aadsts.resourceParameter()
    const claims = claimsOf(body)

    const client = await authenticateClient(context, { body, authorization: request.headers.authorization, tenantSegment: request.params.tenant, tenant })
    const issuance = await GRANT_HANDLERS[grant]({ context, body, client, tenant, tenantKind: tenantScope.kind, claims })
    const user = issuance.kind === 'user' ? issuance.user : undefined
    const stepUp = issuance.kind === 'user' ? issuance.stepUp : undefined
    await throwIfFault(context, { grant, scope, user, ...(stepUp === undefined ? {} : { stepUp }) }, POLICY_FAULTS, {
      clientId: client.app.clientId,
      clientName: client.app.displayName,
      resourceId: issuance.resource.clientId,
    })
    const response = await tokenResponse(context, issuance)
    context.log?.info({ grant, ...describe(issuance), correlationId: trace.correlationId }, 'token issued')
    return await reply
      .headers({ ...traceHeaders(trace), 'cache-control': 'no-store, no-cache', pragma: 'no-cache' })
      .send(response)
  })
}
