// Mode A end to end: Entra token for the relay → PRM discovery → OBO at the emulator → real MCP servers.
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { startTestStack, type TestStack } from '../helpers/stack.ts'

let stack: TestStack
let alice: string
let bob: string

beforeAll(async () => {
  stack = await startTestStack({ notesOptions: { toolsPageSize: 2 } })
  alice = await stack.userToken('alice@contoso.test')
  bob = await stack.userToken('bob@contoso.test')
})
afterAll(async () => { await stack?.close() })

const aliceUser = () => stack.emulator.users.find((u) => u.username === 'alice@contoso.test')!
const bobUser = () => stack.emulator.users.find((u) => u.username === 'bob@contoso.test')!

describe('REST API with an Entra bearer (mode A)', () => {
  it('GET /v1/me says who the caller is', async () => {
    const { status, body } = await stack.call('/v1/me', { token: alice })
    expect(status).toBe(200)
    expect(body).toEqual({ tid: stack.emulator.tenantId, oid: aliceUser().oid, name: aliceUser().name, upn: 'alice@contoso.test', mode: 'entra_bearer' })
  })

  it('GET /v1/servers lists both servers with scopes discovered from their PRM', async () => {
    const { status, body } = await stack.call('/v1/servers', { token: alice })
    expect(status).toBe(200)
    const byId = Object.fromEntries(body.servers.map((s: { id: string }) => [s.id, s]))
    expect(byId.notes).toMatchObject({ status: 'ok', scopeSource: 'prm', scopes: ['api://notes-mcp/user_impersonation'], url: stack.notes.url, resource: stack.notes.url })
    expect(byId.calendar).toMatchObject({ status: 'ok', scopeSource: 'prm', scopes: ['api://calendar-mcp/user_impersonation'] })
  })

  it('alice and bob each reach whoami as themselves, on both servers', async () => {
    for (const [token, user] of [[alice, aliceUser()], [bob, bobUser()]] as const) {
      for (const server of ['notes', 'calendar']) {
        const { status, body } = await stack.call(`/v1/servers/${server}/tools/whoami`, { method: 'POST', token, body: JSON.stringify({ arguments: {} }) })
        expect(status).toBe(200)
        expect(body.isError).not.toBe(true)
        expect(body.structuredContent).toMatchObject({ oid: user.oid, upn: user.username })
      }
    }
  })

  it('the MCP server receives a delegated token for itself, obtained on behalf of the user by the relay', async () => {
    const { body } = await stack.call('/v1/servers/calendar/tools/whoami', { method: 'POST', token: bob, body: '{"arguments":{}}' })
    expect(body.structuredContent).toMatchObject({ scp: 'user_impersonation', azp: stack.config.clientId })
  })

  it('notes are kept per user: alice never sees bob\'s notes', async () => {
    const create = (token: string, title: string) => stack.call('/v1/servers/notes/tools/create_note', { method: 'POST', token, body: JSON.stringify({ arguments: { title, body: `${title} body` } }) })
    expect((await create(alice, 'alice-secret-plan')).status).toBe(200)
    expect((await create(bob, 'bob-shopping')).status).toBe(200)
    const list = async (token: string) => JSON.stringify((await stack.call('/v1/servers/notes/tools/list_notes', { method: 'POST', token, body: '{}' })).body)
    const aliceNotes = await list(alice)
    const bobNotes = await list(bob)
    expect(aliceNotes).toContain('alice-secret-plan')
    expect(aliceNotes).not.toContain('bob-shopping')
    expect(bobNotes).toContain('bob-shopping')
    expect(bobNotes).not.toContain('alice-secret-plan')
  })

  it('GET /v1/servers/:server/tools returns every page of tools/list', async () => {
    const { status, body } = await stack.call('/v1/servers/notes/tools', { token: alice })
    expect(status).toBe(200)
    const names = body.tools.map((t: { name: string }) => t.name)
    // notes serves 2 tools per page; all of them must come back.
    expect(names).toEqual(expect.arrayContaining(['whoami', 'echo', 'add', 'slow', 'create_note', 'list_notes', 'stepup', 'fail']))
    expect(new Set(names).size).toBe(names.length)
  })

  it('a tool\'s own error is 200 with isError: true', async () => {
    const { status, body } = await stack.call('/v1/servers/notes/tools/fail', { method: 'POST', token: alice, body: '{"arguments":{}}' })
    expect(status).toBe(200)
    expect(body.isError).toBe(true)
  })

  it('passes arguments and returns the CallToolResult', async () => {
    const { status, body } = await stack.call('/v1/servers/calendar/tools/add', { method: 'POST', token: alice, body: JSON.stringify({ arguments: { a: 2, b: 40 } }) })
    expect(status).toBe(200)
    expect(JSON.stringify(body.content)).toContain('42')
  })
})

describe('REST API refusals: clear 4xx JSON, nothing lost', () => {
  const expectError = (res: { status: number, body: any, headers: Headers }, status: number, error: string) => {
    expect(res.status).toBe(status)
    expect(res.headers.get('content-type')).toMatch(/application\/json/)
    expect(res.body).toMatchObject({ error, error_description: expect.any(String), request_id: expect.any(String) })
    expect(JSON.stringify(res.body)).not.toMatch(/ at .*\.ts:\d+|stack/i)
  }

  it('no credentials → 401 with resource_metadata', async () => {
    const res = await stack.call('/v1/me')
    expectError(res, 401, 'invalid_token')
    // The PRM of the resource that was called: /v1 (RFC 9728 §3.1 path insertion).
    expect(res.headers.get('www-authenticate')).toBe(`Bearer resource_metadata="${stack.relayUrl}/.well-known/oauth-protected-resource/v1"`)
    expect(res.body).toMatchObject({ reason: 'credentials_missing', login_url: `${stack.relayUrl}/auth/login` })
  })

  it('a malformed Authorization header → 401 invalid_token', async () => {
    expectError(await stack.call('/v1/me', { headers: { authorization: 'Basic Zm9vOmJhcg==' } }), 401, 'invalid_token')
    expectError(await stack.call('/v1/me', { headers: { authorization: 'Bearer not-a-jwt' } }), 401, 'invalid_token')
  })

  it('unknown server → 404, unknown tool → 404', async () => {
    expectError(await stack.call('/v1/servers/nope/tools', { token: alice }), 404, 'not_found')
    expectError(await stack.call('/v1/servers/nope/tools/whoami', { method: 'POST', token: alice, body: '{}' }), 404, 'not_found')
    expectError(await stack.call('/v1/servers/notes/tools/no_such_tool', { method: 'POST', token: alice, body: '{}' }), 404, 'not_found')
  })

  it('bad JSON → 400, wrong shape → 400, too large → 413, wrong media type → 415', async () => {
    expectError(await stack.call('/v1/servers/notes/tools/echo', { method: 'POST', token: alice, body: '{"arguments":' }), 400, 'invalid_request')
    expectError(await stack.call('/v1/servers/notes/tools/echo', { method: 'POST', token: alice, body: '{"arguments":[1,2]}' }), 400, 'invalid_request')
    expectError(await stack.call('/v1/servers/notes/tools/echo', { method: 'POST', token: alice, body: '{"args":{}}' }), 400, 'invalid_request')
    const big = JSON.stringify({ arguments: { text: 'x'.repeat(1024 * 1024 + 10) } })
    expectError(await stack.call('/v1/servers/notes/tools/echo', { method: 'POST', token: alice, body: big }), 413, 'invalid_request')
    expectError(await stack.call('/v1/servers/notes/tools/echo', { method: 'POST', token: alice, body: 'text=1', headers: { 'content-type': 'text/plain' } }), 415, 'invalid_request')
  })

  it('unknown route → 404 JSON', async () => {
    expectError(await stack.call('/v2/whatever'), 404, 'not_found')
  })
})

describe('health, readiness, metadata', () => {
  it('healthz and readyz', async () => {
    expect((await stack.call('/healthz')).body).toEqual({ status: 'ok' })
    const ready = await stack.call('/readyz')
    expect(ready.status).toBe(200)
    expect(ready.body).toMatchObject({ status: 'ready', checks: { entra: 'ok', store: 'ok' } })
  })

  it('the relay\'s PRM names its own authorization server first, then the Entra issuer, at the root and by path insertion', async () => {
    const root = await stack.call('/.well-known/oauth-protected-resource')
    expect(root.body).toMatchObject({
      resource: stack.relayUrl,
      authorization_servers: [stack.relayUrl, stack.emulator.issuer],
      scopes_supported: ['tools:read', 'tools:call'],
      entra_scopes_supported: [stack.config.relayScope],
    })
    expect((await stack.call('/.well-known/oauth-protected-resource/v1')).body.resource).toBe(`${stack.relayUrl}/v1`)
    // No PRM for a resource the relay does not serve.
    expect((await stack.call('/.well-known/oauth-protected-resource/mcp/nope')).status).toBe(404)
  })

  it('OpenAPI is generated from the route schemas', async () => {
    const { status, body } = await stack.call('/openapi.json')
    expect(status).toBe(200)
    expect(Object.keys(body.paths)).toEqual(expect.arrayContaining(['/v1/me', '/v1/servers', '/v1/servers/{server}/tools', '/v1/servers/{server}/tools/{tool}']))
    expect((await stack.call('/docs')).status).toBeLessThan(400)
  })
})

describe('order of checks', () => {
  it('an anonymous caller learns nothing about server ids: 401 before 404', async () => {
    expect((await stack.call('/v1/servers/nope/tools')).status).toBe(401)
    expect((await stack.call('/v1/servers/nope/tools/x', { method: 'POST', body: '{}' })).status).toBe(401)
  })
})
