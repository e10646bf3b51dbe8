// Real local servers (127.0.0.1 only) and recording doubles for DNS and TCP.
import { readFileSync } from 'node:fs'
import { createServer as createHttpServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http'
import { createServer as createHttpsServer } from 'node:https'
import { connect, type AddressInfo, type Socket } from 'node:net'
import type { LookupFn, ResolvedAddress, TcpConnector } from '../../src/net/safe-fetch.ts'

export const TENANT = '11111111-1111-1111-1111-111111111111'
export const AUTHORITY_HOST = new URL('https://login.microsoftonline.com')
export const ISSUER = `https://login.microsoftonline.com/${TENANT}/v2.0`
export const ISSUER_POLICY = { authorityHost: AUTHORITY_HOST, allowedTenants: [TENANT] }

const fixture = (name: string): string => readFileSync(new URL(`./fixtures/${name}`, import.meta.url), 'utf8')
/** Trust anchor for the test TLS server (SANs: public/internal/rebind.example.test, 127.0.0.1). */
export const TEST_CA_PEM = fixture('ca.pem')

export interface RecordedRequest { method: string, path: string, body: string }
export type Handler = (req: IncomingMessage, res: ServerResponse, body: string) => void

export interface TestServer {
  /** `http(s)://127.0.0.1:<port>` */
  origin: string
  port: number
  requests: RecordedRequest[]
  connections: () => number
  handle: (handler: Handler) => void
  close: () => Promise<void>
}

export async function startServer (handler: Handler, options: { tls?: boolean } = {}): Promise<TestServer> {
  let current = handler
  const requests: RecordedRequest[] = []
  let connections = 0
  const listener = (req: IncomingMessage, res: ServerResponse): void => {
    const chunks: Buffer[] = []
    req.on('data', (chunk: Buffer) => chunks.push(chunk))
    req.on('end', () => {
      const body = Buffer.concat(chunks).toString('utf8')
      requests.push({ method: req.method ?? '', path: req.url ?? '', body })
      current(req, res, body)
    })
  }
  const server: Server = options.tls === true
    ? createHttpsServer({ key: fixture('server-key.pem'), cert: fixture('server-cert.pem') }, listener)
    : createHttpServer(listener)
  server.on('connection', () => { connections++ })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const { port } = server.address() as AddressInfo
  return {
    origin: `${options.tls === true ? 'https' : 'http'}://127.0.0.1:${port}`,
    port,
    requests,
    connections: () => connections,
    handle: (next) => { current = next },
    close: () => new Promise((resolve) => {
      server.closeAllConnections()
      server.close(() => resolve())
    }),
  }
}

export function sendJson (res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  res.writeHead(status, { 'content-type': 'application/json', ...headers })
  res.end(JSON.stringify(body))
}

/** A PRM document trusting the test tenant. */
export function prmDocument (resource: string, overrides: Record<string, unknown> = {}): Record<string, unknown> {
  return { resource, authorization_servers: [ISSUER], scopes_supported: ['api://notes-mcp/user_impersonation'], ...overrides }
}

/** A lookup that answers from a table (one answer per call when a list of answers is given) and counts calls. */
export function fakeLookup (answers: Record<string, string[] | string[][]>): LookupFn & { calls: string[] } {
  const calls: string[] = []
  const lookup = async (hostname: string): Promise<ResolvedAddress[]> => {
    const entry = answers[hostname]
    if (entry === undefined) throw Object.assign(new Error(`getaddrinfo ENOTFOUND ${hostname}`), { code: 'ENOTFOUND' })
    const callIndex = calls.filter((name) => name === hostname).length
    calls.push(hostname)
    const nested = Array.isArray(entry[0])
    const addresses = (nested ? (entry as string[][])[Math.min(callIndex, entry.length - 1)] : entry as string[]) ?? []
    return addresses.map((address) => ({ address, family: address.includes(':') ? 6 : 4 }))
  }
  return Object.assign(lookup, { calls })
}

/**
 * A connector that records every IP it is asked to dial. Addresses in `routes` are carried to a local
 * port (a stand-in network); any other address is refused without touching the network.
 */
export function recordingConnector (routes: Record<string, number> = {}): { connect: TcpConnector, attempts: string[] } {
  const attempts: string[] = []
  const connector: TcpConnector = ({ ip }): Socket => {
    attempts.push(ip)
    const port = routes[ip]
    if (port === undefined) throw new Error(`test connector: no route to ${ip}`)
    return connect({ host: '127.0.0.1', port })
  }
  return { connect: connector, attempts }
}
