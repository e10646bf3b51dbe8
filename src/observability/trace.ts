// W3C Trace Context: the caller's `traceparent` goes on to every downstream request unchanged (the relay does
// not record spans of its own); a request without one starts a trace, so Entra and MCP logs can be joined.
// @see https://www.w3.org/TR/trace-context/#traceparent-header
import { randomBytes } from 'node:crypto'
import type { FastifyRequest } from 'fastify'

const TRACEPARENT = /^00-(?!0{32})[0-9a-f]{32}-(?!0{16})[0-9a-f]{16}-[0-9a-f]{2}$/

// Random ids from a pooled buffer: one getrandom call per 170 new traces instead of two per request.
let pool = Buffer.alloc(0)
let offset = 0
function randomHex (bytes: number): string {
  if (offset + bytes > pool.length) {
    pool = randomBytes(4096)
    offset = 0
  }
  const hex = pool.toString('hex', offset, offset + bytes)
  offset += bytes
  return hex
}

/** The headers a downstream request carries for this caller's request. */
export function traceHeaders (request: FastifyRequest): Record<string, string> {
  const incoming = request.headers.traceparent
  const traceparent = typeof incoming === 'string' && TRACEPARENT.test(incoming)
    ? incoming
    : `00-${randomHex(16)}-${randomHex(8)}-00`
  return { traceparent, 'x-request-id': request.id }
}
