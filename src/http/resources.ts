// The protected resources the relay serves, by path (RFC 8707 resource indicators, RFC 9728 PRM): tokens the
// relay issues are audience-restricted to one of them, and every 401 names the PRM of the one called.

/** `/v1`, `/mcp` and `/mcp/<server>`: the resource a request path addresses, or undefined for the rest. */
export function resourcePathOf (path: string): string | undefined {
  const clean = path.split('?')[0] ?? '/'
  if (clean === '/v1' || clean.startsWith('/v1/')) return '/v1'
  const mcp = /^\/mcp(?:\/([a-z0-9][a-z0-9-]{0,62}))?\/?$/.exec(clean)
  if (mcp !== null) return mcp[1] === undefined ? '/mcp' : `/mcp/${mcp[1]}`
  return undefined
}

/** The resource identifier (an absolute URL) a request path addresses, e.g. `https://relay.example/mcp/notes`. */
export function resourceOf (publicUrl: URL, path: string): string | undefined {
  const resourcePath = resourcePathOf(path)
  return resourcePath === undefined ? undefined : `${publicUrl.origin}${resourcePath}`
}

/** The PRM URL for a resource path, by RFC 9728 §3.1 path insertion. */
export function resourceMetadataUrl (publicUrl: URL, resourcePath = ''): string {
  return new URL(`/.well-known/oauth-protected-resource${resourcePath}`, publicUrl).href
}

/** The PRM URL of the resource a request path addresses (the relay's root PRM for anything else). */
export function resourceMetadataUrlFor (publicUrl: URL, path: string): string {
  return resourceMetadataUrl(publicUrl, resourcePathOf(path) ?? '')
}
