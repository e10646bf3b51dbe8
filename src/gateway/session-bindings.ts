// Each MCP session a client opens through the relay belongs to the user who opened it. The binding lives in
// the store, so any replica can check it, and is forgotten after MCP_SESSION_TTL_SEC without use.
import { sha256b64url } from '../crypto/hash.ts'
import type { Store } from '../stores/types.ts'

export interface SessionBinding<T = undefined> {
  /** `tid.oid` of the user who opened the session. */
  user: string
  /** Session state the endpoint keeps (the aggregated `/mcp`: negotiated version, client capabilities). */
  state?: T
}

interface Stored<T> extends SessionBinding<T> {
  /** Epoch ms after which the binding is refreshed on use (half its lifetime). */
  refreshAt: number
}

export class SessionBindings {
  readonly #store: Store
  readonly #ttlMs: number
  readonly #now: () => number

  constructor (store: Store, ttlMs: number, now: () => number = Date.now) {
    this.#store = store
    this.#ttlMs = ttlMs
    this.#now = now
  }

  /** `scope` tells endpoints apart (`server:notes`, `aggregate`); the session id itself is never a key. */
  static key (scope: string, sessionId: string): string {
    return `mcp-session:${scope}:${sha256b64url(sessionId)}`
  }

  async bind<T> (scope: string, sessionId: string, binding: SessionBinding<T>): Promise<void> {
    const stored: Stored<T> = { ...binding, refreshAt: this.#now() + this.#ttlMs / 2 }
    await this.#store.set(SessionBindings.key(scope, sessionId), JSON.stringify(stored), this.#ttlMs)
  }

  /** The binding, or undefined when none exists; a binding used past half its lifetime lives another full one. */
  async get<T> (scope: string, sessionId: string): Promise<SessionBinding<T> | undefined> {
    const key = SessionBindings.key(scope, sessionId)
    const raw = await this.#store.get(key)
    if (raw === undefined) return undefined
    let stored: Stored<T>
    try {
      stored = JSON.parse(raw) as Stored<T>
    } catch {
      return undefined
    }
    if (stored.refreshAt < this.#now()) await this.bind(scope, sessionId, stored)
    const { refreshAt: _refreshAt, ...binding } = stored
    return binding
  }

  async unbind (scope: string, sessionId: string): Promise<void> {
    await this.#store.delete(SessionBindings.key(scope, sessionId))
  }
}
