// The aggregated /mcp in both eras, and the bridges: a 2026-07-28 client reaching the legacy sample servers, a
// legacy (SDK) client reaching a modern-only server, the REST engine reaching it too, and the modern fixture
// behind the pass-through.
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { startTestStack, type TestStack } from '../helpers/stack.ts'
import { connectSdk, jsonOf, messagesOf, modernPost, registerMcpApp, startModernFixture, structured, type ModernFixture } from '../helpers/mcp-clients.ts'

const MODERN_APP_ID = '55555555-5555-4555-8555-555555555501'
const MODERN_APP_URI = 'api://modern-mcp'

let stack: TestStack
let modern: ModernFixture
let alice: string
let bob: string

beforeAll(async () => {
  modern = await startModernFixture()
  stack = await startTestStack({ extraServers: [{ id: 'modern', url: modern.server.url, scopes: [`${MODERN_APP_URI}/user_impersonation`] }] })
  registerMcpApp(stack, MODERN_APP_ID, MODERN_APP_URI)
  modern.trust(stack, MODERN_APP_ID, MODERN_APP_URI)
  alice = await stack.userToken('alice@contoso.test')
  bob = await stack.userToken('bob@contoso.test')
})
afterAll(async () => {
  await stack?.close()
  await modern?.server.close()
})

const aliceUser = () => stack.emulator.users.find((u) => u.username === 'alice@contoso.test')!
const url = () => `${stack.relayUrl}/mcp`

describe('aggregated /mcp, legacy client (SDK)', () => {
  it('lists every server\'s tools as <server>__<tool> and calls each as the user, modern server included', async () => {
    const { client, close } = await connectSdk(url(), alice)
    try {
      expect(client.getServerVersion()?.name).toBe('obo-relay')
      const names = (await client.listTools()).tools.map((t) => t.name)
      expect(names).toEqual(expect.arrayContaining(['notes__whoami', 'notes__create_note', 'calendar__whoami', 'calendar__list_events', 'modern__whoami', 'modern__echo']))
      for (const server of ['notes', 'calendar', 'modern']) {
        expect(structured(await client.callTool({ name: `${server}__whoami`, arguments: {} }))).toMatchObject({ oid: aliceUser().oid })
      }
      // A legacy client reaches the modern server's tool whose argument travels in an Mcp-Param header.
      const echoed = await client.callTool({ name: 'modern__echo', arguments: { text: 'hi', region: 'eu-west' } })
      expect(echoed.content).toEqual([{ type: 'text', text: 'hi' }])
    } finally {
      await close()
    }
  })

  it('keeps users apart, and another user presenting the session id gets 404', async () => {
    const a = await connectSdk(url(), alice)
    const b = await connectSdk(url(), bob)
    try {
      await a.client.callTool({ name: 'notes__create_note', arguments: { title: 'alice-aggregate-secret', body: 'x' } })
      expect(JSON.stringify(await b.client.callTool({ name: 'notes__list_notes', arguments: {} }))).not.toContain('alice-aggregate-secret')
      const stolen = await fetch(url(), {
        method: 'POST',
        headers: { authorization: `Bearer ${bob}`, 'content-type': 'application/json', accept: 'application/json, text/event-stream', 'mcp-session-id': a.transport.sessionId as string, 'mcp-protocol-version': '2025-11-25' },
        body: '{"jsonrpc":"2.0","id":5,"method":"tools/list"}',
      })
      expect(stolen.status).toBe(404)
    } finally {
      await a.close()
      await b.close()
    }
  })

  it('an unknown tool is a JSON-RPC error, a tool\'s own error is isError', async () => {
    const { client, close } = await connectSdk(url(), alice)
    try {
      await expect(client.callTool({ name: 'notes__nope', arguments: {} })).rejects.toThrow(/Unknown tool/)
      await expect(client.callTool({ name: 'nope__whoami', arguments: {} })).rejects.toThrow(/Unknown tool/)
      expect((await client.callTool({ name: 'calendar__fail', arguments: {} })).isError).toBe(true)
    } finally {
      await close()
    }
  })
})

describe('aggregated /mcp, modern client (requests written by hand from 2026-07-28)', () => {
  it('server/discover names the versions and capabilities', async () => {
    const response = await modernPost(url(), alice, 'server/discover')
    expect(response.status).toBe(200)
    const [answer] = await messagesOf(response)
    expect(answer).toMatchObject({ id: 1, result: { resultType: 'complete', supportedVersions: ['2026-07-28'], capabilities: { tools: {} }, ttlMs: expect.any(Number), cacheScope: expect.any(String), _meta: { 'io.modelcontextprotocol/serverInfo': { name: 'obo-relay' } } } })
    expect(response.headers.get('mcp-session-id')).toBeNull()
  })

  it('tools/list is per user: ttlMs and cacheScope private, legacy servers included', async () => {
    const [answer] = await messagesOf(await modernPost(url(), alice, 'tools/list'))
    expect(answer!.result).toMatchObject({ resultType: 'complete', ttlMs: expect.any(Number), cacheScope: 'private' })
    expect(answer!.result.tools.map((t: { name: string }) => t.name)).toEqual(expect.arrayContaining(['notes__whoami', 'calendar__whoami', 'modern__whoami']))
  })

  it('tools/call reaches the legacy sample servers as the user (the bridge the spec\'s matrix says fails)', async () => {
    for (const server of ['notes', 'calendar']) {
      const response = await modernPost(url(), alice, 'tools/call', { name: `${server}__whoami`, arguments: {} })
      expect(response.status).toBe(200)
      const [answer] = await messagesOf(response)
      expect(answer!.result.resultType).toBe('complete')
      expect(structured(answer!.result)).toMatchObject({ oid: aliceUser().oid, upn: 'alice@contoso.test' })
    }
  })

  it('progress comes on the request\'s own SSE answer', async () => {
    const response = await modernPost(url(), alice, 'tools/call', { name: 'notes__slow', arguments: { steps: 2, stepMs: 0 } }, { progressToken: 'tok' })
    expect(response.headers.get('content-type')).toMatch(/text\/event-stream/)
    const messages = await messagesOf(response)
    expect(messages.filter((m) => m.method === 'notifications/progress').map((m) => m.params.progress)).toEqual([1, 2])
    expect(messages.at(-1)).toMatchObject({ id: 1, result: { resultType: 'complete' } })
  })

  it('a mismatched Mcp-Name → 400 HeaderMismatch (-32020); a missing Mcp-Method → -32020', async () => {
    const mismatch = await modernPost(url(), alice, 'tools/call', { name: 'notes__whoami', arguments: {} }, { headers: { 'mcp-name': 'calendar__whoami' } })
    expect(mismatch.status).toBe(400)
    expect((await jsonOf(mismatch)).error.code).toBe(-32020)
    const noMethod = await fetch(url(), {
      method: 'POST',
      headers: { authorization: `Bearer ${alice}`, 'content-type': 'application/json', accept: 'application/json, text/event-stream', 'mcp-protocol-version': '2026-07-28' },
      body: JSON.stringify({ jsonrpc: '2.0', id: 2, method: 'tools/list', params: { _meta: { 'io.modelcontextprotocol/protocolVersion': '2026-07-28', 'io.modelcontextprotocol/clientCapabilities': {} } } }),
    })
    expect(noMethod.status).toBe(400)
    expect((await jsonOf(noMethod)).error.code).toBe(-32020)
  })

  it('checks Mcp-Param-* against the arguments of a tool whose schema mirrors them (x-mcp-header)', async () => {
    const missing = await modernPost(url(), alice, 'tools/call', { name: 'modern__echo', arguments: { text: 'x', region: 'eu' } })
    expect(missing.status).toBe(400)
    expect((await jsonOf(missing)).error.code).toBe(-32020)
    const given = await modernPost(url(), alice, 'tools/call', { name: 'modern__echo', arguments: { text: 'x', region: 'eu' } }, { headers: { 'mcp-param-region': 'eu' } })
    expect(given.status).toBe(200)
    expect((await messagesOf(given))[0]!.result.content).toEqual([{ type: 'text', text: 'x' }])
    const unknown = await modernPost(url(), alice, 'tools/call', { name: 'nope__x', arguments: {} })
    expect(unknown.status).toBe(400)
    expect((await jsonOf(unknown)).error.code).toBe(-32602)
  })

  it('an unsupported version → 400 UnsupportedProtocolVersion (-32022) listing the supported ones', async () => {
    const response = await fetch(url(), {
      method: 'POST',
      headers: { authorization: `Bearer ${alice}`, 'content-type': 'application/json', accept: 'application/json, text/event-stream', 'mcp-protocol-version': '2099-01-01', 'mcp-method': 'tools/list' },
      body: JSON.stringify({ jsonrpc: '2.0', id: 3, method: 'tools/list', params: { _meta: { 'io.modelcontextprotocol/protocolVersion': '2099-01-01', 'io.modelcontextprotocol/clientCapabilities': {} } } }),
    })
    expect(response.status).toBe(400)
    expect(await jsonOf(response)).toMatchObject({ id: 3, error: { code: -32022, data: { supported: ['2026-07-28'], requested: '2099-01-01' } } })
  })

  it('a removed method (ping) → 404 -32601; a missing _meta field → 400 -32602', async () => {
    const ping = await modernPost(url(), alice, 'ping')
    expect(ping.status).toBe(404)
    expect((await jsonOf(ping)).error.code).toBe(-32601)
    const noCaps = await fetch(url(), {
      method: 'POST',
      headers: { authorization: `Bearer ${alice}`, 'content-type': 'application/json', accept: 'application/json, text/event-stream', 'mcp-protocol-version': '2026-07-28', 'mcp-method': 'tools/list' },
      body: JSON.stringify({ jsonrpc: '2.0', id: 4, method: 'tools/list', params: { _meta: { 'io.modelcontextprotocol/protocolVersion': '2026-07-28' } } }),
    })
    expect(noCaps.status).toBe(400)
    expect((await jsonOf(noCaps)).error.code).toBe(-32602)
  })

  it('subscriptions/listen is acknowledged on a stream that stays open', async () => {
    const controller = new AbortController()
    const response = await modernPost(url(), alice, 'subscriptions/listen', { notifications: { toolsListChanged: true, promptsListChanged: true } }, { id: 'sub-1', headers: {} })
    const reader = response.body!.getReader()
    let text = ''
    while (!text.includes('\n\n')) text += new TextDecoder().decode((await reader.read()).value)
    const data = JSON.parse(text.split('\n').find((line) => line.startsWith('data: '))!.slice(6))
    expect(data).toMatchObject({ method: 'notifications/subscriptions/acknowledged', params: { notifications: { toolsListChanged: true }, _meta: { 'io.modelcontextprotocol/subscriptionId': 'sub-1' } } })
    expect(data.params.notifications.promptsListChanged).toBeUndefined()
    await reader.cancel()
    controller.abort()
  })
})

describe('the modern fixture behind /mcp/:server and the REST engine', () => {
  it('a modern client passes through /mcp/modern: headers checked, Mcp-Param-* forwarded untouched', async () => {
    const discover = await modernPost(`${stack.relayUrl}/mcp/modern`, alice, 'server/discover')
    expect(discover.status).toBe(200)
    expect((await jsonOf(discover)).result.supportedVersions).toEqual(['2026-07-28'])
    const echo = await modernPost(`${stack.relayUrl}/mcp/modern`, alice, 'tools/call', { name: 'echo', arguments: { text: 'x', region: 'us-west1' } }, { headers: { 'mcp-param-region': 'us-west1' } })
    expect(echo.status).toBe(200)
    expect((await jsonOf(echo)).result.content).toEqual([{ type: 'text', text: 'x' }])
    // The fixture itself refuses a missing Mcp-Param-Region: the relay forwarded what it was given, nothing more.
    const missing = await modernPost(`${stack.relayUrl}/mcp/modern`, alice, 'tools/call', { name: 'echo', arguments: { text: 'x', region: 'us-west1' } })
    expect(missing.status).toBe(400)
    expect((await jsonOf(missing)).error.code).toBe(-32020)
    const whoami = await modernPost(`${stack.relayUrl}/mcp/modern`, alice, 'tools/call', { name: 'whoami', arguments: {} })
    expect(structured((await jsonOf(whoami)).result)).toMatchObject({ oid: aliceUser().oid })
  })

  it('the relay checks Mcp-Name against the body before the request leaves', async () => {
    const before = modern.server.methodCount('tools/call')
    const response = await modernPost(`${stack.relayUrl}/mcp/modern`, alice, 'tools/call', { name: 'whoami', arguments: {} }, { headers: { 'mcp-name': 'echo' } })
    expect(response.status).toBe(400)
    expect((await jsonOf(response)).error.code).toBe(-32020)
    expect(modern.server.methodCount('tools/call')).toBe(before)
  })

  it('a GET at the modern-only server answers 405 through the relay (its own word on legacy streams)', async () => {
    const response = await fetch(`${stack.relayUrl}/mcp/modern`, { headers: { authorization: `Bearer ${alice}`, accept: 'text/event-stream' } })
    expect(response.status).toBe(405)
  })

  it('the REST API reaches the modern-only server', async () => {
    const tools = await stack.call('/v1/servers/modern/tools', { token: alice })
    expect(tools.status).toBe(200)
    expect(tools.body.tools.map((t: { name: string }) => t.name)).toEqual(expect.arrayContaining(['whoami', 'echo', 'slow']))
    const call = await stack.call('/v1/servers/modern/tools/whoami', { method: 'POST', token: bob, body: '{"arguments":{}}' })
    expect(call.status).toBe(200)
    expect(call.body.structuredContent).toMatchObject({ oid: stack.emulator.users.find((u) => u.username === 'bob@contoso.test')!.oid })
  })
})
