// Minimal TypeScript shapes of the 2026-07-28 messages the relay handles (`schema/2026-07-28/schema.ts`).
// Index signatures keep unknown fields: newer revisions must pass through untouched (DESIGN §7).

export type RequestId = string | number
export type ProgressToken = string | number
export type JsonObject = Record<string, unknown>

/** `Implementation`: who a client or server says it is (self-reported, never for security). */
export interface Implementation {
  name: string
  version: string
  title?: string
  [key: string]: unknown
}

export interface ClientCapabilities {
  elicitation?: { form?: JsonObject, url?: JsonObject, [key: string]: unknown }
  sampling?: JsonObject
  roots?: JsonObject
  extensions?: Record<string, JsonObject>
  experimental?: Record<string, JsonObject>
  [key: string]: unknown
}

export interface ServerCapabilities {
  tools?: { listChanged?: boolean }
  prompts?: { listChanged?: boolean }
  resources?: { subscribe?: boolean, listChanged?: boolean }
  completions?: JsonObject
  logging?: JsonObject
  extensions?: Record<string, JsonObject>
  experimental?: Record<string, JsonObject>
  [key: string]: unknown
}

/** The per-request `_meta`. @see basic/index.mdx § `_meta` */
export interface RequestMeta {
  'io.modelcontextprotocol/protocolVersion': string
  'io.modelcontextprotocol/clientCapabilities': ClientCapabilities
  'io.modelcontextprotocol/clientInfo'?: Implementation
  'io.modelcontextprotocol/logLevel'?: string
  progressToken?: ProgressToken
  [key: string]: unknown
}

export interface JsonRpcRequest {
  jsonrpc: '2.0'
  id: RequestId
  method: string
  params?: JsonObject
}

/** A request of the modern era: `params._meta` is required. */
export interface ModernRequest extends JsonRpcRequest {
  params: JsonObject & { _meta: RequestMeta }
}

export interface JsonRpcNotification {
  jsonrpc: '2.0'
  method: string
  params?: JsonObject
}

export interface JsonRpcErrorObject {
  code: number
  message: string
  data?: unknown
}

/** `id` is absent when the request's id could not be read. @see basic/index.mdx § Error Responses */
export interface JsonRpcErrorResponse {
  jsonrpc: '2.0'
  id?: RequestId
  error: JsonRpcErrorObject
}

/** Every result has a `resultType`; absent means `complete` (servers of earlier revisions). @see basic/index.mdx § ResultType */
export interface Result {
  resultType?: string
  _meta?: JsonObject
  [key: string]: unknown
}

export interface JsonRpcResultResponse {
  jsonrpc: '2.0'
  id: RequestId
  result: Result
}

export type CacheScope = 'public' | 'private'

/** @see server/utilities/caching.mdx § Cacheable Model */
export interface CacheableResult extends Result {
  ttlMs: number
  cacheScope: CacheScope
}

/** @see server/discover.mdx § DiscoverResult */
export interface DiscoverResult extends CacheableResult {
  supportedVersions: string[]
  capabilities: ServerCapabilities
  instructions?: string
}

export interface Tool {
  name: string
  title?: string
  description?: string
  inputSchema: JsonObject
  outputSchema?: JsonObject
  annotations?: JsonObject
  _meta?: JsonObject
  [key: string]: unknown
}

export interface ListToolsResult extends CacheableResult {
  tools: Tool[]
  nextCursor?: string
}

export interface CallToolResult extends Result {
  resultType?: 'complete'
  content: unknown[]
  structuredContent?: unknown
  isError?: boolean
}

/** One request a server embeds in an `input_required` result. @see basic/patterns/mrtr.mdx § InputRequests */
export interface InputRequest {
  /** `elicitation/create`, `sampling/createMessage` or `roots/list` in 2026-07-28. */
  method: string
  params?: JsonObject
}

/** @see basic/patterns/mrtr.mdx § InputRequiredResult */
export interface InputRequiredResult extends Result {
  resultType: 'input_required'
  inputRequests?: Record<string, InputRequest>
  requestState?: string
}

/** The client's answers, keyed like the `inputRequests` they answer. */
export type InputResponses = Record<string, JsonObject>

/** @see basic/patterns/progress.mdx */
export interface Progress {
  progress: number
  total?: number
  message?: string
}
