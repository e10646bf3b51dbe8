// Shutdown without waiting on connections that carry no request. Node's server.close() (and Fastify's idle
// close) leave alone a connection that has not sent a request yet, e.g. one a client pool opened ahead of use,
// so a relay draining for SIGTERM waited on it until a timeout. Here: once closing begins, every connection
// with no request in flight is destroyed at once, and every other one as soon as its response has ended.
import type { Server, ServerResponse } from 'node:http'
import type { Socket } from 'node:net'

export function drainConnectionsOnClose (server: Server): { close: () => void } {
  const inFlight = new Map<Socket, number>()
  let closing = false
  server.on('connection', (socket: Socket) => {
    if (closing) { socket.destroy(); return }
    inFlight.set(socket, 0)
    socket.once('close', () => inFlight.delete(socket))
  })
  server.on('request', (request, response: ServerResponse) => {
    const socket = request.socket
    inFlight.set(socket, (inFlight.get(socket) ?? 0) + 1)
    response.once('close', () => {
      const left = (inFlight.get(socket) ?? 1) - 1
      inFlight.set(socket, left)
      // Flush what the response wrote, then close: the client sees a complete answer and a closed connection.
      if (closing && left <= 0) socket.end(() => socket.destroy())
    })
  })
  return {
    close: () => {
      closing = true
      for (const [socket, count] of inFlight) if (count <= 0) socket.destroy()
    },
  }
}
