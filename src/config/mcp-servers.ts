// MCP_SERVERS (JSON list) and the seed-compatible RESOURCE_HOST / MCP_SCOPE pair.
import type { EnvReader } from './env.ts'

export interface McpServerConfig {
  /** Path-safe id used in routes: `/v1/servers/:server`, `/mcp/:server`. */
  id: string
  url: URL
  /** Explicit downstream scopes; when absent they are discovered from the server's PRM. */
  scopes?: string[]
  /** Pinned audience (App ID URI or client id) whose tokens this server receives; discovery must agree. */
  audience?: string
}

export const SERVER_ID = /^[a-z0-9][a-z0-9-]{0,62}$/
const SCOPE = /^[\x21-\x7e]{1,512}$/
const FIELDS = new Set(['id', 'url', 'scopes', 'audience'])

/** Parses one list of server entries (`where` names the setting in messages); pushes problems. */
export function parseServerList (raw: string, where: string, problems: string[]): McpServerConfig[] {
  let parsed: unknown
  try {
    parsed = JSON.parse(raw)
  } catch {
    problems.push(`${where} must be JSON: [{"id":"notes","url":"https://host/mcp","scopes":["api://x/.default"]}]`)
    return []
  }
  if (!Array.isArray(parsed)) {
    problems.push(`${where} must be a JSON array of {id, url, scopes?, audience?}`)
    return []
  }
  const servers: McpServerConfig[] = []
  parsed.forEach((entry: unknown, i) => {
    const e = (typeof entry === 'object' && entry !== null && !Array.isArray(entry) ? entry : {}) as Record<string, unknown>
    const unknown = Object.keys(e).filter((key) => !FIELDS.has(key))
    if (unknown.length > 0) {
      problems.push(`${where}[${i}]: unknown field(s) ${unknown.map((k) => `"${k}"`).join(', ')}; allowed: id, url, scopes, audience`)
      return
    }
    const server = parseServer(e.id, e.url, e.scopes, e.audience, `${where}[${i}]`, problems)
    if (server !== undefined) servers.push(server)
  })
  return servers
}

export function parseServer (id: unknown, rawUrl: unknown, scopes: unknown, audience: unknown, where: string, problems: string[]): McpServerConfig | undefined {
  if (typeof id !== 'string' || !SERVER_ID.test(id)) {
    problems.push(`${where}: "id" must be lowercase letters, digits and dashes (got ${JSON.stringify(id)})`)
    return undefined
  }
  let url: URL
  try {
    if (typeof rawUrl !== 'string') throw new Error('not a string')
    url = new URL(rawUrl)
    if (url.protocol !== 'https:' && url.protocol !== 'http:') throw new Error('scheme')
    if (url.username !== '' || url.password !== '' || url.hash !== '') throw new Error('credentials')
  } catch {
    problems.push(`${where}: "url" must be the MCP endpoint's absolute http(s) URL, without credentials or fragment (got ${JSON.stringify(rawUrl)})`)
    return undefined
  }
  const server: McpServerConfig = { id, url }
  if (scopes !== undefined) {
    const list = typeof scopes === 'string' ? scopes.split(/[\s,]+/).filter(Boolean) : scopes
    if (!Array.isArray(list) || list.length === 0 || !list.every((s) => typeof s === 'string' && SCOPE.test(s))) {
      problems.push(`${where}: "scopes" must be a non-empty list of scope strings`)
      return undefined
    }
    server.scopes = list as string[]
  }
  if (audience !== undefined) {
    if (typeof audience !== 'string' || !SCOPE.test(audience) || audience.endsWith('/')) {
      problems.push(`${where}: "audience" must be the App ID URI or client id of the server's API, e.g. "api://notes-mcp" (got ${JSON.stringify(audience)})`)
      return undefined
    }
    server.audience = audience
  }
  return server
}

export function parseMcpServers (env: EnvReader): McpServerConfig[] {
  const servers: McpServerConfig[] = []
  const add = (server: McpServerConfig | undefined, where: string): void => {
    if (server === undefined) return
    if (servers.some((s) => s.id === server.id)) {
      env.problems.push(`${where}: duplicate server id "${server.id}"`)
      return
    }
    servers.push(server)
  }
  const rawList = env.get('MCP_SERVERS')
  if (rawList !== undefined) for (const server of parseServerList(rawList, 'MCP_SERVERS', env.problems)) add(server, 'MCP_SERVERS')
  // Seed compatibility: one server from RESOURCE_HOST, its scope optionally from MCP_SCOPE.
  const resourceHost = env.get('RESOURCE_HOST')
  const mcpScope = env.get('MCP_SCOPE')
  if (resourceHost !== undefined) {
    add(parseServer(env.get('RESOURCE_ID') ?? 'default', resourceHost, mcpScope, undefined, 'RESOURCE_HOST', env.problems), 'RESOURCE_HOST')
  } else if (mcpScope !== undefined) {
    env.problems.push('MCP_SCOPE applies to the server in RESOURCE_HOST; with MCP_SERVERS set "scopes" on each server')
  }
  return servers
}
