// What /mcp/<server> sends upstream, as the MCP server received it: never the caller's cookies (not even the
// relay's own session cookie when that is the credential), and the resumption header of a GET untouched.
import { afterAll, beforeAll, expect, it } from 'vitest'
import { HOSTILE_APIS, startHostileStack, type HostileStack } from '../helpers/hostile.ts'
import { signedInBrowser } from '../helpers/sign-in.ts'

let h: HostileStack
beforeAll(async () => { h = await startHostileStack(['bounded'], { pins: { bounded: HOSTILE_APIS.bounded.appIdUri } }) })
afterAll(async () => { await h?.close() })

const endpoint = () => `${h.stack.relayUrl}/mcp/hostile-bounded`
const initialize = JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'initialize', params: { protocolVersion: '2025-06-18', capabilities: {}, clientInfo: { name: 't', version: '1' } } })
const mcpHeaders = { 'content-type': 'application/json', accept: 'application/json, text/event-stream' }

/** The requests that reached the MCP endpoint (not its PRM) since `from`. */
const upstreamSince = (from: number) => h.hostile.requestHeaders.slice(from).filter((r) => r.path === '/bounded/mcp')

// Proves a Cookie sent with a bearer call stays at the relay: the server's request has no Cookie and none of its values.
it('a caller\'s Cookie header never reaches the MCP server; the server gets the OBO token, not the caller\'s', async () => {
  const token = await h.stack.userToken('alice@contoso.test')
  const cookie = '__Host-obo_session=caller-cookie-secret-1; tracking=caller-cookie-secret-2'
  const from = h.hostile.requestHeaders.length
  const response = await fetch(endpoint(), { method: 'POST', headers: { ...mcpHeaders, authorization: `Bearer ${token}`, cookie }, body: initialize })
  expect(response.status).toBe(200)
  await response.arrayBuffer()
  const seen = upstreamSince(from)
  expect(seen).toHaveLength(1)
  expect(seen[0]?.headers.cookie).toBeUndefined()
  expect(JSON.stringify(seen[0]?.headers)).not.toContain('caller-cookie-secret')
  expect(seen[0]?.headers.authorization).toMatch(/^Bearer \S+$/)
  expect(seen[0]?.headers.authorization).not.toBe(`Bearer ${token}`)
})

// Proves that when the relay's session cookie is the credential, it is still never forwarded upstream.
it('a browser session\'s own cookie (the credential) never reaches the MCP server', async () => {
  const browser = await signedInBrowser(h.stack, 'alice@contoso.test')
  const cookie = browser.cookieHeader(h.stack.relayUrl)
  expect(cookie).not.toBe('')
  const from = h.hostile.requestHeaders.length
  const response = await fetch(endpoint(), { method: 'POST', headers: { ...mcpHeaders, cookie, origin: new URL(h.stack.relayUrl).origin }, body: initialize })
  expect(response.status).toBe(200)
  await response.arrayBuffer()
  const seen = upstreamSince(from)
  expect(seen).toHaveLength(1)
  expect(seen[0]?.headers.cookie).toBeUndefined()
  for (const pair of cookie.split('; ')) expect(JSON.stringify(seen[0]?.headers)).not.toContain(pair.slice(pair.indexOf('=') + 1))
  expect(seen[0]?.headers.authorization).toMatch(/^Bearer \S+$/)
})

// Proves a GET's Last-Event-ID (SSE resumption) reaches the server byte for byte, with the session it resumes.
it('Last-Event-ID on a GET reaches the MCP server unchanged', async () => {
  const token = await h.stack.userToken('alice@contoso.test')
  const opened = await fetch(endpoint(), { method: 'POST', headers: { ...mcpHeaders, authorization: `Bearer ${token}` }, body: initialize })
  const session = opened.headers.get('mcp-session-id')
  expect(session).toBe('hostile-bounded')
  await opened.arrayBuffer()
  const lastEventId = 'Stream-7:Event 0042/AbC=='
  const from = h.hostile.requestHeaders.length
  const resumed = await fetch(endpoint(), {
    method: 'GET',
    headers: { authorization: `Bearer ${token}`, accept: 'text/event-stream', 'mcp-session-id': session!, 'mcp-protocol-version': '2025-06-18', 'last-event-id': lastEventId },
  })
  // The fixture offers no GET stream (405): the relay passes the status on.
  expect(resumed.status).toBe(405)
  await resumed.arrayBuffer()
  const seen = upstreamSince(from)
  expect(seen.map((r) => r.method)).toEqual(['GET'])
  expect(seen[0]?.headers['last-event-id']).toBe(lastEventId)
  expect(seen[0]?.headers['mcp-session-id']).toBe(session)
})
