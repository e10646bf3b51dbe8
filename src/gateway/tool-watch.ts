// While a client of the aggregated `/mcp` listens for tool-list changes (a legacy GET stream, a modern
// `subscriptions/listen`), the relay listens downstream for that user: a legacy server's own GET stream, a modern
// server's `subscriptions/listen`. Each watch is bounded in bytes per event and ends with the client's stream, or for good
// with a server's first answer past that bound (no reconnecting to it for more).
import { Client } from '@modelcontextprotocol/sdk/client/index.js'
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js'
import { ToolListChangedNotificationSchema } from '@modelcontextprotocol/sdk/types.js'
import type { Logger } from 'pino'
import { userKey, type UserAssertion } from '../caller/user-assertion.ts'
import type { ServerRegistry } from '../downstream/registry.ts'
import type { OboService } from '../entra/obo.ts'
import { RelayError } from '../errors.ts'
import { limitResponse } from '../net/body-limit.ts'
import type { FetchLike } from '../net/http-client.ts'
import { readSseData } from '../mcp/modern/bounded-body.ts'
import { createModernRequest, META_KEYS, modernHeadersFor, NOTIFICATIONS } from '../mcp/modern/index.ts'
import type { ScopeResolver, ToolService } from '../mcp/tool-service.ts'

export interface ToolWatchOptions {
  registry: ServerRegistry
  discovery: ScopeResolver
  obo: OboService
  tools: ToolService
  fetch: FetchLike
  maxResponseBytes: number
  /** Bounds setting a watch up (OBO, session, the listen request), not the watch itself. */
  timeoutMs: number
  logger: Logger
}

export class ToolWatch {
  readonly #o: ToolWatchOptions
  /** One downstream watch per user, however many streams that user holds open (on this replica). */
  readonly #byUser = new Map<string, { controller: AbortController, listeners: Set<(serverId: string) => void> }>()

  constructor (options: ToolWatchOptions) {
    this.#o = options
  }

  /** Calls `onChange(serverId)` on each change of this user's servers' tools until `signal` aborts. */
  subscribe (user: UserAssertion, signal: AbortSignal, onChange: (serverId: string) => void): void {
    if (signal.aborted) return
    const key = userKey(user)
    let shared = this.#byUser.get(key)
    if (shared === undefined) {
      const created = { controller: new AbortController(), listeners: new Set<(serverId: string) => void>() }
      this.#byUser.set(key, created)
      this.watch(user, created.controller.signal, (serverId) => { for (const listener of created.listeners) listener(serverId) })
      shared = created
    }
    const entry = shared
    entry.listeners.add(onChange)
    signal.addEventListener('abort', () => {
      entry.listeners.delete(onChange)
      if (entry.listeners.size > 0) return
      entry.controller.abort()
      if (this.#byUser.get(key) === entry) this.#byUser.delete(key)
    }, { once: true })
  }

  /** Watches every server for this user until `signal` aborts; `onChange(serverId)` after each change (caches dropped first). */
  watch (user: UserAssertion, signal: AbortSignal, onChange: (serverId: string) => void): void {
    for (const server of this.#o.registry.list()) {
      this.#watchServer(user, server.id, signal, () => {
        this.#o.tools.forgetTools(user, server.id)
        onChange(server.id)
      }).catch((err: unknown) => {
        if (signal.aborted) return
        this.#o.logger.info({ server: server.id, reason: err instanceof RelayError ? err.reason : (err as Error).name }, 'tool-list watch ended')
      })
    }
  }

  async #watchServer (user: UserAssertion, serverId: string, signal: AbortSignal, onChange: () => void): Promise<void> {
    const server = this.#o.registry.get(serverId)
    const setUp = AbortSignal.any([signal, AbortSignal.timeout(this.#o.timeoutMs)])
    const era = await this.#o.tools.eraOf(user, serverId, { signal: setUp })
    const { scopes } = await this.#o.discovery.resolve(serverId)
    const issued = await this.#o.obo.exchange(user, scopes, { target: `server "${serverId}"` })
    await this.#o.discovery.checkIssued(serverId, issued, user)
    const token = issued.accessToken
    // A server whose answer passed the byte bound is watched no more: the SDK would reconnect to its GET stream
    // (at once, if the server sent `retry: 0`) and read another bound's worth each time, for as long as the client listens.
    const oversized = new AbortController()
    const ends = AbortSignal.any([signal, oversized.signal])
    // Every request of the watch ends with the client's stream, and every answer is bounded per SSE event.
    const fetch: FetchLike = async (input, init) => {
      const response = await this.#o.fetch(input, { ...init, signal: init?.signal == null ? ends : AbortSignal.any([init.signal, ends]), redirect: 'manual' })
      return limitResponse(response, this.#o.maxResponseBytes, () => { oversized.abort() })
    }
    if (era === 'modern') return await this.#listenModern(server.url, token, fetch, signal, onChange)
    const transport = new StreamableHTTPClientTransport(server.url, { fetch, requestInit: { headers: { authorization: `Bearer ${token}` } } })
    const client = new Client({ name: 'obo-relay', version: '0.1.0' })
    client.setNotificationHandler(ToolListChangedNotificationSchema, async () => { onChange() })
    client.onerror = () => {}
    ends.addEventListener('abort', () => {
      if (!signal.aborted) this.#o.logger.info({ server: serverId, reason: 'downstream_too_large' }, 'tool-list watch ended')
      // Courtesy DELETE of the watch's session, bounded; then the client goes (a reconnection meanwhile fails unsent).
      const ending = AbortSignal.timeout(2_000)
      this.#o.fetch(server.url, { method: 'DELETE', headers: { authorization: `Bearer ${token}`, 'mcp-session-id': transport.sessionId ?? '' }, signal: ending }).then(async (r) => { await r.body?.cancel() }, () => {})
        .finally(() => { client.close().catch(() => {}) })
    }, { once: true })
    // The SDK opens the server's GET stream right after initialize; list changes arrive on it.
    await client.connect(transport, { signal: setUp, timeout: this.#o.timeoutMs })
  }

  /** @see basic/patterns/subscriptions.mdx */
  async #listenModern (url: URL, token: string, fetch: FetchLike, signal: AbortSignal, onChange: () => void): Promise<void> {
    const request = createModernRequest(`watch-${Date.now()}`, 'subscriptions/listen', { notifications: { toolsListChanged: true } }, { clientInfo: { name: 'obo-relay', version: '0.1.0' } })
    const response = await fetch(url, { method: 'POST', headers: { ...modernHeadersFor(request), authorization: `Bearer ${token}` }, body: JSON.stringify(request) })
    if (response.status !== 200 || response.body === null) {
      await response.body?.cancel()
      throw new Error(`subscriptions/listen answered HTTP ${response.status}`)
    }
    for await (const data of readSseData(response.body, this.#o.maxResponseBytes, () => {})) {
      let message: { method?: unknown, params?: { _meta?: Record<string, unknown> } }
      try {
        message = JSON.parse(data) as typeof message
      } catch {
        continue
      }
      if (message.method === NOTIFICATIONS.toolsListChanged && message.params?._meta?.[META_KEYS.subscriptionId] === request.id) onChange()
    }
  }
}
