import type { AuthenticatedClient } from '../client-auth.ts'
import type { EmulatorContext } from '../context.ts'
import { aadsts } from '../errors.ts'
import { grantedScopeNames, parseScopes, responseScope, singleResource } from '../scopes.ts'
import type { Issuance, UserIssuance } from '../tokens.ts'
import type { AppRegistration, TestUser } from '../types.ts'

export interface GrantRequest {
  context: EmulatorContext
  body: Record<string, string | undefined>
  client: AuthenticatedClient
  /** 'multi' when the path named `common` or `organizations`. */
  tenantKind: 'tenant' | 'multi'
}

export type GrantHandler = (request: GrantRequest) => Promise<Issuance>

export function requireParam (body: Record<string, string | undefined>, name: string): string {
  const value = body[name]
  if (value === undefined || value === '') throw aadsts.missingParameter(name)
  return value
}

type DelegatedGrant = Pick<UserIssuance, 'resource' | 'scopeNames' | 'scope' | 'oidc'>

/** Resolves the scope parameter to one resource and checks the user's consent (or pre-authorization). */
export function delegatedGrant (context: EmulatorContext, scope: string, user: TestUser, client: AppRegistration): DelegatedGrant {
  const requested = parseScopes(scope, context.registry)
  const resource = singleResource(requested, context.registry)
  const granted = context.registry.consentedScopes(user.oid, client.clientId, resource.app)
  const scopeNames = grantedScopeNames(resource, granted, client)
  return { resource: resource.app, scopeNames, scope: responseScope(resource, scopeNames, requested.oidc), oidc: requested.oidc }
}

export const wantsClientInfo = (body: Record<string, string | undefined>): boolean => body.client_info === '1'
