// The aggregated `/mcp`'s tools: every server the user can reach, each called in its own era through the
// REST engine (ToolService), names prefixed with the server id, filtered per identity. Framework-free.
import type { Tool } from '@modelcontextprotocol/sdk/types.js'
import type { Logger } from 'pino'
import type { UserAssertion } from '../caller/user-assertion.ts'
import type { ServerRegistry } from '../downstream/registry.ts'
import { RelayError, type ErrorIntent } from '../errors.ts'
import type { CallToolOptions, ToolService } from '../mcp/tool-service.ts'
import type { InputRequiredResult } from '../mcp/modern/index.ts'
import type { ToolFilter } from './tool-filter.ts'
import { exposedToolName, parseToolName } from './tool-names.ts'

export interface AggregateToolsOptions {
  registry: ServerRegistry
  tools: ToolService
  filter: ToolFilter
  separator: string
  logger: Logger
}

export interface AggregatedTool {
  serverId: string
  tool: Tool
}

/** What a tool call's answer is, for the endpoint to render in the client's era. */
export type AggregateCallOutcome =
  | { kind: 'result', result: Record<string, unknown> }
  /** OBO needs the user (consent, step-up, sign-in again): the endpoint tells the client where to send them. */
  | { kind: 'user_action', error: RelayError, intent: ErrorIntent }

/** OBO failures the user can fix in a browser. */
const USER_ACTIONS = new Set(['consent_required', 'claims_challenge', 'sign_in_required', 'downstream_claims_challenge', 'session_ended', 'admin_consent_required'])

export class UnknownAggregatedTool extends Error {
  constructor (name: string) {
    super(`Unknown tool: ${name.slice(0, 128)}`)
    this.name = 'UnknownAggregatedTool'
  }
}

export class AggregateTools {
  readonly #o: AggregateToolsOptions

  constructor (options: AggregateToolsOptions) {
    this.#o = options
  }

  /** Every reachable server's tools, renamed; a server that fails drops out (logged with its reason). */
  async list (user: UserAssertion, signal?: AbortSignal, headers?: Record<string, string>): Promise<AggregatedTool[]> {
    const servers = this.#o.registry.list()
    const lists = await Promise.allSettled(servers.map(async (server) => {
      const allowed = this.#o.filter.forServer(user, server.id)
      const tools = await this.#o.tools.listTools(user, server.id, { signal, headers })
      return tools
        .filter((tool) => allowed === undefined || allowed(tool.name))
        .map((tool) => ({ serverId: server.id, tool: { ...tool, name: exposedToolName(server.id, tool.name, this.#o.separator) } }))
    }))
    const tools: AggregatedTool[] = []
    lists.forEach((list, i) => {
      if (list.status === 'fulfilled') {
        tools.push(...list.value)
      } else {
        const reason = list.reason instanceof RelayError ? list.reason.reason : 'internal'
        this.#o.logger.warn({ tid: user.tid, oid: user.oid, server: servers[i]?.id, reason }, 'server left out of /mcp tools')
      }
    })
    return tools
  }

  /** Which server and tool an exposed name stands for; throws UnknownAggregatedTool. */
  async resolve (user: UserAssertion, name: string, signal?: AbortSignal): Promise<{ serverId: string, tool: string }> {
    const parsed = parseToolName(name, this.#o.registry.list().map((server) => server.id), this.#o.separator)
    if (parsed === undefined) throw new UnknownAggregatedTool(name)
    let tool = parsed.tool
    if (tool === undefined) {
      const tools = await this.#o.tools.listTools(user, parsed.serverId, signal)
      tool = tools.find((candidate) => exposedToolName(parsed.serverId, candidate.name, this.#o.separator) === name)?.name
      if (tool === undefined) throw new UnknownAggregatedTool(name)
    }
    if (!this.#o.filter.allows(user, parsed.serverId, tool)) throw new UnknownAggregatedTool(name)
    return { serverId: parsed.serverId, tool }
  }

  /** The exposed definition of one tool (its downstream schema, renamed), or undefined; from the cached list. */
  async definition (user: UserAssertion, name: string, signal?: AbortSignal): Promise<Tool | undefined> {
    const { serverId, tool } = await this.resolve(user, name, signal)
    const found = (await this.#o.tools.listTools(user, serverId, signal)).find((candidate) => candidate.name === tool)
    return found === undefined ? undefined : { ...found, name }
  }

  async call (user: UserAssertion, name: string, args: Record<string, unknown>, options: CallToolOptions): Promise<AggregateCallOutcome> {
    const { serverId, tool } = await this.resolve(user, name, options.signal)
    try {
      const result = await this.#o.tools.callTool(user, serverId, tool, args, options)
      return { kind: 'result', result: result as Record<string, unknown> | InputRequiredResult }
    } catch (err) {
      if (err instanceof RelayError && err.reason === 'tool_unknown') throw new UnknownAggregatedTool(name)
      if (err instanceof RelayError && USER_ACTIONS.has(err.reason) && err.intent !== undefined) return { kind: 'user_action', error: err, intent: err.intent }
      throw err
    }
  }
}
