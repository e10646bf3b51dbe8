// detectServerEra against the modern fixture, SDK legacy servers (stateful and stateless) and stub servers.
import { randomUUID } from 'node:crypto'
import type { IncomingMessage, ServerResponse } from 'node:http'
import { McpServer } from '@modelcontextprotocol/sdk/server/mcp.js'
import { StreamableHTTPServerTransport } from '@modelcontextprotocol/sdk/server/streamableHttp.js'
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest'
import { detectServerEra, McpHttpError, McpTimeoutError } from '../../../src/mcp/modern/index.ts'
import { startModernMcpServer, type ModernMcpServer } from '../../fixtures/modern-mcp-server.ts'
import { createTestTokens, readJson, startLocalServer, type LocalServer } from './helpers.ts'

let modern: ModernMcpServer
let authorization: Record<string, string>
const servers: LocalServer[] = []

beforeAll(async () => {
  const tokens = await createTestTokens()
  modern = await startModernMcpServer({ validateToken: tokens.validateToken })
  authorization = { Authorization: `Bearer ${await tokens.tokenFor('alice')}` }
})

afterEach(async () => {
  await Promise.all(servers.splice(0).map(async (server) => await server.close()))
})

afterAll(async () => {
  await modern?.close()
})

function legacyMcp (): McpServer {
  const mcp = new McpServer({ name: 'legacy-sdk', version: '1.2.3' })
  mcp.registerTool('ping_me', { description: 'answers pong' }, async () => ({ content: [{ type: 'text', text: 'pong' }] }))
  return mcp
}

interface LegacyServer { url: string, openSessions: () => number, closedSessions: () => number, requests: string[] }

/** An SDK 1.x server (McpServer + StreamableHTTPServerTransport), the legacy era as most servers speak it today. */
async function startLegacyServer (mode: 'stateful' | 'stateless'): Promise<LegacyServer> {
  const transports = new Map<string, StreamableHTTPServerTransport>()
  const requests: string[] = []
  let closed = 0
  const handle = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    const body = req.method === 'POST' ? await readJson(req) : undefined
    requests.push(`${req.method ?? ''} ${typeof body?.['method'] === 'string' ? body['method'] : ''}`.trim())
    if (mode === 'stateless') {
      const mcp = legacyMcp()
      // No sessionIdGenerator: the SDK's stateless mode.
      const transport = new StreamableHTTPServerTransport({})
      res.on('close', () => { mcp.close().catch(() => {}) })
      await mcp.connect(transport)
      await transport.handleRequest(req, res, body)
      return
    }
    const sessionId = req.headers['mcp-session-id']
    let transport = typeof sessionId === 'string' ? transports.get(sessionId) : undefined
    if (transport === undefined) {
      const created: StreamableHTTPServerTransport = new StreamableHTTPServerTransport({
        sessionIdGenerator: randomUUID,
        onsessioninitialized: (id) => { transports.set(id, created) },
        onsessionclosed: (id) => {
          transports.delete(id)
          closed++
        },
      })
      await legacyMcp().connect(created)
      transport = created
    }
    await transport.handleRequest(req, res, body)
  }
  const server = await startLocalServer((req, res) => {
    handle(req, res).catch(() => res.destroy())
  })
  servers.push(server)
  return { url: server.url, openSessions: () => transports.size, closedSessions: () => closed, requests }
}

/** A stub MCP endpoint answering each POSTed JSON-RPC message with `answer`. */
async function startStub (answer: (body: Record<string, unknown>, res: ServerResponse) => void): Promise<LocalServer> {
  const stub = await startLocalServer((req, res) => {
    readJson(req).then((body) => answer(body, res)).catch(() => res.destroy())
  })
  servers.push(stub)
  return stub
}

describe('detectServerEra', () => {
  it('finds the modern fixture modern, from its DiscoverResult', async () => {
    const era = await detectServerEra(modern.url, globalThis.fetch, authorization)
    expect(era).toMatchObject({ era: 'modern', protocolVersion: '2026-07-28', supportedVersions: ['2026-07-28'], discover: { capabilities: { tools: {} } } })
  })

  it('finds a stateful SDK server legacy: its 400 has no modern error, initialize answers, and the probe session is deleted', async () => {
    const legacy = await startLegacyServer('stateful')
    const era = await detectServerEra(legacy.url, globalThis.fetch, {})
    expect(era).toEqual({ era: 'legacy', protocolVersion: '2025-11-25', serverInfo: { name: 'legacy-sdk', version: '1.2.3' } })
    expect(legacy.requests).toEqual(['POST server/discover', 'POST initialize', 'DELETE'])
    expect(legacy.closedSessions()).toBe(1)
    expect(legacy.openSessions()).toBe(0)
  })

  it('finds a stateless SDK server legacy too (it refuses the 2026-07-28 version header with its own -32000)', async () => {
    const legacy = await startLegacyServer('stateless')
    expect(await detectServerEra(legacy.url, globalThis.fetch, {})).toMatchObject({ era: 'legacy', protocolVersion: '2025-11-25' })
    expect(legacy.requests).toEqual(['POST server/discover', 'POST initialize'])
  })

  it('throws the 401 with its challenge: a token is needed before the era can be known', async () => {
    const failure = await detectServerEra(modern.url, globalThis.fetch, {}).catch((err: unknown) => err)
    expect(failure).toBeInstanceOf(McpHttpError)
    expect(failure).toMatchObject({ status: 401, wwwAuthenticate: `Bearer resource_metadata="${modern.resourceMetadataUrl}"` })
  })

  it('stays modern on -32022 when no version is shared, and never falls back to initialize', async () => {
    const seen: string[] = []
    const stub = await startStub((body, res) => {
      seen.push(String(body['method']))
      res.writeHead(400, { 'Content-Type': 'application/json' })
      res.end(JSON.stringify({ jsonrpc: '2.0', id: body['id'], error: { code: -32022, message: 'Unsupported protocol version', data: { supported: ['2099-01-01'], requested: '2026-07-28' } } }))
    })
    const failure = await detectServerEra(stub.url, globalThis.fetch, {}).catch((err: unknown) => err)
    expect(failure).toMatchObject({ status: 400, rpcCode: -32022, supportedVersions: ['2099-01-01'] })
    expect(seen).toEqual(['server/discover'])
  })

  it('uses the legacy handshake of a dual-era server whose only shared version is legacy', async () => {
    const stub = await startStub((body, res) => {
      const initialize = body['method'] === 'initialize'
      res.writeHead(initialize ? 200 : 400, { 'Content-Type': 'application/json' })
      res.end(JSON.stringify(initialize
        ? { jsonrpc: '2.0', id: body['id'], result: { protocolVersion: '2025-06-18', capabilities: {}, serverInfo: { name: 'dual', version: '1' } } }
        : { jsonrpc: '2.0', id: body['id'], error: { code: -32022, message: 'Unsupported protocol version', data: { supported: ['2099-01-01', '2025-06-18'], requested: '2026-07-28' } } }))
    })
    expect(await detectServerEra(stub.url, globalThis.fetch, {})).toEqual({ era: 'legacy', protocolVersion: '2025-06-18', serverInfo: { name: 'dual', version: '1' } })
  })

  it('takes 404 with -32601 for a modern server, and a bare 404 for a legacy one', async () => {
    const modernish = await startStub((body, res) => {
      res.writeHead(404, { 'Content-Type': 'application/json' }).end(JSON.stringify({ jsonrpc: '2.0', id: body['id'], error: { code: -32601, message: 'Method not found' } }))
    })
    expect(await detectServerEra(modernish.url, globalThis.fetch, {})).toEqual({ era: 'modern', protocolVersion: '2026-07-28', supportedVersions: ['2026-07-28'] })
    const bare = await startLocalServer((req, res) => {
      req.resume()
      res.writeHead(404).end()
    })
    servers.push(bare)
    expect(await detectServerEra(bare.url, globalThis.fetch, {}).catch((err: unknown) => err)).toMatchObject({ status: 404, rpcCode: undefined })
  })

  it('is bounded in time: a server that never answers ends in McpTimeoutError', async () => {
    const silent = await startLocalServer((req) => { req.resume() })
    servers.push(silent)
    expect(await detectServerEra(silent.url, globalThis.fetch, {}, { timeoutMs: 500 }).catch((err: unknown) => err)).toBeInstanceOf(McpTimeoutError)
  })
})
