// /mcp/:server with the official SDK client (mode A: Entra bearer): the token swapped, users kept apart, the
// downstream's headers filtered, bad input refused with a clear 4xx, sessions bound to their user.
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { startTestStack, type TestStack } from '../helpers/stack.ts'
import { connectSdk, jsonOf, structured } from '../helpers/mcp-clients.ts'

let stack: TestStack
let alice: string
let bob: string

beforeAll(async () => {
  stack = await startTestStack({
    // A hostile downstream: it tries to set the relay's own session cookie, redirect, and open CORS.
    notesOptions: {
      extraResponseHeaders: {
        'set-cookie': '__Host-obo_session=planted; Path=/; Secure; HttpOnly',
        location: 'https://evil.example/',
        'content-security-policy': 'default-src *',
        'access-control-allow-origin': '*',
        'x-powered-by': 'notes',
      },
    },
  })
  alice = await stack.userToken('alice@contoso.test')
  bob = await stack.userToken('bob@contoso.test')
})
afterAll(async () => { await stack?.close() })

const aliceUser = () => stack.emulator.users.find((u) => u.username === 'alice@contoso.test')!
const bobUser = () => stack.emulator.users.find((u) => u.username === 'bob@contoso.test')!

const initialize = (token: string, headers: Record<string, string> = {}) => fetch(`${stack.relayUrl}/mcp/notes`, {
  method: 'POST',
  headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json', accept: 'application/json, text/event-stream', ...headers },
  body: JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'initialize', params: { protocolVersion: '2025-11-25', capabilities: {}, clientInfo: { name: 'raw', version: '1' } } }),
})

describe('/mcp/:server with the SDK client', () => {
  it('initializes, lists and calls whoami as the right user, on both servers', async () => {
    for (const [token, user] of [[alice, aliceUser()], [bob, bobUser()]] as const) {
      for (const server of ['notes', 'calendar']) {
        const { client, close } = await connectSdk(`${stack.relayUrl}/mcp/${server}`, token)
        try {
          expect(client.getServerVersion()?.name).toBe(`sample-${server}`)
          const { tools } = await client.listTools()
          expect(tools.map((t) => t.name)).toContain('whoami')
          const result = await client.callTool({ name: 'whoami', arguments: {} })
          expect(structured(result)).toMatchObject({ oid: user.oid, upn: user.username, aud: expect.any(String), azp: stack.config.clientId })
        } finally {
          await close()
        }
      }
    }
  })

  it('keeps notes apart: bob never sees alice\'s', async () => {
    const a = await connectSdk(`${stack.relayUrl}/mcp/notes`, alice)
    const b = await connectSdk(`${stack.relayUrl}/mcp/notes`, bob)
    try {
      await a.client.callTool({ name: 'create_note', arguments: { title: 'alice-gateway-secret', body: 'x' } })
      const bobs = JSON.stringify(await b.client.callTool({ name: 'list_notes', arguments: {} }))
      const alices = JSON.stringify(await a.client.callTool({ name: 'list_notes', arguments: {} }))
      expect(alices).toContain('alice-gateway-secret')
      expect(bobs).not.toContain('alice-gateway-secret')
    } finally {
      await a.close()
      await b.close()
    }
  })

  it('bob presenting alice\'s Mcp-Session-Id gets 404, and alice keeps her session', async () => {
    const { transport, client, close } = await connectSdk(`${stack.relayUrl}/mcp/notes`, alice)
    try {
      const sessionId = transport.sessionId as string
      expect(sessionId).toEqual(expect.any(String))
      const stolen = await fetch(`${stack.relayUrl}/mcp/notes`, {
        method: 'POST',
        headers: { authorization: `Bearer ${bob}`, 'content-type': 'application/json', accept: 'application/json, text/event-stream', 'mcp-session-id': sessionId, 'mcp-protocol-version': '2025-11-25' },
        body: JSON.stringify({ jsonrpc: '2.0', id: 7, method: 'tools/call', params: { name: 'list_notes', arguments: {} } }),
      })
      expect(stolen.status).toBe(404)
      expect(await jsonOf(stolen)).toMatchObject({ jsonrpc: '2.0', error: { code: -32001 } })
      // A session id never opened through the relay does not exist either.
      const forged = await fetch(`${stack.relayUrl}/mcp/notes`, { method: 'GET', headers: { authorization: `Bearer ${alice}`, accept: 'text/event-stream', 'mcp-session-id': 'not-a-session' } })
      expect(forged.status).toBe(404)
      expect(structured(await client.callTool({ name: 'whoami', arguments: {} }))).toMatchObject({ oid: aliceUser().oid })
    } finally {
      await close()
    }
  })

  it('ends the session on DELETE: its id then answers 404', async () => {
    const { transport, close } = await connectSdk(`${stack.relayUrl}/mcp/notes`, alice)
    const sessionId = transport.sessionId as string
    await transport.terminateSession()
    const after = await fetch(`${stack.relayUrl}/mcp/notes`, { method: 'GET', headers: { authorization: `Bearer ${alice}`, accept: 'text/event-stream', 'mcp-session-id': sessionId } })
    expect(after.status).toBe(404)
    await close()
  })
})

describe('/mcp/:server headers', () => {
  it('a downstream Set-Cookie, Location, CSP or Access-Control-* never reaches the client', async () => {
    const response = await initialize(alice)
    expect(response.status).toBe(200)
    expect(response.headers.get('set-cookie')).toBeNull()
    expect(response.headers.get('location')).toBeNull()
    expect(response.headers.get('access-control-allow-origin')).toBeNull()
    expect(response.headers.get('x-powered-by')).toBeNull()
    expect(response.headers.get('content-security-policy')).toBe("default-src 'none'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'")
    expect(response.headers.get('mcp-session-id')).toEqual(expect.any(String))
    await response.body?.cancel()
  })

  it('a downstream WWW-Authenticate (claims step-up) is rewritten to name the relay\'s own PRM', async () => {
    const { transport, close } = await connectSdk(`${stack.relayUrl}/mcp/notes`, alice)
    try {
      const response = await fetch(`${stack.relayUrl}/mcp/notes`, {
        method: 'POST',
        headers: { authorization: `Bearer ${alice}`, 'content-type': 'application/json', accept: 'application/json, text/event-stream', 'mcp-session-id': transport.sessionId as string, 'mcp-protocol-version': '2025-11-25' },
        body: JSON.stringify({ jsonrpc: '2.0', id: 12, method: 'tools/call', params: { name: 'stepup', arguments: {} } }),
      })
      expect(response.status).toBe(401)
      const challenge = response.headers.get('www-authenticate') ?? ''
      expect(challenge).toMatch(new RegExp(`^Bearer resource_metadata="${stack.relayUrl}/\\.well-known/oauth-protected-resource/mcp/notes", error="insufficient_claims"`))
      expect(challenge).toMatch(/claims="[A-Za-z0-9_-]+"/)
      expect(challenge).not.toContain(stack.notes.prmUrl)
      expect(await jsonOf(response)).toMatchObject({ id: 12, error: { data: { error: 'interaction_required', reason: 'downstream_claims_challenge', claims: expect.any(String), login_url: expect.stringContaining('/auth/login?claims=') } } })
    } finally {
      await close()
    }
  })

  it('the caller\'s cookies and its own token never go upstream: the server sees only the OBO token', async () => {
    const { client, close } = await connectSdk(`${stack.relayUrl}/mcp/notes`, alice, { headers: { cookie: '__Host-obo_session=mine' } })
    try {
      const claims = structured(await client.callTool({ name: 'whoami', arguments: {} }))
      // The relay's own token has the relay as audience; the server got one for itself.
      expect(claims.aud).not.toBe(stack.config.clientId)
      expect(claims.scp).toBe('user_impersonation')
    } finally {
      await close()
    }
  })
})

describe('/mcp/:server refusals', () => {
  it('no token → 401 naming the PRM of /mcp/notes and the scope to ask its first authorization server (the relay) for', async () => {
    const response = await fetch(`${stack.relayUrl}/mcp/notes`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{}' })
    expect(response.status).toBe(401)
    const challenge = response.headers.get('www-authenticate') ?? ''
    expect(challenge).toContain(`resource_metadata="${stack.relayUrl}/.well-known/oauth-protected-resource/mcp/notes"`)
    expect(challenge).toContain('scope="tools:read tools:call"')
    const prm = await jsonOf(await fetch(`${stack.relayUrl}/.well-known/oauth-protected-resource/mcp/notes`))
    // Mode B's authorization server (the relay) first, so an MCP client asks it; mode A's Entra scope named apart.
    expect(prm).toMatchObject({ resource: `${stack.relayUrl}/mcp/notes`, authorization_servers: [stack.relayUrl, stack.emulator.issuer], scopes_supported: ['tools:read', 'tools:call'], entra_scopes_supported: [stack.config.relayScope] })
    expect((await jsonOf(await fetch(`${stack.relayUrl}/.well-known/oauth-protected-resource/mcp`))).resource).toBe(`${stack.relayUrl}/mcp`)
  })

  it('a foreign Origin → 403, a foreign Host → 403', async () => {
    const origin = await initialize(alice, { origin: 'http://evil.example' })
    expect(origin.status).toBe(403)
    expect(await jsonOf(origin)).toMatchObject({ error: 'access_denied', reason: 'origin_not_allowed' })
    const ownOrigin = await initialize(alice, { origin: stack.relayUrl })
    expect(ownOrigin.status).toBe(200)
    await ownOrigin.body?.cancel()
    const { request } = await import('undici')
    const host = await request(`${stack.relayUrl}/mcp/notes`, { method: 'POST', headers: { host: 'evil.example', authorization: `Bearer ${alice}`, 'content-type': 'application/json' }, body: '{}' })
    expect(host.statusCode).toBe(403)
    expect(await host.body.json()).toMatchObject({ reason: 'host_not_allowed' })
  })

  it('an oversized body → 413, bad JSON under a modern version → 400 parse error, and nothing reaches the server', async () => {
    const big = JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'tools/call', params: { name: 'echo', arguments: { text: 'x'.repeat(1024 * 1024 + 10) } } })
    const tooLarge = await fetch(`${stack.relayUrl}/mcp/notes`, { method: 'POST', headers: { authorization: `Bearer ${alice}`, 'content-type': 'application/json' }, body: big })
    expect(tooLarge.status).toBe(413)
    expect(await jsonOf(tooLarge)).toMatchObject({ reason: 'body_too_large' })
    const badJson = await fetch(`${stack.relayUrl}/mcp/notes`, { method: 'POST', headers: { authorization: `Bearer ${alice}`, 'content-type': 'application/json', 'mcp-protocol-version': '2026-07-28' }, body: '{"jsonrpc":' })
    expect(badJson.status).toBe(400)
    expect(await jsonOf(badJson)).toMatchObject({ jsonrpc: '2.0', error: { code: -32700 } })
  })

  it('an unknown server → 404 in JSON-RPC form with the relay\'s reason', async () => {
    const response = await fetch(`${stack.relayUrl}/mcp/nope`, { method: 'POST', headers: { authorization: `Bearer ${alice}`, 'content-type': 'application/json' }, body: '{"jsonrpc":"2.0","id":3,"method":"tools/list"}' })
    expect(response.status).toBe(404)
    expect(await jsonOf(response)).toMatchObject({ jsonrpc: '2.0', id: 3, error: { data: { reason: 'server_unknown', error: 'not_found' } } })
  })

  it('a downstream 4xx keeps its status and JSON-RPC code, never its words', async () => {
    // The sample server refuses a non-initialize request without a session: 400 with its own message.
    const response = await fetch(`${stack.relayUrl}/mcp/notes`, {
      method: 'POST',
      headers: { authorization: `Bearer ${alice}`, 'content-type': 'application/json', accept: 'application/json, text/event-stream' },
      body: '{"jsonrpc":"2.0","id":4,"method":"tools/list"}',
    })
    expect(response.status).toBe(400)
    const body = await jsonOf(response)
    expect(body).toMatchObject({ jsonrpc: '2.0', error: { code: -32000 } })
    expect(JSON.stringify(body)).not.toContain('No valid session ID')
  })
})
