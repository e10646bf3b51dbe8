import { pino, type Logger, type LoggerOptions } from 'pino'
import type { LogLevel } from './config.ts'

/** Paths pino censors wherever they appear: credentials must never reach a log line. */
export const REDACT_PATHS = [
  'req.headers.authorization',
  'req.headers.cookie',
  'req.headers["dpop"]',
  'res.headers["set-cookie"]',
  'headers.authorization',
  'headers.cookie',
  '*.authorization',
  '*.token',
  '*.assertion',
  '*.access_token',
  '*.accessToken',
  '*.refresh_token',
  '*.refreshToken',
  '*.id_token',
  '*.idToken',
  '*.client_secret',
  '*.clientSecret',
  '*.code',
  '*.code_verifier',
  '*.password',
]

export function createLogger (level: LogLevel, destination?: NodeJS.WritableStream): Logger {
  const options: LoggerOptions = {
    level,
    redact: { paths: REDACT_PATHS, censor: '[redacted]' },
    base: { service: 'obo-relay' },
    timestamp: pino.stdTimeFunctions.isoTime,
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
