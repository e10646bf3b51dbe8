// RFC 9728 Protected Resource Metadata: where to find it, what to accept, which Entra scopes to ask for.
import { MetadataError } from '../net/metadata-error.ts'
import type { SafeFetcher } from '../net/safe-fetch.ts'
import { findBearerChallenge } from './www-authenticate.ts'

export { parseWwwAuthenticate, findBearerChallenge, type AuthChallenge } from './www-authenticate.ts'

export interface IssuerPolicy {
  /** Entra authority origin, e.g. https://login.microsoftonline.com */
  authorityHost: URL
  allowedTenants: readonly string[]
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
  /** The API those scopes name (App ID URI or client id): whose tokens the server would receive. */
  audience: string
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
  const attempt = async (prmUrl: URL, advisory: boolean, what: string): Promise<ProtectedResourceDiscovery | undefined> => {
    if (tried.has(prmUrl.href)) return undefined
    tried.add(prmUrl.href)
    // Announced URLs come from the server: they may only point at its own origin.
    if (prmUrl.origin !== serverUrl.origin) {
      if (advisory) return undefined
      throw new MetadataError('refused', `${what} is on another origin than the server (refused)`)
    }
    try {
      const { json } = await deps.fetcher.getJson(prmUrl)
      return { ...validateProtectedResourceMetadata(json, serverUrl, deps), prmUrl: prmUrl.href }
    } catch (err) {
      if (!(err instanceof MetadataError)) throw err
      const located = new MetadataError(err.code, `${what} ${err.message}`, { ...(err.httpStatus === undefined ? {} : { httpStatus: err.httpStatus }), cause: err })
      if (!(advisory || NOT_HERE.has(err.code))) throw located
      misses.push(located.message)
      return undefined
    }
  }

  if (deps.resourceMetadataUrl !== undefined) {
    const found = await attempt(deps.resourceMetadataUrl, true, 'the announced resource_metadata')
    if (found !== undefined) return found
  }
  for (const [index, prmUrl] of protectedResourceMetadataUrls(serverUrl).entries()) {
    const found = await attempt(prmUrl, false, index === 0 && serverUrl.pathname.replace(/\/+$/, '') !== '' ? 'the path-insertion PRM' : 'the origin-root PRM')
    if (found !== undefined) return found
  }

  let announced: string | undefined
  try {
    const probe = await deps.fetcher.probe(serverUrl)
    announced = findBearerChallenge(probe.wwwAuthenticate)?.resource_metadata
    if (announced === undefined) misses.push(`the server answered HTTP ${probe.status} without a resource_metadata challenge`)
  } catch (err) {
    if (!(err instanceof MetadataError)) throw err
    misses.push(`the server ${err.message}`)
  }
  if (announced !== undefined) {
    let announcedUrl: URL
    try {
      announcedUrl = new URL(announced)
    } catch {
      throw new MetadataError('invalid_metadata', 'the server announced an invalid resource_metadata URL')
    }
    const found = await attempt(announcedUrl, false, 'the resource_metadata the server announced')
    if (found !== undefined) return found
  }
  throw new MetadataError('not_found', `no protected resource metadata found (${misses.join('; ')})`)
}

/**
 * Accepts a PRM document only if it describes this server and trusts only allowed Entra tenants.
 * @see RFC 9728 §2, §3.3
 */
export function validateProtectedResourceMetadata (document: unknown, serverUrl: URL, policy: IssuerPolicy): Omit<ProtectedResourceDiscovery, 'prmUrl'> {
  if (typeof document !== 'object' || document === null || Array.isArray(document)) {
    throw new MetadataError('invalid_metadata', 'protected resource metadata is not a JSON object')
  }
  const { resource, authorization_servers: authorizationServers, scopes_supported: scopesSupported } = document as Record<string, unknown>

  let resourceUrl: URL | undefined
  try {
    if (typeof resource === 'string') resourceUrl = new URL(resource)
  } catch {}
  if (resourceUrl === undefined || !isResourceOf(resourceUrl, serverUrl)) {
    throw new MetadataError('invalid_metadata', `"resource" does not name the server ${serverUrl.href} or a same-origin prefix of it`)
  }

  if (!Array.isArray(authorizationServers) || authorizationServers.length === 0) {
    throw new MetadataError('invalid_metadata', '"authorization_servers" must list the Entra issuer')
  }
  const issuers = allowedIssuers(policy)
  for (const issuer of authorizationServers) {
    if (typeof issuer !== 'string' || !issuers.has(issuer.replace(/\/$/, '').toLowerCase())) {
      throw new MetadataError('invalid_metadata', '"authorization_servers" names an issuer that is not an allowed Entra tenant')
    }
  }

  if (!Array.isArray(scopesSupported) || scopesSupported.length === 0) {
    throw new MetadataError('invalid_metadata', '"scopes_supported" is missing or empty')
  }
  for (const scope of scopesSupported) {
    if (typeof scope !== 'string' || !/^[\x21-\x7e]{1,512}$/.test(scope)) {
      throw new MetadataError('invalid_metadata', '"scopes_supported" holds an invalid scope')
    }
  }
  const scopes = scopesToRequest(scopesSupported as string[], resourceUrl.href)
  return { resource: resourceUrl.href, scopes, audience: scopeAudience(scopes[0] as string), authorizationServers: authorizationServers as string[] }
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

/** The API a scope names: what precedes its last `/` (an App ID URI or client id), e.g. `api://notes-mcp`. */
export function scopeAudience (scope: string): string {
  return scope.slice(0, scope.lastIndexOf('/'))
}

/**
 * The Entra scopes to request: OIDC scopes dropped, bare App ID URIs as `<uri>/.default`, bare scope names
 * qualified with the PRM's `resource` (Microsoft's MCP guidance: App ID URI = the server's URL), one API only.
 * Explicit scopes win over `.default` for the same API (Entra refuses the mix, and they are narrower).
 */
export function scopesToRequest (scopesSupported: readonly string[], resource: string): string[] {
  const scopes = new Set<string>()
  for (const scope of scopesSupported) {
    if (OIDC_SCOPES.has(scope)) continue
    if (BARE_API_URI.test(scope) || GUID.test(scope)) scopes.add(`${scope.replace(/\/$/, '')}/.default`)
    else if (!scope.includes('/')) scopes.add(`${resource.replace(/\/+$/, '')}/${scope}`)
    else scopes.add(scope)
  }
  if (scopes.size === 0) throw new MetadataError('invalid_metadata', '"scopes_supported" lists only OpenID Connect scopes')
  const audiences = new Set([...scopes].map(scopeAudience))
  if ([...audiences].some((audience) => audience === '')) throw new MetadataError('invalid_metadata', '"scopes_supported" holds a scope that does not name its API')
  if (audiences.size > 1) throw new MetadataError('invalid_metadata', '"scopes_supported" names more than one API')
  const explicit = [...scopes].filter((scope) => !scope.endsWith('/.default'))
  return explicit.length > 0 ? explicit : [...scopes]
}
