// MCP SDK clients pooled per (user, server): bounded, evicted when idle, rebuilt on a new token or a dead session.
import { Client } from '@modelcontextprotocol/sdk/client/index.js'
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js'
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
}

export interface ClientPoolOptions {
  fetch: FetchLike
  logger: Logger
  maxClients?: number
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
        const closing = closeQuietly(entry).finally(() => this.#closing.delete(closing))
        this.#closing.add(closing)
      },
    })
  }

  get size (): number {
    return this.#clients.size
  }

  /** A connected client for this user and server using `accessToken`. */
  async get (poolKey: string, url: URL, accessToken: string): Promise<PooledClient> {
    const existing = this.#clients.get(poolKey)
    if (existing !== undefined && existing.accessToken === accessToken) return existing
    const connectKey = `${poolKey}\n${accessToken}`
    const pending = this.#connecting.get(connectKey)
    if (pending !== undefined) return await pending
    const connecting = this.#connect(url, accessToken).finally(() => this.#connecting.delete(connectKey))
    this.#connecting.set(connectKey, connecting)
    const entry = await connecting
    this.#clients.set(poolKey, entry)
    return entry
  }

  /** Drops a client (dead session, refused token); the next get() builds a new one. */
  drop (poolKey: string, entry?: PooledClient): void {
    const current = this.#clients.get(poolKey)
    if (current !== undefined && (entry === undefined || current === entry)) this.#clients.delete(poolKey)
  }

  async close (): Promise<void> {
    this.#clients.clear()
    await Promise.all(this.#closing)
  }

  async #connect (url: URL, accessToken: string): Promise<PooledClient> {
    const entry = { accessToken, lastChallenge: undefined, tools: undefined } as Partial<PooledClient> as PooledClient
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
    entry.client = client
    entry.transport = transport
    try {
      await client.connect(transport)
    } catch (err) {
      await client.close().catch(() => {})
      throw Object.assign(err as object, { pooledClient: entry })
    }
    return entry
  }
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
