// OBO through MSAL against the emulator: cache, single-flight, expiry, and Entra's failures mapped to DESIGN §2.
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest'
import { startTestStack, type TestStack } from '../helpers/stack.ts'

let stack: TestStack
let clockOffsetMs = 0
const now = () => Date.now() + clockOffsetMs

beforeAll(async () => {
  stack = await startTestStack({
    relay: { now },
    // A server whose configured scope belongs to an app the relay is not pre-authorized for: a real AADSTS65001.
    extraServers: [{ id: 'restricted', on: 'notes', scopes: ['api://restricted-mcp/user_impersonation'] }],
  })
})
afterAll(async () => { await stack?.close() })
beforeEach(() => {
  stack.emulator.reset()
  clockOffsetMs = 0
})

const whoami = (token: string, server = 'notes') =>
  stack.call(`/v1/servers/${server}/tools/whoami`, { method: 'POST', token, body: '{"arguments":{}}' })

describe('OBO cache and single-flight', () => {
  it('50 concurrent cold calls for one user and server cause exactly one OBO call; a second call none; after expiry a new one', async () => {
    const token = await stack.userToken('alice@contoso.test')
    const results = await Promise.all(Array.from({ length: 50 }, () => whoami(token)))
    expect(results.map((r) => r.status)).toEqual(Array(50).fill(200))
    expect(stack.oboCalls()).toBe(1)

    expect((await whoami(token)).status).toBe(200)
    expect(stack.oboCalls()).toBe(1)

    // Past the downstream token's expiry (less the 5 min refresh skew) the relay exchanges again.
    // Entra's lifetimes vary from 60 to 90 minutes: past the longest, every cached token has expired.
    clockOffsetMs = 5400_000
    expect((await whoami(token)).status).toBe(200)
    expect(stack.oboCalls()).toBe(2)
  })

  it('different users and different servers are different cache keys', async () => {
    const alice = await stack.userToken('alice@contoso.test')
    const bob = await stack.userToken('bob@contoso.test')
    await Promise.all([whoami(alice), whoami(bob), whoami(alice, 'calendar'), whoami(bob, 'calendar')])
    expect(stack.oboCalls()).toBe(4)
  })
})

describe('Entra failures during OBO', () => {
  it('a claims challenge (Conditional Access / MFA) → 401 insufficient_claims with the claims, never a 500', async () => {
    const claims = '{"access_token":{"capolids":{"essential":true,"values":["c1"]}}}'
    stack.emulator.addFault({ grant: 'on_behalf_of', fault: 'claims_challenge', claims, count: 1 })
    const token = await stack.userToken('alice@contoso.test')
    const res = await whoami(token)
    expect(res.status).toBe(401)
    const encoded = Buffer.from(claims).toString('base64url')
    expect(res.body).toMatchObject({ error: 'interaction_required', claims: encoded })
    expect(res.body.login_url).toContain('/auth/login?claims=')
    expect(res.headers.get('www-authenticate')).toContain('error="insufficient_claims"')
    expect(res.headers.get('www-authenticate')).toContain(`claims="${encoded}"`)
    expect(res.headers.get('www-authenticate')).toContain('resource_metadata=')
  })

  it('consent required (AADSTS65001 from a real unconsented app) → 403 consent_required with a login_url that asks for consent', async () => {
    const token = await stack.userToken('alice@contoso.test')
    const res = await whoami(token, 'restricted')
    expect(res.status).toBe(403)
    expect(res.body).toMatchObject({ error: 'consent_required' })
    expect(res.body.error_description).toContain('AADSTS65001')
    const loginUrl = new URL(res.body.login_url)
    expect(loginUrl.origin + loginUrl.pathname).toBe(`${stack.relayUrl}/auth/login`)
    expect(loginUrl.searchParams.get('prompt')).toBe('consent')
    expect(loginUrl.searchParams.get('consent_scopes')).toBe('api://restricted-mcp/user_impersonation')
  })

  it('a scripted consent fault → 403 consent_required', async () => {
    stack.emulator.addFault({ grant: 'on_behalf_of', fault: 'consent_required', count: 1 })
    const res = await whoami(await stack.userToken('alice@contoso.test'))
    expect(res.status).toBe(403)
    expect(res.body.error).toBe('consent_required')
  })

  it('Entra 429 → 503 with Retry-After; only the throttled user is affected', async () => {
    stack.emulator.addFault({ grant: 'on_behalf_of', fault: 'throttle', retryAfterSec: 17, user: 'alice@contoso.test' })
    const alice = await stack.userToken('alice@contoso.test')
    const bob = await stack.userToken('bob@contoso.test')
    const res = await whoami(alice)
    expect(res.status).toBe(503)
    expect(res.body.error).toBe('temporarily_unavailable')
    expect(res.headers.get('retry-after')).toBe('17')
    expect((await whoami(bob)).status).toBe(200)
  })

  it('Entra 503 → 503 with Retry-After', async () => {
    stack.emulator.addFault({ grant: 'on_behalf_of', fault: 'unavailable', count: 1 })
    const res = await whoami(await stack.userToken('alice@contoso.test'))
    expect(res.status).toBe(503)
    expect(res.headers.get('retry-after')).toMatch(/^\d+$/)
  })

  it('invalid_grant → 401 asking the user to sign in again', async () => {
    stack.emulator.addFault({ grant: 'on_behalf_of', fault: 'invalid_grant', count: 1 })
    const res = await whoami(await stack.userToken('alice@contoso.test'))
    expect(res.status).toBe(401)
    expect(res.body.login_url).toBeDefined()
  })

  it('a failed exchange is not cached: the next call succeeds', async () => {
    stack.emulator.addFault({ grant: 'on_behalf_of', fault: 'unavailable', count: 1 })
    const token = await stack.userToken('alice@contoso.test')
    expect((await whoami(token)).status).toBe(503)
    expect((await whoami(token)).status).toBe(200)
  })
})

describe('downstream answers', () => {
  it('a downstream 401 insufficient_claims → 401 to the caller with the server\'s claims', async () => {
    const token = await stack.userToken('alice@contoso.test')
    const res = await stack.call('/v1/servers/notes/tools/stepup', { method: 'POST', token, body: '{"arguments":{}}' })
    expect(res.status).toBe(401)
    expect(res.body.error).toBe('interaction_required')
    // The relay asked Entra first (OBO with the server's claims); Entra wants a step-up sign-in for them.
    const claims = JSON.parse(Buffer.from(res.body.claims, 'base64url').toString())
    expect(claims).toMatchObject({ access_token: { acrs: { essential: true, value: 'c1' } } })
    expect(res.body.reason).toBe('claims_challenge')
    expect(new URL(res.body.login_url).searchParams.get('claims')).toBe(res.body.claims)
    expect(res.headers.get('www-authenticate')).toContain('error="insufficient_claims"')
  })
})
