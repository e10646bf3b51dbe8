// SSRF-safe HTTP for metadata documents: every resolved address is checked and the checked one is the one dialled.
import { lookup as dnsLookup } from 'node:dns/promises'
import { connect as tcpConnect, isIP, type Socket } from 'node:net'
import { connect as tlsConnect, rootCertificates, type ConnectionOptions } from 'node:tls'
import { Agent, type Dispatcher, type buildConnector } from 'undici'
import { classifyAddress, isAddressAllowed, isLoopbackHostname } from './address-policy.ts'
import { transportErrorCode } from './error-code.ts'
import { MetadataError } from './metadata-error.ts'

export interface ResolvedAddress { address: string, family: number }
/** `dns.promises.lookup(hostname, { all: true })` or a test double. */
export type LookupFn = (hostname: string, options: { all: true }) => Promise<ResolvedAddress[]>
/** Opens a TCP connection to an already approved IP; TLS, if any, is layered on top by the fetcher. */
export type TcpConnector = (target: { ip: string, port: number, hostname: string }) => Socket

export interface SafeFetcherOptions {
  /** Dev mode: loopback hosts (and http to them) are reachable, but only at `loopbackOrigins`. */
  allowInsecureLoopback: boolean
  /** `host:port` pairs loopback fetches may reach in dev mode: the configured servers' own. */
  loopbackOrigins?: readonly string[]
  /** Hostnames whose private, loopback or link-local addresses may be reached. */
  allowedHosts: readonly string[]
  trustedCaPem?: string | undefined
  timeoutMs?: number
  maxBodyBytes?: number
  maxRedirects?: number
  lookup?: LookupFn
  connect?: TcpConnector
}

export interface JsonResponse { status: number, headers: Headers, json: unknown }
export interface ProbeResult { status: number, wwwAuthenticate?: string }

export interface SafeFetcher {
  /** GET a JSON document (`application/json` only); any status but 200 is a MetadataError. */
  getJson: (url: URL) => Promise<JsonResponse>
  /** An unauthenticated MCP `initialize` POST, to read a 401's `WWW-Authenticate` (RFC 9728 §5.1). */
  probe: (url: URL) => Promise<ProbeResult>
  close: () => Promise<void>
}

const REDIRECT_STATUSES = new Set([301, 302, 303, 307, 308])
const INITIALIZE_BODY = JSON.stringify({
  jsonrpc: '2.0',
  id: 0,
  method: 'initialize',
  params: { protocolVersion: '2025-06-18', capabilities: {}, clientInfo: { name: 'obo-relay-discovery', version: '1' } },
})

export function createSafeFetcher (options: SafeFetcherOptions): SafeFetcher {
  const timeoutMs = options.timeoutMs ?? 5_000
  const maxBodyBytes = options.maxBodyBytes ?? 64 * 1024
  const maxRedirects = options.maxRedirects ?? 3
  const lookup: LookupFn = options.lookup ?? ((hostname, lookupOptions) => dnsLookup(hostname, lookupOptions))
  const openTcp: TcpConnector = options.connect ?? (({ ip, port }) => tcpConnect({ host: ip, port }))
  const allowedHosts = new Set(options.allowedHosts.map((host) => host.toLowerCase()))
  const loopbackOrigins = new Set((options.loopbackOrigins ?? []).map((origin) => origin.toLowerCase()))
  const defaultPort = (protocol: string): number => protocol === 'https:' ? 443 : 80
  /** Dev mode reaches loopback, and only at a configured server's own host and port. */
  const loopbackAllowed = (hostname: string, port: number): boolean =>
    options.allowInsecureLoopback && isLoopbackHostname(hostname) && loopbackOrigins.has(`${hostname}:${port}`)
  const ca = options.trustedCaPem === undefined ? undefined : [...rootCertificates, options.trustedCaPem]

  /** Checks the URL before anything is resolved: https, or http to a loopback name in dev. */
  const checkUrl = (url: URL): void => {
    if (url.protocol === 'https:') return
    const hostname = url.hostname.replace(/^\[|\]$/g, '').toLowerCase()
    if (url.protocol === 'http:' && loopbackAllowed(hostname, Number(url.port) || 80)) return
    throw new MetadataError('refused', 'refused: metadata must be fetched over https (http only for a configured loopback server in dev)')
  }

  /** Resolves the host, refuses if any address is off-limits, and returns the approved addresses. */
  const approvedAddresses = async (hostname: string, protocol: string, port: number): Promise<string[]> => {
    const literal = isIP(hostname) !== 0
    const addresses = literal ? [hostname] : (await lookup(hostname, { all: true })).map((entry) => entry.address)
    if (addresses.length === 0) throw new MetadataError('network', 'did not resolve')
    const context = {
      hostAllowListed: allowedHosts.has(hostname),
      loopbackAllowed: loopbackAllowed(hostname, port),
    }
    for (const address of addresses) {
      const category = classifyAddress(address)
      if (!isAddressAllowed(category, context)) {
        throw new MetadataError('refused', `refused: it resolves to a ${category} address`)
      }
      // Plain http is only for traffic that never leaves the machine.
      if (protocol === 'http:' && category !== 'loopback') {
        throw new MetadataError('refused', 'refused: http is allowed for loopback addresses only')
      }
    }
    return addresses
  }

  const openSocket = async (hostname: string, protocol: string, port: number): Promise<Socket> => {
    const deadline = Date.now() + timeoutMs
    const addresses = await withDeadline(approvedAddresses(hostname, protocol, port), deadline, hostname)
    let lastError: unknown
    // Only checked addresses are dialled: a second DNS answer (rebinding) is never consulted.
    for (const ip of addresses) {
      const tcp = openTcp({ ip, port, hostname })
      try {
        await whenReady(tcp, 'connect', deadline, hostname)
        if (protocol !== 'https:') return tcp
        const tlsOptions: ConnectionOptions = { socket: tcp, host: hostname, ALPNProtocols: ['http/1.1'] }
        if (isIP(hostname) === 0) tlsOptions.servername = hostname
        if (ca !== undefined) tlsOptions.ca = ca
        const secure = tlsConnect(tlsOptions)
        await whenReady(secure, 'secureConnect', deadline, hostname)
        return secure
      } catch (err) {
        tcp.destroy()
        if (err instanceof MetadataError && err.code === 'timeout') throw err
        lastError = err
      }
    }
    throw lastError
  }

  const connect: buildConnector.connector = (connectOptions, callback) => {
    const hostname = connectOptions.hostname.replace(/^\[|\]$/g, '').toLowerCase()
    const port = Number(connectOptions.port) || defaultPort(connectOptions.protocol)
    openSocket(hostname, connectOptions.protocol, port).then(
      (socket) => callback(null, socket),
      (err: unknown) => callback(err instanceof Error ? err : new Error(String(err)), null))
  }

  const agent = new Agent({ connect, keepAliveTimeout: 10_000 })

  /** One request, following at most `maxRedirects` redirects within the same origin. */
  const send = async (method: 'GET' | 'POST', startUrl: URL, signal: AbortSignal, body?: string): Promise<{ url: URL, response: Dispatcher.ResponseData }> => {
    let url = startUrl
    let currentMethod = method
    let currentBody = body
    for (let hop = 0; ; hop++) {
      checkUrl(url)
      const headers: Record<string, string> = { accept: 'application/json', 'user-agent': 'obo-relay-discovery' }
      if (currentBody !== undefined) {
        headers['content-type'] = 'application/json'
        headers.accept = 'application/json, text/event-stream'
      }
      const response = await agent.request({ origin: url.origin, path: `${url.pathname}${url.search}`, method: currentMethod, headers, body: currentBody ?? null, signal })
      const location = headerValue(response.headers, 'location')
      if (!REDIRECT_STATUSES.has(response.statusCode) || location === undefined) return { url, response }
      discard(response.body)
      let next: URL
      try {
        next = new URL(location, url)
      } catch {
        throw new MetadataError('refused', 'redirected to an invalid location')
      }
      if (next.origin !== url.origin) throw new MetadataError('refused', 'redirected to another origin (refused)')
      if (hop >= maxRedirects) throw new MetadataError('refused', `redirected more than ${maxRedirects} times`)
      if (response.statusCode === 303 || (currentMethod === 'POST' && response.statusCode !== 307 && response.statusCode !== 308)) {
        currentMethod = 'GET'
        currentBody = undefined
      }
      url = next
    }
  }

  /** Runs one exchange under the total timeout and turns transport failures into safe MetadataErrors. */
  const guarded = async <T>(url: URL, exchange: (signal: AbortSignal) => Promise<T>): Promise<T> => {
    const signal = AbortSignal.timeout(timeoutMs)
    try {
      return await exchange(signal)
    } catch (err) {
      if (err instanceof MetadataError) throw err
      if (signal.aborted) throw new MetadataError('timeout', `did not answer within ${timeoutMs} ms`, { cause: err })
      const cause = (err as { cause?: unknown }).cause
      if (cause instanceof MetadataError) throw cause
      throw new MetadataError('network', `could not be fetched (${transportErrorCode(err) ?? 'connection failed'})`, { cause: err })
    }
  }

  return {
    getJson: (startUrl) => guarded(startUrl, async (signal) => {
      const { response } = await send('GET', startUrl, signal)
      const { statusCode, body } = response
      if (statusCode !== 200) {
        discard(body)
        throw new MetadataError('http_status', `answered HTTP ${statusCode}`, { httpStatus: statusCode })
      }
      const mediaType = headerValue(response.headers, 'content-type')?.split(';')[0]?.trim().toLowerCase()
      if (mediaType !== 'application/json') {
        discard(body)
        throw new MetadataError('content_type', 'is not application/json')
      }
      const tooLarge = (): MetadataError => new MetadataError('too_large', `is larger than ${maxBodyBytes} bytes`)
      if (Number(headerValue(response.headers, 'content-length') ?? 0) > maxBodyBytes) {
        discard(body)
        throw tooLarge()
      }
      const chunks: Buffer[] = []
      let size = 0
      for await (const chunk of body as AsyncIterable<Buffer>) {
        size += chunk.length
        // Leaving the loop destroys the stream, which aborts the connection: nothing more is buffered.
        if (size > maxBodyBytes) throw tooLarge()
        chunks.push(chunk)
      }
      let json: unknown
      try {
        json = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(Buffer.concat(chunks)))
      } catch {
        throw new MetadataError('invalid_json', 'is not valid JSON')
      }
      return { status: statusCode, headers: toHeaders(response.headers), json }
    }),

    probe: (startUrl) => guarded(startUrl, async (signal) => {
      const { response } = await send('POST', startUrl, signal, INITIALIZE_BODY)
      // Never read the answer: an unauthenticated server might stream, and only the challenge matters.
      discard(response.body)
      const wwwAuthenticate = headerValue(response.headers, 'www-authenticate')
      return wwwAuthenticate === undefined ? { status: response.statusCode } : { status: response.statusCode, wwwAuthenticate }
    }),

    close: () => agent.close(),
  }
}

async function withDeadline<T> (promise: Promise<T>, deadline: number, hostname: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined
  const expired = new Promise<never>((_resolve, reject) => {
    timer = setTimeout(() => reject(new MetadataError('timeout', 'did not answer in time')), Math.max(0, deadline - Date.now()))
  })
  try {
    return await Promise.race([promise, expired])
  } finally {
    clearTimeout(timer)
  }
}

/** Resolves once the socket emits `event` (or already has), rejects on error, close or deadline. */
function whenReady (socket: Socket, event: 'connect' | 'secureConnect', deadline: number, hostname: string): Promise<void> {
  if (event === 'connect' && !socket.connecting && socket.readyState === 'open') return Promise.resolve()
  const ready = new Promise<void>((resolve, reject) => {
    const onError = (err: Error): void => reject(err)
    const onClose = (): void => reject(new Error('socket closed'))
    socket.once(event, () => {
      socket.off('close', onClose)
      // Keep a listener until undici attaches its own, so a late error cannot crash the process.
      socket.off('error', onError).on('error', () => {})
      resolve()
    })
    socket.once('error', onError).once('close', onClose)
  })
  return withDeadline(ready, deadline, hostname)
}

/** Drops a response body and its connection; the abort error it emits is expected. */
function discard (body: Dispatcher.ResponseData['body']): void {
  body.on('error', () => {})
  body.destroy()
}

function headerValue (headers: Dispatcher.ResponseData['headers'], name: string): string | undefined {
  const value = headers[name]
  return Array.isArray(value) ? value.join(', ') : value
}

function toHeaders (incoming: Dispatcher.ResponseData['headers']): Headers {
  const headers = new Headers()
  for (const [name, value] of Object.entries(incoming)) {
    for (const item of Array.isArray(value) ? value : [value]) if (item !== undefined) headers.append(name, item)
  }
  return headers
}
