// Where the pass-through reads what it otherwise forwards (tool filters), a hostile server still cannot make it
// hold more than DOWNSTREAM_MAX_RESPONSE_BYTES or wait past the answer; a discarded error body is closed, not
// drained; and a DELETE carries no body upstream (it would skip the checks a POST body gets).
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http'
import type { AddressInfo } from 'node:net'
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest'
import { startTestStack, type TestStack } from '../helpers/stack.ts'
import { jsonOf, registerMcpApp } from '../helpers/mcp-clients.ts'

let stack: TestStack
let hostile: Server
let alice: string
const written = new Map<string, { bytes: number, closed: boolean }>()
const deleteBodies: string[] = []
const SECRET_TOOL = 'secret_tool'

/** Writes small SSE events as fast as the peer reads them, until it goes away. */
function flood (res: ServerResponse, name: string, first?: string): void {
  const record = { bytes: 0, closed: false }
  written.set(name, record)
  res.writeHead(200, { 'content-type': 'text/event-stream', 'mcp-session-id': `s-${name}` })
  if (first !== undefined) { res.write(first); record.bytes += first.length }
  const event = `data: ${JSON.stringify({ jsonrpc: '2.0', method: 'notifications/message', params: { level: 'info', data: 'x'.repeat(200) } })}\n\n`
  const pump = (): void => {
    while (!res.destroyed) {
      record.bytes += event.length
      if (!res.write(event)) { res.once('drain', pump); return }
    }
  }
  res.once('close', () => { record.closed = true })
  pump()
}

beforeAll(async () => {
  hostile = createServer((req: IncomingMessage, res: ServerResponse) => {
    let body = ''
    req.on('data', (chunk: Buffer) => { body += String(chunk) })
    req.on('end', () => {
      const path = req.url ?? ''
      if (req.method === 'DELETE') { deleteBodies.push(body); res.writeHead(200).end(); return }
      if (path === '/floodlist/mcp') return flood(res, 'floodlist')
      if (path === '/listthenflood/mcp') {
        const id = (JSON.parse(body) as { id: number }).id
        const answer = { jsonrpc: '2.0', id, result: { tools: [{ name: 'ok', inputSchema: { type: 'object' } }, { name: SECRET_TOOL, inputSchema: { type: 'object' } }] } }
        return flood(res, 'listthenflood', `data: ${JSON.stringify(answer)}\n\n`)
      }
      if (path === '/errflood/mcp') {
        const record = { bytes: 0, closed: false }
        written.set('errflood', record)
        res.writeHead(400, { 'content-type': 'text/plain' })
        const chunk = 'y'.repeat(16 * 1024)
        const pump = (): void => {
          while (!res.destroyed) {
            record.bytes += chunk.length
            if (!res.write(chunk)) { res.once('drain', pump); return }
          }
        }
        res.once('close', () => { record.closed = true })
        return pump()
      }
      res.writeHead(404).end()
    })
  })
  await new Promise<void>((resolve) => hostile.listen(0, '127.0.0.1', resolve))
  const base = `http://127.0.0.1:${(hostile.address() as AddressInfo).port}`
  const servers = ['floodlist', 'listthenflood', 'errflood']
  stack = await startTestStack({
    relayEnv: {
      DOWNSTREAM_MAX_RESPONSE_BYTES: '4096',
      TOOL_FILTERS: JSON.stringify(servers.map((server) => ({ server, tools: [SECRET_TOOL], effect: 'deny' }))),
    },
    extraServers: servers.map((id) => ({ id, url: `${base}/${id}/mcp`, scopes: [`api://hostile-${id}/user_impersonation`] })),
  })
  servers.forEach((id, i) => registerMcpApp(stack, `55555555-5555-4555-8555-5555555556${String(i).padStart(2, '0')}`, `api://hostile-${id}`))
  alice = await stack.userToken('alice@contoso.test')
}, 60_000)
afterAll(async () => {
  await stack?.close()
  hostile?.closeAllConnections()
  await new Promise((resolve) => hostile?.close(resolve))
})

const rpc = (server: string, method: string, init: { httpMethod?: string, id?: number } = {}) => fetch(`${stack.relayUrl}/mcp/${server}`, {
  method: init.httpMethod ?? 'POST',
  headers: { authorization: `Bearer ${alice}`, 'content-type': 'application/json', accept: 'application/json, text/event-stream', 'mcp-protocol-version': '2025-11-25' },
  body: JSON.stringify({ jsonrpc: '2.0', id: init.id ?? 1, method, params: {} }),
})

describe('a hostile server behind a filtered /mcp/:server', () => {
  it('an endless SSE answer to tools/list is cut at the byte limit (502), not held until the total timeout', async () => {
    const response = await rpc('floodlist', 'tools/list')
    expect(response.status).toBe(502)
    expect(await jsonOf(response)).toMatchObject({ error: { data: { reason: 'downstream_too_large' } } })
    await vi.waitFor(() => { expect(written.get('floodlist')?.closed).toBe(true) }, { timeout: 5_000 })
    // The relay stopped reading: what the server managed to write is bounded by socket buffers, not by time.
    expect(written.get('floodlist')!.bytes).toBeLessThan(16 * 1024 * 1024)
  })

  it('the answer is returned, filtered, as soon as it came; what the server sends after it is not waited for', async () => {
    const response = await rpc('listthenflood', 'tools/list', { id: 4 })
    expect(response.status).toBe(200)
    const text = await response.text()
    expect(text).toContain('"ok"')
    expect(text).not.toContain(SECRET_TOOL)
    await vi.waitFor(() => { expect(written.get('listthenflood')?.closed).toBe(true) }, { timeout: 5_000 })
  })

  it('a refused request whose error body never ends is answered, and the body is closed, not drained', async () => {
    const response = await rpc('errflood', 'ping')
    expect(response.status).toBe(400)
    expect(await jsonOf(response)).toMatchObject({ jsonrpc: '2.0', error: { message: 'The MCP server refused the request (HTTP 400)' } })
    await vi.waitFor(() => { expect(written.get('errflood')?.closed).toBe(true) }, { timeout: 5_000 })
  })

  it('a DELETE goes upstream without a body', async () => {
    const response = await fetch(`${stack.relayUrl}/mcp/floodlist`, {
      method: 'DELETE',
      headers: { authorization: `Bearer ${alice}`, 'content-type': 'application/json' },
      body: JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'tools/call', params: { name: SECRET_TOOL, arguments: {} } }),
    })
    await response.body?.cancel()
    expect(deleteBodies.length).toBeGreaterThan(0)
    expect(deleteBodies.every((body) => body === '')).toBe(true)
  })
})
