// Downstream answers are hostile until checked: a server that fails is 502, one that never answers 504, one
// that sends too much is cut; in JSON-RPC form, and nothing of the server's own words reaches the client.
import { createServer, type Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { freePort } from '../../dev/start-stack.ts'
import { startTestStack, type TestStack } from '../helpers/stack.ts'
import { jsonOf, registerMcpApp } from '../helpers/mcp-clients.ts'

let stack: TestStack
let hostile: Server
let alice: string
const SECRET = 'downstream-internal-detail-7f3a'

beforeAll(async () => {
  hostile = createServer((req, res) => {
    req.resume()
    const path = req.url ?? ''
    if (path === '/fail/mcp') res.writeHead(500, { 'content-type': 'application/json' }).end(JSON.stringify({ jsonrpc: '2.0', id: 1, error: { code: -32603, message: SECRET } }))
    else if (path === '/huge/mcp') {
      res.writeHead(200, { 'content-type': 'text/event-stream' })
      res.write(`data: ${JSON.stringify({ jsonrpc: '2.0', method: 'notifications/message', params: { data: 'small' } })}\n\n`)
      res.write(`data: ${'x'.repeat(8192)}`)
    } else if (path === '/hang/mcp') {
      // Never answers.
    } else res.writeHead(404).end()
  })
  await new Promise<void>((resolve) => hostile.listen(0, '127.0.0.1', resolve))
  const base = `http://127.0.0.1:${(hostile.address() as AddressInfo).port}`
  const down = await freePort()
  stack = await startTestStack({
    relayEnv: { DOWNSTREAM_TIMEOUT_MS: '1000', DOWNSTREAM_MAX_RESPONSE_BYTES: '4096' },
    extraServers: [
      { id: 'fail', url: `${base}/fail/mcp`, scopes: ['api://hostile-fail/user_impersonation'] },
      { id: 'huge', url: `${base}/huge/mcp`, scopes: ['api://hostile-huge/user_impersonation'] },
      { id: 'hang', url: `${base}/hang/mcp`, scopes: ['api://hostile-hang/user_impersonation'] },
      { id: 'down', url: `http://127.0.0.1:${down}/mcp`, scopes: ['api://hostile-down/user_impersonation'] },
    ],
  })
  registerMcpApp(stack, '55555555-5555-4555-8555-555555555521', 'api://hostile-fail')
  registerMcpApp(stack, '55555555-5555-4555-8555-555555555522', 'api://hostile-huge')
  registerMcpApp(stack, '55555555-5555-4555-8555-555555555523', 'api://hostile-hang')
  registerMcpApp(stack, '55555555-5555-4555-8555-555555555524', 'api://hostile-down')
  alice = await stack.userToken('alice@contoso.test')
})
afterAll(async () => {
  await stack?.close()
  hostile?.closeAllConnections()
  await new Promise((resolve) => hostile?.close(resolve))
})

const post = (server: string) => fetch(`${stack.relayUrl}/mcp/${server}`, {
  method: 'POST',
  headers: { authorization: `Bearer ${alice}`, 'content-type': 'application/json', accept: 'application/json, text/event-stream' },
  body: JSON.stringify({ jsonrpc: '2.0', id: 11, method: 'initialize', params: { protocolVersion: '2025-11-25', capabilities: {}, clientInfo: { name: 'raw', version: '1' } } }),
})

describe('hostile downstream behind /mcp/:server', () => {
  it('a 5xx → 502 in JSON-RPC form, without the server\'s words', async () => {
    const response = await post('fail')
    expect(response.status).toBe(502)
    const text = await response.text()
    expect(JSON.parse(text)).toMatchObject({ jsonrpc: '2.0', id: 11, error: { data: { reason: 'downstream_server_error', error: 'bad_gateway' } } })
    expect(text).not.toContain(SECRET)
  })

  it('no answer within DOWNSTREAM_TIMEOUT_MS → 504', async () => {
    const response = await post('hang')
    expect(response.status).toBe(504)
    expect(await jsonOf(response)).toMatchObject({ id: 11, error: { data: { reason: 'downstream_timeout' } } })
  })

  it('an unreachable server → 502 downstream_unreachable', async () => {
    const response = await post('down')
    expect(response.status).toBe(502)
    expect(await jsonOf(response)).toMatchObject({ error: { data: { reason: 'downstream_unreachable' } } })
  })

  it('an SSE event over DOWNSTREAM_MAX_RESPONSE_BYTES cuts the stream after the events that fit', async () => {
    const response = await post('huge')
    expect(response.status).toBe(200)
    const text = await response.text().catch(() => '')
    expect(text).not.toContain('x'.repeat(4097))
    expect(stack.logs.some((line) => line.includes('downstream answer cut: too large'))).toBe(true)
  })
})
