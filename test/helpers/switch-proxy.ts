// A load balancer for replica tests: one public origin in front of relay processes, choosing the replica per
// request (`route`), streaming both ways, and counting who served what. The relays' PUBLIC_URL is its URL, as
// behind HAProxy; the Host header passes unchanged.
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http'
import type { AddressInfo } from 'node:net'
import { pipeline } from 'node:stream/promises'
import { Agent, request } from 'undici'

const HOP_BY_HOP = new Set(['connection', 'keep-alive', 'proxy-connection', 'transfer-encoding', 'upgrade', 'te', 'trailer'])

export interface SwitchProxy {
  url: string
  port: number
  /** Picks the replica (its base URL) for each request; replace it to move traffic. */
  route: (request: IncomingMessage) => string
  /** Requests each replica URL received. */
  served: Map<string, number>
  close: () => Promise<void>
}

export async function startSwitchProxy (initial: (request: IncomingMessage) => string, port = 0): Promise<SwitchProxy> {
  const agent = new Agent({ keepAliveTimeout: 1_000 })
  const proxy: SwitchProxy = { url: '', port: 0, route: initial, served: new Map(), close: async () => {} }
  const server: Server = createServer((req: IncomingMessage, res: ServerResponse) => {
    const target = proxy.route(req)
    proxy.served.set(target, (proxy.served.get(target) ?? 0) + 1)
    const headers: Record<string, string | string[]> = {}
    for (const [name, value] of Object.entries(req.headers)) if (value !== undefined && !HOP_BY_HOP.has(name)) headers[name] = value
    const controller = new AbortController()
    res.once('close', () => { if (!res.writableFinished) controller.abort() })
    const hasBody = req.method !== 'GET' && req.method !== 'HEAD'
    request(`${target}${req.url ?? '/'}`, { method: req.method as 'GET', headers, body: hasBody ? req : null, dispatcher: agent, signal: controller.signal })
      .then(async (upstream) => {
        const out: Record<string, string | string[]> = {}
        for (const [name, value] of Object.entries(upstream.headers)) if (value !== undefined && !HOP_BY_HOP.has(name)) out[name] = value
        res.writeHead(upstream.statusCode, out)
        res.flushHeaders()
        await pipeline(upstream.body, res)
      })
      .catch(() => {
        // The replica went away (killed) or the client did: as a load balancer, 502 if nothing was sent yet.
        if (!res.headersSent) res.writeHead(502, { 'content-type': 'application/json' }).end('{"error":"bad_gateway"}')
        else res.destroy()
      })
  })
  await new Promise<void>((resolve) => server.listen(port, '127.0.0.1', resolve))
  proxy.port = (server.address() as AddressInfo).port
  proxy.url = `http://localhost:${proxy.port}`
  proxy.close = async () => {
    server.closeAllConnections()
    await new Promise((resolve) => server.close(resolve))
    await agent.close()
  }
  return proxy
}
