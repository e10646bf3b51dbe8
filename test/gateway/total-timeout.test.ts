// STREAM_TOTAL_TIMEOUT_MS bounds a pass-through call from end to end, whatever the server does to stay under
// the other bounds (no headers yet, an answer that trickles): the call ends, the upstream connection is closed,
// and the client is told it was a timeout (504 downstream_timeout), not that the server was unreachable or that
// it went away itself.
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http'
import type { AddressInfo } from 'node:net'
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest'
import { startTestStack, type TestStack } from '../helpers/stack.ts'
import { jsonOf, registerMcpApp } from '../helpers/mcp-clients.ts'

let stack: TestStack
let hostile: Server
let alice: string
const closed = new Set<string>()
const timers = new Set<NodeJS.Timeout>()

/** An SSE answer that sends one small event every 100 ms (well inside the idle bound) and never its result. */
function trickle (res: ServerResponse, name: string): void {
  res.writeHead(200, { 'content-type': 'text/event-stream' })
  const event = `data: ${JSON.stringify({ jsonrpc: '2.0', method: 'notifications/message', params: { level: 'info', data: 'tick' } })}\n\n`
  const timer = setInterval(() => { if (!res.destroyed) res.write(event) }, 100)
  timers.add(timer)
  res.once('close', () => { clearInterval(timer); closed.add(name) })
}

beforeAll(async () => {
  hostile = createServer((req: IncomingMessage, res: ServerResponse) => {
    req.resume()
    req.on('end', () => {
      const name = (req.url ?? '').split('/')[1] ?? ''
      if (name === 'hang') { res.once('close', () => closed.add(name)); return }
      if (name === 'trickle' || name === 'tricklelist') { trickle(res, name); return }
      res.writeHead(404).end()
    })
  })
  await new Promise<void>((resolve) => hostile.listen(0, '127.0.0.1', resolve))
  const base = `http://127.0.0.1:${(hostile.address() as AddressInfo).port}`
  const servers = ['hang', 'trickle', 'tricklelist']
  stack = await startTestStack({
    // The header and idle bounds are far past the total one: only the total timeout can end these calls.
    relayEnv: {
      DOWNSTREAM_TIMEOUT_MS: '60000',
      STREAM_IDLE_TIMEOUT_MS: '60000',
      STREAM_TOTAL_TIMEOUT_MS: '1000',
      TOOL_FILTERS: JSON.stringify([{ server: 'tricklelist', tools: ['secret_tool'], effect: 'deny' }]),
    },
    extraServers: servers.map((id) => ({ id, url: `${base}/${id}/mcp`, scopes: [`api://total-${id}/user_impersonation`] })),
  })
  servers.forEach((id, i) => registerMcpApp(stack, `55555555-5555-4555-8555-5555555557${String(i).padStart(2, '0')}`, `api://total-${id}`))
  alice = await stack.userToken('alice@contoso.test')
}, 60_000)
afterAll(async () => {
  for (const timer of timers) clearInterval(timer)
  await stack?.close()
  hostile?.closeAllConnections()
  await new Promise((resolve) => hostile?.close(resolve))
})

const rpc = (server: string, method: string) => fetch(`${stack.relayUrl}/mcp/${server}`, {
  method: 'POST',
  headers: { authorization: `Bearer ${alice}`, 'content-type': 'application/json', accept: 'application/json, text/event-stream', 'mcp-protocol-version': '2025-11-25' },
  body: JSON.stringify({ jsonrpc: '2.0', id: 7, method, params: {} }),
})

describe('the pass-through\'s total timeout', () => {
  it('a server that never sends its headers → 504 downstream_timeout, and its connection is closed', async () => {
    const response = await rpc('hang', 'tools/call')
    expect(response.status).toBe(504)
    expect(await jsonOf(response)).toMatchObject({ jsonrpc: '2.0', id: 7, error: { data: { reason: 'downstream_timeout' } } })
    await vi.waitFor(() => { expect(closed.has('hang')).toBe(true) }, { timeout: 5_000 })
  })

  it('a forwarded SSE answer that trickles is ended at the total timeout, and its connection is closed', async () => {
    const response = await rpc('trickle', 'tools/call')
    expect(response.status).toBe(200)
    expect(response.headers.get('content-type')).toContain('text/event-stream')
    // The stream ends (cleanly or cut): reading it returns rather than waiting for a result that never comes.
    const text = await response.text().catch(() => '')
    expect(text).not.toContain('"result"')
    await vi.waitFor(() => { expect(closed.has('trickle')).toBe(true) }, { timeout: 5_000 })
  })

  it('a filtered tools/list that trickles → 504 downstream_timeout (the relay reads it whole), and its connection is closed', async () => {
    const response = await rpc('tricklelist', 'tools/list')
    expect(response.status).toBe(504)
    expect(await jsonOf(response)).toMatchObject({ jsonrpc: '2.0', id: 7, error: { data: { reason: 'downstream_timeout' } } })
    await vi.waitFor(() => { expect(closed.has('tricklelist')).toBe(true) }, { timeout: 5_000 })
  })
})
