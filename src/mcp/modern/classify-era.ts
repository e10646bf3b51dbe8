// Which protocol era an HTTP request to an MCP endpoint speaks, for a dual-era server or gateway.
import { HEADERS, META_KEYS, METHODS, isLegacyVersion } from './protocol.ts'
import { readHeader, type HeaderSource } from './header-values.ts'
import { isJsonObject } from '../json-object.ts'

export type Era = 'modern' | 'legacy'

/** Why a request was put in its era; stable, for logs and tests. */
export type EraReason =
  | 'no-body'
  | 'batch'
  | 'initialize'
  | 'meta-protocol-version'
  | 'session-id'
  | 'client-response'
  | 'legacy-protocol-version'
  | 'modern-protocol-version'
  | 'no-protocol-version'

export interface EraClassification {
  era: Era
  reason: EraReason
}

/**
 * The era of one request, from its headers and its parsed JSON body (`undefined` for a request without a body:
 * GET or DELETE). A dual-era server selects its behaviour from how the client opens: modern per-request `_meta`
 * is served statelessly, `initialize` selects legacy semantics. The checks run in the order of the result's reasons.
 * @see basic/versioning.mdx § Backward Compatibility with Initialization-Based Versions
 * @see basic/transports/streamable-http.mdx § Backward Compatibility, § Protocol Version Header
 */
export function classifyEra (headers: HeaderSource, body: unknown): EraClassification {
  // Only legacy revisions had requests without a JSON-RPC body: the GET stream and the session DELETE.
  if (body === undefined) return { era: 'legacy', reason: 'no-body' }
  if (Array.isArray(body)) return { era: 'legacy', reason: 'batch' }
  const message = isJsonObject(body) ? body : {}
  if (message['method'] === METHODS.initialize) return { era: 'legacy', reason: 'initialize' }
  const params = message['params']
  const meta = isJsonObject(params) ? params['_meta'] : undefined
  // A session id beside modern `_meta` is ignored, as a modern-only server must. @see streamable-http.mdx § Earlier Streamable HTTP Revisions
  if (isJsonObject(meta) && typeof meta[META_KEYS.protocolVersion] === 'string') return { era: 'modern', reason: 'meta-protocol-version' }
  if (readHeader(headers, HEADERS.sessionId) !== undefined) return { era: 'legacy', reason: 'session-id' }
  // Clients answer server-initiated requests only in legacy revisions; modern clients MUST NOT POST responses.
  if (!('method' in message) && ('result' in message || 'error' in message)) return { era: 'legacy', reason: 'client-response' }
  const version = readHeader(headers, HEADERS.protocolVersion)?.trim()
  if (version === undefined || version === '') return { era: 'legacy', reason: 'no-protocol-version' }
  // A version the server does not know, dated or not, is answered the modern way: -32022 names what is supported.
  return isLegacyVersion(version) ? { era: 'legacy', reason: 'legacy-protocol-version' } : { era: 'modern', reason: 'modern-protocol-version' }
}
