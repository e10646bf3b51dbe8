// Constants of the two MCP protocol eras, as the 2026-07-28 specification names them.

/** The first modern revision: protocol versions from this date on carry their metadata per request. @see basic/versioning.mdx § Terminology */
export const FIRST_MODERN_PROTOCOL_VERSION = '2026-07-28'

/** Modern versions the relay speaks (stateless, `_meta` per request). */
export const MODERN_PROTOCOL_VERSIONS: readonly string[] = Object.freeze(['2026-07-28'])

/** Legacy versions the relay speaks (`initialize` handshake, sessions). */
export const LEGACY_PROTOCOL_VERSIONS: readonly string[] = Object.freeze(['2025-11-25', '2025-06-18'])

/** The version a modern client sends unless told otherwise. */
export const LATEST_MODERN_PROTOCOL_VERSION = '2026-07-28'

/** The legacy version offered in a legacy `initialize`. */
export const LATEST_LEGACY_PROTOCOL_VERSION = '2025-11-25'

export const JSONRPC_VERSION = '2.0'

/** Client-to-server request methods of 2026-07-28 (`schema.ts` `ClientRequest`). */
export const METHODS = Object.freeze({
  discover: 'server/discover',
  toolsList: 'tools/list',
  toolsCall: 'tools/call',
  promptsList: 'prompts/list',
  promptsGet: 'prompts/get',
  resourcesList: 'resources/list',
  resourcesTemplatesList: 'resources/templates/list',
  resourcesRead: 'resources/read',
  subscriptionsListen: 'subscriptions/listen',
  complete: 'completion/complete',
  /** Legacy only: the handshake modern servers do not know. */
  initialize: 'initialize',
} as const)

export const NOTIFICATIONS = Object.freeze({
  progress: 'notifications/progress',
  cancelled: 'notifications/cancelled',
  message: 'notifications/message',
  subscriptionsAcknowledged: 'notifications/subscriptions/acknowledged',
  toolsListChanged: 'notifications/tools/list_changed',
} as const)

/** JSON-RPC and MCP error codes. @see basic/index.mdx § Error Codes */
export const ERROR_CODES = Object.freeze({
  parseError: -32700,
  invalidRequest: -32600,
  methodNotFound: -32601,
  invalidParams: -32602,
  internalError: -32603,
  headerMismatch: -32020,
  missingRequiredClientCapability: -32021,
  unsupportedProtocolVersion: -32022,
} as const)

/** Codes only a modern server sends: their presence in an error body identifies the modern era. */
export const MODERN_ONLY_ERROR_CODES: readonly number[] = Object.freeze([
  ERROR_CODES.headerMismatch,
  ERROR_CODES.missingRequiredClientCapability,
  ERROR_CODES.unsupportedProtocolVersion,
])

/** Header names, lowercased (header names compare case-insensitively). @see basic/transports/streamable-http.mdx § Case Sensitivity */
export const HEADERS = Object.freeze({
  protocolVersion: 'mcp-protocol-version',
  method: 'mcp-method',
  name: 'mcp-name',
  paramPrefix: 'mcp-param-',
  sessionId: 'mcp-session-id',
  lastEventId: 'last-event-id',
} as const)

/** Reserved `_meta` keys. @see basic/index.mdx § `_meta` */
export const META_KEYS = Object.freeze({
  protocolVersion: 'io.modelcontextprotocol/protocolVersion',
  clientCapabilities: 'io.modelcontextprotocol/clientCapabilities',
  clientInfo: 'io.modelcontextprotocol/clientInfo',
  logLevel: 'io.modelcontextprotocol/logLevel',
  serverInfo: 'io.modelcontextprotocol/serverInfo',
  subscriptionId: 'io.modelcontextprotocol/subscriptionId',
  progressToken: 'progressToken',
} as const)

/** Methods whose `Mcp-Name` header is required, and the params field it mirrors. @see basic/transports/streamable-http.mdx § Standard Request Headers */
export const MCP_NAME_SOURCE: Readonly<Record<string, 'name' | 'uri'>> = Object.freeze({
  'tools/call': 'name',
  'prompts/get': 'name',
  'resources/read': 'uri',
})

/** Logging levels (`schema.ts` `LoggingLevel`). */
export const LOGGING_LEVELS: readonly string[] = Object.freeze(['debug', 'info', 'notice', 'warning', 'error', 'critical', 'alert', 'emergency'])

/** `Accept` of every POST. @see basic/transports/streamable-http.mdx § Sending Messages */
export const ACCEPT_BOTH = 'application/json, text/event-stream'

const DATED_VERSION = /^\d{4}-\d{2}-\d{2}$/

/** Whether a version string belongs to the modern era (dated 2026-07-28 or later). Undated strings are neither era. */
export function isModernVersion (version: string): boolean {
  return DATED_VERSION.test(version) && version >= FIRST_MODERN_PROTOCOL_VERSION
}

/** Whether a version string belongs to the legacy era (dated before 2026-07-28). */
export function isLegacyVersion (version: string): boolean {
  return DATED_VERSION.test(version) && version < FIRST_MODERN_PROTOCOL_VERSION
}
