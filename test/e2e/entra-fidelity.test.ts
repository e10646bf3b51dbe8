// What real Entra does that the emulator used to hide, end to end through the relay: v1 tokens for an API
// left at the default registration, the cp1 client capability in OBO tokens, plain-text throttling, and each AADSTS
// code with its own answer.
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest'
import { DEV_RELAY_CLIENT_ID, DEV_RELAY_CLIENT_SECRET, defaultApps } from '../../dev/entra-emulator/index.ts'
import { startTestStack, type TestStack } from '../helpers/stack.ts'

const payloadOf = (token: string): Record<string, unknown> => JSON.parse(Buffer.from(token.split('.')[1] ?? '', 'base64url').toString()) as Record<string, unknown>

describe('Entra as it answers', () => {
  let stack: TestStack
  beforeAll(async () => {
    stack = await startTestStack({ notesOptions: { prmDocument: {} } })
  })
  afterAll(async () => { await stack?.close() })
  beforeEach(() => { stack.emulator.reset() })

  const whoami = async (token: string, server = 'notes') => await stack.call(`/v1/servers/${server}/tools/whoami`, { method: 'POST', token, body: '{"arguments":{}}' })

  it('v1 tokens (an API left at accessTokenAcceptedVersion null): alice calls her tools as with v2', async () => {
    const patched = await stack.fetch(`${stack.emulator.url}/_emulator/apps/${DEV_RELAY_CLIENT_ID}`, { method: 'PATCH', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ accessTokenAcceptedVersion: null }) })
    expect(patched.status).toBe(200)
    const token = await stack.userToken('alice@contoso.test')
    expect(payloadOf(token)).toMatchObject({ ver: '1.0', iss: `https://sts.windows.net/${stack.emulator.tenantId}/`, aud: `api://${DEV_RELAY_CLIENT_ID}` })
    const me = await stack.call('/v1/me', { token })
    expect(me.status).toBe(200)
    expect(me.body).toMatchObject({ upn: 'alice@contoso.test', mode: 'entra_bearer' })
    const res = await whoami(token)
    expect(res.status).toBe(200)
    expect(res.body.structuredContent.upn).toBe('alice@contoso.test')
  })

  it('a v1 token for another API is still refused', async () => {
    await stack.fetch(`${stack.emulator.url}/_emulator/apps/44444444-4444-4444-4444-444444444401`, { method: 'PATCH', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ accessTokenAcceptedVersion: 1 }) })
    const notesToken = await stack.emulator.issueUserToken('alice@contoso.test', { clientId: DEV_RELAY_CLIENT_ID, scopes: ['api://notes-mcp/user_impersonation'] })
    expect(payloadOf(notesToken).ver).toBe('1.0')
    expect((await stack.call('/v1/me', { token: notesToken })).status).toBe(401)
  })

  // Proves MSAL's clientCapabilities ['cp1'] reaches Entra on OBO: the token the MCP server validated carries xms_cc ["cp1"].
  it('cp1: the OBO token the MCP server receives carries xms_cc ["cp1"] (the caller\'s own token does not)', async () => {
    const token = await stack.userToken('alice@contoso.test')
    expect(payloadOf(token).xms_cc).toBeUndefined()
    const res = await whoami(token)
    expect(res.status).toBe(200)
    expect(res.body.structuredContent).toMatchObject({ upn: 'alice@contoso.test', xms_cc: expect.arrayContaining(['cp1']) })
  })

  it('a plain-text 429 → 503 with Entra\'s own Retry-After', async () => {
    const token = await stack.userToken('bob@contoso.test')
    stack.emulator.addFault({ grant: 'on_behalf_of', fault: 'throttle', format: 'text', retryAfterSec: 60, count: 1 })
    const res = await whoami(token)
    expect(res.status).toBe(503)
    expect(res.body).toMatchObject({ error: 'temporarily_unavailable', reason: 'entra_throttled' })
    expect(res.headers.get('retry-after')).toBe('60')
  })

  it('AADSTS53003 (Conditional Access blocks issuance) → 403 access_blocked, no sign-in loop', async () => {
    const token = await stack.userToken('alice@contoso.test')
    stack.emulator.addFault({ grant: 'on_behalf_of', fault: 'ca_blocked', count: 1 })
    const res = await whoami(token)
    expect(res.status).toBe(403)
    expect(res.body).toMatchObject({ error: 'access_blocked', reason: 'access_blocked' })
    expect(res.body.login_url).toBeUndefined()
  })

  // Proves Entra's AADSTS7000114 to an OBO request becomes 403 obo_assertion_refused, with none of Entra's words, ids or a stack.
  it('AADSTS7000114 (app-only assertion, HTTP 400 unauthorized_client) → 403 obo_assertion_refused, nothing of Entra\'s text', async () => {
    const token = await stack.userToken('alice@contoso.test')
    stack.emulator.addFault({ fault: 'app_only_assertion', count: 1 })
    const res = await whoami(token)
    expect(res.status).toBe(403)
    expect(res.body).toMatchObject({ error: 'access_denied', reason: 'obo_assertion_refused' })
    expect(res.body.error_description).toContain('AADSTS7000114')
    expect(res.body.login_url).toBeUndefined()
    const text = JSON.stringify(res.body)
    expect(text).not.toMatch(/not allowed to make application on-behalf-of|Trace ID|Correlation ID|Timestamp|unauthorized_client/i)
    expect(text).not.toContain(DEV_RELAY_CLIENT_ID)
    expect(text).not.toContain(stack.emulator.url)
    expect(text).not.toMatch(/\bat [\w.<>]+ \(|node:internal|\.ts:\d+/)
    expect(res.headers.get('x-ms-request-id')).toBeNull()
    // Used up: the next call exchanges normally.
    expect((await whoami(token)).status).toBe(200)
  })

  it('AADSTS50196 (loop detected, HTTP 400) → 503 with a Retry-After', async () => {
    const token = await stack.userToken('alice@contoso.test')
    stack.emulator.addFault({ grant: 'on_behalf_of', fault: 'loop_detected', count: 1 })
    const res = await whoami(token)
    expect(res.status).toBe(503)
    expect(res.body.reason).toBe('entra_throttled')
    expect(res.headers.get('retry-after')).toMatch(/^\d+$/)
  })
})

describe('a PRM naming a scope its API does not expose', () => {
  let stack: TestStack
  beforeAll(async () => {
    stack = await startTestStack({ notesOptions: { prmDocument: { scopes_supported: ['api://notes-mcp/no_such_scope'] } } })
  })
  afterAll(async () => { await stack?.close() })

  it('AADSTS650053 → 502 downstream_scope_unknown, saying what an operator must fix', async () => {
    const res = await stack.call('/v1/servers/notes/tools/whoami', { method: 'POST', token: await stack.userToken('alice@contoso.test'), body: '{}' })
    expect(res.status).toBe(502)
    expect(res.body.reason).toBe('downstream_scope_unknown')
    expect(res.body.error_description).toMatch(/AADSTS650053/)
  })
})

describe('an expired client secret', () => {
  let stack: TestStack
  beforeAll(async () => {
    const apps = defaultApps().map((app) => app.clientId === DEV_RELAY_CLIENT_ID ? { ...app, secrets: [{ value: DEV_RELAY_CLIENT_SECRET, expiresAt: Date.now() - 60_000 }] } : app)
    stack = await startTestStack({ emulator: { apps } })
  })
  afterAll(async () => { await stack?.close() })

  it('AADSTS7000222 → 500 relay_credentials_refused naming the setting, never the secret', async () => {
    const res = await stack.call('/v1/servers/notes/tools/whoami', { method: 'POST', token: await stack.userToken('alice@contoso.test'), body: '{}' })
    expect(res.status).toBe(500)
    expect(res.body.reason).toBe('relay_credentials_refused')
    expect(res.body.error_description).toContain('CLIENT_SECRET')
    expect(JSON.stringify(res.body)).not.toContain(DEV_RELAY_CLIENT_SECRET)
  })
})
