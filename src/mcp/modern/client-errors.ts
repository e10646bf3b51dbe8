// What a call to a downstream MCP server can fail with. None carries a downstream body or message: only
// numbers and the `WWW-Authenticate` value the caller needs to classify the failure (DESIGN §2, §7).

/** Stable machine-readable reasons, one per class. */
export type McpCallFailure = 'http_status' | 'jsonrpc_error' | 'timeout' | 'response_too_large' | 'invalid_response' | 'unreachable'

export abstract class McpCallError extends Error {
  abstract readonly reason: McpCallFailure
}

/** A non-2xx HTTP answer: status, `WWW-Authenticate` (401/403), and the JSON-RPC error code of its body, if any. */
export class McpHttpError extends McpCallError {
  readonly reason = 'http_status'
  readonly status: number
  readonly wwwAuthenticate: string | undefined
  readonly rpcCode: number | undefined
  /** Only for -32022: the versions the server says it supports (checked to be short version strings). */
  readonly supportedVersions: string[] | undefined

  constructor (status: number, details: { wwwAuthenticate?: string | undefined, rpcCode?: number | undefined, supportedVersions?: string[] | undefined } = {}) {
    super(`MCP server answered HTTP ${status}${details.rpcCode === undefined ? '' : ` with JSON-RPC error ${details.rpcCode}`}`)
    this.name = 'McpHttpError'
    this.status = status
    this.wwwAuthenticate = details.wwwAuthenticate
    this.rpcCode = details.rpcCode
    this.supportedVersions = details.supportedVersions
  }
}

/** A JSON-RPC error response inside a 2xx answer. */
export class McpRpcError extends McpCallError {
  readonly reason = 'jsonrpc_error'
  readonly rpcCode: number

  constructor (rpcCode: number) {
    super(`MCP server answered JSON-RPC error ${rpcCode}`)
    this.name = 'McpRpcError'
    this.rpcCode = rpcCode
  }
}

export class McpTimeoutError extends McpCallError {
  readonly reason = 'timeout'
  readonly timeoutMs: number

  constructor (timeoutMs: number) {
    super(`MCP server did not answer within ${timeoutMs} ms`)
    this.name = 'McpTimeoutError'
    this.timeoutMs = timeoutMs
  }
}

/** A JSON body, or one SSE event, grew past the limit; reading stopped and the request was aborted. */
export class McpResponseTooLargeError extends McpCallError {
  readonly reason = 'response_too_large'
  readonly limitBytes: number
  /** Bytes received before reading stopped: at most the limit plus one read. */
  readonly bytesRead: number

  constructor (limitBytes: number, bytesRead: number) {
    super(`MCP server response exceeds ${limitBytes} bytes`)
    this.name = 'McpResponseTooLargeError'
    this.limitBytes = limitBytes
    this.bytesRead = bytesRead
  }
}

/** An answer that breaks the protocol: wrong content type, not JSON, no response for our id, unknown `resultType`. */
export class McpInvalidResponseError extends McpCallError {
  readonly reason = 'invalid_response'

  constructor (problem: string) {
    super(`MCP server response is invalid: ${problem}`)
    this.name = 'McpInvalidResponseError'
  }
}

/** The request did not reach the server or its answer broke off (connection refused, reset, DNS). */
export class McpUnreachableError extends McpCallError {
  readonly reason = 'unreachable'

  constructor (cause: unknown) {
    super('MCP server is unreachable', { cause })
    this.name = 'McpUnreachableError'
  }
}
