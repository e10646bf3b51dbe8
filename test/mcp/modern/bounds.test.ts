// Hard limits: a hostile server cannot make the client read (or the server write) without bound, nor hang it.
import type { ServerResponse } from 'node:http'
import { afterEach, describe, expect, it } from 'vitest'
import { createModernMcpClient, McpResponseTooLargeError, McpTimeoutError, postJsonRpc, createModernRequest, modernHeadersFor } from '../../../src/mcp/modern/index.ts'
import { startLocalServer, type LocalServer } from './helpers.ts'

const LIMIT = 256 * 1024
/** One read of the response body: a socket read, 64 KiB in Node. */
const ONE_READ = 64 * 1024
/** What loopback socket buffers (both kernels' and Node's) can take in before the writer is told to wait. */
const SOCKET_BUFFERS = 16 * 1024 * 1024
const CHUNK = Buffer.alloc(16 * 1024, 0x61)

const servers: LocalServer[] = []
afterEach(async () => {
  await Promise.all(servers.splice(0).map(async (server) => await server.close()))
})

interface Flood { written: () => number, closed: Promise<void> }

/** Writes `prefix` then endless filler, respecting backpressure, until the client goes away. */
function flood (res: ServerResponse, prefix: string): Flood {
  let written = 0
  const closed = new Promise<void>((resolve) => res.once('close', resolve))
  const pump = (): void => {
    while (!res.destroyed) {
      written += CHUNK.length
      if (!res.write(CHUNK)) {
        res.once('drain', pump)
        return
      }
    }
  }
  res.write(prefix)
  written += Buffer.byteLength(prefix)
  pump()
  return { written: () => written, closed }
}

async function hostile (contentType: string, prefix: string): Promise<{ server: LocalServer, flooded: Promise<Flood> }> {
  let resolveFlood!: (flood: Flood) => void
  const flooded = new Promise<Flood>((resolve) => { resolveFlood = resolve })
  const server = await startLocalServer((req, res) => {
    req.resume()
    req.on('end', () => {
      res.writeHead(200, { 'Content-Type': contentType })
      resolveFlood(flood(res, prefix))
    })
  })
  servers.push(server)
  return { server, flooded }
}

function discoverCall (url: string, extra: { timeoutMs?: number, signal?: AbortSignal } = {}): ReturnType<typeof postJsonRpc> {
  const message = createModernRequest(1, 'server/discover', {})
  return postJsonRpc({ url, fetch: globalThis.fetch, message, headers: modernHeadersFor(message), maxResponseBytes: LIMIT, timeoutMs: extra.timeoutMs ?? 20_000, signal: extra.signal })
}

describe('byte bounds', () => {
  it('stops reading an endless JSON body just past the limit and aborts the request', async () => {
    const { server, flooded } = await hostile('application/json', '{"jsonrpc":"2.0","id":1,"result":{"pad":"')
    const failure = await discoverCall(server.url).catch((err: unknown) => err)
    expect(failure).toBeInstanceOf(McpResponseTooLargeError)
    const { bytesRead, limitBytes } = failure as McpResponseTooLargeError
    expect(limitBytes).toBe(LIMIT)
    expect(bytesRead).toBeGreaterThan(LIMIT)
    expect(bytesRead).toBeLessThanOrEqual(LIMIT + ONE_READ)
    const { written, closed } = await flooded
    await closed
    // What the server got out before the connection closed: the client's reads plus socket buffers, not the flood.
    expect(written()).toBeLessThan(LIMIT + SOCKET_BUFFERS)
  })

  it('stops reading an SSE event that never ends', async () => {
    const { server, flooded } = await hostile('text/event-stream', ': comment\n\ndata: {"jsonrpc":"2.0","method":"notifications/message","params":{"data":"')
    const failure = await discoverCall(server.url).catch((err: unknown) => err)
    expect(failure).toBeInstanceOf(McpResponseTooLargeError)
    expect((failure as McpResponseTooLargeError).bytesRead).toBeLessThanOrEqual(LIMIT + ONE_READ)
    const { written, closed } = await flooded
    await closed
    expect(written()).toBeLessThan(LIMIT + SOCKET_BUFFERS)
  })

  it('refuses a JSON body whose Content-Length is over the limit without reading it', async () => {
    const server = await startLocalServer((req, res) => {
      req.resume()
      res.writeHead(200, { 'Content-Type': 'application/json', 'Content-Length': String(LIMIT * 4) })
      res.write('{')
    })
    servers.push(server)
    expect(await discoverCall(server.url).catch((err: unknown) => err)).toMatchObject({ bytesRead: 0, limitBytes: LIMIT })
  })

  it('bounds each SSE event, not the stream: many small events and then the response pass', async () => {
    const server = await startLocalServer((req, res) => {
      req.resume()
      req.on('end', () => {
        res.writeHead(200, { 'Content-Type': 'text/event-stream' })
        const progress = `data: ${JSON.stringify({ jsonrpc: '2.0', method: 'notifications/progress', params: { progressToken: 'x', progress: 1, pad: 'p'.repeat(60 * 1024) } })}\r\n\r\n`
        for (let i = 0; i < 10; i++) res.write(progress)
        res.end('event: message\ndata: {"jsonrpc":"2.0","id":1,\ndata: "result":{"resultType":"complete","supportedVersions":["2026-07-28"],"capabilities":{},"ttlMs":0,"cacheScope":"private"}}\n\n')
      })
    })
    servers.push(server)
    const { result } = await discoverCall(server.url)
    expect(result).toMatchObject({ supportedVersions: ['2026-07-28'] })
  })
})

describe('time bounds and cancellation', () => {
  /** A server that reads requests and never answers; `closed` resolves once every connection made to it has closed. */
  async function silentServer (): Promise<{ server: LocalServer, received: Promise<void>, closed: () => Promise<void> }> {
    let onReceived!: () => void
    const received = new Promise<void>((resolve) => { onReceived = resolve })
    const sockets: Array<Promise<void>> = []
    const server = await startLocalServer((req) => {
      req.resume()
      onReceived()
    })
    server.server.on('connection', (socket) => sockets.push(new Promise<void>((resolve) => socket.once('close', () => resolve()))))
    servers.push(server)
    return {
      server,
      received,
      closed: async () => {
        expect(sockets.length).toBeGreaterThan(0)
        await Promise.all(sockets)
      },
    }
  }

  it('gives up after timeoutMs on a server that never answers, and closes the connection', async () => {
    const { server, closed } = await silentServer()
    const client = createModernMcpClient({ url: server.url, fetch: globalThis.fetch, clientInfo: { name: 't', version: '1' } })
    const failure = await client.callTool('whoami', {}, { timeoutMs: 1000 }).catch((err: unknown) => err)
    expect(failure).toBeInstanceOf(McpTimeoutError)
    expect(failure).toMatchObject({ timeoutMs: 1000 })
    await closed()
  })

  it("rejects with the caller's abort reason and closes the connection, the HTTP cancellation", async () => {
    const { server, received, closed } = await silentServer()
    const client = createModernMcpClient({ url: server.url, fetch: globalThis.fetch, clientInfo: { name: 't', version: '1' } })
    const controller = new AbortController()
    const call = client.listTools({ signal: controller.signal }).catch((err: unknown) => err)
    await received
    const reason = new Error('the agent went away')
    controller.abort(reason)
    expect(await call).toBe(reason)
    await closed()
  })

  it('does not start a call whose signal is already aborted', async () => {
    const { server } = await silentServer()
    const client = createModernMcpClient({ url: server.url, fetch: globalThis.fetch, clientInfo: { name: 't', version: '1' } })
    const failure = await client.discover({ signal: AbortSignal.abort() }).catch((err: unknown) => err)
    expect(failure).toMatchObject({ name: 'AbortError' })
  })
})
