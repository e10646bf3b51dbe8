// Answers that break the protocol, and servers that are not there, end in typed errors without their bodies.
import type { ServerResponse } from 'node:http'
import { afterEach, describe, expect, it } from 'vitest'
import { createModernMcpClient, McpInvalidResponseError, McpRpcError, McpUnreachableError } from '../../../src/mcp/modern/index.ts'
import { readJson, startLocalServer, type LocalServer } from './helpers.ts'

const servers: LocalServer[] = []
afterEach(async () => {
  await Promise.all(servers.splice(0).map(async (server) => await server.close()))
})

async function clientAnswering (answer: (id: unknown, res: ServerResponse) => void): Promise<ReturnType<typeof createModernMcpClient>> {
  const server = await startLocalServer((req, res) => {
    readJson(req).then((body) => answer(body['id'], res)).catch(() => res.destroy())
  })
  servers.push(server)
  return createModernMcpClient({ url: server.url, fetch: globalThis.fetch, clientInfo: { name: 't', version: '1' } })
}

function json (res: ServerResponse, status: number, body: unknown): void {
  res.writeHead(status, { 'Content-Type': 'application/json' }).end(JSON.stringify(body))
}

describe('invalid answers', () => {
  it('an HTML page is not an MCP answer', async () => {
    const client = await clientAnswering((_id, res) => res.writeHead(200, { 'Content-Type': 'text/html' }).end('<h1>hi</h1>'))
    expect(await client.discover().catch((err: unknown) => err)).toBeInstanceOf(McpInvalidResponseError)
  })

  it('a resultType the client does not know is invalid; an absent one is complete', async () => {
    const odd = await clientAnswering((id, res) => json(res, 200, { jsonrpc: '2.0', id, result: { resultType: 'task', content: [] } }))
    expect(await odd.callTool('x').catch((err: unknown) => err)).toBeInstanceOf(McpInvalidResponseError)
    const older = await clientAnswering((id, res) => json(res, 200, { jsonrpc: '2.0', id, result: { content: [{ type: 'text', text: 'ok' }] } }))
    expect(await older.callTool('x')).toEqual({ content: [{ type: 'text', text: 'ok' }] })
  })

  it('input_required is not an answer to tools/list', async () => {
    const client = await clientAnswering((id, res) => json(res, 200, { jsonrpc: '2.0', id, result: { resultType: 'input_required', requestState: 's' } }))
    expect(await client.listTools().catch((err: unknown) => err)).toBeInstanceOf(McpInvalidResponseError)
  })

  it('an event stream that ends without the response, or answers another id, is invalid', async () => {
    const ended = await clientAnswering((_id, res) => res.writeHead(200, { 'Content-Type': 'text/event-stream' }).end(': nothing\n\n'))
    expect(await ended.discover().catch((err: unknown) => err)).toBeInstanceOf(McpInvalidResponseError)
    const other = await clientAnswering((_id, res) => json(res, 200, { jsonrpc: '2.0', id: 'someone-else', result: {} }))
    expect(await other.discover().catch((err: unknown) => err)).toBeInstanceOf(McpInvalidResponseError)
  })

  it('a JSON-RPC error in a 200 keeps its code and drops its message', async () => {
    const client = await clientAnswering((id, res) => json(res, 200, { jsonrpc: '2.0', id, error: { code: -32603, message: 'secret internals' } }))
    const failure = await client.callTool('x').catch((err: unknown) => err)
    expect(failure).toBeInstanceOf(McpRpcError)
    expect(failure).toMatchObject({ rpcCode: -32603 })
    expect((failure as Error).message).not.toContain('secret')
  })

  it('a 5xx keeps its status and drops its body; a redirect is not followed', async () => {
    const broken = await clientAnswering((_id, res) => res.writeHead(502, { 'Content-Type': 'text/plain' }).end('upstream secret'))
    const failure = await broken.discover().catch((err: unknown) => err)
    expect(failure).toMatchObject({ status: 502, rpcCode: undefined })
    expect((failure as Error).message).not.toContain('secret')
    const moved = await clientAnswering((_id, res) => res.writeHead(307, { Location: 'http://127.0.0.1:9/mcp' }).end())
    expect(await moved.discover().catch((err: unknown) => err)).toMatchObject({ status: 307 })
  })

  it('a server that is not listening is unreachable', async () => {
    // Port 1 (tcpmux) has no listener on these machines; a freed ephemeral port could be taken again meanwhile.
    const client = createModernMcpClient({ url: 'http://127.0.0.1:1/mcp', fetch: globalThis.fetch, clientInfo: { name: 't', version: '1' } })
    expect(await client.discover().catch((err: unknown) => err)).toBeInstanceOf(McpUnreachableError)
  })

  it('a tools/list whose cursors never end is cut off at maxPages', async () => {
    let page = 0
    const server = await startLocalServer((req, res) => {
      readJson(req).then((body) => json(res, 200, { jsonrpc: '2.0', id: body['id'], result: { tools: [], nextCursor: String(page++), ttlMs: 0, cacheScope: 'private' } })).catch(() => res.destroy())
    })
    servers.push(server)
    const client = createModernMcpClient({ url: server.url, fetch: globalThis.fetch, clientInfo: { name: 't', version: '1' }, maxPages: 5 })
    expect(await client.listTools().catch((err: unknown) => err)).toBeInstanceOf(McpInvalidResponseError)
    expect(page).toBe(5)
  })
})
