// Legacy MCP sessions pooled per (user, server, token): bounded, evicted when idle, and every exchange — opening
// the session included — runs inside a DownstreamCall (deadline, caller's abort, byte cap).
import { EventEmitter } from 'node:events'
import { LRUCache } from 'lru-cache'
import type { Tool } from '@modelcontextprotocol/sdk/types.js'
import type { Logger } from 'pino'
import type { Dispatcher } from 'undici'
import { sha256b64url } from '../crypto/hash.ts'
import { DownstreamAbort, type DownstreamCall } from '../downstream/call.ts'
import { classifyDownstreamFailure, isClientDead } from '../downstream/policy.ts'
import { LegacySession } from './legacy-session.ts'

export interface PooledClient {
  session: LegacySession
  /** tools/list result (all pages), dropped on `notifications/tools/list_changed`. */
  tools: Tool[] | undefined
  /** Operations using this client now; a retired client is closed only when this reaches 0. */
  inFlight: number
  retired: boolean
}

export interface ClientPoolOptions {
  /** The connections sessions run on (kept alive). */
  dispatcher: Dispatcher
  logger: Logger
  maxClients?: number
  /** Clients one user may hold for one server (one per token); older ones retire, so no user fills the pool. */
  maxClientsPerKey?: number
  idleTimeoutMs?: number
  /** Bounds the DELETE that ends a retired client's session. */
  closeTimeoutMs?: number
  clientInfo?: { name: string, version: string }
}

export class McpClientPool {
  readonly #o: ClientPoolOptions
  readonly #clients: LRUCache<string, PooledClient>
  readonly #connecting = new Map<string, Promise<PooledClient>>()
  /** Token → its id in pool keys (tokens live in this process anyway: in the OBO cache and the clients). */
  readonly #tokenIds = new LRUCache<string, string>({ max: 10_000 })
  /** Clients being closed, so close() can wait for their sessions to end. */
  readonly #closing = new Set<Promise<void>>()
  /** `toolsChanged` (poolKey `tid.oid|server`): a server said its tool list changed, on a client of this user. */
  readonly events = new EventEmitter()

  constructor (options: ClientPoolOptions) {
    this.#o = options
    this.#clients = new LRUCache({
      max: options.maxClients ?? 1000,
      ttl: options.idleTimeoutMs ?? 5 * 60_000,
      updateAgeOnGet: true,
      // Idle clients are closed when their time is up, not when the pool is next touched.
      ttlAutopurge: true,
      dispose: (entry) => this.#retire(entry),
    })
  }

  get size (): number {
    return this.#clients.size
  }

  /** A short name of a downstream token in pool keys; remembered, so a call does not hash its token each time. */
  #tokenId (accessToken: string): string {
    let id = this.#tokenIds.get(accessToken)
    if (id === undefined) {
      id = sha256b64url(accessToken).slice(0, 22)
      this.#tokenIds.set(accessToken, id)
    }
    return id
  }

  /**
   * Runs `operation` inside `call` with a connected client for this user and server holding `accessToken`.
   * Clients are keyed by token too, so a caller with another token never swaps the client under a running call.
   */
  async use<T> (poolKey: string, url: URL, accessToken: string, call: DownstreamCall, operation: (entry: PooledClient) => Promise<T>): Promise<T> {
    const key = `${poolKey}|${this.#tokenId(accessToken)}`
    const entry = this.#clients.get(key) ?? await this.#connected(key, poolKey, url, accessToken, call)
    entry.inFlight++
    try {
      return await operation(entry)
    } catch (err) {
      if (isClientDead(classifyDownstreamFailure(err, call))) {
        // Only this entry: a newer client may already stand under the same key (delete → dispose → retire).
        if (this.#clients.peek(key) === entry) this.#clients.delete(key)
        else this.#retire(entry)
      }
      throw err
    } finally {
      entry.inFlight--
      if (entry.retired && entry.inFlight === 0) this.#close(entry)
    }
  }

  /** One connect per key at a time; a waiter whose leader was cut short (not by the waiter) connects itself. */
  async #connected (key: string, poolKey: string, url: URL, accessToken: string, call: DownstreamCall): Promise<PooledClient> {
    const pending = this.#connecting.get(key)
    if (pending !== undefined) {
      try {
        return await pending
      } catch (err) {
        if (!(err instanceof DownstreamAbort) || call.signal.aborted) throw err
      }
    }
    const connecting = this.#connect(poolKey, url, accessToken, call).finally(() => { if (this.#connecting.get(key) === connecting) this.#connecting.delete(key) })
    this.#connecting.set(key, connecting)
    const entry = await connecting
    this.#clients.set(key, entry)
    this.#retireBeyondLimit(poolKey, key)
    return entry
  }

  /** Keeps this user's newest clients for this server; the rest close once idle (dispose → retire). */
  #retireBeyondLimit (poolKey: string, newest: string): void {
    const limit = this.#o.maxClientsPerKey ?? 3
    const prefix = `${poolKey}|`
    // keys() runs from most to least recently used.
    const siblings = [...this.#clients.keys()].filter((k) => k.startsWith(prefix) && k !== newest)
    for (const stale of siblings.slice(limit - 1)) this.#clients.delete(stale)
  }

  #retire (entry: PooledClient): void {
    if (entry.retired) return
    entry.retired = true
    if (entry.inFlight === 0) this.#close(entry)
  }

  #close (entry: PooledClient): void {
    if (entry.session.closed) return
    const closing = this.#endSession(entry).finally(() => this.#closing.delete(closing))
    this.#closing.add(closing)
  }

  /**
   * Ends the sessions opened with this downstream token (its agent grant was revoked): idle clients close now
   * (DELETE), busy ones when their call finishes, and no new call gets them.
   */
  retireToken (accessToken: string): number {
    const suffix = `|${this.#tokenId(accessToken)}`
    const keys = [...this.#clients.keys()].filter((key) => key.endsWith(suffix))
    for (const key of keys) this.#clients.delete(key)
    return keys.length
  }

  /** Drops the cached tool lists of every client under `poolKey` (`tid.oid|server`): the server said they changed. */
  forgetTools (poolKey: string): void {
    for (const [key, entry] of this.#clients.entries()) if (key.startsWith(`${poolKey}|`)) entry.tools = undefined
  }

  async close (): Promise<void> {
    this.#clients.clear()
    await Promise.all(this.#closing)
  }

  async #connect (poolKey: string, url: URL, accessToken: string, call: DownstreamCall): Promise<PooledClient> {
    // The entry exists once the session does; a list change announced while initializing has nothing to clear.
    const opened: { entry?: PooledClient } = {}
    const session = await LegacySession.open({
      url,
      dispatcher: this.#o.dispatcher,
      accessToken,
      clientInfo: this.#o.clientInfo ?? { name: 'obo-relay', version: '0.1.0' },
      onToolsChanged: () => {
        if (opened.entry !== undefined) opened.entry.tools = undefined
        this.events.emit('toolsChanged', poolKey)
      },
    }, call)
    opened.entry = { session, tools: undefined, inFlight: 0, retired: false }
    return opened.entry
  }

  /** Ends the downstream session (DELETE, bounded, so the server can free it). */
  async #endSession (entry: PooledClient): Promise<void> {
    try {
      await entry.session.terminate(this.#o.closeTimeoutMs ?? 5_000)
    } catch {
      // The session may already be gone downstream, or the token expired; the server will time it out.
    }
  }
}
