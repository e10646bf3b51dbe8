import { demandsStepUp, parseClaimsParameter, satisfies, type ClaimsRequest, type StepUp } from '../claims.ts'
import type { AuthenticatedClient } from '../client-auth.ts'
import type { EmulatorContext } from '../context.ts'
import { aadsts } from '../errors.ts'
import type { Tenant } from '../registry.ts'
import { grantedScopeNames, parseScopes, responseScope, singleResource } from '../scopes.ts'
import type { Issuance, UserIssuance } from '../tokens.ts'
import type { AppRegistration, TestUser } from '../types.ts'

export interface GrantRequest {
  context: EmulatorContext
  body: Record<string, string | undefined>
  client: AuthenticatedClient
  /** The tenant the request is for (from the path, or inferred for `organizations` / `common`). */
  tenant: Tenant
  /** 'multi' when the path named `common` or `organizations`. */
  tenantKind: 'tenant' | 'multi'
  /** The request's `claims` parameter, validated. */
  claims: ClaimsRequest | undefined
}

export type GrantHandler = (request: GrantRequest) => Promise<Issuance>

export function requireParam (body: Record<string, string | undefined>, name: string): string {
  const value = body[name]
  if (value === undefined || value === '') throw aadsts.missingParameter(name)
  return value
}

type DelegatedGrant = Pick<UserIssuance, 'resource' | 'resourceIdentifier' | 'scopeNames' | 'scope' | 'oidc'>

/** Resolves the scope parameter to one resource and checks the user's consent (or pre-authorization). */
export function delegatedGrant (context: EmulatorContext, tenant: Tenant, scope: string, user: TestUser, client: AppRegistration): DelegatedGrant {
  const requested = parseScopes(scope, context.registry, tenant, client.displayName)
  const resource = singleResource(requested, context.registry, tenant)
  const granted = context.registry.consentedScopes(user.oid, client.clientId, resource.app, tenant)
  const scopeNames = grantedScopeNames(resource, granted, client)
  return {
    resource: resource.app,
    resourceIdentifier: resource.identifier,
    scopeNames,
    scope: responseScope(resource, scopeNames, requested.oidc),
    oidc: requested.oidc,
  }
}

/** Reads the `claims` parameter (AADSTS50117 if malformed). */
export const claimsOf = (body: Record<string, string | undefined>): ClaimsRequest | undefined => parseClaimsParameter(body.claims)

/**
 * A token request that itself asks for a step-up the sign-in behind it never did cannot be answered
 * without interaction: the same claims come back as a challenge.
 */
export function requireStepUp (claims: ClaimsRequest | undefined, raw: string | undefined, stepUp: StepUp, resourceId: string): void {
  if (!demandsStepUp(claims) || claims === undefined || satisfies(stepUp, claims)) return
  throw aadsts.mfaRequired(resourceId, raw ?? '')
}

export const clientCapabilitiesOf = (claims: ClaimsRequest | undefined): string[] => claims?.clientCapabilities ?? []

export const wantsClientInfo = (body: Record<string, string | undefined>): boolean => body.client_info === '1'
