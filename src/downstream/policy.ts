// The one place that decides what a downstream failure means: for the caller (which error, with which stable
// reason), for the retry (new token, new session, or none), and for the pooled client (reusable or not).
import { findBearerChallenge } from '../discovery/www-authenticate.ts'
import { interactionRequired, relayError, RelayError } from '../errors.ts'
import { ResponseTooLargeError } from '../net/body-limit.ts'
import { transportErrorCode } from '../net/error-code.ts'
import { McpHttpError, McpInvalidResponseError, McpResponseTooLargeError, McpRpcError, McpTimeoutError } from '../mcp/modern/client-errors.ts'
import { DownstreamAbort, type CallEnd, type DownstreamChallenge } from './call.ts'

export type DownstreamFailure =
  | { kind: 'claims_challenge', claims: string }
  | { kind: 'token_refused', resourceMetadata?: string }
  | { kind: 'forbidden', resourceMetadata?: string }
  | { kind: 'session_lost' }
  | { kind: 'timeout' }
  | { kind: 'too_large' }
  | { kind: 'caller_gone' }
  | { kind: 'closed' }
  | { kind: 'unreachable', detail: string }
  | { kind: 'server_error', status: number }
  | { kind: 'status', status: number }
  | { kind: 'mcp_error', code: number }
  | { kind: 'invalid_params' }
  | { kind: 'relay', error: RelayError }

/** base64 or base64url, bounded: what Entra and MCP servers send as a claims challenge. */
const CLAIMS_VALUE = /^[A-Za-z0-9_\-+/]{1,8192}={0,2}$/

/** What the call recorded: why it was cut short, if it was, and the last 401/403 challenge. */
export interface CallRecord {
  end: CallEnd | undefined
  challenge: DownstreamChallenge | undefined
}

/** JSON-RPC's "invalid params": the one error code the relay words on its own. */
const INVALID_PARAMS = -32602

/**
 * What happened, from the call's own record first (its deadline, the caller gone, the byte cap) and then the
 * error the MCP client or the connection threw.
 */
export function classifyDownstreamFailure (err: unknown, call: CallRecord): DownstreamFailure {
  if (err instanceof RelayError) return { kind: 'relay', error: err }
  if (call.end !== undefined) return { kind: call.end }
  if (err instanceof DownstreamAbort) return { kind: err.end }
  if (err instanceof ResponseTooLargeError) return { kind: 'too_large' }
  if (err instanceof McpHttpError) {
    if (err.status !== 401 && err.status !== 403 && err.status < 500 && err.rpcCode !== undefined) {
      // A modern server's JSON-RPC error carried by a 4xx (404 + -32601 is no lost session: modern servers have
      // none). The legacy client reads no error body: its 404 is a lost session.
      return err.rpcCode === INVALID_PARAMS ? { kind: 'invalid_params' } : { kind: 'mcp_error', code: err.rpcCode }
    }
    return classifyDownstreamStatus(err.status, err.wwwAuthenticate) ?? { kind: 'status', status: err.status }
  }
  if (err instanceof McpTimeoutError) return { kind: 'timeout' }
  if (err instanceof McpResponseTooLargeError) return { kind: 'too_large' }
  if (err instanceof McpRpcError) return err.rpcCode === INVALID_PARAMS ? { kind: 'invalid_params' } : { kind: 'mcp_error', code: err.rpcCode }
  if (err instanceof McpInvalidResponseError) return { kind: 'mcp_error', code: -32603 }
  const code = transportErrorCode(err)
  // The connection broke during the exchange (the server closed it): the tool may have run.
  if (code === 'UND_ERR_SOCKET') return { kind: 'closed' }
  if (code === 'UND_ERR_HEADERS_TIMEOUT' || code === 'UND_ERR_BODY_TIMEOUT') return { kind: 'timeout' }
  return { kind: 'unreachable', detail: code ?? (err instanceof Error ? err.name : 'unknown') }
}

/**
 * What an HTTP status (and its `WWW-Authenticate`) from an MCP server means: undefined for a success, and for a
 * 4xx the protocol gives meaning to (400, 405, 406, 415, …), which the gateway passes on with its own words.
 * A 404 on a request in a session means the session is gone (legacy Streamable HTTP § Session Management).
 */
export function classifyDownstreamStatus (status: number, wwwAuthenticate: string | undefined): DownstreamFailure | undefined {
  if (status === 401 || status === 403) {
    const params = findBearerChallenge(wwwAuthenticate) ?? {}
    // Only a well-formed base64 claims value is passed on: it is copied into the relay's own challenge.
    if (params.error === 'insufficient_claims' && params.claims !== undefined && CLAIMS_VALUE.test(params.claims)) {
      return { kind: 'claims_challenge', claims: params.claims }
    }
    const resourceMetadata = params.resource_metadata
    return { kind: status === 401 ? 'token_refused' : 'forbidden', ...(resourceMetadata === undefined ? {} : { resourceMetadata }) }
  }
  if (status === 404) return { kind: 'session_lost' }
  if (status >= 500) return { kind: 'server_error', status }
  return undefined
}

/**
 * Retried only when the server provably did not run the request: it refused the token, or the session
 * was gone. A dropped connection or a timeout is never retried: the tool may have run.
 */
export function retryFor (failure: DownstreamFailure): 'new_token' | 'new_session' | undefined {
  if (failure.kind === 'token_refused') return 'new_token'
  if (failure.kind === 'session_lost') return 'new_session'
  return undefined
}

/** Whether the pooled client must be dropped: its token or session is refused, or a response of it was cut. */
export function isClientDead (failure: DownstreamFailure): boolean {
  return ['token_refused', 'forbidden', 'session_lost', 'closed', 'timeout', 'too_large', 'caller_gone', 'unreachable'].includes(failure.kind)
}

/** The caller's error. Nothing of the downstream's body reaches it; only status codes and our own words. */
export function downstreamError (failure: DownstreamFailure, serverId: string, timeoutMs: number): RelayError {
  const server = `Server "${serverId}"`
  switch (failure.kind) {
    case 'relay': return failure.error
    case 'claims_challenge':
      return interactionRequired('downstream_claims_challenge', `${server} requires additional claims (step-up authentication).`, failure.claims)
    case 'token_refused': return relayError('downstream_token_refused', `${server} refused the delegated token (HTTP 401), also after a fresh one.`)
    case 'forbidden': return relayError('downstream_forbidden', `${server} refused the delegated token (HTTP 403).`)
    case 'session_lost': return relayError('downstream_session_lost', `${server} lost the MCP session.`)
    case 'timeout': return relayError('downstream_timeout', `${server} did not answer within ${timeoutMs} ms.`)
    case 'too_large': return relayError('downstream_too_large', `${server} sent a larger answer than the relay accepts (DOWNSTREAM_MAX_RESPONSE_BYTES).`)
    case 'caller_gone': return relayError('downstream_timeout', `${server}: the caller went away before the answer.`)
    case 'closed': return relayError('downstream_closed', `${server} closed the connection.`)
    case 'unreachable': return relayError('downstream_unreachable', `${server} cannot be reached.`, { logFields: { detail: failure.detail } })
    case 'server_error': return relayError('downstream_server_error', `${server} failed (HTTP ${failure.status}).`)
    case 'status': return relayError('downstream_status', `${server} answered HTTP ${failure.status}.`)
    case 'invalid_params': return relayError('downstream_invalid_params', `${server} refused the request's parameters.`)
    case 'mcp_error': return relayError('downstream_mcp_error', `${server} answered with an MCP error (${failure.code}).`)
  }
}
