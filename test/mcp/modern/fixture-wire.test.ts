// Hand-written HTTP requests, exactly as the spec shows them, against the modern-only fixture server.
import { request as httpRequest } from 'node:http'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { startModernMcpServer, type ModernMcpServer } from '../../fixtures/modern-mcp-server.ts'
import { createTestTokens, metaOf, rawPost, type TestTokens } from './helpers.ts'

let tokens: TestTokens
let server: ModernMcpServer
let alice: string

beforeAll(async () => {
  tokens = await createTestTokens()
  server = await startModernMcpServer({ validateToken: tokens.validateToken, pageSize: 2, ttlMs: 30_000, stepMs: 1 })
  alice = await tokens.tokenFor('alice')
})

afterAll(async () => {
  await server?.close()
})

function headers (method: string, extra: Record<string, string> = {}): Record<string, string> {
  return {
    'Content-Type': 'application/json',
    Accept: 'application/json, text/event-stream',
    Authorization: `Bearer ${alice}`,
    'MCP-Protocol-Version': '2026-07-28',
    'Mcp-Method': method,
    ...extra,
  }
}

const discover = { jsonrpc: '2.0', id: 'discover-1', method: 'server/discover', params: { _meta: metaOf() } }

function errorOf (json: unknown): { code?: number, data?: unknown } {
  return (json as { error?: { code?: number, data?: unknown } }).error ?? {}
}

/** A POST through node:http, which sends header bytes fetch would refuse (latin-1 values). */
async function latin1Post (url: string, headerLines: Record<string, string>, body: unknown): Promise<{ status: number, json: unknown }> {
  const payload = JSON.stringify(body)
  return await new Promise((resolve, reject) => {
    const req = httpRequest(url, { method: 'POST', headers: { ...headerLines, 'Content-Length': Buffer.byteLength(payload) } }, (res) => {
      const chunks: Buffer[] = []
      res.on('data', (chunk: Buffer) => chunks.push(chunk))
      res.on('end', () => resolve({ status: res.statusCode ?? 0, json: JSON.parse(Buffer.concat(chunks).toString()) }))
    })
    req.on('error', reject)
    req.end(payload)
  })
}

describe('modern fixture on the wire', () => {
  it('answers server/discover with versions, capabilities, serverInfo and caching hints (server/discover.mdx)', async () => {
    const answer = await rawPost(server.url, headers('server/discover'), discover)
    expect(answer.status).toBe(200)
    expect(answer.headers.get('content-type')).toBe('application/json')
    expect(answer.json).toEqual({
      jsonrpc: '2.0',
      id: 'discover-1',
      result: {
        resultType: 'complete',
        supportedVersions: ['2026-07-28'],
        capabilities: { tools: { listChanged: true } },
        instructions: 'A test server.',
        ttlMs: 30_000,
        cacheScope: 'public',
        _meta: { 'io.modelcontextprotocol/serverInfo': { name: 'modern-fixture', version: '1.0.0' } },
      },
    })
  })

  it('401 with a resource_metadata challenge without a token, and with error="invalid_token" for a foreign signature', async () => {
    const { Authorization: _dropped, ...anonymous } = headers('server/discover')
    const missing = await rawPost(server.url, anonymous, discover)
    expect(missing.status).toBe(401)
    expect(missing.headers.get('www-authenticate')).toBe(`Bearer resource_metadata="${server.resourceMetadataUrl}"`)
    const forged = await rawPost(server.url, { ...anonymous, Authorization: `Bearer ${await tokens.foreignToken()}` }, discover)
    expect(forged.status).toBe(401)
    expect(forged.headers.get('www-authenticate')).toContain('error="invalid_token"')
  })

  it('403 insufficient_scope for a token without the scope', async () => {
    const answer = await rawPost(server.url, headers('server/discover', { Authorization: `Bearer ${await tokens.tokenFor('alice', { scp: 'other' })}` }), discover)
    expect(answer.status).toBe(403)
    expect(answer.headers.get('www-authenticate')).toContain('error="insufficient_scope"')
  })

  it('rejects a legacy initialize, as the SDK sends it, with 400 -32020 naming the supported versions', async () => {
    const initialize = { jsonrpc: '2.0', id: 0, method: 'initialize', params: { protocolVersion: '2025-11-25', capabilities: {}, clientInfo: { name: 'legacy', version: '1' } } }
    const answer = await rawPost(server.url, { 'Content-Type': 'application/json', Accept: 'application/json, text/event-stream', Authorization: `Bearer ${alice}` }, initialize)
    expect(answer.status).toBe(400)
    expect(answer.json).toMatchObject({ id: 0, error: { code: -32020, data: { supported: ['2026-07-28'] } } })
    expect(answer.headers.get('mcp-session-id')).toBeNull()
  })

  it('answers a modern-shaped initialize, ping or unknown method with 404 -32601 (removed methods)', async () => {
    for (const method of ['initialize', 'ping', 'logging/setLevel', 'unknown/method']) {
      const answer = await rawPost(server.url, headers(method), { jsonrpc: '2.0', id: 9, method, params: { _meta: metaOf() } })
      expect(answer.status, method).toBe(404)
      expect(errorOf(answer.json).code, method).toBe(-32601)
    }
  })

  it('400 -32602 for a request without _meta; 400 -32020 when header and _meta versions differ', async () => {
    const noMeta = await rawPost(server.url, headers('tools/list'), { jsonrpc: '2.0', id: 1, method: 'tools/list', params: {} })
    expect([noMeta.status, errorOf(noMeta.json).code]).toEqual([400, -32602])
    const mismatch = await rawPost(server.url, headers('tools/list', { 'MCP-Protocol-Version': '2025-11-25' }), { jsonrpc: '2.0', id: 1, method: 'tools/list', params: { _meta: metaOf() } })
    expect([mismatch.status, errorOf(mismatch.json).code]).toEqual([400, -32020])
  })

  it('400 -32022 listing the supported versions and echoing the requested one', async () => {
    const answer = await rawPost(server.url, headers('server/discover', { 'MCP-Protocol-Version': '1900-01-01' }), { ...discover, params: { _meta: metaOf('1900-01-01') } })
    expect(answer.status).toBe(400)
    expect(answer.json).toEqual({ jsonrpc: '2.0', id: 'discover-1', error: { code: -32022, message: 'Unsupported protocol version', data: { supported: ['2026-07-28'], requested: '1900-01-01' } } })
  })

  it('400 -32020 for a wrong Mcp-Method or Mcp-Name; header names are case-insensitive, Base64 Mcp-Name decoded', async () => {
    const echo = { jsonrpc: '2.0', id: 3, method: 'tools/call', params: { name: 'echo', arguments: { text: 'hi' }, _meta: metaOf() } }
    const wrongMethod = await rawPost(server.url, headers('tools/list', { 'Mcp-Name': 'echo' }), echo)
    expect([wrongMethod.status, errorOf(wrongMethod.json).code]).toEqual([400, -32020])
    const noName = await rawPost(server.url, headers('tools/call'), echo)
    expect([noName.status, errorOf(noName.json).code]).toEqual([400, -32020])
    const wrongName = await rawPost(server.url, headers('tools/call', { 'Mcp-Name': 'whoami' }), echo)
    expect([wrongName.status, errorOf(wrongName.json).code]).toEqual([400, -32020])
    const { 'Mcp-Method': _method, ...rest } = headers('tools/call')
    const encoded = await latin1Post(server.url, { ...rest, 'mCP-mETHOD': 'tools/call', 'MCP-NAME': '=?base64?ZWNobw==?=' }, echo)
    expect(encoded.status).toBe(200)
    expect(encoded.json).toMatchObject({ id: 3, result: { resultType: 'complete', content: [{ type: 'text', text: 'hi' }] } })
  })

  it('checks Mcp-Param-Region against the echo tool argument it mirrors', async () => {
    const echo = (region: string): unknown => ({ jsonrpc: '2.0', id: 4, method: 'tools/call', params: { name: 'echo', arguments: { text: 'x', region }, _meta: metaOf() } })
    const missing = await rawPost(server.url, headers('tools/call', { 'Mcp-Name': 'echo' }), echo('us-west1'))
    expect([missing.status, errorOf(missing.json).code]).toEqual([400, -32020])
    const wrong = await rawPost(server.url, headers('tools/call', { 'Mcp-Name': 'echo', 'Mcp-Param-Region': 'eu-west1' }), echo('us-west1'))
    expect([wrong.status, errorOf(wrong.json).code]).toEqual([400, -32020])
    const right = await rawPost(server.url, headers('tools/call', { 'Mcp-Name': 'echo', 'Mcp-Param-Region': 'us-west1' }), echo('us-west1'))
    expect(right.status).toBe(200)
    const encoded = await rawPost(server.url, headers('tools/call', { 'Mcp-Name': 'echo', 'Mcp-Param-Region': '=?base64?WsO8cmljaA==?=' }), echo('Zürich'))
    expect(encoded.status).toBe(200)
    const raw = await latin1Post(server.url, { ...headers('tools/call', { 'Mcp-Name': 'echo' }), 'Mcp-Param-Region': 'Z\u00fcrich' }, echo('Zürich'))
    expect([raw.status, errorOf(raw.json).code]).toEqual([400, -32020])
  })

  it('400 -32021 with requiredCapabilities when the tool needs elicitation the request did not declare', async () => {
    const answer = await rawPost(server.url, headers('tools/call', { 'Mcp-Name': 'confirm' }), { jsonrpc: '2.0', id: 5, method: 'tools/call', params: { name: 'confirm', arguments: { action: 'deploy' }, _meta: metaOf() } })
    expect(answer.status).toBe(400)
    expect(errorOf(answer.json)).toMatchObject({ code: -32021, data: { requiredCapabilities: { elicitation: {} } } })
  })

  it('answers input_required, then completes the retry that carries inputResponses and the exact requestState (mrtr.mdx)', async () => {
    const params = { name: 'confirm', arguments: { action: 'deploy' }, _meta: metaOf('2026-07-28', { elicitation: {} }) }
    const first = await rawPost(server.url, headers('tools/call', { 'Mcp-Name': 'confirm' }), { jsonrpc: '2.0', id: 6, method: 'tools/call', params })
    const interim = (first.json as { result: { resultType: string, requestState: string, inputRequests: Record<string, { method: string }> } }).result
    expect(interim).toMatchObject({ resultType: 'input_required', inputRequests: { confirm: { method: 'elicitation/create' } } })
    expect(interim).not.toHaveProperty('ttlMs')
    const retry = { ...params, inputResponses: { confirm: { action: 'accept', content: { confirmed: true } } }, requestState: interim.requestState }
    const done = await rawPost(server.url, headers('tools/call', { 'Mcp-Name': 'confirm' }), { jsonrpc: '2.0', id: 7, method: 'tools/call', params: retry })
    expect(done.json).toMatchObject({ id: 7, result: { resultType: 'complete', content: [{ text: 'confirmed: deploy' }] } })
    const tampered = await rawPost(server.url, headers('tools/call', { 'Mcp-Name': 'confirm' }), { jsonrpc: '2.0', id: 8, method: 'tools/call', params: { ...retry, requestState: `${interim.requestState}x` } })
    expect([tampered.status, errorOf(tampered.json).code]).toEqual([400, -32602])
    const bob = await rawPost(server.url, headers('tools/call', { 'Mcp-Name': 'confirm', Authorization: `Bearer ${await tokens.tokenFor('bob')}` }), { jsonrpc: '2.0', id: 9, method: 'tools/call', params: retry })
    expect([bob.status, errorOf(bob.json).code]).toEqual([400, -32602])
  })

  it('streams progress on the request SSE stream, then the response (progress.mdx)', async () => {
    const answer = await rawPost(server.url, headers('tools/call', { 'Mcp-Name': 'slow' }), { jsonrpc: '2.0', id: 10, method: 'tools/call', params: { name: 'slow', arguments: { steps: 2 }, _meta: { ...metaOf(), progressToken: 'tok' } } })
    expect(answer.headers.get('content-type')).toBe('text/event-stream')
    expect(answer.headers.get('x-accel-buffering')).toBe('no')
    const events = answer.text.split('\n\n').filter(Boolean).map((event) => JSON.parse(event.replace(/^data: /, '')) as Record<string, unknown>)
    expect(events).toEqual([
      { jsonrpc: '2.0', method: 'notifications/progress', params: { progressToken: 'tok', progress: 1, total: 2, message: 'step 1' } },
      { jsonrpc: '2.0', method: 'notifications/progress', params: { progressToken: 'tok', progress: 2, total: 2, message: 'step 2' } },
      expect.objectContaining({ id: 10, result: expect.objectContaining({ resultType: 'complete' }) }),
    ])
  })

  it('pages tools/list with an opaque cursor and private caching hints; an invalid cursor is -32602', async () => {
    const list = async (cursor?: string): Promise<{ status: number, json: unknown }> =>
      await rawPost(server.url, headers('tools/list'), { jsonrpc: '2.0', id: 11, method: 'tools/list', params: { ...(cursor !== undefined && { cursor }), _meta: metaOf() } })
    const first = (await list()).json as { result: { tools: Array<{ name: string }>, nextCursor: string, ttlMs: number, cacheScope: string } }
    expect(first.result.tools.map((tool) => tool.name)).toEqual(['whoami', 'echo'])
    expect(first.result).toMatchObject({ ttlMs: 30_000, cacheScope: 'private', nextCursor: expect.any(String) })
    const second = (await list(first.result.nextCursor)).json as { result: { tools: Array<{ name: string }> } }
    expect(second.result.tools.map((tool) => tool.name)).toEqual(['slow', 'fail'])
    const invalid = await list('not-a-cursor')
    expect([invalid.status, errorOf(invalid.json).code]).toEqual([400, -32602])
  })

  it('refuses GET and DELETE with 405, and ignores a session id without echoing one (streamable-http.mdx § Earlier Streamable HTTP Revisions)', async () => {
    for (const method of ['GET', 'DELETE']) {
      const answer = await fetch(server.url, { method, headers: { Authorization: `Bearer ${alice}`, 'Mcp-Session-Id': 'abc', Accept: 'text/event-stream' } })
      await answer.body?.cancel()
      expect([method, answer.status, answer.headers.get('allow')]).toEqual([method, 405, 'POST'])
    }
    const withSession = await rawPost(server.url, headers('server/discover', { 'Mcp-Session-Id': 'abc', 'Last-Event-ID': '5' }), discover)
    expect(withSession.status).toBe(200)
    expect(withSession.headers.get('mcp-session-id')).toBeNull()
  })

  it('403 for a foreign Origin; 202 for a notification; -32700 for bad JSON; -32600 for a batch or a response', async () => {
    expect((await rawPost(server.url, headers('server/discover', { Origin: 'https://evil.example' }), discover)).status).toBe(403)
    const notification = await rawPost(server.url, headers('notifications/cancelled'), { jsonrpc: '2.0', method: 'notifications/cancelled', params: { requestId: 1 } })
    expect([notification.status, notification.text]).toEqual([202, ''])
    const bad = await rawPost(server.url, headers('server/discover'), '{not json')
    expect([bad.status, errorOf(bad.json).code]).toEqual([400, -32700])
    const batch = await rawPost(server.url, headers('server/discover'), [discover])
    expect([batch.status, errorOf(batch.json).code]).toEqual([400, -32600])
    const response = await rawPost(server.url, headers('server/discover'), { jsonrpc: '2.0', id: 1, result: {} })
    expect([response.status, errorOf(response.json).code]).toEqual([400, -32600])
  })

  it('acknowledges subscriptions/listen first on an open stream (subscriptions.mdx § Acknowledgment)', async () => {
    const controller = new AbortController()
    const answer = await fetch(server.url, {
      method: 'POST',
      headers: headers('subscriptions/listen'),
      body: JSON.stringify({ jsonrpc: '2.0', id: 12, method: 'subscriptions/listen', params: { _meta: metaOf(), notifications: { toolsListChanged: true } } }),
      signal: controller.signal,
    })
    expect(answer.headers.get('content-type')).toBe('text/event-stream')
    const reader = answer.body!.getReader()
    let text = ''
    while (!text.includes('\n\n')) text += new TextDecoder().decode((await reader.read()).value)
    controller.abort()
    expect(JSON.parse(text.slice('data: '.length, text.indexOf('\n\n')))).toEqual({
      jsonrpc: '2.0',
      method: 'notifications/subscriptions/acknowledged',
      params: { _meta: { 'io.modelcontextprotocol/subscriptionId': 12 }, notifications: { toolsListChanged: true } },
    })
  })
})
