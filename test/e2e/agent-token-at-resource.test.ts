// Relay-issued tokens at the relay's resources (RFC 9449 §4.3, §7, §9; RFC 8707): every bad proof and every
// misused token is a 401 (or 403) in the relay's OAuth shape, answered in the DPoP scheme with a nonce when due.
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { callRelay, dpopBoundTokens, dpopKey, proof, type IssuedTokens } from '../helpers/oauth.ts'
import { startTestStack, type TestStack } from '../helpers/stack.ts'

let stack: TestStack
let issued: IssuedTokens
let alice: { oid: string }
const nonce = () => stack.relay.services.agentAuth.nonces.next()
const me = () => `${stack.relayUrl}/v1/me`

beforeAll(async () => {
  stack = await startTestStack()
  alice = stack.emulator.users.find((u) => u.username === 'alice@contoso.test')!
  issued = await dpopBoundTokens(stack)
})
afterAll(async () => { await stack?.close() })

function expectOAuthShape (body: any, error: string, reason: string): void {
  expect(body).toMatchObject({ error, reason })
  expect(typeof body.error_description).toBe('string')
  expect(JSON.stringify(body)).not.toMatch(/\bat [\w.]+ \(|node:internal/)
}

describe('a DPoP-bound relay token at /v1', () => {
  it('works with a good proof, and the answer carries the next nonce when the one used ages', async () => {
    const token = issued.tokens.access_token
    const answer = await callRelay(stack, '/v1/me', { token, proof: await proof(issued.dpop, { htm: 'GET', htu: me(), nonce: nonce() }, token) })
    expect(answer.status).toBe(200)
    expect(answer.body).toMatchObject({ oid: alice.oid, mode: 'agent' })
  })

  it('calls a tool as alice', async () => {
    const token = issued.tokens.access_token
    const url = `${stack.relayUrl}/v1/servers/notes/tools/whoami`
    const answer = await callRelay(stack, '/v1/servers/notes/tools/whoami', { method: 'POST', token, body: { arguments: {} }, proof: await proof(issued.dpop, { htm: 'POST', htu: url, nonce: nonce() }, token) })
    expect(answer.status).toBe(200)
    expect(answer.body.structuredContent.oid).toBe(alice.oid)
  })

  it('without a nonce: 401 use_dpop_nonce, a DPoP challenge and a DPoP-Nonce header to retry with', async () => {
    const token = issued.tokens.access_token
    const answer = await callRelay(stack, '/v1/me', { token, proof: await proof(issued.dpop, { htm: 'GET', htu: me() }, token) })
    expect(answer.status).toBe(401)
    expectOAuthShape(answer.body, 'use_dpop_nonce', 'dpop_nonce_required')
    expect(answer.headers.get('www-authenticate')).toMatch(/^DPoP .*error="use_dpop_nonce"/)
    expect(answer.headers.get('www-authenticate')).toContain(`resource_metadata="${stack.relayUrl}/.well-known/oauth-protected-resource/v1"`)
    expect(answer.headers.get('www-authenticate')).toContain('algs="ES256 EdDSA Ed25519"')
    const retry = await callRelay(stack, '/v1/me', { token, proof: await proof(issued.dpop, { htm: 'GET', htu: me(), nonce: answer.headers.get('dpop-nonce')! }, token) })
    expect(retry.status).toBe(200)
  })

  const refusals: Array<[string, () => Promise<{ proof?: string, scheme?: 'DPoP' | 'Bearer' }>, string, string]> = [
    ['the wrong htu', async () => ({ proof: await proof(issued.dpop, { htm: 'GET', htu: `${stack.relayUrl}/v1/servers`, nonce: nonce() }, issued.tokens.access_token) }), 'invalid_dpop_proof', 'htu'],
    ['the wrong htm', async () => ({ proof: await proof(issued.dpop, { htm: 'POST', htu: me(), nonce: nonce() }, issued.tokens.access_token) }), 'invalid_dpop_proof', 'htm'],
    ['a stale iat', async () => ({ proof: await proof(issued.dpop, { htm: 'GET', htu: me(), nonce: nonce(), iat: Math.floor(Date.now() / 1000) - 3600 }, issued.tokens.access_token) }), 'invalid_dpop_proof', 'iat'],
    ['a wrong ath', async () => ({ proof: await proof(issued.dpop, { htm: 'GET', htu: me(), nonce: nonce(), ath: 'AAAA' }, issued.tokens.access_token) }), 'invalid_dpop_proof', 'ath'],
    ['another key than the token\'s', async () => ({ proof: await proof(await dpopKey(), { htm: 'GET', htu: me(), nonce: nonce() }, issued.tokens.access_token) }), 'invalid_dpop_proof', 'another key'],
    ['an invalid nonce', async () => ({ proof: await proof(issued.dpop, { htm: 'GET', htu: me(), nonce: 'not-a-nonce' }, issued.tokens.access_token) }), 'use_dpop_nonce', 'nonce'],
    ['no DPoP header', async () => ({}), 'invalid_dpop_proof', 'DPoP header'],
  ]
  for (const [what, make, error, mentions] of refusals) {
    it(`a proof with ${what} → 401 ${error}`, async () => {
      const { proof: p } = await make()
      const answer = await callRelay(stack, '/v1/me', { token: issued.tokens.access_token, ...(p === undefined ? {} : { proof: p }) })
      expect(answer.status).toBe(401)
      expectOAuthShape(answer.body, error, error === 'use_dpop_nonce' ? 'dpop_nonce_required' : 'dpop_proof_invalid')
      expect(answer.body.error_description).toContain(mentions)
      expect(answer.headers.get('www-authenticate')).toMatch(/^DPoP /)
    })
  }

  it('a replayed proof (same jti) → 401 invalid_dpop_proof', async () => {
    const token = issued.tokens.access_token
    const once = await proof(issued.dpop, { htm: 'GET', htu: me(), nonce: nonce() }, token)
    expect((await callRelay(stack, '/v1/me', { token, proof: once })).status).toBe(200)
    const replay = await callRelay(stack, '/v1/me', { token, proof: once })
    expect(replay.status).toBe(401)
    expectOAuthShape(replay.body, 'invalid_dpop_proof', 'dpop_proof_invalid')
    expect(replay.body.error_description).toContain('already used')
  })

  it('a private key in jwk → 401 invalid_dpop_proof', async () => {
    const { exportJWK } = await import('jose')
    const privateJwk = await exportJWK(issued.dpop.keys.privateKey)
    const p = await proof(issued.dpop, { htm: 'GET', htu: me(), nonce: nonce() }, issued.tokens.access_token, { jwk: privateJwk })
    const answer = await callRelay(stack, '/v1/me', { token: issued.tokens.access_token, proof: p })
    expect(answer.status).toBe(401)
    expectOAuthShape(answer.body, 'invalid_dpop_proof', 'dpop_proof_invalid')
    expect(answer.body.error_description).toContain('public key')
  })

  it('alg HS256 → 401 invalid_dpop_proof', async () => {
    const { SignJWT } = await import('jose')
    const { createHash, randomUUID } = await import('node:crypto')
    const hs = await new SignJWT({ htm: 'GET', htu: me(), iat: Math.floor(Date.now() / 1000), jti: randomUUID(), nonce: nonce(), ath: createHash('sha256').update(issued.tokens.access_token).digest('base64url') })
      .setProtectedHeader({ typ: 'dpop+jwt', alg: 'HS256', jwk: { kty: 'oct', k: 'c2VjcmV0' } as never }).sign(new TextEncoder().encode('secret-secret-secret-secret-1234'))
    const answer = await callRelay(stack, '/v1/me', { token: issued.tokens.access_token, proof: hs })
    expect(answer.status).toBe(401)
    expectOAuthShape(answer.body, 'invalid_dpop_proof', 'dpop_proof_invalid')
  })

  it('the bound token used as a Bearer token → 401 invalid_token', async () => {
    const answer = await callRelay(stack, '/v1/me', { scheme: 'Bearer', token: issued.tokens.access_token })
    expect(answer.status).toBe(401)
    expectOAuthShape(answer.body, 'invalid_token', 'dpop_bound_token_as_bearer')
    expect(answer.headers.get('www-authenticate')).toMatch(/^Bearer .*error="invalid_token"/)
  })

  it('an unknown token → 401 invalid_token naming the PRM of the resource called', async () => {
    const answer = await callRelay(stack, '/v1/servers', { scheme: 'Bearer', token: 'x'.repeat(43) })
    expect(answer.status).toBe(401)
    expectOAuthShape(answer.body, 'invalid_token', 'token_invalid')
    expect(answer.headers.get('www-authenticate')).toContain(`resource_metadata="${stack.relayUrl}/.well-known/oauth-protected-resource/v1"`)
  })
})

describe('audience restriction (RFC 8707)', () => {
  it('a token for /mcp/notes is refused at /v1', async () => {
    const forNotes = await dpopBoundTokens(stack, { resource: `${stack.relayUrl}/mcp/notes` })
    const token = forNotes.tokens.access_token
    const answer = await callRelay(stack, '/v1/me', { token, proof: await proof(forNotes.dpop, { htm: 'GET', htu: me(), nonce: nonce() }, token) })
    expect(answer.status).toBe(401)
    expectOAuthShape(answer.body, 'invalid_token', 'token_audience_mismatch')
    expect(answer.body.error_description).toContain(`${stack.relayUrl}/mcp/notes`)
  })

  it('a token for /v1 is refused for /mcp/notes (the verifier every relay resource uses)', async () => {
    const token = issued.tokens.access_token
    const url = `${stack.relayUrl}/mcp/notes`
    const refused = await stack.relay.services.agentAuth.verifier.verify({ scheme: 'DPoP', token, proof: await proof(issued.dpop, { htm: 'POST', htu: url, nonce: nonce() }, token), method: 'POST', path: '/mcp/notes' })
      .then(() => undefined, (err: { reason?: string }) => err)
    expect(refused?.reason).toBe('token_audience_mismatch')
  })

  it('a token with only tools:read cannot call a tool: 403 insufficient_scope naming tools:call', async () => {
    const reader = await dpopBoundTokens(stack, { scope: 'tools:read' })
    const token = reader.tokens.access_token
    const url = `${stack.relayUrl}/v1/servers/notes/tools/whoami`
    const answer = await callRelay(stack, '/v1/servers/notes/tools/whoami', { method: 'POST', token, body: { arguments: {} }, proof: await proof(reader.dpop, { htm: 'POST', htu: url, nonce: nonce() }, token) })
    expect(answer.status).toBe(403)
    expectOAuthShape(answer.body, 'insufficient_scope', 'scope_missing')
    expect(answer.headers.get('www-authenticate')).toMatch(/^DPoP .*scope="tools:call"/)
  })

  it('an openid-only token (no resource) is for userinfo only', async () => {
    const openid = await dpopBoundTokens(stack, { scope: 'openid profile', resource: [] })
    const token = openid.tokens.access_token
    const answer = await callRelay(stack, '/v1/me', { token, proof: await proof(openid.dpop, { htm: 'GET', htu: me(), nonce: nonce() }, token) })
    expect(answer.status).toBe(401)
    expectOAuthShape(answer.body, 'invalid_token', 'token_audience_mismatch')
    const userinfo = `${stack.relayUrl}/oauth/userinfo`
    const claims = await callRelay(stack, '/oauth/userinfo', { token, proof: await proof(openid.dpop, { htm: 'GET', htu: userinfo, nonce: nonce() }, token) })
    expect(claims.status).toBe(200)
    expect(claims.body).toMatchObject({ sub: `${stack.emulator.tenantId}.${alice.oid}`, preferred_username: 'alice@contoso.test', oid: alice.oid })
  })
})
