// Mode B on the MCP gateway: the SDK client with a relay-issued DPoP-bound token (a custom fetch signs each request,
// RFC 9449) through /mcp and /mcp/notes; a token is good for its own resource only, never as Bearer when bound;
// `tools:read` lists but does not call; a revoked grant's open session is refused on its next request.
import { createHash } from 'node:crypto'
import { Client } from '@modelcontextprotocol/sdk/client/index.js'
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js'
import * as oauth from 'oauth4webapi'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { dpopBoundTokens, dpopFetch, insecure, type IssuedTokens } from '../helpers/oauth.ts'
import { jsonOf, structured } from '../helpers/mcp-clients.ts'
import { startTestStack, type TestStack } from '../helpers/stack.ts'

let stack: TestStack
beforeAll(async () => { stack = await startTestStack() })
afterAll(async () => { await stack?.close() })

const oidOf = (username: string) => stack.emulator.users.find((u) => u.username === username)!.oid

async function connect (path: string, issued: IssuedTokens): Promise<{ client: Client, transport: StreamableHTTPClientTransport, close: () => Promise<void> }> {
  const client = new Client({ name: 'dpop-agent', version: '1.0.0' })
  const transport = new StreamableHTTPClientTransport(new URL(`${stack.relayUrl}${path}`), { fetch: dpopFetch(stack, issued.dpop, issued.tokens.access_token) })
  await client.connect(transport)
  return { client, transport, close: async () => { await client.close() } }
}

const tokensFor = async (resource: string, options: { username?: string, scope?: string } = {}) =>
  await dpopBoundTokens(stack, { resource: `${stack.relayUrl}${resource}`, ...(options.username === undefined ? {} : { username: options.username }), ...(options.scope === undefined ? {} : { scope: options.scope }) })

const rawPost = async (path: string, issued: IssuedTokens, body: unknown, headers: Record<string, string> = {}) => {
  const fetchSigned = dpopFetch(stack, issued.dpop, issued.tokens.access_token)
  return await fetchSigned(`${stack.relayUrl}${path}`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', accept: 'application/json, text/event-stream', 'mcp-protocol-version': '2025-11-25', ...headers },
    body: JSON.stringify(body),
  })
}

describe('the SDK client with a DPoP-bound relay token', () => {
  it('lists and calls through /mcp and through /mcp/notes as the user the token is for; alice and bob stay apart', async () => {
    const aliceAll = await tokensFor('/mcp')
    const all = await connect('/mcp', aliceAll)
    try {
      const names = (await all.client.listTools()).tools.map((t) => t.name)
      expect(names).toEqual(expect.arrayContaining(['notes__whoami', 'calendar__whoami']))
      expect(structured(await all.client.callTool({ name: 'notes__whoami', arguments: {} }))).toMatchObject({ oid: oidOf('alice@contoso.test') })
    } finally {
      await all.close()
    }

    const aliceNotes = await tokensFor('/mcp/notes')
    const bobNotes = await tokensFor('/mcp/notes', { username: 'bob@contoso.test' })
    const alice = await connect('/mcp/notes', aliceNotes)
    const bob = await connect('/mcp/notes', bobNotes)
    try {
      expect(structured(await alice.client.callTool({ name: 'whoami', arguments: {} }))).toMatchObject({ oid: oidOf('alice@contoso.test') })
      expect(structured(await bob.client.callTool({ name: 'whoami', arguments: {} }))).toMatchObject({ oid: oidOf('bob@contoso.test') })
      // bob's token on alice's session: the session is not his (the sample server itself would serve it to anyone).
      const stolen = await rawPost('/mcp/notes', bobNotes, { jsonrpc: '2.0', id: 9, method: 'tools/list', params: {} }, { 'mcp-session-id': alice.transport.sessionId! })
      expect(stolen.status).toBe(404)
      expect(await jsonOf(stolen)).toMatchObject({ jsonrpc: '2.0', error: { code: -32001 } })
    } finally {
      await alice.close()
      await bob.close()
    }
  })

  it('a token for /mcp is refused at /mcp/notes, and a DPoP-bound token sent as Bearer is refused', async () => {
    const issued = await tokensFor('/mcp')
    const elsewhere = await rawPost('/mcp/notes', issued, { jsonrpc: '2.0', id: 1, method: 'ping' })
    expect(elsewhere.status).toBe(401)
    // Refused before any MCP handling: the HTTP 401 of the MCP authorization spec, in the relay's OAuth shape.
    expect(await jsonOf(elsewhere)).toMatchObject({ error: 'invalid_token', reason: 'token_audience_mismatch' })
    expect(elsewhere.headers.get('www-authenticate')).toContain(`resource_metadata="${stack.relayUrl}/.well-known/oauth-protected-resource/mcp/notes"`)

    const asBearer = await stack.fetch(`${stack.relayUrl}/mcp`, {
      method: 'POST',
      headers: { authorization: `Bearer ${issued.tokens.access_token}`, 'content-type': 'application/json', accept: 'application/json, text/event-stream' },
      body: JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'ping' }),
    })
    expect(asBearer.status).toBe(401)
    expect(await jsonOf(asBearer)).toMatchObject({ error: 'invalid_token', reason: 'dpop_bound_token_as_bearer' })
    // The Bearer challenge it was sent under, then the DPoP one naming what to send instead (RFC 9449 §7.1).
    expect(asBearer.headers.get('www-authenticate')).toMatch(/^Bearer resource_metadata=.*error="invalid_token".*, DPoP resource_metadata=.*algs="[^"]+"$/)
  })
})

describe('scopes on the MCP endpoints', () => {
  it.each([['/mcp', 'notes__whoami'], ['/mcp/notes', 'whoami']])('tools:read lists on %s; tools/call needs tools:call (403 insufficient_scope)', async (path, tool) => {
    const issued = await tokensFor(path, { scope: 'tools:read' })
    const { client, transport, close } = await connect(path, issued)
    try {
      expect((await client.listTools()).tools.map((t) => t.name)).toContain(tool)
      const call = await rawPost(path, issued, { jsonrpc: '2.0', id: 5, method: 'tools/call', params: { name: tool, arguments: {} } }, { 'mcp-session-id': transport.sessionId! })
      expect(call.status).toBe(403)
      expect(call.headers.get('www-authenticate')).toContain('error="insufficient_scope"')
      expect(call.headers.get('www-authenticate')).toContain('scope="tools:call"')
      expect(await jsonOf(call)).toMatchObject({ jsonrpc: '2.0', id: 5, error: { data: { reason: 'scope_missing' } } })
      // A batch hiding a call among reads, and a body that is not JSON, count as calls.
      const batch = await rawPost(path, issued, [{ jsonrpc: '2.0', id: 6, method: 'tools/list' }, { jsonrpc: '2.0', id: 7, method: 'tools/call', params: { name: tool, arguments: {} } }], { 'mcp-session-id': transport.sessionId! })
      expect(batch.status).toBe(403)
      await batch.body?.cancel()
    } finally {
      await close()
    }
  })

  it('a body that is not JSON counts as a call for a tools:read token on the pass-through', async () => {
    const issued = await tokensFor('/mcp/notes', { scope: 'tools:read' })
    const fetchSigned = dpopFetch(stack, issued.dpop, issued.tokens.access_token)
    const response = await fetchSigned(`${stack.relayUrl}/mcp/notes`, { method: 'POST', headers: { 'content-type': 'application/json', accept: 'application/json, text/event-stream' }, body: '{"jsonrpc":"2.0","method":"tools/call"' })
    expect(response.status).toBe(403)
    await response.body?.cancel()
  })
})

describe('revocation', () => {
  it('a revoked grant\'s open MCP session is refused on its next request', async () => {
    const issued = await tokensFor('/mcp')
    const { client, transport, close } = await connect('/mcp', issued)
    try {
      expect(structured(await client.callTool({ name: 'notes__whoami', arguments: {} }))).toMatchObject({ oid: oidOf('alice@contoso.test') })
      const { raw } = issued
      await oauth.processRevocationResponse(await oauth.revocationRequest(raw.as, raw.client, raw.auth, issued.tokens.refresh_token!, { ...insecure, additionalParameters: { token_type_hint: 'refresh_token' } }))
      const next = await rawPost('/mcp', issued, { jsonrpc: '2.0', id: 3, method: 'tools/call', params: { name: 'notes__whoami', arguments: {} } }, { 'mcp-session-id': transport.sessionId! })
      expect(next.status).toBe(401)
      const body = await jsonOf(next)
      expect(body).toMatchObject({ error: 'invalid_token' })
      expect(['token_invalid', 'grant_revoked']).toContain(body.reason)
      // Nothing of the token in what came back.
      expect(JSON.stringify(body)).not.toContain(issued.tokens.access_token)
      expect(JSON.stringify(body)).not.toContain(createHash('sha256').update(issued.tokens.access_token).digest('base64url'))
    } finally {
      await close().catch(() => {})
    }
  })
})
