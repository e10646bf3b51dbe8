// The configured MCP servers, looked up in one place with one answer for an unknown id.
import type { McpServerConfig } from '../config/index.ts'
import { relayError } from '../errors.ts'

export class ServerRegistry {
  readonly #servers: Map<string, McpServerConfig>

  constructor (servers: readonly McpServerConfig[]) {
    this.#servers = new Map(servers.map((server) => [server.id, server]))
  }

  /** The server, or 404 `server_unknown`. */
  get (serverId: string): McpServerConfig {
    const server = this.#servers.get(serverId)
    if (server === undefined) throw relayError('server_unknown', `No MCP server "${serverId}" is configured.`)
    return server
  }

  has (serverId: string): boolean {
    return this.#servers.has(serverId)
  }

  list (): McpServerConfig[] {
    return [...this.#servers.values()]
  }
}
