// RFC 9728 Protected Resource Metadata: where to find it, what to accept, which Entra scopes to ask for.
import { DiscoveryError, quoteUpstream } from './discovery-error.ts'
import type { SafeFetcher } from './safe-fetch.ts'
import { findBearerChallenge } from './www-authenticate.ts'

export { parseWwwAuthenticate, findBearerChallenge, type AuthChallenge } from './www-authenticate.ts'

export interface IssuerPolicy {
  /** Entra authority origin, e.g. https://login.microsoftonline.com */
  authorityHost: URL
  allowedTenants: readonly string[]
  /**
   * Resources (App ID URIs or app ids) a server's PRM may name besides `api://…` ones. The relay sends the
   * token it obtains to that server, so a server must never steer it to Graph, ARM or another team's API.
   */
  allowedResources?: readonly string[]
}

/**
 * Whether a PRM-discovered resource may be requested On-Behalf-Of and sent to the server that named it:
 * custom app registrations (`api://…`, what App Service MCP auth publishes) or the operator's allow-list.
 * Microsoft first-party resources are `https://…` URIs or well-known app GUIDs, so both need listing.
 */
export function isDiscoverableResource (resource: string, policy: Pick<IssuerPolicy, 'allowedResources'>): boolean {
  if ((policy.allowedResources ?? []).some((allowed) => allowed.replace(/\/$/, '').toLowerCase() === resource.toLowerCase())) return true
  return /^api:\/\/[^/\s]+(\/[^\s]*)?$/i.test(resource)
}

export interface PrmDiscoveryDeps extends IssuerPolicy {
  fetcher: Pick<SafeFetcher, 'getJson' | 'probe'>
  /** A `resource_metadata` URL a downstream 401 announced: tried first, ignored if it fails. */
  resourceMetadataUrl?: URL | undefined
}

/** What the relay needs from a server's PRM. There is deliberately no RFC 8707 `resource` to send: Entra v2 refuses it (AADSTS9010010). */
export interface ProtectedResourceDiscovery {
  /** The `resource` the metadata names (informational: shown in /v1/servers, never sent to Entra). */
  resource: string
  /** Scopes for the OBO request. */
  scopes: string[]
  prmUrl: string
  authorizationServers: string[]
}

const WELL_KNOWN = '/.well-known/oauth-protected-resource'
const OIDC_SCOPES = new Set(['openid', 'profile', 'offline_access', 'email'])
const GUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i
const BARE_API_URI = /^api:\/\/[^/\s]+\/?$/i
// Fetch failures that mean "not published here": try the next location.
const NOT_HERE = new Set(['http_status', 'content_type', 'invalid_json'])

/**
 * The metadata URL by path insertion, then the origin root (where App Service serves it).
 * @see RFC 9728 §3.1
 */
export function protectedResourceMetadataUrls (serverUrl: URL): URL[] {
  const path = serverUrl.pathname.replace(/\/+$/, '')
  const root = new URL(WELL_KNOWN, serverUrl.origin)
  if (path === '' && serverUrl.search === '') return [root]
  return [new URL(`${WELL_KNOWN}${path}${serverUrl.search}`, serverUrl.origin), root]
}

/**
 * Finds, fetches and validates the server's PRM: announced URL, path insertion, root, then a 401 challenge.
 * @see RFC 9728 §3.1, §3.3, §5.1
 */
export async function discoverProtectedResource (serverUrl: URL, deps: PrmDiscoveryDeps): Promise<ProtectedResourceDiscovery> {
  const misses: string[] = []
  const tried = new Set<string>()
  const attempt = async (prmUrl: URL, advisory: boolean): Promise<ProtectedResourceDiscovery | undefined> => {
    if (tried.has(prmUrl.href)) return undefined
    tried.add(prmUrl.href)
    try {
      const { json } = await deps.fetcher.getJson(prmUrl)
      return { ...validateProtectedResourceMetadata(json, serverUrl, deps), prmUrl: prmUrl.href }
    } catch (err) {
      if (!(err instanceof DiscoveryError) || !(advisory || NOT_HERE.has(err.code))) throw err
      misses.push(err.message)
      return undefined
    }
  }

  if (deps.resourceMetadataUrl !== undefined) {
    const found = await attempt(deps.resourceMetadataUrl, true)
    if (found !== undefined) return found
  }
  for (const prmUrl of protectedResourceMetadataUrls(serverUrl)) {
    const found = await attempt(prmUrl, false)
    if (found !== undefined) return found
  }

  let announced: string | undefined
  try {
    const probe = await deps.fetcher.probe(serverUrl)
    announced = findBearerChallenge(probe.wwwAuthenticate)?.resource_metadata
    if (announced === undefined) misses.push(`${serverUrl.href} answered HTTP ${probe.status} without a resource_metadata challenge`)
  } catch (err) {
    if (!(err instanceof DiscoveryError)) throw err
    misses.push(err.message)
  }
  if (announced !== undefined) {
    let announcedUrl: URL
    try {
      announcedUrl = new URL(announced)
    } catch {
      throw new DiscoveryError('invalid_metadata', `${serverUrl.href} announced an invalid resource_metadata URL ${quoteUpstream(announced)}`)
    }
    const found = await attempt(announcedUrl, false)
    if (found !== undefined) return found
  }
  throw new DiscoveryError('not_found', `no protected resource metadata found (${misses.join('; ')})`)
}

/**
 * Accepts a PRM document only if it describes this server and trusts only allowed Entra tenants.
 * @see RFC 9728 §2, §3.3
 */
export function validateProtectedResourceMetadata (document: unknown, serverUrl: URL, policy: IssuerPolicy): Omit<ProtectedResourceDiscovery, 'prmUrl'> {
  if (typeof document !== 'object' || document === null || Array.isArray(document)) {
    throw new DiscoveryError('invalid_metadata', 'protected resource metadata is not a JSON object')
  }
  const { resource, authorization_servers: authorizationServers, scopes_supported: scopesSupported } = document as Record<string, unknown>

  let resourceUrl: URL | undefined
  try {
    if (typeof resource === 'string') resourceUrl = new URL(resource)
  } catch {}
  if (resourceUrl === undefined || !isResourceOf(resourceUrl, serverUrl)) {
    throw new DiscoveryError('invalid_metadata', `resource ${quoteUpstream(resource)} does not match the server URL ${serverUrl.href}`)
  }

  if (!Array.isArray(authorizationServers) || authorizationServers.length === 0) {
    throw new DiscoveryError('invalid_metadata', 'authorization_servers must list the Entra issuer')
  }
  const issuers = allowedIssuers(policy)
  for (const issuer of authorizationServers) {
    if (typeof issuer !== 'string' || !issuers.has(issuer.replace(/\/$/, '').toLowerCase())) {
      throw new DiscoveryError('invalid_metadata', `authorization server ${quoteUpstream(issuer)} is not an allowed Entra issuer`)
    }
  }

  if (!Array.isArray(scopesSupported) || scopesSupported.length === 0) {
    throw new DiscoveryError('invalid_metadata', 'scopes_supported is missing or empty')
  }
  for (const scope of scopesSupported) {
    if (typeof scope !== 'string' || !/^[\x21-\x7e]{1,512}$/.test(scope)) {
      throw new DiscoveryError('invalid_metadata', `scopes_supported holds an invalid scope ${quoteUpstream(scope)}`)
    }
  }
  const scopes = scopesToRequest(scopesSupported as string[])
  const scopeResource = (scopes[0] as string).slice(0, (scopes[0] as string).lastIndexOf('/'))
  if (!isDiscoverableResource(scopeResource, policy)) {
    throw new DiscoveryError('invalid_metadata', `scopes_supported names ${quoteUpstream(scopeResource)}, which a discovered server may not ask for; pin "scopes" in MCP_SERVERS or list it in DISCOVERY_ALLOWED_RESOURCES`)
  }
  return { resource: resourceUrl.href, scopes, authorizationServers: authorizationServers as string[] }
}

/**
 * `resource` names the server itself or a same-origin ancestor on a path-segment boundary
 * (`https://h/mcp` covers `https://h/mcp/x`, not `https://h/mcpx`).
 */
export function isResourceOf (resource: URL, serverUrl: URL): boolean {
  if (resource.origin !== serverUrl.origin || resource.hash !== '' || resource.username !== '' || resource.password !== '') return false
  if (resource.search !== '') return resource.href === serverUrl.href
  const resourcePath = resource.pathname.replace(/\/+$/, '')
  const serverPath = serverUrl.pathname.replace(/\/+$/, '')
  return resourcePath === '' || serverPath === resourcePath || serverPath.startsWith(`${resourcePath}/`)
}

/** Lowercased `${authority}/${tid}/v2.0` for each allowed tenant. */
function allowedIssuers (policy: IssuerPolicy): Set<string> {
  return new Set(policy.allowedTenants.map((tid) => `${policy.authorityHost.origin}/${tid}/v2.0`.toLowerCase()))
}

/**
 * The Entra scopes to request: OIDC scopes dropped, bare App ID URIs as `<uri>/.default`, one resource only.
 * Explicit scopes win over `.default` for the same resource (Entra refuses the mix, and they are narrower).
 */
export function scopesToRequest (scopesSupported: readonly string[]): string[] {
  const scopes = new Set<string>()
  for (const scope of scopesSupported) {
    if (OIDC_SCOPES.has(scope)) continue
    scopes.add(BARE_API_URI.test(scope) || GUID.test(scope) ? `${scope.replace(/\/$/, '')}/.default` : scope)
  }
  if (scopes.size === 0) throw new DiscoveryError('invalid_metadata', 'scopes_supported lists only OpenID Connect scopes')
  const resources = new Set<string>()
  for (const scope of scopes) {
    const slash = scope.lastIndexOf('/')
    if (slash <= 0) throw new DiscoveryError('invalid_metadata', `scope ${quoteUpstream(scope)} does not name its resource (expected <App ID URI>/<scope>)`)
    resources.add(scope.slice(0, slash))
  }
  if (resources.size > 1) {
    throw new DiscoveryError('invalid_metadata', `scopes_supported names more than one resource (${[...resources].map(quoteUpstream).join(', ')})`)
  }
  const explicit = [...scopes].filter((scope) => !scope.endsWith('/.default'))
  return explicit.length > 0 ? explicit : [...scopes]
}
