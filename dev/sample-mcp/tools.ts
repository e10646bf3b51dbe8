import { setTimeout as sleep } from 'node:timers/promises'
import { McpServer, type RegisteredTool } from '@modelcontextprotocol/sdk/server/mcp.js'
import type { AuthInfo } from '@modelcontextprotocol/sdk/server/auth/types.js'
import { toJsonSchemaCompat } from '@modelcontextprotocol/sdk/server/zod-json-schema-compat.js'
import { ErrorCode, ListToolsRequestSchema, McpError, type CallToolResult, type Tool } from '@modelcontextprotocol/sdk/types.js'
import { z } from 'zod'
import type { DelegatedClaims } from './auth.ts'

export interface Note { id: number, title: string, body: string, createdAt: string }

/** State shared by every session of one sample server. */
export interface SampleToolContext {
  name: 'notes' | 'calendar'
  /** Notes per user, keyed `tid.oid`. */
  notesByUser: Map<string, Note[]>
  slowToolStepMs: number
  /** When set, `tools/list` answers in pages of this size with `nextCursor`. */
  toolsPageSize?: number
  /** Steps of the `stepped` tool, released one at a time by the test (see StepGates). */
  gates: StepGates
}

/**
 * Test-controlled steps: the `stepped` tool waits before each step until the test releases it, so a test can
 * prove each progress event reached it before the next one was produced.
 */
export class StepGates {
  readonly #gates = new Map<string, { released: number, waiters: Array<() => void> }>()

  #gate (name: string): { released: number, waiters: Array<() => void> } {
    let gate = this.#gates.get(name)
    if (gate === undefined) {
      gate = { released: 0, waiters: [] }
      this.#gates.set(name, gate)
    }
    return gate
  }

  release (name: string): void {
    const gate = this.#gate(name)
    gate.released++
    for (const wake of gate.waiters.splice(0)) wake()
  }

  /** Resolves once step `step` (1-based) of `name` is released; rejects when `signal` aborts. */
  async wait (name: string, step: number, signal: AbortSignal): Promise<void> {
    const gate = this.#gate(name)
    while (gate.released < step) {
      signal.throwIfAborted()
      await new Promise<void>((resolve, reject) => {
        const onAbort = (): void => reject(signal.reason)
        signal.addEventListener('abort', onAbort, { once: true })
        gate.waiters.push(() => {
          signal.removeEventListener('abort', onAbort)
          resolve()
        })
      })
    }
  }
}

/** The Entra authentication-context id the `stepup` tool demands. */
export const STEP_UP_ACRS = 'c1'
export const STEP_UP_TOOL = 'stepup'

/** The validated claims the transport attached to this request (see index.ts). */
export function callerOf (authInfo: AuthInfo | undefined): DelegatedClaims {
  const claims = authInfo?.extra?.['claims']
  if (typeof claims !== 'object' || claims === null || !('oid' in claims) || !('tid' in claims)) {
    throw new McpError(ErrorCode.InvalidRequest, 'request carries no validated token')
  }
  return claims as DelegatedClaims // shape guaranteed: index.ts puts a DelegatedClaims there
}

export function userKeyOf (claims: Pick<DelegatedClaims, 'tid' | 'oid'>): string {
  return `${claims.tid}.${claims.oid}`
}

function jsonResult (value: Record<string, unknown>): CallToolResult {
  return { content: [{ type: 'text', text: JSON.stringify(value) }], structuredContent: value }
}

/** One McpServer per session, with the tools of this sample server. */
export function createSampleMcp (context: SampleToolContext): McpServer {
  const mcp = new McpServer({ name: `sample-${context.name}`, version: '0.1.0' })
  const tools = new Map<string, RegisteredTool>()

  tools.set('whoami', mcp.registerTool('whoami', {
    description: 'Who the delegated token of this request belongs to.',
    outputSchema: { oid: z.string(), tid: z.string(), upn: z.string().optional(), name: z.string().optional(), scp: z.string(), aud: z.string(), azp: z.string().optional(), acrs: z.array(z.string()), xms_cc: z.array(z.string()).optional() },
  }, (extra) => {
    const caller = callerOf(extra.authInfo)
    return jsonResult({
      oid: caller.oid,
      tid: caller.tid,
      ...(caller.upn !== undefined && { upn: caller.upn }),
      ...(caller.name !== undefined && { name: caller.name }),
      scp: caller.scp.join(' '),
      aud: caller.aud,
      ...(caller.azp !== undefined && { azp: caller.azp }),
      // Authentication contexts the sign-in behind this token satisfied (step-up).
      acrs: caller.acrs,
      // Client capabilities the relay declared to Entra (cp1), as Entra put them in this token.
      ...(caller.xms_cc !== undefined && { xms_cc: caller.xms_cc }),
    })
  }))

  tools.set('echo', mcp.registerTool('echo', {
    description: 'Returns the text it is given.',
    inputSchema: { text: z.string().max(10_000) },
  }, ({ text }) => ({ content: [{ type: 'text', text }] })))

  tools.set('add', mcp.registerTool('add', {
    description: 'Adds two numbers.',
    inputSchema: { a: z.number(), b: z.number() },
  }, ({ a, b }) => jsonResult({ sum: a + b })))

  tools.set('slow', mcp.registerTool('slow', {
    description: 'Takes `steps` steps, reporting progress after each when the caller asked for it.',
    inputSchema: { steps: z.number().int().min(1).max(100), stepMs: z.number().int().min(0).max(5_000).optional() },
  }, async ({ steps, stepMs }, extra) => {
    const progressToken = extra._meta?.progressToken
    for (let step = 1; step <= steps; step++) {
      await sleep(stepMs ?? context.slowToolStepMs, undefined, { signal: extra.signal })
      if (progressToken !== undefined) {
        await extra.sendNotification({
          method: 'notifications/progress',
          params: { progressToken, progress: step, total: steps, message: `step ${step} of ${steps}` },
        })
      }
    }
    return jsonResult({ steps })
  }))

  tools.set('stepped', mcp.registerTool('stepped', {
    description: 'Takes `steps` steps, each when the test releases it (StepGates), reporting progress after each.',
    inputSchema: { gate: z.string().min(1).max(100), steps: z.number().int().min(1).max(100) },
  }, async ({ gate, steps }, extra) => {
    const progressToken = extra._meta?.progressToken
    for (let step = 1; step <= steps; step++) {
      await context.gates.wait(gate, step, extra.signal)
      if (progressToken !== undefined) {
        await extra.sendNotification({ method: 'notifications/progress', params: { progressToken, progress: step, total: steps, message: `step ${step} of ${steps}` } })
      }
    }
    return jsonResult({ steps })
  }))

  tools.set('fail', mcp.registerTool('fail', {
    description: 'Always fails with a tool error (isError: true).',
  }, () => ({ isError: true, content: [{ type: 'text', text: 'this tool always fails' }] })))

  // The HTTP layer refuses this call with a claims challenge unless the token satisfies `acrs` c1.
  tools.set(STEP_UP_TOOL, mcp.registerTool(STEP_UP_TOOL, {
    description: `Needs a token with authentication context ${STEP_UP_ACRS} (claims step-up).`,
  }, (extra) => jsonResult({ acrs: callerOf(extra.authInfo).acrs })))

  if (context.name === 'notes') registerNoteTools(mcp, tools, context.notesByUser)
  else registerCalendarTools(mcp, tools)

  if (context.toolsPageSize !== undefined) pageToolsList(mcp, tools, context.toolsPageSize)
  return mcp
}

function registerNoteTools (mcp: McpServer, tools: Map<string, RegisteredTool>, notesByUser: Map<string, Note[]>): void {
  tools.set('create_note', mcp.registerTool('create_note', {
    description: 'Creates a note for the signed-in user.',
    inputSchema: { title: z.string().min(1).max(200), body: z.string().max(10_000) },
  }, ({ title, body }, extra) => {
    const key = userKeyOf(callerOf(extra.authInfo))
    const notes = notesByUser.get(key) ?? []
    const note: Note = { id: notes.length + 1, title, body, createdAt: new Date().toISOString() }
    notesByUser.set(key, [...notes, note])
    return jsonResult({ note })
  }))

  tools.set('list_notes', mcp.registerTool('list_notes', {
    description: "Lists the signed-in user's notes.",
  }, (extra) => jsonResult({ notes: notesByUser.get(userKeyOf(callerOf(extra.authInfo))) ?? [] })))
}

function registerCalendarTools (mcp: McpServer, tools: Map<string, RegisteredTool>): void {
  tools.set('list_events', mcp.registerTool('list_events', {
    description: "Lists the signed-in user's events for a day (fixed sample data).",
    inputSchema: { date: z.iso.date().optional() },
  }, ({ date }, extra) => {
    const day = date ?? new Date().toISOString().slice(0, 10)
    const who = callerOf(extra.authInfo).upn ?? 'you'
    return jsonResult({
      date: day,
      events: [
        { start: `${day}T09:00:00Z`, end: `${day}T09:30:00Z`, title: `Stand-up (${who})` },
        { start: `${day}T14:00:00Z`, end: `${day}T15:00:00Z`, title: 'Design review' },
      ],
    })
  }))
}

/**
 * Replaces McpServer's single-page `tools/list` with a paged one, so clients' "all pages" logic gets exercised.
 * The cursor is opaque to clients: base64url of the next offset.
 * @see MCP specification, utilities/pagination
 */
function pageToolsList (mcp: McpServer, tools: Map<string, RegisteredTool>, pageSize: number): void {
  if (!Number.isInteger(pageSize) || pageSize < 1) throw new RangeError('toolsPageSize must be a positive integer')
  mcp.server.setRequestHandler(ListToolsRequestSchema, (request) => {
    const cursor = request.params?.cursor
    const offset = cursor === undefined ? 0 : Number(Buffer.from(cursor, 'base64url').toString())
    const all = [...tools].filter(([, tool]) => tool.enabled).map(([name, tool]) => toolDefinition(name, tool))
    if (!Number.isInteger(offset) || offset < 0 || offset > all.length) {
      throw new McpError(ErrorCode.InvalidParams, 'invalid cursor')
    }
    const end = offset + pageSize
    const page = all.slice(offset, end)
    return end < all.length ? { tools: page, nextCursor: Buffer.from(String(end)).toString('base64url') } : { tools: page }
  })
}

function toolDefinition (name: string, tool: RegisteredTool): Tool {
  const inputSchema = tool.inputSchema === undefined
    ? { type: 'object' as const, properties: {} }
    : toJsonSchemaCompat(tool.inputSchema, { strictUnions: true, pipeStrategy: 'input' }) as Tool['inputSchema']
  return {
    name,
    ...(tool.title !== undefined && { title: tool.title }),
    ...(tool.description !== undefined && { description: tool.description }),
    inputSchema,
    ...(tool.outputSchema !== undefined && {
      outputSchema: toJsonSchemaCompat(tool.outputSchema, { strictUnions: true, pipeStrategy: 'output' }) as NonNullable<Tool['outputSchema']>,
    }),
    ...(tool.annotations !== undefined && { annotations: tool.annotations }),
  }
}
