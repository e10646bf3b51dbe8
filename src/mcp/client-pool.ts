// MCP SDK clients pooled per (user, server): bounded, evicted when idle, rebuilt on a new token or a dead session.
import { createHash } from 'node:crypto'
import { Client } from '@modelcontextprotocol/sdk/client/index.js'
import { StreamableHTTPClientTransport, StreamableHTTPError } from '@modelcontextprotocol/sdk/client/streamableHttp.js'
import { ToolListChangedNotificationSchema, type Tool } from '@modelcontextprotocol/sdk/types.js'
import { LRUCache } from 'lru-cache'
import type { Logger } from 'pino'
import type { FetchLike } from '../net/http-client.ts'

/** What the downstream said in its last 401/403 `WWW-Authenticate`, kept per client. */
export interface DownstreamChallenge {
  status: number
  wwwAuthenticate: string | undefined
}

export interface PooledClient {
  client: Client
  transport: StreamableHTTPClientTransport
  /** The downstream token this client's transport sends; a new token means a new client. */
  accessToken: string
  lastChallenge: DownstreamChallenge | undefined
  /** tools/list result (all pages), refreshed on `notifications/tools/list_changed`. */
  tools: Tool[] | undefined
  /** Operations using this client now; an evicted client is closed only when this reaches 0. */
  inFlight: number
  retired: boolean
  /** The transport closed (the SDK's onclose), as opposed to a server answering with error -32000. */
  closed: boolean
}

export interface ClientPoolOptions {
  fetch: FetchLike
  logger: Logger
  maxClients?: number
  /** Clients one user may hold for one server (one per token); older ones retire, so no user fills the pool. */
  maxClientsPerKey?: number
  idleTimeoutMs?: number
  clientInfo?: { name: string, version: string }
}

export class McpClientPool {
  readonly #o: ClientPoolOptions
  readonly #clients: LRUCache<string, PooledClient>
  readonly #connecting = new Map<string, Promise<PooledClient>>()
  /** Clients being closed, so close() can wait for their sessions to end. */
  readonly #closing = new Set<Promise<void>>()

  constructor (options: ClientPoolOptions) {
    this.#o = options
    this.#clients = new LRUCache({
      max: options.maxClients ?? 1000,
      ttl: options.idleTimeoutMs ?? 5 * 60_000,
      updateAgeOnGet: true,
      // Idle clients are closed when their time is up, not when the pool is next touched.
      ttlAutopurge: true,
      dispose: (entry) => {
        entry.retired = true
        if (entry.inFlight === 0) this.#close(entry)
      },
    })
  }

  get size (): number {
    return this.#clients.size
  }

  /**
   * Runs `operation` with a connected client for this user and server holding `accessToken`. Clients are
   * keyed by token too, so a caller with another token never swaps the client under a running call.
   */
  async use<T> (poolKey: string, url: URL, accessToken: string, operation: (entry: PooledClient) => Promise<T>): Promise<T> {
    const key = `${poolKey}|${createHash('sha256').update(accessToken).digest('base64url').slice(0, 22)}`
    let entry = this.#clients.get(key)
    if (entry === undefined) {
      let connecting = this.#connecting.get(key)
      if (connecting === undefined) {
        connecting = this.#connect(url, accessToken).finally(() => this.#connecting.delete(key))
        this.#connecting.set(key, connecting)
        entry = await connecting
        this.#clients.set(key, entry)
        this.#retireBeyondLimit(poolKey, key)
      } else {
        entry = await connecting
      }
    }
    entry.inFlight++
    try {
      return await operation(entry)
    } catch (err) {
      // A refused token or a lost session: this client is done; the caller may retry with a new one.
      // Only this entry: a newer client may already stand under the same key.
      if (isFatalForClient(err, entry) && this.#clients.peek(key) === entry) this.#clients.delete(key)
      throw err
    } finally {
      entry.inFlight--
      if (entry.retired && entry.inFlight === 0) this.#close(entry)
    }
  }

  /** Keeps this user's newest clients for this server; the rest close once idle (dispose → retire). */
  #retireBeyondLimit (poolKey: string, newest: string): void {
    const limit = this.#o.maxClientsPerKey ?? 3
    const prefix = `${poolKey}|`
    // keys() runs from most to least recently used.
    const siblings = [...this.#clients.keys()].filter((k) => k.startsWith(prefix) && k !== newest)
    for (const stale of siblings.slice(limit - 1)) this.#clients.delete(stale)
  }

  #close (entry: PooledClient): void {
    const closing = closeQuietly(entry).finally(() => this.#closing.delete(closing))
    this.#closing.add(closing)
  }

  async close (): Promise<void> {
    this.#clients.clear()
    await Promise.all(this.#closing)
  }

  async #connect (url: URL, accessToken: string): Promise<PooledClient> {
    const entry = { accessToken, lastChallenge: undefined, tools: undefined, inFlight: 0, retired: false, closed: false } as Partial<PooledClient> as PooledClient
    const fetchWithChallenge: FetchLike = async (input, init) => {
      const response = await this.#o.fetch(input, init)
      if (response.status === 401 || response.status === 403) {
        entry.lastChallenge = { status: response.status, wwwAuthenticate: response.headers.get('www-authenticate') ?? undefined }
      }
      return response
    }
    const transport = new StreamableHTTPClientTransport(url, {
      fetch: fetchWithChallenge,
      requestInit: { headers: { authorization: `Bearer ${accessToken}` } },
    })
    const client = new Client(this.#o.clientInfo ?? { name: 'obo-relay', version: '0.1.0' })
    client.setNotificationHandler(ToolListChangedNotificationSchema, async () => { entry.tools = undefined })
    client.onclose = () => { entry.closed = true }
    entry.client = client
    entry.transport = transport
    try {
      await client.connect(transport)
    } catch (err) {
      await client.close().catch(() => {})
      // Non-enumerable: the entry holds the downstream token and must never reach a log serializer.
      if (typeof err === 'object' && err !== null) Object.defineProperty(err, 'pooledClient', { value: entry, enumerable: false })
      throw err
    }
    return entry
  }
}

/** HTTP 401/403/404 from the MCP endpoint, or a transport that closed: the client cannot be used again. */
function isFatalForClient (err: unknown, entry: PooledClient): boolean {
  const code = (err as { code?: unknown }).code
  return (err instanceof StreamableHTTPError && (code === 401 || code === 403 || code === 404)) || entry.closed
}

/** Ends the downstream session (DELETE, so the server can free it) and closes the client. */
async function closeQuietly (entry: PooledClient): Promise<void> {
  try {
    await entry.transport.terminateSession()
  } catch {
    // The session may already be gone downstream, or the token expired; the server will time it out.
  }
  await entry.client.close().catch(() => {})
}
