// Bench process: the trivial upstream of S2, a node:http server answering every MCP request with a fixed
// JSON-RPC result (only the id is the request's). It validates no token (a bench fixture): what is measured is
// what sits in front of it.
import { createServer } from 'node:http'
import type { AddressInfo } from 'node:net'
import { ready, serveIpc } from '../lib/ipc-child.ts'
import { TRIVIAL_TOOL } from '../lib/constants.ts'

const RESULTS: Record<string, string> = {
  initialize: JSON.stringify({ protocolVersion: '2025-06-18', capabilities: { tools: {} }, serverInfo: { name: 'bench-trivial', version: '1.0.0' } }),
  'tools/list': JSON.stringify({ tools: [{ name: TRIVIAL_TOOL, description: 'Answers a fixed result.', inputSchema: { type: 'object', properties: {} } }] }),
  'tools/call': JSON.stringify({ content: [{ type: 'text', text: 'ok' }] }),
  ping: '{}',
}
const JSON_HEADERS = { 'content-type': 'application/json' }

const server = createServer((req, res) => {
  if (req.method === 'DELETE') {
    res.writeHead(200).end()
    return
  }
  if (req.method !== 'POST') {
    res.writeHead(405, { allow: 'POST, DELETE' }).end()
    return
  }
  const chunks: Buffer[] = []
  req.on('data', (chunk: Buffer) => chunks.push(chunk))
  req.on('end', () => {
    let message: { id?: unknown, method?: unknown }
    try {
      message = JSON.parse(Buffer.concat(chunks).toString('utf8'))
    } catch {
      res.writeHead(400, JSON_HEADERS).end('{"jsonrpc":"2.0","id":null,"error":{"code":-32700,"message":"Parse error"}}')
      return
    }
    if (message.id === undefined) {
      res.writeHead(202).end()
      return
    }
    const id = JSON.stringify(message.id)
    const result = typeof message.method === 'string' ? RESULTS[message.method] : undefined
    if (result === undefined) {
      res.writeHead(200, JSON_HEADERS).end(`{"jsonrpc":"2.0","id":${id},"error":{"code":-32601,"message":"Method not found"}}`)
      return
    }
    res.writeHead(200, JSON_HEADERS).end(`{"jsonrpc":"2.0","id":${id},"result":${result}}`)
  })
})
server.keepAliveTimeout = 65_000
await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
const { port } = server.address() as AddressInfo
serveIpc({}, async () => { server.closeAllConnections(); server.close() })
ready({ url: `http://127.0.0.1:${port}/mcp`, port })
