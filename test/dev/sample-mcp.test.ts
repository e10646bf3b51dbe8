import { createServer, type Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest'
import { exportJWK, generateKeyPair, SignJWT, type CryptoKey, type JWTPayload } from 'jose'
import { Client } from '@modelcontextprotocol/sdk/client/index.js'
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js'
import { LATEST_PROTOCOL_VERSION, type Progress } from '@modelcontextprotocol/sdk/types.js'
import { startSampleMcpServer, type SampleMcpServer } from '../../dev/sample-mcp/index.ts'

// The Entra emulator was not available when this suite was written: a local issuer with a real
// RS256 key and a JWKS endpoint stands in for it. Every signature is real.
const TENANT_ID = '11111111-1111-1111-1111-111111111111'
const NOTES_APP_ID = '44444444-4444-4444-4444-444444444401'
const CALENDAR_APP_ID = '44444444-4444-4444-4444-444444444402'
const RELAY_CLIENT_ID = '22222222-2222-2222-2222-222222222222'
const ISSUER = `https://login.microsoftonline.com/${TENANT_ID}/v2.0`
const USERS = {
  alice: { oid: 'aaaaaaaa-0000-0000-0000-000000000001', preferred_username: 'alice@contoso.test', name: 'Alice' },
  bob: { oid: 'bbbbbbbb-0000-0000-0000-000000000002', preferred_username: 'bob@contoso.test', name: 'Bob' },
}

interface TestIssuer { jwksUri: string, privateKey: CryptoKey, close: () => Promise<void> }

async function startTestIssuer (): Promise<TestIssuer> {
  const { publicKey, privateKey } = await generateKeyPair('RS256')
  const jwks = { keys: [{ ...(await exportJWK(publicKey)), kid: 'test-key', use: 'sig', alg: 'RS256' }] }
  const server: Server = createServer((_req, res) => {
    res.writeHead(200, { 'Content-Type': 'application/json' }).end(JSON.stringify(jwks))
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const { port } = server.address() as AddressInfo
  return {
    jwksUri: `http://localhost:${port}/discovery/v2.0/keys`,
    privateKey,
    close: async () => await new Promise<void>((resolve) => server.close(() => resolve())),
  }
}

let issuer: TestIssuer
let notes: SampleMcpServer
let calendar: SampleMcpServer
const clients: Client[] = []

beforeAll(async () => {
  issuer = await startTestIssuer()
  const common = { port: 0, issuer: ISSUER, jwksUri: issuer.jwksUri, tenantId: TENANT_ID, slowToolStepMs: 20 }
  notes = await startSampleMcpServer({ ...common, name: 'notes', appClientId: NOTES_APP_ID, appIdUri: 'api://notes-mcp' })
  calendar = await startSampleMcpServer({ ...common, name: 'calendar', appClientId: CALENDAR_APP_ID, appIdUri: 'api://calendar-mcp' })
})

afterEach(async () => {
  await Promise.allSettled(clients.splice(0).map(async (client) => await client.close()))
})

afterAll(async () => {
  await notes?.close()
  await calendar?.close()
  await issuer?.close()
})

/** An OBO-shaped access token: aud = the MCP app, azp = the relay. */
async function userToken (user: keyof typeof USERS, overrides: JWTPayload = {}, key: CryptoKey = issuer.privateKey, kid = 'test-key'): Promise<string> {
  const now = Math.floor(Date.now() / 1000)
  const claims: JWTPayload = {
    iss: ISSUER,
    aud: NOTES_APP_ID,
    iat: now,
    nbf: now,
    exp: now + 3600,
    tid: TENANT_ID,
    ...USERS[user],
    azp: RELAY_CLIENT_ID,
    scp: 'user_impersonation',
    ver: '2.0',
    ...overrides,
  }
  for (const [name, value] of Object.entries(claims)) if (value === undefined) delete claims[name]
  return await new SignJWT(claims).setProtectedHeader({ alg: 'RS256', typ: 'JWT', kid }).sign(key)
}

async function connect (server: SampleMcpServer, token: string): Promise<{ client: Client, transport: StreamableHTTPClientTransport }> {
  const client = new Client({ name: 'sample-mcp-test', version: '1.0.0' })
  const transport = new StreamableHTTPClientTransport(new URL(server.url), { requestInit: { headers: { Authorization: `Bearer ${token}` } } })
  await client.connect(transport)
  clients.push(client)
  return { client, transport }
}

/** A raw JSON-RPC POST to /mcp, to see statuses and headers the SDK client hides. */
async function rawPost (server: SampleMcpServer, token: string | undefined, message: object, sessionId?: string): Promise<Response> {
  const headers: Record<string, string> = {
    'Content-Type': 'application/json',
    Accept: 'application/json, text/event-stream',
    'MCP-Protocol-Version': LATEST_PROTOCOL_VERSION,
  }
  if (token !== undefined) headers['Authorization'] = `Bearer ${token}`
  if (sessionId !== undefined) headers['Mcp-Session-Id'] = sessionId
  const response = await fetch(server.url, { method: 'POST', headers, body: JSON.stringify(message) })
  return response
}

const initializeMessage = {
  jsonrpc: '2.0',
  id: 1,
  method: 'initialize',
  params: { protocolVersion: LATEST_PROTOCOL_VERSION, capabilities: {}, clientInfo: { name: 'raw', version: '1' } },
}

function structured<T> (result: unknown): T {
  return (result as { structuredContent: T }).structuredContent
}

describe('protected resource metadata', () => {
  it('notes serves PRM by path insertion only', async () => {
    expect(notes.prmUrl).toBe(`${notes.origin}/.well-known/oauth-protected-resource/mcp`)
    const response = await fetch(notes.prmUrl)
    expect(response.status).toBe(200)
    expect(await response.json()).toEqual({
      resource: notes.url,
      authorization_servers: [ISSUER],
      scopes_supported: ['api://notes-mcp/user_impersonation'],
      bearer_methods_supported: ['header'],
      resource_name: expect.any(String),
    })
    expect((await fetch(`${notes.origin}/.well-known/oauth-protected-resource`)).status).toBe(404)
  })

  it('calendar serves PRM only at the origin root, like App Service', async () => {
    expect(calendar.prmUrl).toBe(`${calendar.origin}/.well-known/oauth-protected-resource`)
    const response = await fetch(calendar.prmUrl)
    expect(response.status).toBe(200)
    expect(await response.json()).toMatchObject({ resource: calendar.url, scopes_supported: ['api://calendar-mcp/user_impersonation'] })
    expect((await fetch(`${calendar.origin}/.well-known/oauth-protected-resource/mcp`)).status).toBe(404)
  })
})

describe('token validation', () => {
  it('answers a request without a token 401 with resource_metadata and no error code', async () => {
    const response = await rawPost(notes, undefined, initializeMessage)
    expect(response.status).toBe(401)
    expect(response.headers.get('www-authenticate')).toBe(`Bearer resource_metadata="${notes.prmUrl}"`)
  })

  const refused: Array<[string, () => Promise<string>, number, string]> = [
    ['expired', async () => await userToken('alice', { exp: Math.floor(Date.now() / 1000) - 3600, iat: Math.floor(Date.now() / 1000) - 7200, nbf: Math.floor(Date.now() / 1000) - 7200 }), 401, 'invalid_token'],
    ['not yet valid', async () => await userToken('alice', { nbf: Math.floor(Date.now() / 1000) + 3600 }), 401, 'invalid_token'],
    ['for another audience', async () => await userToken('alice', { aud: CALENDAR_APP_ID }), 401, 'invalid_token'],
    ['for the relay', async () => await userToken('alice', { aud: RELAY_CLIENT_ID }), 401, 'invalid_token'],
    ['from another issuer', async () => await userToken('alice', { iss: 'https://login.microsoftonline.com/99999999-9999-9999-9999-999999999999/v2.0' }), 401, 'invalid_token'],
    ['of another tenant', async () => await userToken('alice', { tid: '99999999-9999-9999-9999-999999999999' }), 401, 'invalid_token'],
    ['app-only (roles, no scp)', async () => await userToken('alice', { scp: undefined, roles: ['Notes.Read.All'], idtyp: 'app' }), 401, 'invalid_token'],
    ['without the required scope', async () => await userToken('alice', { scp: 'Notes.Read' }), 403, 'insufficient_scope'],
    ['with a tampered signature', async () => {
      const [header, payload, signature] = (await userToken('alice')).split('.') as [string, string, string]
      const flipped = (signature[0] === 'A' ? 'B' : 'A') + signature.slice(1)
      return `${header}.${payload}.${flipped}`
    }, 401, 'invalid_token'],
    ['with a payload edited after signing', async () => {
      const [header, , signature] = (await userToken('alice')).split('.') as [string, string, string]
      const forged = Buffer.from(JSON.stringify({ iss: ISSUER, aud: NOTES_APP_ID, exp: 9999999999, tid: TENANT_ID, oid: USERS.bob.oid, scp: 'user_impersonation' })).toString('base64url')
      return `${header}.${forged}.${signature}`
    }, 401, 'invalid_token'],
    ['signed by a key that is not the tenant\'s', async () => await userToken('alice', {}, (await generateKeyPair('RS256')).privateKey), 401, 'invalid_token'],
    ['signed with an unknown kid', async () => await userToken('alice', {}, (await generateKeyPair('RS256')).privateKey, 'other-key'), 401, 'invalid_token'],
    ['that is not a JWT', async () => 'not-a-jwt', 401, 'invalid_token'],
  ]

  it.each(refused)('refuses a token %s', async (_label, makeToken, status, error) => {
    const response = await rawPost(notes, await makeToken(), initializeMessage)
    expect(response.status).toBe(status)
    const challenge = response.headers.get('www-authenticate') ?? ''
    expect(challenge).toMatch(new RegExp(`^Bearer resource_metadata="${notes.prmUrl}", error="${error}", error_description="[^"]+"`))
    if (error === 'insufficient_scope') expect(challenge).toContain('scope="api://notes-mcp/user_impersonation"')
    expect(await response.json()).toMatchObject({ jsonrpc: '2.0', error: { data: { error } } })
  })

  it('accepts an OBO-shaped delegated token and whoami reports it', async () => {
    const { client } = await connect(notes, await userToken('alice'))
    const result = await client.callTool({ name: 'whoami', arguments: {} })
    expect(structured(result)).toEqual({
      oid: USERS.alice.oid,
      tid: TENANT_ID,
      upn: 'alice@contoso.test',
      name: 'Alice',
      scp: 'user_impersonation',
      aud: NOTES_APP_ID,
      azp: RELAY_CLIENT_ID,
      acrs: [],
    })
    expect(JSON.parse((result.content as Array<{ text: string }>)[0]?.text ?? '')).toMatchObject({ oid: USERS.alice.oid })
  })

  it('accepts the App ID URI as audience', async () => {
    const { client } = await connect(calendar, await userToken('bob', { aud: 'api://calendar-mcp' }))
    expect(structured(await client.callTool({ name: 'whoami', arguments: {} }))).toMatchObject({ upn: 'bob@contoso.test', aud: 'api://calendar-mcp' })
  })

  it('fetches the JWKS through the injected fetch, and answers 503 when the keys are unreachable', async () => {
    const jwksRequests: string[] = []
    const countingFetch: typeof fetch = async (input, init) => {
      jwksRequests.push(String(input instanceof Request ? input.url : input))
      return await fetch(input, init)
    }
    const common = { name: 'notes', port: 0, issuer: ISSUER, tenantId: TENANT_ID, appClientId: NOTES_APP_ID, appIdUri: 'api://notes-mcp' } as const
    const injected = await startSampleMcpServer({ ...common, jwksUri: issuer.jwksUri, fetch: countingFetch })
    const unreachable = await startSampleMcpServer({ ...common, jwksUri: 'http://localhost:1/keys' })
    try {
      const ok = await rawPost(injected, await userToken('alice'), initializeMessage)
      expect(ok.status).toBe(200)
      await ok.body?.cancel()
      expect(jwksRequests).toEqual([issuer.jwksUri])
      const down = await rawPost(unreachable, await userToken('alice'), initializeMessage)
      expect(down.status).toBe(503)
      expect(await down.json()).toMatchObject({ error: 'temporarily_unavailable' })
    } finally {
      await injected.close()
      await unreachable.close()
    }
  })

  it('validates every request, not just the one that opened the session', async () => {
    const { transport } = await connect(notes, await userToken('alice'))
    const expired = await userToken('alice', { exp: Math.floor(Date.now() / 1000) - 3600 })
    const response = await rawPost(notes, expired, { jsonrpc: '2.0', id: 2, method: 'tools/list' }, transport.sessionId)
    expect(response.status).toBe(401)
  })
})

describe('sessions and tools', () => {
  it('keeps notes per user', async () => {
    const alice = await connect(notes, await userToken('alice'))
    const bob = await connect(notes, await userToken('bob'))
    await alice.client.callTool({ name: 'create_note', arguments: { title: 'groceries', body: 'milk' } })
    expect(structured(await bob.client.callTool({ name: 'list_notes', arguments: {} }))).toEqual({ notes: [] })
    const aliceNotes = structured<{ notes: Array<{ title: string }> }>(await alice.client.callTool({ name: 'list_notes', arguments: {} }))
    expect(aliceNotes.notes.map((note) => note.title)).toEqual(['groceries'])
    // A later session of the same user sees the same notes.
    const aliceAgain = await connect(notes, await userToken('alice'))
    expect(structured<{ notes: unknown[] }>(await aliceAgain.client.callTool({ name: 'list_notes', arguments: {} })).notes).toHaveLength(1)
  })

  it('answers 404 when another user presents a session id', async () => {
    const { transport } = await connect(notes, await userToken('alice'))
    const listTools = { jsonrpc: '2.0', id: 2, method: 'tools/list' }
    const asBob = await rawPost(notes, await userToken('bob'), listTools, transport.sessionId)
    expect(asBob.status).toBe(404)
    expect(await asBob.json()).toMatchObject({ error: { code: -32001, message: 'Session not found' } })
    const asAlice = await rawPost(notes, await userToken('alice'), listTools, transport.sessionId)
    expect(asAlice.status).toBe(200)
    await asAlice.body?.cancel()
  })

  it('answers 404 for an unknown or terminated session', async () => {
    const token = await userToken('alice')
    expect((await rawPost(notes, token, { jsonrpc: '2.0', id: 2, method: 'tools/list' }, crypto.randomUUID())).status).toBe(404)
    const { transport } = await connect(notes, token)
    const sessionId = transport.sessionId
    await transport.terminateSession()
    expect((await rawPost(notes, token, { jsonrpc: '2.0', id: 2, method: 'tools/list' }, sessionId)).status).toBe(404)
  })

  it('echoes and adds', async () => {
    const { client } = await connect(calendar, await userToken('alice', { aud: CALENDAR_APP_ID }))
    expect((await client.callTool({ name: 'echo', arguments: { text: 'hi' } })).content).toEqual([{ type: 'text', text: 'hi' }])
    expect(structured(await client.callTool({ name: 'add', arguments: { a: 2, b: 40 } }))).toEqual({ sum: 42 })
  })

  it('slow sends progress notifications', async () => {
    const { client } = await connect(notes, await userToken('alice'))
    const progress: Progress[] = []
    const result = await client.callTool({ name: 'slow', arguments: { steps: 3 } }, undefined, { onprogress: (update) => progress.push(update) })
    expect(structured(result)).toEqual({ steps: 3 })
    expect(progress.map(({ progress, total }) => [progress, total])).toEqual([[1, 3], [2, 3], [3, 3]])
  })

  it('fail gives a tool error', async () => {
    const { client } = await connect(notes, await userToken('alice'))
    expect(await client.callTool({ name: 'fail', arguments: {} })).toMatchObject({ isError: true })
  })

  it('stepup answers 401 insufficient_claims until the token carries acrs c1', async () => {
    const { transport } = await connect(notes, await userToken('alice'))
    const callStepUp = { jsonrpc: '2.0', id: 3, method: 'tools/call', params: { name: 'stepup', arguments: {} } }
    const response = await rawPost(notes, await userToken('alice'), callStepUp, transport.sessionId)
    expect(response.status).toBe(401)
    const challenge = response.headers.get('www-authenticate') ?? ''
    expect(challenge).toContain('error="insufficient_claims"')
    expect(challenge).toContain(`resource_metadata="${notes.prmUrl}"`)
    const claims = /claims="([^"]+)"/.exec(challenge)?.[1] ?? ''
    expect(JSON.parse(Buffer.from(claims, 'base64url').toString())).toEqual({ access_token: { acrs: { essential: true, value: 'c1' } } })

    const { client } = await connect(notes, await userToken('alice', { acrs: ['c1'] }))
    expect(structured(await client.callTool({ name: 'stepup', arguments: {} }))).toEqual({ acrs: ['c1'] })
  })

  it('the SDK client sees the step-up refusal as an error', async () => {
    const { client } = await connect(notes, await userToken('alice'))
    await expect(client.callTool({ name: 'stepup', arguments: {} })).rejects.toMatchObject({ code: 401, message: expect.stringContaining('insufficient_claims') })
  })
})

describe('tools/list pagination', () => {
  it('pages with nextCursor when toolsPageSize is set', async () => {
    const paged = await startSampleMcpServer({
      name: 'notes', port: 0, issuer: ISSUER, jwksUri: issuer.jwksUri, tenantId: TENANT_ID, appClientId: NOTES_APP_ID, appIdUri: 'api://notes-mcp', toolsPageSize: 3,
    })
    try {
      const { client } = await connect(paged, await userToken('alice'))
      const names: string[] = []
      let cursor: string | undefined
      let pages = 0
      do {
        const page = await client.listTools(cursor === undefined ? {} : { cursor })
        expect(page.tools.length).toBeLessThanOrEqual(3)
        names.push(...page.tools.map((tool) => tool.name))
        cursor = page.nextCursor
        pages++
      } while (cursor !== undefined)
      expect(pages).toBeGreaterThan(1)
      expect(names.sort()).toEqual(['add', 'create_note', 'echo', 'fail', 'list_notes', 'slow', 'stepped', 'stepup', 'whoami'])
      await expect(client.listTools({ cursor: 'bogus' })).rejects.toThrow(/invalid cursor/)
      await client.close()
    } finally {
      await paged.close()
    }
  })

  it('returns every tool in one page by default', async () => {
    const { client } = await connect(calendar, await userToken('alice', { aud: CALENDAR_APP_ID }))
    const page = await client.listTools()
    expect(page.nextCursor).toBeUndefined()
    expect(page.tools.map((tool) => tool.name).sort()).toEqual(['add', 'echo', 'fail', 'list_events', 'slow', 'stepped', 'stepup', 'whoami'])
  })
})
