// A server whose standalone GET stream is one SSE event that never ends: /mcp/<server> cuts it at the byte cap; the /mcp
// tool-list watch reads at most the cap of it once (no reconnecting for more) and still forwards other servers' changes.
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest'
import { ToolListChangedNotificationSchema } from '@modelcontextprotocol/sdk/types.js'
import { countingFetch, HOSTILE_APIS, startHostileStack, type HostileStack } from '../helpers/hostile.ts'
import { connectSdk } from '../helpers/mcp-clients.ts'

const CAP = 1024 * 1024
/** One read of an HTTP body (undici hands over up to 64 KiB at a time), plus the event framing. */
const READ_SLACK = 128 * 1024
/** What loopback socket buffers may hold beyond what the relay read: far below what the fixture would send unchecked. */
const SOCKET_SLACK = 16 * 1024 * 1024

let h: HostileStack
let alice: string
/** Bytes of each GET answer the relay's own fetch (the tool-list watch) read from the hostile server. */
const watch = countingFetch((url, method) => url.includes('/unterminated-get/mcp') && method === 'GET')
const watchReads = watch.reads

beforeAll(async () => {
  h = await startHostileStack(['unterminated-get'], {
    pins: { 'unterminated-get': HOSTILE_APIS.unterminatedGet.appIdUri },
    relayEnv: { DOWNSTREAM_TIMEOUT_MS: '3000', DOWNSTREAM_MAX_RESPONSE_BYTES: String(CAP) },
    relay: { fetch: watch.fetch },
  })
  watch.connect(h.stack)
  alice = await h.stack.userToken('alice@contoso.test')
})
afterAll(async () => { await h?.close() })

/** GET requests that reached the hostile MCP endpoint (its PRM is fetched with GET too: not counted). */
const hostileGets = (): number => h.hostile.requests.filter((r) => r.startsWith('GET /unterminated-get/mcp')).length

/** The fixture's records of the GET streams, once the relay has closed each. */
async function closedGetStreams (atLeast: number, withinMs: number) {
  const deadline = Date.now() + withinMs
  for (;;) {
    const records = h.hostile.streams.filter((s) => s.tool === 'GET')
    if (records.length >= atLeast && records.every((s) => s.durationMs > 0)) return records
    if (Date.now() > deadline) throw new Error(`the relay did not close ${atLeast} GET stream(s) within ${withinMs} ms`)
    await new Promise((resolve) => setTimeout(resolve, 25))
  }
}

describe('an unterminated event on a downstream GET stream', () => {
  it('/mcp/<server>: the stream is cut once the event passes the cap, after at most the cap reached the client', async () => {
    const base = `${h.stack.relayUrl}/mcp/hostile-unterminated-get`
    const headers = { authorization: `Bearer ${alice}`, accept: 'application/json, text/event-stream' }
    const init = await fetch(base, {
      method: 'POST',
      headers: { ...headers, 'content-type': 'application/json' },
      body: JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'initialize', params: { protocolVersion: '2025-11-25', capabilities: {}, clientInfo: { name: 'raw', version: '1' } } }),
    })
    expect(init.status).toBe(200)
    await init.body?.cancel()
    const session = init.headers.get('mcp-session-id')!

    const started = Date.now()
    const get = await fetch(base, { headers: { ...headers, accept: 'text/event-stream', 'mcp-session-id': session } })
    expect(get.status).toBe(200)
    expect(get.headers.get('content-type')).toContain('text/event-stream')
    let received = 0
    const reader = get.body!.getReader()
    const ending = await (async () => {
      for (;;) {
        const { value, done } = await reader.read()
        if (done) return 'ended'
        received += value.byteLength
      }
    })().catch(() => 'cut')
    // Cut by the relay (the fixture alone would go on for 20 s), having passed on no more than the cap and one read.
    expect(ending).toBe('cut')
    expect(received).toBeGreaterThan(CAP / 2)
    expect(received).toBeLessThanOrEqual(CAP + READ_SLACK)
    expect(Date.now() - started).toBeLessThan(10_000)
    const [stream] = await closedGetStreams(1, 2000)
    expect(stream!.closedByPeer).toBe(true)
    expect(stream!.bytesWritten).toBeLessThan(CAP + SOCKET_SLACK)
    expect(h.stack.logs.some((line) => line.includes('downstream answer cut: too large') && line.includes('"perEvent":true'))).toBe(true)
  })

  it('the tool-list watch of /mcp reads at most the cap of it, once, and still forwards the other servers\' changes', async () => {
    const before = h.hostile.streams.filter((s) => s.tool === 'GET').length
    const getsBefore = hostileGets()
    watchReads.length = 0
    const { client, close } = await connectSdk(`${h.stack.relayUrl}/mcp`, alice)
    try {
      let changes = 0
      client.setNotificationHandler(ToolListChangedNotificationSchema, async () => { changes++ })
      // Listing first: the client's GET stream (and with it the relay's watch) opens right after initialize.
      const { tools } = await client.listTools()
      expect(tools.some((tool) => tool.name.startsWith('notes'))).toBe(true)
      // The watch opened the hostile server's GET stream, and the relay closed it.
      const records = await closedGetStreams(before + 1, 10_000)
      for (const record of records.slice(before)) {
        expect(record.closedByPeer).toBe(true)
        expect(record.bytesWritten).toBeLessThan(CAP + SOCKET_SLACK)
      }
      expect(watchReads.length).toBeGreaterThan(0)
      for (const read of watchReads) expect(read).toBeLessThanOrEqual(CAP + READ_SLACK)
      // The server asked for `retry: 0`; the SDK alone reconnects within a second (for another cap's worth each time,
      // for as long as the client listens). The relay stops watching that server instead.
      await new Promise((resolve) => setTimeout(resolve, 1500))
      expect(hostileGets() - getsBefore).toBe(1)
      expect(watchReads.length).toBe(1)
      expect(h.stack.logs.some((line) => line.includes('tool-list watch ended') && line.includes('hostile-unterminated-get') && line.includes('downstream_too_large'))).toBe(true)
      // The watch of the well-behaved server is untouched: its change still reaches the client.
      await vi.waitFor(() => {
        h.stack.notes.notifyToolsChanged()
        expect(changes).toBeGreaterThan(0)
      }, { timeout: 20_000, interval: 100 })
      expect((await client.listTools()).tools.length).toBe(tools.length)
    } finally {
      await close()
    }
  })
})
