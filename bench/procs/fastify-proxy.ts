// Bench process: a second floor of S2, the minimal proxy again but on the relay's own framework: Fastify (no
// logger, no plugins, no hooks), the request body read as bytes, undici Pool.request out with one header
// swapped, the answer read whole and sent in one write (as the relay sends a small answer). No token check, no
// cache, no policy: what the relay's framework and client cost before the relay does anything of its own.
import type { AddressInfo } from 'node:net'
import Fastify from 'fastify'
import { Pool } from 'undici'
import { ready, serveIpc } from '../lib/ipc-child.ts'
import { headerCopy } from '../lib/proxy-headers.ts'

const upstream = new URL(process.env.BENCH_UPSTREAM ?? '')
const authorization = `Bearer ${process.env.BENCH_OBO_TOKEN ?? ''}`
const pool = new Pool(upstream.origin, { connections: 128, keepAliveTimeout: 30_000 })
// Fastify sets the answer's content-length itself, undici the request's.
const copyHeaders = headerCopy(['content-length'])

const app = Fastify({ logger: false })
app.removeAllContentTypeParsers()
app.addContentTypeParser('*', { parseAs: 'buffer' }, (_request, body, done) => { done(null, body) })
app.route({
  method: ['GET', 'POST', 'DELETE'],
  url: '/mcp',
  handler: async (request, reply) => {
    const headers = copyHeaders(request.headers)
    headers.authorization = authorization
    const answer = await pool.request({ path: request.url, method: request.method as 'POST', headers, body: request.method === 'POST' ? request.body as Buffer : null })
    const body = Buffer.from(await answer.body.arrayBuffer())
    return reply.code(answer.statusCode).headers(copyHeaders(answer.headers)).send(body)
  },
})
await app.listen({ port: 0, host: '127.0.0.1' })
const { port } = app.server.address() as AddressInfo
serveIpc({}, async () => { await app.close(); await pool.close() })
ready({ url: `http://127.0.0.1:${port}`, port })
