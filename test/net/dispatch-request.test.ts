// The gateway's dispatch handler against a real local HTTP server: whole reads, streaming past the bound,
// backpressure while unread, discard, aborts and undici's timeouts, each seen from the server's side too.
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http'
import type { AddressInfo, Socket } from 'node:net'
import { once } from 'node:events'
import { setTimeout as sleep } from 'node:timers/promises'
import { Agent } from 'undici'
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest'
import { dispatchRequest } from '../../src/net/dispatch-request.ts'

let server: Server
let origin: string
let handler: (req: IncomingMessage, res: ServerResponse) => void
const sockets = new Set<Socket>()
// One agent per test: a connection the server cut in an earlier test is never handed to a later one.
let agent: Agent

beforeAll(async () => {
  server = createServer((req, res) => { handler(req, res) })
  server.on('connection', (socket) => {
    sockets.add(socket)
    socket.once('close', () => sockets.delete(socket))
  })
  server.listen(0, '127.0.0.1')
  await once(server, 'listening')
  origin = `http://127.0.0.1:${(server.address() as AddressInfo).port}`
})
beforeEach(() => { agent = new Agent({ keepAliveTimeout: 10_000 }) })
afterEach(async () => {
  await agent.destroy()
  for (const socket of sockets) socket.destroy()
})
afterAll(() => { server.close() })

const send = async (signal = new AbortController().signal, extra: { bodyTimeout?: number, headersTimeout?: number } = {}) =>
  await dispatchRequest(agent, { origin, path: '/x', method: 'POST', body: '{}', headers: { 'content-type': 'application/json' }, ...extra }, signal)

describe('dispatchRequest', () => {
  it('reads a small answer whole, with its status and lower-case headers, and reuses the connection', async () => {
    const ports = new Set<number | undefined>()
    handler = (req, res) => {
      ports.add(req.socket.remotePort)
      res.writeHead(201, { 'Content-Type': 'application/json', 'X-Thing': 'a' }).end('{"ok":true}')
    }
    for (let i = 0; i < 10; i++) {
      const answer = await send()
      expect(answer.statusCode).toBe(201)
      expect(answer.headers['content-type']).toBe('application/json')
      expect(answer.headers['x-thing']).toBe('a')
      const read = await answer.body.readUpTo(64 * 1024)
      expect(read.whole?.toString()).toBe('{"ok":true}')
    }
    // Reused: undici opens a second connection when the next request comes in the same turn as the last one's
    // end (as it does under request()), never a new one per request.
    expect(ports.size).toBeLessThanOrEqual(2)
  })

  it('an informational answer (103 Early Hints, 102 Processing) is not taken for the final one', async () => {
    handler = (_req, res) => {
      res.writeEarlyHints({ link: '</style.css>; rel=preload' })
      res.writeProcessing()
      res.writeHead(401, { 'content-type': 'application/json', 'www-authenticate': 'Bearer error="invalid_token"' }).end('{"final":true}')
    }
    const answer = await send()
    expect(answer.statusCode).toBe(401)
    expect(answer.headers['www-authenticate']).toBe('Bearer error="invalid_token"')
    expect(answer.headers.link).toBeUndefined()
    expect((await answer.body.readUpTo(1024)).whole?.toString()).toBe('{"final":true}')
  })

  it('hands over what it read past the bound and streams the rest, byte for byte', async () => {
    const payload = Buffer.alloc(1024 * 1024)
    for (let i = 0; i < payload.length; i++) payload[i] = (i * 7) % 251
    handler = (_req, res) => { res.writeHead(200, { 'content-type': 'application/json' }).end(payload) }
    const answer = await send()
    const read = await answer.body.readUpTo(64 * 1024)
    expect(read.whole).toBeUndefined()
    const parts = [...(read.head ?? [])]
    expect(Buffer.concat(parts).length).toBeGreaterThan(64 * 1024)
    for await (const chunk of answer.body.stream()) parts.push(chunk as Buffer)
    expect(Buffer.concat(parts).equals(payload)).toBe(true)
  })

  it('reads an answer larger than what it holds unread whole when the bound allows it', async () => {
    const payload = Buffer.alloc(1024 * 1024, 0x62)
    handler = (_req, res) => { res.writeHead(200, { 'content-type': 'application/json' }).end(payload) }
    const answer = await send()
    await sleep(100)
    const read = await answer.body.readUpTo(2 * 1024 * 1024)
    expect(read.whole?.equals(payload)).toBe(true)
  })

  it('arrived() gives a body only once it has all come and within the bound, taking nothing otherwise', async () => {
    let finish: (() => void) | undefined
    handler = (_req, res) => {
      res.writeHead(200, { 'content-type': 'text/event-stream' }).write('data: 1\n\n')
      finish = () => res.end('data: 2\n\n')
    }
    const answer = await send()
    await sleep(50)
    expect(answer.body.arrived(1024)).toBeUndefined()
    finish?.()
    await sleep(50)
    expect(answer.body.arrived(10)).toBeUndefined()
    expect(answer.body.arrived(1024)?.toString()).toBe('data: 1\n\ndata: 2\n\n')
  })

  it('never reads an answer that came whole but is past the bound as whole', async () => {
    handler = (_req, res) => { res.writeHead(200, { 'content-type': 'application/json' }).end('x'.repeat(5000)) }
    const answer = await send()
    await sleep(100)
    const read = await answer.body.readUpTo(4096)
    expect(read.whole).toBeUndefined()
    expect(Buffer.concat(read.head ?? []).length).toBe(5000)
  })

  it('holds a bounded amount of an answer nobody reads: the connection is paused, the server blocked', async () => {
    let written = 0
    let ended = false
    handler = (_req, res) => {
      res.writeHead(200, { 'content-type': 'application/json' })
      const chunk = Buffer.alloc(64 * 1024, 0x61)
      const pump = (): void => {
        while (written < 256 * 1024 * 1024) {
          written += chunk.length
          if (!res.write(chunk)) {
            res.once('drain', pump)
            return
          }
        }
        ended = true
        res.end()
      }
      pump()
    }
    const answer = await send()
    await sleep(500)
    // Unpaused, 256 MiB over loopback would be read into memory in well under this time.
    expect(ended).toBe(false)
    expect(written).toBeLessThan(32 * 1024 * 1024)
    answer.body.discard()
  })

  it('closes the connection when the body is discarded, without reading on', async () => {
    let closed = false
    handler = (req, res) => {
      res.writeHead(401, { 'content-type': 'text/plain' })
      const tick = setInterval(() => res.write('x'.repeat(1024)), 5)
      req.socket.once('close', () => { clearInterval(tick); closed = true })
    }
    const answer = await send()
    expect(answer.statusCode).toBe(401)
    answer.body.discard()
    await expect.poll(() => closed, { timeout: 2000 }).toBe(true)
  })

  it('an abort before the headers rejects with its reason and closes the connection', async () => {
    let closed = false
    handler = (req) => { req.socket.once('close', () => { closed = true }) }
    const controller = new AbortController()
    const pending = send(controller.signal)
    await sleep(100)
    const reason = new Error('caller went away')
    controller.abort(reason)
    await expect(pending).rejects.toBe(reason)
    await expect.poll(() => closed, { timeout: 2000 }).toBe(true)
  })

  it('an already aborted signal never connects', async () => {
    let connected = false
    const onConnection = (): void => { connected = true }
    server.on('connection', onConnection)
    const controller = new AbortController()
    controller.abort(new Error('gone'))
    await expect(send(controller.signal)).rejects.toThrow('gone')
    await sleep(100)
    server.off('connection', onConnection)
    expect(connected).toBe(false)
  })

  it('an abort while the body is read rejects the read and closes the connection', async () => {
    let closed = false
    handler = (req, res) => {
      res.writeHead(200, { 'content-type': 'application/json' }).write('{"partial":')
      req.socket.once('close', () => { closed = true })
    }
    const controller = new AbortController()
    const answer = await send(controller.signal)
    const reading = answer.body.readUpTo(64 * 1024)
    await sleep(50)
    controller.abort(new Error('stop'))
    await expect(reading).rejects.toThrow('stop')
    await expect.poll(() => closed, { timeout: 2000 }).toBe(true)
  })

  it('a body that stalls fails with undici\'s body timeout, in a read and in a stream', async () => {
    handler = (_req, res) => { res.writeHead(200, { 'content-type': 'application/json' }).write('{"a":') }
    const answer = await send(undefined, { bodyTimeout: 200 })
    await expect(answer.body.readUpTo(64 * 1024)).rejects.toMatchObject({ code: 'UND_ERR_BODY_TIMEOUT' })
    const again = await send(undefined, { bodyTimeout: 200 })
    const stream = again.body.stream()
    const failed = once(stream, 'error')
    stream.resume()
    const [err] = await failed
    expect((err as { code?: string }).code).toBe('UND_ERR_BODY_TIMEOUT')
  })

  it('headers that never come fail with undici\'s headers timeout', async () => {
    handler = () => {}
    await expect(send(undefined, { headersTimeout: 200 })).rejects.toMatchObject({ code: 'UND_ERR_HEADERS_TIMEOUT' })
  })

  it('destroying the stream aborts the exchange (the server sees its connection close)', async () => {
    let closed = false
    handler = (req, res) => {
      res.writeHead(200, { 'content-type': 'text/event-stream' })
      const tick = setInterval(() => res.write('data: {}\n\n'), 5)
      req.socket.once('close', () => { clearInterval(tick); closed = true })
    }
    const answer = await send()
    const stream = answer.body.stream()
    const [first] = await once(stream, 'data')
    expect(String(first)).toContain('data:')
    stream.destroy()
    await expect.poll(() => closed, { timeout: 2000 }).toBe(true)
  })

  it('a connection cut mid-body fails the read (never a short answer taken for a whole one)', async () => {
    handler = (req, res) => {
      res.writeHead(200, { 'content-type': 'application/json', 'content-length': '100' }).write('{"a":')
      setTimeout(() => req.socket.destroy(), 50)
    }
    const answer = await send()
    await expect(answer.body.readUpTo(64 * 1024)).rejects.toMatchObject({ code: expect.stringMatching(/^UND_ERR/) })
  })
})
