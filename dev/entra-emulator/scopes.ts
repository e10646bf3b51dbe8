// v2 scope parameter: OIDC scopes plus `<resource>/<name>` scopes, where <resource> is an App ID URI
// or a client id and `.default` means "everything already granted". Bare names belong to Microsoft Graph.
import { GRAPH_APP_ID } from './defaults.ts'
import { aadsts } from './errors.ts'
import { scopeNamesOf, type Registry, type Tenant } from './registry.ts'
import type { AppRegistration } from './types.ts'

export const OIDC_SCOPES: ReadonlySet<string> = new Set(['openid', 'profile', 'email', 'offline_access'])

export interface ResourceRequest {
  app: AppRegistration
  /** The resource as the client named it (used when echoing scopes back). */
  identifier: string
  /** Explicitly requested scope names (empty when `.default`). */
  names: string[]
  isDefault: boolean
}

export interface RequestedScopes {
  raw: string
  oidc: Set<string>
  resources: ResourceRequest[]
}

export function splitScope (raw: string): string[] {
  return raw.split(' ').filter(token => token !== '')
}

/**
 * Resolves each scope to a resource provisioned in `tenant`. An unknown name on a known resource is
 * AADSTS650053; `.default` twice for one resource, or with explicit scopes of it, is AADSTS70011.
 * @see https://learn.microsoft.com/en-us/entra/identity-platform/scopes-oidc#the-default-scope
 */
export function parseScopes (raw: string, registry: Registry, tenant: Tenant = registry.homeTenant, clientName = ''): RequestedScopes {
  const oidc = new Set<string>()
  const byApp = new Map<string, ResourceRequest>()
  for (const token of splitScope(raw)) {
    if (OIDC_SCOPES.has(token.toLowerCase())) {
      oidc.add(token.toLowerCase())
      continue
    }
    const slash = token.lastIndexOf('/')
    const identifier = slash < 0 ? GRAPH_APP_ID : token.slice(0, slash)
    const name = slash < 0 ? token : token.slice(slash + 1)
    if (identifier === '' || name === '') throw aadsts.invalidScope(token)
    const app = registry.findResource(identifier, tenant)
    if (app === undefined) throw aadsts.resourceNotFound(identifier, tenant.domain)
    const request = byApp.get(app.clientId) ?? { app, identifier: slash < 0 ? '' : identifier, names: [], isDefault: false }
    byApp.set(app.clientId, request)
    if (name === '.default') {
      if (request.isDefault) throw aadsts.invalidScope(raw)
      request.isDefault = true
      continue
    }
    // Scope names compare case-insensitively in Entra; keep the registered spelling.
    const exposed = scopeNamesOf(app).find(scope => scope.toLowerCase() === name.toLowerCase())
    if (exposed === undefined) throw aadsts.scopeNotOnResource(clientName, name, app.clientId)
    if (!request.names.includes(exposed)) request.names.push(exposed)
  }
  for (const request of byApp.values()) {
    if (request.isDefault && request.names.length > 0) throw aadsts.invalidScope(raw)
  }
  return { raw, oidc, resources: [...byApp.values()] }
}

/** Token requests get a token for exactly one resource; only OIDC scopes means Microsoft Graph. */
export function singleResource (scopes: RequestedScopes, registry: Registry, tenant: Tenant = registry.homeTenant): ResourceRequest {
  if (scopes.resources.length > 1) throw aadsts.multipleResources(scopes.raw)
  const [resource] = scopes.resources
  if (resource !== undefined) return resource
  const graph = registry.getApp(GRAPH_APP_ID)
  if (graph === undefined) throw aadsts.resourceNotFound(GRAPH_APP_ID, tenant.domain)
  return { app: graph, identifier: '', names: ['User.Read'], isDefault: false }
}

/**
 * The scope names a delegated token gets, or AADSTS65001 when consent is missing.
 * `.default` yields what was granted (and needs at least one grant).
 */
export function grantedScopeNames (resource: ResourceRequest, granted: Set<string>, client: AppRegistration): string[] {
  if (resource.isDefault) {
    const names = scopeNamesOf(resource.app).filter(scope => granted.has(scope))
    if (names.length === 0) throw aadsts.consentRequired(client.clientId, client.displayName)
    return names
  }
  if (!resource.names.every(name => granted.has(name))) throw aadsts.consentRequired(client.clientId, client.displayName)
  return resource.names
}

/** The `scope` member of a token response: full scope strings of the resource (Graph's are short, with OIDC ones). */
export function responseScope (resource: ResourceRequest, names: string[], oidc: Set<string>): string {
  if (resource.app.clientId === GRAPH_APP_ID) {
    return [...new Set([...['openid', 'profile', 'email'].filter(scope => oidc.has(scope)), ...names])].join(' ')
  }
  const identifier = resource.identifier === '' ? (resource.app.appIdUri ?? resource.app.clientId) : resource.identifier
  return names.map(name => `${identifier}/${name}`).join(' ')
}
