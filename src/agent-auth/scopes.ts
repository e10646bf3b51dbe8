// The scopes of the relay's agent-facing authorization server, and the resources its tokens are for.

/** What an agent may do at a relay resource. Both apply to `/v1`, `/mcp` and `/mcp/<server>`. */
export const AGENT_SCOPES = {
  /** Who the user is, the servers and their tools: `GET /v1/*`; MCP discovery and list methods. */
  'tools:read': 'See who you are, your MCP servers and their tools',
  /** Call tools as the user: `POST /v1/servers/:server/tools/:tool`; MCP `tools/call` and other state-changing methods. */
  'tools:call': 'Call tools on your MCP servers as you',
} as const

export type AgentScope = keyof typeof AGENT_SCOPES

/** OpenID Connect scopes: an `openid` token (no `resource`) is for the userinfo endpoint only. */
export const OIDC_SCOPES = ['openid', 'offline_access', 'profile'] as const

export const RESOURCE_SCOPES = Object.keys(AGENT_SCOPES) as AgentScope[]

/** The resource paths a relay-issued token may be restricted to (RFC 8707), for the configured servers. */
export function resourcePaths (serverIds: readonly string[]): string[] {
  return ['/v1', '/mcp', ...serverIds.map((id) => `/mcp/${id}`)]
}

/** The scope a request needs: reading for safe methods, calling for the rest. */
export function scopeForMethod (method: string): AgentScope {
  return method === 'GET' || method === 'HEAD' || method === 'OPTIONS' ? 'tools:read' : 'tools:call'
}
