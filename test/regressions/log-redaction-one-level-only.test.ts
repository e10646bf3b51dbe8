// pino's redaction paths matched one level only: `{ token }` at the top level, or inside `err.cause`, was
// logged in clear. Redaction now works at any depth, in errors and their causes, and masks JWTs anywhere.
import { Writable } from 'node:stream'
import { describe, expect, it } from 'vitest'
import { createLogger } from '../../src/observability/logger.ts'

const SECRET = 'sekret-value-1234567890'
const JWT = 'eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJhbGljZSJ9.c2lnbmF0dXJl'

function capture (log: (logger: ReturnType<typeof createLogger>) => void): string {
  const lines: string[] = []
  const logger = createLogger('debug', new Writable({ write (chunk, _enc, done) { lines.push(String(chunk)); done() } }))
  log(logger)
  return lines.join('')
}

const KEYS = ['token', 'access_token', 'refreshToken', 'id_token', 'assertion', 'client_secret', 'clientSecret', 'password', 'code', 'code_verifier', 'authorization', 'cookie', 'set-cookie', 'dpop', 'device_code', 'user_code']

describe('redaction at any depth', () => {
  it.each(KEYS)('%s at depths 1, 2 and 3', (key) => {
    for (const shape of [{ [key]: SECRET }, { a: { [key]: SECRET } }, { a: { b: { [key]: SECRET } } }, { list: [{ [key]: SECRET }] }]) {
      const line = capture((logger) => logger.info(shape, 'x'))
      expect(line).not.toContain(SECRET)
      expect(line).toContain('[redacted]')
    }
  })

  it('inside err and err.cause, and in error messages', () => {
    const cause = Object.assign(new Error(`upstream said ${JWT}`), { token: SECRET, headers: { authorization: `Bearer ${SECRET}` } })
    const err = Object.assign(new Error('outer', { cause }), { assertion: SECRET })
    const line = capture((logger) => logger.warn({ err }, 'failed'))
    expect(line).not.toContain(SECRET)
    expect(line).not.toContain(JWT)
    expect(line).toContain('outer')
  })

  it('JWTs and bearer credentials anywhere in a string', () => {
    const line = capture((logger) => logger.info({ note: `got ${JWT} and Bearer ${SECRET}`, url: new URL(`https://x/?t=${JWT}`) }, `msg ${JWT}`))
    expect(line).not.toContain(JWT)
    expect(line).not.toContain(SECRET)
  })

  it('keeps what operators need: error codes, AADSTS numbers, ids', () => {
    const line = capture((logger) => logger.warn({ code: 'ECONNREFUSED', aadsts: '65001', err: Object.assign(new Error('x'), { code: -32000 }), oid: 'abc' }, 'x'))
    expect(line).toContain('ECONNREFUSED')
    expect(line).toContain('65001')
    expect(line).toContain('-32000')
    expect(line).toContain('abc')
  })
})
