// The auth chain takes an Entra bearer it validated before from memory, without a promise and without running
// the Authorization pattern over the token: only the exact token, in the plain `Bearer <token>` form, and only
// until it expires. Everything else goes the full way and gets the answers it always got.
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest'
import { decodeJwt } from 'jose'
import { startTestStack, type TestStack } from '../helpers/stack.ts'

let stack: TestStack
let alice: string

beforeAll(async () => {
  stack = await startTestStack()
  alice = await stack.userToken('alice@contoso.test')
})
afterAll(async () => { await stack?.close() })
afterEach(() => { vi.useRealTimers() })

const me = async (authorization: string) => await stack.call('/v1/me', { headers: { authorization } })

describe('a remembered Entra bearer', () => {
  it('is remembered once validated, by the exact token', async () => {
    const validator = stack.relay.services.validateAccessToken
    const fresh = await stack.userToken('bob@contoso.test')
    expect(validator.remembered(fresh)).toBeUndefined()
    expect((await me(`Bearer ${fresh}`)).status).toBe(200)
    expect(validator.remembered(fresh)).toMatchObject({ upn: 'bob@contoso.test', mode: 'entra_bearer' })
    expect(validator.remembered(`${fresh}x`)).toBeUndefined()
    expect(validator.remembered(fresh.slice(0, -1))).toBeUndefined()
  })

  it('the other forms the pattern accepts still pass the full way; a changed token is refused, not remembered', async () => {
    expect((await me(`Bearer ${alice}`)).status).toBe(200)
    for (const form of [`bearer ${alice}`, `BEARER ${alice}`, `Bearer   ${alice}`]) {
      const res = await me(form)
      expect(res.status).toBe(200)
      expect(res.body).toMatchObject({ upn: 'alice@contoso.test', mode: 'entra_bearer' })
    }
    const signature = alice.slice(alice.lastIndexOf('.') + 1)
    const flipped = `${alice.slice(0, alice.lastIndexOf('.') + 1)}${signature[0] === 'A' ? 'B' : 'A'}${signature.slice(1)}`
    const res = await me(`Bearer ${flipped}`)
    expect(res.status).toBe(401)
    expect(res.body).toMatchObject({ error: 'invalid_token' })
    // Characters the pattern refuses are refused as before, even around a remembered token.
    expect((await me(`Bearer ${alice}!`)).body).toMatchObject({ reason: 'token_malformed' })
  })

  it('is refused once it has expired (past the 60 s of clock tolerance), though memory still holds it', async () => {
    expect((await me(`Bearer ${alice}`)).status).toBe(200)
    const exp = decodeJwt(alice).exp as number
    vi.useFakeTimers({ toFake: ['Date'], now: (exp + 61) * 1000 })
    const res = await me(`Bearer ${alice}`)
    expect(res.status).toBe(401)
    expect(res.body).toMatchObject({ error: 'invalid_token', reason: 'token_expired' })
    expect(stack.relay.services.validateAccessToken.remembered(alice)).toBeUndefined()
  })
})
