// Bench process: the floor of S2, a minimal Node reverse proxy: node:http in, undici Pool.request out with the
// request piped up and the answer piped back, and one header swapped (Authorization → the OBO token). No token
// check, no cache, no policy: what any Node gateway costs at least.
import { createServer } from 'node:http'
import type { AddressInfo } from 'node:net'
import { Pool } from 'undici'
import { ready, serveIpc } from '../lib/ipc-child.ts'
import { headerCopy } from '../lib/proxy-headers.ts'

const upstream = new URL(process.env.BENCH_UPSTREAM ?? '')
const authorization = `Bearer ${process.env.BENCH_OBO_TOKEN ?? ''}`
const pool = new Pool(upstream.origin, { connections: 128, keepAliveTimeout: 30_000 })
const copyHeaders = headerCopy()

const server = createServer((req, res) => {
  const headers = copyHeaders(req.headers)
  headers.authorization = authorization
  const hasBody = req.method !== 'GET' && req.method !== 'HEAD' && req.method !== 'DELETE'
  pool.request({ path: req.url ?? '/', method: req.method as 'POST', headers, body: hasBody ? req : null }).then((answer) => {
    res.writeHead(answer.statusCode, copyHeaders(answer.headers))
    answer.body.pipe(res)
  }, () => {
    if (!res.headersSent) res.writeHead(502)
    res.end()
  })
})
server.keepAliveTimeout = 65_000
await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
const { port } = server.address() as AddressInfo
serveIpc({}, async () => { server.closeAllConnections(); server.close(); await pool.close() })
ready({ url: `http://127.0.0.1:${port}`, port })
