// Rate limits per client address (before authentication) and per signed-in user (after), as fixed one-minute
// windows (from each key's first request) in the shared store, so every replica counts together. Past the limit: 429 with Retry-After.
// Health, readiness and metrics are never limited.
import type { FastifyInstance, FastifyRequest } from 'fastify'
import { userKey } from '../caller/user-assertion.ts'
import { temporarilyUnavailable } from '../errors.ts'
import type { Store } from '../stores/types.ts'

const WINDOW_MS = 60_000
const EXEMPT = new Set(['/healthz', '/readyz', '/metrics'])

export interface RateLimitOptions {
  store: Store
  userPerMin: number
  clientPerMin: number
  onLimited?: (scope: 'user' | 'client') => void
}

/** A fixed window that starts with the first request: the counter lives one minute (Store.increment). */
async function enforce (store: Store, key: string, limit: number): Promise<number | undefined> {
  const count = await store.increment(key, WINDOW_MS)
  if (count <= limit) return undefined
  return Math.max(1, Math.ceil((await store.remainingTtlMs(key) ?? WINDOW_MS) / 1000))
}

/** The client-address limit: register before the auth chain. */
export function limitClients (app: FastifyInstance, o: RateLimitOptions): void {
  if (o.clientPerMin <= 0) return
  app.addHook('onRequest', async (request: FastifyRequest) => {
    if (EXEMPT.has(request.url.split('?')[0] ?? '')) return
    const retryAfter = await enforce(o.store, `rl:client:${request.ip}`, o.clientPerMin)
    if (retryAfter !== undefined) {
      o.onLimited?.('client')
      throw temporarilyUnavailable('rate_limited', 'Too many requests from this address; retry later.', retryAfter)
    }
  })
}

/** The per-user limit: register after the auth chain (it needs the caller). */
export function limitUsers (app: FastifyInstance, o: RateLimitOptions): void {
  if (o.userPerMin <= 0) return
  app.addHook('onRequest', async (request: FastifyRequest) => {
    if (request.caller === undefined) return
    const retryAfter = await enforce(o.store, `rl:user:${userKey(request.caller.user)}`, o.userPerMin)
    if (retryAfter !== undefined) {
      o.onLimited?.('user')
      throw temporarilyUnavailable('rate_limited', 'Too many requests for this user; retry later.', retryAfter)
    }
  })
}
