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

/**
 * MCP methods that read or keep the session going; every other method (`tools/call` first, and any method this
 * list does not know) needs `tools:call`. Notifications and a client's answers to server requests only read.
 */
const MCP_READ_METHODS = new Set([
  'initialize', 'ping', 'server/discover', 'subscriptions/listen',
  'tools/list', 'resources/list', 'resources/templates/list', 'resources/read', 'resources/subscribe', 'resources/unsubscribe',
  'prompts/list', 'prompts/get', 'completion/complete', 'logging/setLevel',
])

/** The scope a JSON-RPC message (or batch) sent to `/mcp` or `/mcp/<server>` needs. */
export function scopeForMcpMessage (message: unknown): AgentScope {
  const messages = Array.isArray(message) ? message : [message]
  for (const m of messages) {
    const method = typeof m === 'object' && m !== null ? (m as { method?: unknown }).method : undefined
    if (method === undefined) continue
    if (typeof method !== 'string' || !(method.startsWith('notifications/') || MCP_READ_METHODS.has(method))) return 'tools:call'
  }
  return 'tools:read'
}

/** At the HTTP level an MCP endpoint needs `tools:read`; what a message needs beyond it is checked on its body. */
export function scopeForRequest (method: string, path: string): AgentScope {
  return path === '/mcp' || path.startsWith('/mcp/') ? 'tools:read' : scopeForMethod(method)
}
