// A 50 MB tool result was read whole and returned; an endless JSON body or SSE stream kept being read after
// the relay had answered 504; an unterminated SSE event grew memory without bound; opening a session
// (initialize) ignored DOWNSTREAM_TIMEOUT_MS and the caller leaving; responses were not aborted on timeout.
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { countingDispatcher, HOSTILE_APIS, startHostileStack, type HostileStack } from '../helpers/hostile.ts'

const CAP = 1024 * 1024
const TIMEOUT_MS = 3000
/** One read of an HTTP body (undici hands over up to 64 KiB at a time), plus the event framing. */
const READ_SLACK = 128 * 1024

let h: HostileStack
let alice: string
/** Bytes of response bodies the relay read from the hostile server, per tool call. */
const counting = countingDispatcher((url, method) => url.includes('/bounded/mcp') && method === 'POST')
const readBytes = counting.reads

beforeAll(async () => {
  h = await startHostileStack(['bounded', 'hang'], {
    pins: { bounded: HOSTILE_APIS.bounded.appIdUri, hang: HOSTILE_APIS.hang.appIdUri },
    relayEnv: { DOWNSTREAM_TIMEOUT_MS: String(TIMEOUT_MS), DOWNSTREAM_MAX_RESPONSE_BYTES: String(CAP) },
    relay: { mcpDispatcher: counting.dispatcher },
  })
  counting.connect(h.stack)
  alice = await h.stack.userToken('alice@contoso.test')
  // Open the session first, so each case below measures only its own tool call.
  expect((await callTool('ok')).status).toBe(200)
})
afterAll(async () => { await h?.close() })

async function callTool (tool: string, init: RequestInit = {}) {
  return await h.stack.call(`/v1/servers/hostile-bounded/tools/${tool}`, { method: 'POST', token: alice, body: '{"arguments":{}}', ...init })
}

/** The fixture's record of the stream for `tool`, once the relay has closed it. */
async function closedStream (tool: string, withinMs: number) {
  const deadline = Date.now() + withinMs
  for (;;) {
    const record = h.hostile.streams.filter((s) => s.tool === tool).at(-1)
    if (record !== undefined && record.durationMs > 0) return record
    if (Date.now() > deadline) throw new Error(`the relay did not close the ${tool} stream within ${withinMs} ms`)
    await new Promise((resolve) => setTimeout(resolve, 25))
  }
}

describe('every downstream answer is bounded in bytes and time', () => {
  it('a 50 MB result: 502 downstream_too_large after reading at most the cap, and the connection is cut', async () => {
    readBytes.length = 0
    const res = await callTool('big_result')
    expect(res.status).toBe(502)
    expect(res.body).toMatchObject({ error: 'bad_gateway', reason: 'downstream_too_large' })
    expect(readBytes[0]).toBeGreaterThan(CAP)
    expect(readBytes[0]).toBeLessThanOrEqual(CAP + READ_SLACK)
    const stream = await closedStream('big_result', 2000)
    expect(stream.closedByPeer).toBe(true)
    // What left the fixture: the cap plus what loopback socket buffers hold — far from 50 MB.
    expect(stream.bytesWritten).toBeLessThan(CAP + 16 * 1024 * 1024)
  })

  it('an unterminated SSE event: 502 once the event passes the cap', async () => {
    readBytes.length = 0
    const res = await callTool('unterminated_sse')
    expect(res.status).toBe(502)
    expect(res.body.reason).toBe('downstream_too_large')
    expect(readBytes[0]).toBeLessThanOrEqual(CAP + READ_SLACK)
    expect((await closedStream('unterminated_sse', 2000)).closedByPeer).toBe(true)
  })

  it('an endless, slow JSON body: 504 at the deadline, and the relay stops reading then', async () => {
    const started = Date.now()
    const res = await callTool('endless_json')
    expect(res.status).toBe(504)
    expect(res.body.reason).toBe('downstream_timeout')
    const stream = await closedStream('endless_json', 1500)
    expect(stream.closedByPeer).toBe(true)
    expect(stream.durationMs).toBeLessThan(TIMEOUT_MS + 1000)
    expect(Date.now() - started).toBeLessThan(TIMEOUT_MS + 1500)
  })

  it('a notification flood: 504 at the deadline, stream closed', async () => {
    const res = await callTool('flood')
    expect(res.status).toBe(504)
    const stream = await closedStream('flood', 1500)
    expect(stream.durationMs).toBeLessThan(TIMEOUT_MS + 1000)
  })

  it('a caller that leaves aborts its downstream request at once', async () => {
    const controller = new AbortController()
    const pending = callTool('endless_json', { signal: controller.signal }).catch(() => undefined)
    await new Promise((resolve) => setTimeout(resolve, 300))
    controller.abort()
    await pending
    const stream = await closedStream('endless_json', 1500)
    // Closed because the caller left, well before the relay's own deadline.
    expect(stream.durationMs).toBeLessThan(TIMEOUT_MS)
  })

  it('an initialize that never answers: 504 at the deadline (opening a session is bounded too)', async () => {
    const started = Date.now()
    const res = await h.stack.call('/v1/servers/hostile-hang/tools/ok', { method: 'POST', token: alice, body: '{}' })
    expect(res.status).toBe(504)
    expect(Date.now() - started).toBeLessThan(TIMEOUT_MS + 1500)
    expect((await closedStream('initialize', 1500)).closedByPeer).toBe(true)
  })

  it('the REST path never opens the standalone GET stream', () => {
    expect(h.hostile.requests.filter((r) => r.startsWith('GET /bounded/mcp') || r.startsWith('GET /hang/mcp'))).toEqual([])
  })

  it('after all that, the relay still serves a normal call, and the error bodies held nothing of the server\'s', async () => {
    const res = await callTool('ok')
    expect(res.status).toBe(200)
    expect(JSON.stringify(res.body)).not.toContain('xxxxxxxx')
  })
})
