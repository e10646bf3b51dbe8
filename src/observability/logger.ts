// pino with redaction at every depth: credentials never reach a log line, wherever a caller put them
// (top level, nested, inside `err`, `err.cause`, arrays), and JWT-shaped strings are masked anywhere.
import { pino, type Logger, type LoggerOptions } from 'pino'
import type { LogLevel } from '../config/index.ts'

export const REDACTED = '[redacted]'

/** Keys whose values are credentials (compared case-insensitively, `-`/`_` ignored). */
const SENSITIVE_KEYS = new Set([
  'authorization', 'proxyauthorization', 'cookie', 'setcookie', 'dpop',
  'token', 'accesstoken', 'refreshtoken', 'idtoken', 'assertion', 'clientassertion', 'oboassertion', 'subjecttoken',
  'clientsecret', 'secret', 'password', 'codeverifier', 'usercode', 'devicecode', 'privatekey', 'sessionid', 'mcpsessionid',
  'ciphertext', 'sealed',
])
/** `code` is an OAuth authorization code unless it looks like an error code (ECONNREFUSED, -32000, 65001). */
const ERROR_CODE = /^(?:[A-Z][A-Z0-9_]{1,63}|-?\d{1,9})$/
const JWT = /eyJ[\w-]{2,}\.[\w-]{2,}\.[\w-]*/g
const BEARER = /\b(Bearer|DPoP)\s+[\w.~+/-]{8,}=*/gi
const MAX_DEPTH = 8

const normalize = (key: string): string => key.toLowerCase().replace(/[-_]/g, '')

function scrubString (value: string): string {
  return value.replace(JWT, REDACTED).replace(BEARER, `$1 ${REDACTED}`)
}

function isSensitive (key: string, value: unknown): boolean {
  const name = normalize(key)
  if (SENSITIVE_KEYS.has(name)) return true
  if (name === 'code') return !(typeof value === 'number' || (typeof value === 'string' && ERROR_CODE.test(value)))
  return false
}

/** A copy of `value` with every credential replaced; Errors become plain objects (type, message, code, stack, cause). */
export function redactDeep (value: unknown, depth = 0, seen = new WeakSet<object>()): unknown {
  if (typeof value === 'string') return scrubString(value)
  if (typeof value !== 'object' || value === null) return value
  if (seen.has(value)) return '[circular]'
  if (depth >= MAX_DEPTH) return '[depth]'
  seen.add(value)
  if (Array.isArray(value)) return value.map((item) => redactDeep(item, depth + 1, seen))
  if (value instanceof Error) {
    const plain: Record<string, unknown> = { type: value.name, message: scrubString(value.message) }
    if (value.stack !== undefined) plain.stack = scrubString(value.stack)
    for (const [key, field] of Object.entries(value)) plain[key] = isSensitive(key, field) ? REDACTED : redactDeep(field, depth + 1, seen)
    if (value.cause !== undefined) plain.cause = redactDeep(value.cause, depth + 1, seen)
    return plain
  }
  if (value instanceof URL) return scrubString(value.href)
  if (Buffer.isBuffer(value) || ArrayBuffer.isView(value)) return `[${value.byteLength} bytes]`
  if (value instanceof Map) return redactDeep(Object.fromEntries(value), depth, seen)
  const out: Record<string, unknown> = {}
  for (const [key, field] of Object.entries(value)) out[key] = isSensitive(key, field) ? REDACTED : redactDeep(field, depth + 1, seen)
  return out
}

export function createLogger (level: LogLevel, destination?: NodeJS.WritableStream): Logger {
  const options: LoggerOptions = {
    level,
    base: { service: 'obo-relay' },
    timestamp: pino.stdTimeFunctions.isoTime,
    formatters: { log: (object) => redactDeep(object) as Record<string, unknown> },
    // Messages too: a JWT interpolated into a message string is masked like one in a field.
    hooks: {
      logMethod (args, method) {
        method.apply(this, args.map((arg) => typeof arg === 'string' ? scrubString(arg) : arg) as Parameters<typeof method>)
      },
    },
    // The formatter already turned errors into plain, redacted objects.
    serializers: { err: (err: unknown) => err },
  }
  return destination === undefined ? pino(options) : pino(options, destination as pino.DestinationStream)
}

/** The path of a URL with every query value masked: `/auth/callback?code=…&state=…` → `/auth/callback?code=_&state=_`. */
export function safeUrlForLog (rawUrl: string): string {
  const q = rawUrl.indexOf('?')
  if (q === -1) return rawUrl
  const names = new URLSearchParams(rawUrl.slice(q + 1))
  const masked = [...names.keys()].map((name) => `${encodeURIComponent(name)}=_`).join('&')
  return `${rawUrl.slice(0, q)}?${masked}`
}
