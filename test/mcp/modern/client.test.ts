// The modern client against the modern-only fixture: discover, paged and cached tools, calls, progress, MRTR, errors.
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createModernMcpClient, McpHttpError, type InputRequiredResult, type ModernMcpClient, type Progress } from '../../../src/mcp/modern/index.ts'
import { startModernMcpServer, type ModernMcpServer } from '../../fixtures/modern-mcp-server.ts'
import { createTestTokens, USERS, type TestTokens } from './helpers.ts'

let tokens: TestTokens
let server: ModernMcpServer
let alice: Record<string, string>
let bob: Record<string, string>
let clock = 1_000_000
let client: ModernMcpClient

beforeAll(async () => {
  tokens = await createTestTokens()
  server = await startModernMcpServer({ validateToken: tokens.validateToken, pageSize: 2, ttlMs: 60_000, stepMs: 1 })
  alice = { Authorization: `Bearer ${await tokens.tokenFor('alice')}` }
  bob = { Authorization: `Bearer ${await tokens.tokenFor('bob')}` }
  client = createModernMcpClient({ url: server.url, fetch: globalThis.fetch, clientInfo: { name: 'obo-relay-test', version: '1' }, now: () => clock })
})

afterAll(async () => {
  await server?.close()
})

describe('modern client', () => {
  it('discovers the server and caches the public result until its ttlMs lapses', async () => {
    const discovered = await client.discover({ headers: alice })
    expect(discovered).toMatchObject({ resultType: 'complete', supportedVersions: ['2026-07-28'], capabilities: { tools: {} }, cacheScope: 'public' })
    const before = server.methodCount('server/discover')
    await client.discover({ headers: bob })
    expect(server.methodCount('server/discover')).toBe(before)
    clock += 60_000
    await client.discover({ headers: bob })
    expect(server.methodCount('server/discover')).toBe(before + 1)
  })

  it('lists every page of tools and serves the private list only to the same token while fresh', async () => {
    const calls = server.methodCount('tools/list')
    const listed = await client.listTools({ headers: alice })
    expect(listed.tools.map((tool) => tool.name)).toEqual(['whoami', 'echo', 'slow', 'fail', 'confirm'])
    expect(listed).toMatchObject({ cacheScope: 'private', ttlMs: 60_000, fromCache: false, rejectedTools: [] })
    expect(server.methodCount('tools/list')).toBe(calls + 3)

    clock += 59_999
    expect(await client.listTools({ headers: alice })).toMatchObject({ fromCache: true, ttlMs: 1 })
    expect(server.methodCount('tools/list')).toBe(calls + 3)
    expect((await client.listTools({ headers: bob })).fromCache).toBe(false)
    expect(server.methodCount('tools/list')).toBe(calls + 6)
    clock += 1
    expect((await client.listTools({ headers: alice })).fromCache).toBe(false)
  })

  it('calls whoami with the caller identity taken from the bearer token', async () => {
    expect(await client.callTool('whoami', {}, { headers: alice })).toMatchObject({
      resultType: 'complete',
      structuredContent: { oid: USERS.alice.oid, upn: USERS.alice.preferred_username },
    })
    expect(await client.callTool('whoami', {}, { headers: bob })).toMatchObject({ structuredContent: { oid: USERS.bob.oid } })
  })

  it('mirrors x-mcp-header arguments into Mcp-Param-* headers the server checks', async () => {
    await client.listTools({ headers: alice })
    expect(await client.callTool('echo', { text: 'hi', region: 'Zürich' }, { headers: alice })).toMatchObject({ content: [{ type: 'text', text: 'hi' }] })
  })

  it('re-lists and retries once when a call without the tool definition gets HeaderMismatch', async () => {
    const fresh = createModernMcpClient({ url: server.url, fetch: globalThis.fetch, clientInfo: { name: 'fresh', version: '1' }, headers: alice })
    const lists = server.methodCount('tools/list')
    expect(await fresh.callTool('echo', { text: 'again', region: 'us-west1' })).toMatchObject({ content: [{ text: 'again' }] })
    expect(server.methodCount('tools/list')).toBe(lists + 3)
  })

  it('returns a tool error as a result with isError', async () => {
    expect(await client.callTool('fail', {}, { headers: alice })).toMatchObject({ resultType: 'complete', isError: true })
  })

  it('reports progress from the SSE stream in order, then returns the result', async () => {
    const progress: Progress[] = []
    const result = await client.callTool('slow', { steps: 3 }, { headers: alice, onProgress: (update) => progress.push(update) })
    expect(progress).toEqual([
      { progress: 1, total: 3, message: 'step 1' },
      { progress: 2, total: 3, message: 'step 2' },
      { progress: 3, total: 3, message: 'step 3' },
    ])
    expect(result).toMatchObject({ content: [{ text: 'done after 3 steps' }] })
  })

  it('returns input_required unchanged, and the retry with inputResponses and requestState completes', async () => {
    const capabilities = { elicitation: {} }
    const first = await client.callTool('confirm', { action: 'deploy' }, { headers: alice, clientCapabilities: capabilities }) as InputRequiredResult
    expect(first).toMatchObject({ resultType: 'input_required', inputRequests: { confirm: { method: 'elicitation/create', params: { mode: 'form' } } }, requestState: expect.any(String) })
    const retry = await client.callTool('confirm', { action: 'deploy' }, {
      headers: alice,
      clientCapabilities: capabilities,
      inputResponses: { confirm: { action: 'accept', content: { confirmed: true } } },
      ...(first.requestState !== undefined && { requestState: first.requestState }),
    })
    expect(retry).toMatchObject({ resultType: 'complete', content: [{ text: 'confirmed: deploy' }] })
  })

  it('throws McpHttpError with the JSON-RPC code only, e.g. -32021 for an undeclared capability', async () => {
    const failure = await client.callTool('confirm', { action: 'deploy' }, { headers: alice }).catch((err: unknown) => err)
    expect(failure).toBeInstanceOf(McpHttpError)
    expect(failure).toMatchObject({ status: 400, rpcCode: -32021, wwwAuthenticate: undefined })
    expect((failure as Error).message).not.toContain('elicitation')
  })

  it('throws McpHttpError 401 carrying WWW-Authenticate for a missing or rejected token', async () => {
    const anonymous = await client.callTool('whoami', {}).catch((err: unknown) => err)
    expect(anonymous).toMatchObject({ status: 401, wwwAuthenticate: `Bearer resource_metadata="${server.resourceMetadataUrl}"` })
    const forged = await client.listTools({ headers: { Authorization: `Bearer ${await tokens.foreignToken()}` } }).catch((err: unknown) => err)
    expect(forged).toBeInstanceOf(McpHttpError)
    expect((forged as McpHttpError).wwwAuthenticate).toContain('error="invalid_token"')
  })

  it('throws -32602 for an unknown tool', async () => {
    expect(await client.callTool('nope', {}, { headers: alice }).catch((err: unknown) => err)).toMatchObject({ status: 400, rpcCode: -32602 })
  })
})

describe('modern client cancellation', () => {
  it('closing the stream mid-progress rejects with the abort reason and the server stops the work', async () => {
    let serverCancelled!: () => void
    const cancelledOnServer = new Promise<void>((resolve) => { serverCancelled = resolve })
    const slowServer = await startModernMcpServer({ validateToken: tokens.validateToken, stepMs: 5, onCancelled: () => serverCancelled() })
    try {
      const slowClient = createModernMcpClient({ url: slowServer.url, fetch: globalThis.fetch, clientInfo: { name: 'c', version: '1' }, headers: alice })
      const controller = new AbortController()
      const reason = new Error('stop')
      const progress: number[] = []
      const call = slowClient.callTool('slow', { steps: 100 }, {
        signal: controller.signal,
        onProgress: (update) => {
          progress.push(update.progress)
          controller.abort(reason)
        },
      }).catch((err: unknown) => err)
      expect(await call).toBe(reason)
      await cancelledOnServer
      expect(progress).toEqual([1])
      expect(slowServer.cancelledCount()).toBe(1)
    } finally {
      await slowServer.close()
    }
  })
})
