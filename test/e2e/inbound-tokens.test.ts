// DESIGN §4: every inbound token the relay must refuse, built with the emulator's real signing key.
import { createPublicKey } from 'node:crypto'
import { SignJWT, base64url } from 'jose'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { DEV_NOTES_APP_ID } from '../../dev/entra-emulator/index.ts'
import { startTestStack, type TestStack } from '../helpers/stack.ts'

let stack: TestStack
let good: Record<string, unknown>

beforeAll(async () => {
  stack = await startTestStack()
  const token = await stack.userToken('alice@contoso.test')
  good = JSON.parse(Buffer.from(token.split('.')[1]!, 'base64url').toString())
})
afterAll(async () => { await stack?.close() })

const me = (token: string) => stack.call('/v1/me', { token })
const nowSec = () => Math.floor(Date.now() / 1000)

async function expectRefused (token: string, status = 401, error = 'invalid_token') {
  const res = await me(token)
  expect(res.status).toBe(status)
  expect(res.body.error).toBe(error)
  expect(res.headers.get('www-authenticate')).toContain('resource_metadata=')
  return res
}

describe('inbound Entra tokens', () => {
  it('accepts a token the emulator signed with the claims Entra puts in one', async () => {
    expect((await me(await stack.emulator.signToken(good))).status).toBe(200)
  })

  it('refuses alg none', async () => {
    const header = base64url.encode(JSON.stringify({ alg: 'none', typ: 'JWT' }))
    await expectRefused(`${header}.${base64url.encode(JSON.stringify(good))}.`)
  })

  it('refuses HS256 signed with the RSA public key (algorithm confusion)', async () => {
    const jwks = await (await stack.fetch(stack.emulator.jwksUri)).json() as { keys: Array<Record<string, unknown>> }
    const publicPem = createPublicKey({ key: jwks.keys[0]! as never, format: 'jwk' }).export({ type: 'spki', format: 'pem' })
    const forged = await new SignJWT(good).setProtectedHeader({ alg: 'HS256', kid: jwks.keys[0]!.kid as string }).sign(Buffer.from(publicPem))
    await expectRefused(forged)
  })

  it('refuses an unknown kid', async () => {
    await expectRefused(await stack.emulator.signToken(good, { kid: 'not-a-published-key' }))
  })

  it('refuses a tampered payload', async () => {
    const token = await stack.emulator.signToken(good)
    const [h, , s] = token.split('.')
    await expectRefused(`${h}.${base64url.encode(JSON.stringify({ ...good, oid: 'someone-else' }))}.${s}`)
  })

  it('refuses the wrong audience', async () => {
    await expectRefused(await stack.emulator.signToken({ ...good, aud: 'api://something-else' }))
  })

  it('refuses a downstream-audience token replayed to the relay', async () => {
    const downstream = await stack.emulator.issueUserToken('alice@contoso.test', { clientId: stack.config.clientId, scopes: ['api://notes-mcp/user_impersonation'] })
    expect(JSON.parse(Buffer.from(downstream.split('.')[1]!, 'base64url').toString()).aud).toBe(DEV_NOTES_APP_ID)
    await expectRefused(downstream)
  })

  it('refuses the wrong issuer', async () => {
    await expectRefused(await stack.emulator.signToken({ ...good, iss: 'https://login.microsoftonline.com/11111111-1111-1111-1111-111111111111/v2.0' }))
    // v1 tokens carry https://sts.windows.net/<tid>/ (accepted); another cloud's v1 issuer is not ours.
    await expectRefused(await stack.emulator.signToken({ ...good, iss: `https://sts.chinacloudapi.cn/${good.tid as string}/` }))
    await expectRefused(await stack.emulator.signToken({ ...good, iss: `https://sts.windows.net/${good.tid as string}` }))
  })

  it('refuses a tenant that is not allowed', async () => {
    const tid = '99999999-9999-9999-9999-999999999999'
    await expectRefused(await stack.emulator.signToken({ ...good, tid, iss: `${stack.emulator.url}/${tid}/v2.0` }))
  })

  it('refuses an expired token (beyond the 60 s skew), accepts one within it', async () => {
    await expectRefused(await stack.emulator.signToken({ ...good, iat: nowSec() - 7200, nbf: nowSec() - 7200, exp: nowSec() - 120 }))
    expect((await me(await stack.emulator.signToken({ ...good, exp: nowSec() - 30 }))).status).toBe(200)
  })

  it('refuses nbf in the future', async () => {
    await expectRefused(await stack.emulator.signToken({ ...good, nbf: nowSec() + 600 }))
  })

  it('refuses an app-only token', async () => {
    const { scp: _scp, ...appOnly } = good
    await expectRefused(await stack.emulator.signToken({ ...appOnly, roles: ['Relay.Call'], idtyp: 'app' }))
    await expectRefused(await stack.emulator.signToken({ ...appOnly, roles: ['Relay.Call'] }))
  })

  it('refuses an id_token', async () => {
    const { scp: _scp, ...idToken } = good
    await expectRefused(await stack.emulator.signToken({ ...idToken, aud: stack.config.clientId, nonce: 'n' }))
  })

  it('answers 403 insufficient_scope when the relay scope is missing', async () => {
    const res = await expectRefused(await stack.emulator.signToken({ ...good, scp: 'other_scope' }), 403, 'insufficient_scope')
    expect(res.headers.get('www-authenticate')).toContain(`scope="${stack.config.relayScope}"`)
  })

  it('never echoes the token in the error', async () => {
    const token = await stack.emulator.signToken({ ...good, aud: 'x' })
    const res = await me(token)
    expect(JSON.stringify(res.body)).not.toContain(token.split('.')[2])
    expect(stack.logs.join('')).not.toContain(token.split('.')[2])
  })
})
