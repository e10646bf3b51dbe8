// Reading request headers from either shape a server sees, and the value encoding of mirrored headers.

/** Node's `IncomingHttpHeaders` (lowercased names) or a WHATWG `Headers`. */
export type HeaderSource = Headers | Readonly<Record<string, string | string[] | undefined>>

/** One header's value; repeated Node headers are joined as HTTP joins list values. */
export function readHeader (headers: HeaderSource, name: string): string | undefined {
  const lower = name.toLowerCase()
  if (typeof (headers as Headers).get === 'function') return (headers as Headers).get(lower) ?? undefined
  const value = (headers as Readonly<Record<string, string | string[] | undefined>>)[lower]
  return Array.isArray(value) ? value.join(', ') : value
}

/** The names (lowercased) of every header present. */
export function headerNames (headers: HeaderSource): string[] {
  if (typeof (headers as Headers).get === 'function') return [...(headers as Headers).keys()]
  return Object.keys(headers).map((name) => name.toLowerCase())
}

/** Header records merged with names lowercased, later records winning: one `authorization`, one `content-type`. */
export function mergeHeaders (...records: Array<Readonly<Record<string, string>> | undefined>): Record<string, string> {
  const merged: Record<string, string> = {}
  for (const record of records) {
    for (const [name, value] of Object.entries(record ?? {})) merged[name.toLowerCase()] = value
  }
  return merged
}

const SENTINEL_PREFIX = '=?base64?'
const SENTINEL_SUFFIX = '?='
// Visible ASCII and space, no whitespace at either end: sendable as is. @see RFC 9110 §5.5
const PLAIN_VALUE = /^(?:[\x21-\x7E](?:[\x20-\x7E]*[\x21-\x7E])?)?$/
// What a received field value may contain. @see RFC 9110 §5.5
const FIELD_VALUE = /^[\t\x20-\x7E]*$/
const BASE64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/

function looksLikeSentinel (value: string): boolean {
  return value.startsWith(SENTINEL_PREFIX) && value.endsWith(SENTINEL_SUFFIX)
}

/**
 * The header form of an `Mcp-Name` or `Mcp-Param-*` value: as is when plain ASCII, else the Base64 sentinel
 * (also for plain values that look like the sentinel).
 * @see basic/transports/streamable-http.mdx § Value Encoding
 */
export function encodeHeaderValue (value: string): string {
  if (PLAIN_VALUE.test(value) && !looksLikeSentinel(value)) return value
  return `${SENTINEL_PREFIX}${Buffer.from(value, 'utf8').toString('base64')}${SENTINEL_SUFFIX}`
}

/**
 * The value a received `Mcp-Name` or `Mcp-Param-*` header stands for, or undefined when it is malformed:
 * characters outside RFC 9110 field values, or a sentinel whose Base64 or UTF-8 is invalid.
 * @see basic/transports/streamable-http.mdx § Value Encoding, § Server Validation
 */
export function decodeHeaderValue (header: string): string | undefined {
  if (!FIELD_VALUE.test(header)) return undefined
  if (!looksLikeSentinel(header) || header.length < SENTINEL_PREFIX.length + SENTINEL_SUFFIX.length) return header
  const encoded = header.slice(SENTINEL_PREFIX.length, header.length - SENTINEL_SUFFIX.length)
  if (!BASE64.test(encoded)) return undefined
  try {
    return new TextDecoder('utf-8', { fatal: true }).decode(Buffer.from(encoded, 'base64'))
  } catch {
    return undefined
  }
}

/** Whether a header value is made only of the characters RFC 9110 allows. */
export function isValidFieldValue (header: string): boolean {
  return FIELD_VALUE.test(header)
}
