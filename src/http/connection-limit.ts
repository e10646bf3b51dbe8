// At most N open connections per client address, counted on the TCP peer. Behind a trusted proxy every
// connection comes from the proxy, so the limit is off there (TRUST_PROXY) and the proxy bounds clients.
import type { Server } from 'node:http'

export function limitConnectionsPerClient (server: Server, maxPerClient: number): void {
  if (maxPerClient <= 0) return
  const open = new Map<string, number>()
  server.on('connection', (socket) => {
    const address = socket.remoteAddress ?? 'unknown'
    const count = (open.get(address) ?? 0) + 1
    if (count > maxPerClient) {
      socket.destroy()
      return
    }
    open.set(address, count)
    socket.once('close', () => {
      const remaining = (open.get(address) ?? 1) - 1
      if (remaining <= 0) open.delete(address)
      else open.set(address, remaining)
    })
  })
}
