// What a credential opened on /mcp* ends with the credential: an MCP stream (a GET stream, subscriptions/listen,
// a long tool call) must not outlive a revoked grant, a signed-out session or an expired token. A grant revoked
// on this replica ends its streams at once; on another replica the sweep finds out within `recheckMs` by asking
// the store again; an expired credential's streams end at the next sweep after its expiry.
import type { Logger } from 'pino'
import type { Caller } from '../http/auth.ts'

interface Tracked {
  caller: Caller
  end: () => void
}

export interface StreamGuardOptions {
  /** How often open streams re-check their credential. */
  recheckMs: number
  logger: Logger
  now?: () => number
}

export class StreamGuard {
  readonly #o: StreamGuardOptions
  readonly #open = new Set<Tracked>()
  #timer: NodeJS.Timeout | undefined
  #sweeping = false

  constructor (options: StreamGuardOptions) {
    this.#o = options
  }

  /** Tracks a request of `caller` until the returned function is called; `end` cuts it. */
  track (caller: Caller, end: () => void): () => void {
    const tracked: Tracked = { caller, end }
    this.#open.add(tracked)
    this.#timer ??= setInterval(() => { this.sweep().catch(() => {}) }, this.#o.recheckMs).unref()
    return () => {
      this.#open.delete(tracked)
      if (this.#open.size === 0 && this.#timer !== undefined) {
        clearInterval(this.#timer)
        this.#timer = undefined
      }
    }
  }

  get size (): number {
    return this.#open.size
  }

  /** Ends every stream of this agent grant now (its revocation ran on this replica). */
  endGrant (grantId: string): number {
    let ended = 0
    for (const tracked of [...this.#open]) {
      if (tracked.caller.grant?.id !== grantId) continue
      this.#end(tracked, 'grant_revoked')
      ended++
    }
    return ended
  }

  /** Ends the streams whose credential expired or no longer holds. */
  async sweep (): Promise<void> {
    if (this.#sweeping) return
    this.#sweeping = true
    try {
      const nowSec = (this.#o.now?.() ?? Date.now()) / 1000
      // One check per credential, however many streams it holds.
      const checks = new Map<() => Promise<boolean>, Promise<boolean>>()
      await Promise.all([...this.#open].map(async (tracked) => {
        const { caller } = tracked
        if (caller.expiresAt !== undefined && nowSec >= caller.expiresAt) return this.#end(tracked, 'credential_expired')
        const check = caller.stillValid
        if (check === undefined) return
        let pending = checks.get(check)
        if (pending === undefined) {
          // A store that cannot answer is not a revocation: the stream is asked again next time.
          pending = check().catch(() => true)
          checks.set(check, pending)
        }
        if (!await pending) this.#end(tracked, 'credential_revoked')
      }))
    } finally {
      this.#sweeping = false
    }
  }

  close (): void {
    if (this.#timer !== undefined) clearInterval(this.#timer)
    this.#timer = undefined
  }

  #end (tracked: Tracked, reason: string): void {
    if (!this.#open.delete(tracked)) return
    this.#o.logger.info({ reason, caller: tracked.caller.kind, tid: tracked.caller.user.tid, oid: tracked.caller.user.oid }, 'MCP stream ended with its credential')
    tracked.end()
  }
}
