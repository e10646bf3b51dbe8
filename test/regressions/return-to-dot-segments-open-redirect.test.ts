// `/.//evil.example` passed the string checks, then URL normalisation collapsed it to `//evil.example`.
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { safeReturnTo } from '../../src/routes/auth.ts'
import { startTestStack, type TestStack } from '../helpers/stack.ts'

const relay = new URL('https://relay.example')

describe('return_to with dot segments', () => {
  it.each(['/.//evil.example', '/..//evil.example', '/%2e%2e//evil.example', '/%2e//evil.example', '/a/..//evil.example', '/././/evil.example'])('refuses %s', (value) => {
    expect(safeReturnTo(value, relay)).toBeUndefined()
  })

  it('still accepts dot segments that stay on the relay', () => {
    expect(safeReturnTo('/a/../v1/me', relay)).toBe('/v1/me')
  })

  let stack: TestStack
  beforeAll(async () => { stack = await startTestStack() })
  afterAll(async () => { await stack?.close() })

  it('the login route refuses it before any redirect', async () => {
    const res = await stack.call('/auth/login?return_to=%2F.%2F%2Fevil.example')
    expect(res.status).toBe(400)
    expect(res.headers.get('location')).toBeNull()
  })
})
