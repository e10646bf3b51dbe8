// A server answering a call with JSON-RPC error -32000 (a common generic server error) was taken for a
// dropped connection: the relay threw its client away, ended the session and reported "closed".
import { createServer, type Server } from 'node:http'
import { afterAll, beforeAll, expect, it } from 'vitest'
import { freePort } from '../../dev/start-stack.ts'
import { startTestStack, type TestStack } from '../helpers/stack.ts'

let stack: TestStack
let server: Server
let initializeCount = 0

beforeAll(async () => {
  const port = await freePort()
  // A minimal MCP server over Streamable HTTP (JSON answers): one tool that always fails with -32000.
  server = createServer((req, res) => {
    if (req.method !== 'POST') {
      res.writeHead(req.method === 'DELETE' ? 200 : 405).end()
      return
    }
    let raw = ''
    req.on('data', (chunk) => { raw += String(chunk) })
    req.on('end', () => {
      const message = JSON.parse(raw) as { id?: number, method: string, params?: { protocolVersion?: string } }
      if (message.id === undefined) {
        res.writeHead(202).end()
        return
      }
      const reply = (body: object) => {
        res.writeHead(200, { 'content-type': 'application/json', 'mcp-session-id': 'session-1' })
        res.end(JSON.stringify({ jsonrpc: '2.0', id: message.id, ...body }))
      }
      if (message.method === 'initialize') {
        initializeCount++
        reply({ result: { protocolVersion: message.params?.protocolVersion, capabilities: { tools: {} }, serverInfo: { name: 'plain', version: '1' } } })
      } else if (message.method === 'tools/list') {
        reply({ result: { tools: [{ name: 'boom', inputSchema: { type: 'object' } }] } })
      } else {
        reply({ error: { code: -32000, message: 'internal failure' } })
      }
    })
  })
  await new Promise<void>((resolve) => server.listen(port, '127.0.0.1', resolve))
  stack = await startTestStack({ extraServers: [{ id: 'plain', url: `http://localhost:${port}/mcp`, scopes: ['api://notes-mcp/user_impersonation'] }] })
})
afterAll(async () => {
  await stack?.close()
  server?.close()
})

it('reports the MCP error and keeps the session', async () => {
  const token = await stack.userToken('alice@contoso.test')
  for (let i = 0; i < 2; i++) {
    const res = await stack.call('/v1/servers/plain/tools/boom', { method: 'POST', token, body: '{}' })
    expect(res.status).toBe(502)
    expect(res.body.error_description).toBe('Server "plain" answered with an MCP error (-32000).')
  }
  expect(initializeCount).toBe(1)
})
