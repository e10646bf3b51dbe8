import { describe, expect, it } from 'vitest'
import { safeReturnTo } from '../../src/routes/auth.ts'

const relay = new URL('https://relay.example')

describe('safeReturnTo', () => {
  it.each(['/', '/v1/me', '/v1/servers?x=1#y', '/a/b/../c'])('keeps %s on the relay', (value) => {
    const result = safeReturnTo(value, relay)
    expect(result).toBeDefined()
    expect(new URL(result!, relay).origin).toBe(relay.origin)
  })

  it('defaults to /', () => {
    expect(safeReturnTo(undefined, relay)).toBe('/')
    expect(safeReturnTo('', relay)).toBe('/')
  })

  it.each([
    '//evil.example', '/\\evil.example', '\\\\evil.example', '/\t/evil.example', '/\n/evil.example', '/ /evil.example',
    'https://evil.example', 'javascript:alert(1)', 'evil.example', 'data:text/html,x', '/%2F/evil.example'.replace('%2F', '/'),
    `/${'a'.repeat(3000)}`,
  ])('refuses %j', (value) => {
    expect(safeReturnTo(value, relay)).toBeUndefined()
  })
})
