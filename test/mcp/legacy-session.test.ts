// The relay's legacy-era session client against a hand-written Streamable HTTP server on loopback: the handshake,
// answers in JSON and in SSE, what a server sends on a request's stream, failures, cancellation, connection reuse.
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http'
import type { AddressInfo } from 'node:net'
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest'
import { DownstreamCall } from '../../src/downstream/call.ts'
import { classifyDownstreamFailure, downstreamError } from '../../src/downstream/policy.ts'
import { LegacySession } from '../../src/mcp/legacy-session.ts'
import { McpHttpError, McpInvalidResponseError, McpResponseTooLargeError, McpRpcError } from '../../src/mcp/modern/client-errors.ts'
import { createDispatcher } from '../../src/net/http-client.ts'

interface Seen { method: string, headers: IncomingMessage['headers'], message: Record<string, unknown> | undefined }
type Handler = (message: Record<string, unknown>, res: ServerResponse, req: IncomingMessage) => void

let server: Server
let url: URL
const seen: Seen[] = []
let connections = 0
let handler: Handler = () => {}
const dispatcher = createDispatcher()

const sse = (res: ServerResponse, messages: object[], end = true): void => {
  res.writeHead(200, { 'content-type': 'text/event-stream' })
  for (const message of messages) res.write(`event: message\ndata: ${JSON.stringify(message)}\n\n`)
  if (end) res.end()
}
const json = (res: ServerResponse, message: object, headers: Record<string, string> = {}): void => {
  res.writeHead(200, { 'content-type': 'application/json', ...headers }).end(JSON.stringify(message))
}

/** Answers initialize (session `s-1`, the version asked for) and notifications with 202; the rest goes to `handler`. */
function standard (message: Record<string, unknown>, res: ServerResponse, req: IncomingMessage): void {
  if (message['method'] === 'initialize') {
    const params = message['params'] as { protocolVersion: string }
    json(res, { jsonrpc: '2.0', id: message['id'], result: { protocolVersion: params.protocolVersion, capabilities: { tools: {} }, serverInfo: { name: 'hand', version: '1' } } }, { 'mcp-session-id': 's-1' })
    return
  }
  if (!('id' in message) || !('method' in message)) {
    res.writeHead(202).end()
    return
  }
  handler(message, res, req)
}
let entry: Handler = standard

beforeAll(async () => {
  server = createServer((req, res) => {
    let raw = ''
    req.on('data', (chunk) => { raw += String(chunk) })
    req.on('end', () => {
      const message = raw === '' ? undefined : JSON.parse(raw) as Record<string, unknown>
      seen.push({ method: req.method ?? '', headers: req.headers, message })
      if (req.method === 'DELETE') {
        res.writeHead(200).end()
        return
      }
      entry(message ?? {}, res, req)
    })
  })
  server.on('connection', () => { connections++ })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  url = new URL(`http://127.0.0.1:${(server.address() as AddressInfo).port}/mcp`)
})
afterEach(() => {
  seen.length = 0
  entry = standard
  handler = () => {}
})
afterAll(async () => {
  await dispatcher.close()
  server.closeAllConnections()
  await new Promise((resolve) => server.close(resolve))
})

function newCall (options: { timeoutMs?: number, maxResponseBytes?: number, callerSignal?: AbortSignal } = {}): DownstreamCall {
  return new DownstreamCall({ timeoutMs: options.timeoutMs ?? 5000, maxResponseBytes: options.maxResponseBytes ?? 1024 * 1024, callerSignal: options.callerSignal, headers: { traceparent: '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01' } })
}

async function open (onToolsChanged?: () => void): Promise<LegacySession> {
  const call = newCall()
  try {
    return await LegacySession.open({ url, dispatcher, accessToken: 'token-1', clientInfo: { name: 'obo-relay', version: 't' }, ...(onToolsChanged === undefined ? {} : { onToolsChanged }) }, call)
  } finally {
    call.dispose()
  }
}

const posted = (method: string) => seen.filter((s) => s.message?.['method'] === method)

describe('LegacySession', () => {
  it('opens with initialize and notifications/initialized, then sends the session and version on every request', async () => {
    handler = (message, res) => json(res, { jsonrpc: '2.0', id: message['id'], result: { tools: [] } })
    const session = await open()
    expect(session.sessionId).toBe('s-1')
    const [init] = posted('initialize')
    expect(init?.message?.['params']).toEqual({ protocolVersion: '2025-11-25', capabilities: {}, clientInfo: { name: 'obo-relay', version: 't' } })
    expect(init?.headers).toMatchObject({ authorization: 'Bearer token-1', accept: 'application/json, text/event-stream', 'content-type': 'application/json' })
    expect(init?.headers['mcp-session-id']).toBeUndefined()
    const [initialized] = posted('notifications/initialized')
    expect(initialized?.headers).toMatchObject({ 'mcp-session-id': 's-1', 'mcp-protocol-version': '2025-11-25' })

    const call = newCall()
    expect(await session.request('tools/list', {}, call)).toEqual({ tools: [] })
    call.dispose()
    const [list] = posted('tools/list')
    expect(list?.headers).toMatchObject({ 'mcp-session-id': 's-1', 'mcp-protocol-version': '2025-11-25', authorization: 'Bearer token-1', traceparent: expect.stringMatching(/^00-/) })
  })

  it('on an SSE answer: its own progress is reported, a list change is signalled, the server\'s requests are answered', async () => {
    const onToolsChanged = vi.fn()
    handler = (message, res) => {
      const token = (message['params'] as { _meta?: { progressToken?: unknown } })._meta?.progressToken
      sse(res, [
        { jsonrpc: '2.0', method: 'notifications/progress', params: { progressToken: token, progress: 1, total: 2, message: 'half' } },
        { jsonrpc: '2.0', method: 'notifications/progress', params: { progressToken: 'someone-else', progress: 9 } },
        { jsonrpc: '2.0', method: 'notifications/tools/list_changed' },
        { jsonrpc: '2.0', id: 'srv-1', method: 'ping' },
        { jsonrpc: '2.0', id: 'srv-2', method: 'sampling/createMessage', params: {} },
        { jsonrpc: '2.0', id: message['id'], result: { content: [{ type: 'text', text: 'done' }] } },
      ])
    }
    const session = await open(onToolsChanged)
    const progress: unknown[] = []
    const call = newCall()
    const result = await session.request('tools/call', { name: 'slow', arguments: {} }, call, { onProgress: (p) => progress.push(p) })
    call.dispose()
    expect(result).toEqual({ content: [{ type: 'text', text: 'done' }] })
    expect(progress).toEqual([{ progress: 1, total: 2, message: 'half' }])
    expect(onToolsChanged).toHaveBeenCalledOnce()
    await vi.waitFor(() => { expect(seen.filter((s) => s.message !== undefined && 'id' in s.message && !('method' in s.message))).toHaveLength(2) })
    const answers = seen.map((s) => s.message).filter((m) => m !== undefined && 'id' in m && !('method' in m))
    expect(answers).toContainEqual({ jsonrpc: '2.0', id: 'srv-1', result: {} })
    expect(answers).toContainEqual(expect.objectContaining({ jsonrpc: '2.0', id: 'srv-2', error: expect.objectContaining({ code: -32601 }) }))
  })

  it('a server flooding its stream with requests of its own gets at most 16 answers per exchange', async () => {
    const onToolsChanged = vi.fn()
    const session = await open(onToolsChanged)
    handler = (message, res) => {
      sse(res, [
        ...Array.from({ length: 40 }, (_, i) => ({ jsonrpc: '2.0', id: `srv-${i}`, method: 'ping' })),
        // A request past the cap is dropped, not taken for the notification its method names.
        { jsonrpc: '2.0', id: 'srv-late', method: 'notifications/tools/list_changed' },
        { jsonrpc: '2.0', id: message['id'], result: { content: [] } },
      ])
    }
    const call = newCall()
    expect(await session.request('tools/call', { name: 'x' }, call)).toEqual({ content: [] })
    call.dispose()
    const answers = () => seen.filter((s) => s.message !== undefined && 'result' in s.message && String(s.message['id']).startsWith('srv-'))
    await vi.waitFor(() => { expect(answers()).toHaveLength(16) })
    await new Promise((resolve) => setTimeout(resolve, 100))
    expect(answers()).toHaveLength(16)
    expect(onToolsChanged).not.toHaveBeenCalled()
  })

  it('a JSON-RPC error becomes its code alone; a 404 is a status alone, whatever its body says', async () => {
    const session = await open()
    handler = (message, res) => json(res, { jsonrpc: '2.0', id: message['id'], error: { code: -32000, message: 'secret internals' } })
    const call = newCall()
    const rpc = await session.request('tools/call', { name: 'x' }, call).catch((err: unknown) => err)
    expect(rpc).toBeInstanceOf(McpRpcError)
    expect((rpc as McpRpcError).rpcCode).toBe(-32000)
    expect(String(rpc)).not.toContain('secret')

    handler = (message, res) => { res.writeHead(404, { 'content-type': 'application/json' }).end(JSON.stringify({ jsonrpc: '2.0', id: message['id'], error: { code: -32001, message: 'Session not found' } })) }
    const lost = await session.request('tools/call', { name: 'x' }, call).catch((err: unknown) => err)
    call.dispose()
    expect(lost).toBeInstanceOf(McpHttpError)
    expect(lost).toMatchObject({ status: 404, rpcCode: undefined })
  })

  it('refuses a protocol version it does not speak, and a session id it could not send back', async () => {
    entry = (message, res) => json(res, { jsonrpc: '2.0', id: message['id'], result: { protocolVersion: '2099-01-01', capabilities: {} } })
    await expect(open()).rejects.toBeInstanceOf(McpInvalidResponseError)
    entry = (message, res) => json(res, { jsonrpc: '2.0', id: message['id'], result: { protocolVersion: '2025-06-18', capabilities: {} } }, { 'mcp-session-id': 'has space' })
    await expect(open()).rejects.toBeInstanceOf(McpInvalidResponseError)
    expect(posted('notifications/initialized')).toHaveLength(0)
  })

  it('an answer past the byte cap fails the call as too large', async () => {
    const session = await open()
    handler = (message, res) => json(res, { jsonrpc: '2.0', id: message['id'], result: { content: [{ type: 'text', text: 'x'.repeat(10_000) }] } })
    const call = newCall({ maxResponseBytes: 4096 })
    await expect(session.request('tools/call', { name: 'big' }, call)).rejects.toBeInstanceOf(McpResponseTooLargeError)
    expect(call.end).toBe('too_large')
    call.dispose()
  })

  it('a caller that leaves cuts the request and tells the server (notifications/cancelled)', async () => {
    const session = await open()
    let closed = false
    handler = (message, res) => {
      sse(res, [{ jsonrpc: '2.0', method: 'notifications/message', params: { level: 'info', data: 'started' } }], false)
      res.on('close', () => { closed = true })
    }
    const caller = new AbortController()
    const call = newCall({ callerSignal: caller.signal })
    const pending = session.request('tools/call', { name: 'hang' }, call)
    await vi.waitFor(() => { expect(posted('tools/call')).toHaveLength(1) })
    const id = posted('tools/call')[0]?.message?.['id']
    caller.abort()
    await expect(pending).rejects.toThrow()
    expect(call.end).toBe('caller_gone')
    call.dispose()
    await vi.waitFor(() => { expect(closed).toBe(true) })
    await vi.waitFor(() => { expect(posted('notifications/cancelled').map((s) => s.message?.['params'])).toContainEqual(expect.objectContaining({ requestId: id })) })
  })

  it('a server that drops the connection mid-answer: "closed", not taken for an unreachable server', async () => {
    const session = await open()
    handler = (message, res) => {
      sse(res, [{ jsonrpc: '2.0', method: 'notifications/message', params: { level: 'info', data: 'started' } }], false)
      setTimeout(() => res.destroy(), 20)
    }
    const call = newCall()
    const err = await session.request('tools/call', { name: 'x' }, call).catch((e: unknown) => e)
    expect(classifyDownstreamFailure(err, call)).toEqual({ kind: 'closed' })
    expect(downstreamError(classifyDownstreamFailure(err, call), 'hand', 5000).reason).toBe('downstream_closed')
    call.dispose()
  })

  it('keeps its connection across requests answered in SSE and JSON, and ends the session with DELETE', async () => {
    let n = 0
    handler = (message, res) => {
      // The stream ends a little after its answer, as a server finishing its own work does.
      if (n++ % 2 === 0) {
        sse(res, [{ jsonrpc: '2.0', id: message['id'], result: { n } }], false)
        setTimeout(() => res.end(), 30)
      } else json(res, { jsonrpc: '2.0', id: message['id'], result: { n } })
    }
    const session = await open()
    const before = connections
    const call = newCall()
    for (let i = 0; i < 6; i++) await session.request('tools/list', {}, call)
    call.dispose()
    expect(connections - before).toBeLessThanOrEqual(1)
    await session.terminate(2000)
    expect(session.closed).toBe(true)
    const deleted = seen.filter((s) => s.method === 'DELETE')
    expect(deleted).toHaveLength(1)
    expect(deleted[0]?.headers['mcp-session-id']).toBe('s-1')
  })
})
