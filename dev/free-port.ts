// Free loopback ports for the dev stack, the tests and the benchmark.
import { randomInt } from 'node:crypto'
import { readFileSync } from 'node:fs'
import { createServer } from 'node:net'

/**
 * A port nothing listens on, for a server to listen on a moment later. Picked at random below the kernel's
 * ephemeral range (Linux: /proc/sys/net/ipv4/ip_local_port_range), where no other process's `listen(0)` or
 * outgoing connection can take it between this check and that listen (a port handed out by `listen(0)` and
 * closed again could be, and was: EADDRINUSE in CI). Checked by listening on it once; `listen(0)` where there
 * is no such band.
 */
export async function freePort (host = '127.0.0.1'): Promise<number> {
  const range = portBand()
  if (range !== undefined) {
    for (let attempt = 0; attempt < 20; attempt++) {
      const port = range.low + randomInt(range.high - range.low)
      if (await listensOn(host, port)) return port
    }
  }
  return await new Promise((resolve, reject) => {
    const server = createServer()
    server.once('error', reject)
    server.listen(0, host, () => {
      const address = server.address()
      server.close(() => resolve(typeof address === 'object' && address !== null ? address.port : 0))
    })
  })
}

let band: { low: number, high: number } | null | undefined
/** The 12k ports below the ephemeral range (e.g. 20768–32767 under Linux's default 32768–60999). */
function portBand (): { low: number, high: number } | undefined {
  if (band === undefined) {
    band = null
    try {
      const [ephemeralLow] = readFileSync('/proc/sys/net/ipv4/ip_local_port_range', 'utf8').trim().split(/\s+/).map(Number)
      if (ephemeralLow !== undefined && Number.isInteger(ephemeralLow) && ephemeralLow > 2048) band = { low: Math.max(1024, ephemeralLow - 12_000), high: ephemeralLow }
    } catch {
      // Not Linux: listen(0).
    }
  }
  return band ?? undefined
}

async function listensOn (host: string, port: number): Promise<boolean> {
  return await new Promise((resolve) => {
    const server = createServer()
    server.once('error', () => { resolve(false) })
    server.listen(port, host, () => { server.close(() => { resolve(true) }) })
  })
}
