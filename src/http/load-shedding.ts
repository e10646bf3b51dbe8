// Load shedding: while the event loop lags past EVENT_LOOP_LAG_LIMIT_MS (the largest delay seen in the last
// sample window), new requests get 503 + Retry-After at once instead of queueing behind the lag. Health,
// readiness and metrics are always answered, so orchestrators see a live process.
import { monitorEventLoopDelay } from 'node:perf_hooks'
import type { FastifyInstance } from 'fastify'
import { temporarilyUnavailable } from '../errors.ts'

const EXEMPT = new Set(['/healthz', '/readyz', '/metrics'])

export function shedLoad (app: FastifyInstance, options: { lagLimitMs: number, onShed?: () => void }): void {
  const histogram = monitorEventLoopDelay({ resolution: 10 })
  histogram.enable()
  const intervalMs = Math.max(50, Math.min(1000, options.lagLimitMs))
  /** Shedding goes on for a second after the last window that lagged: back-pressure, not flapping. */
  let sheddingUntil = 0
  let dueAt = Date.now() + intervalMs
  const sampler = setInterval(() => {
    const now = Date.now()
    // The histogram's own timer and this one both fire late after a stall, in either order; when this one runs
    // first, the window does not hold the stall yet. How late this timer itself is counts as lag too, so a
    // stall is seen by the first sample after it, whichever timer libuv runs first.
    const lateMs = now - dueAt
    dueAt = now + intervalMs
    // An empty window (no sample yet) means no measured lag, not an infinite one.
    const lagMs = Math.max(lateMs, histogram.count === 0 ? 0 : histogram.max / 1e6)
    histogram.reset()
    if (lagMs > options.lagLimitMs) sheddingUntil = now + Math.max(intervalMs, 1000)
  }, intervalMs)
  sampler.unref()
  app.addHook('onClose', async () => {
    clearInterval(sampler)
    histogram.disable()
  })
  // Written with `done` (it never waits); a throw is caught by Fastify's hook runner and becomes the error answer.
  app.addHook('onRequest', (request, _reply, done) => {
    if (Date.now() >= sheddingUntil || EXEMPT.has(request.url.split('?')[0] ?? '')) {
      done()
      return
    }
    options.onShed?.()
    throw temporarilyUnavailable('overloaded', 'The relay is overloaded; retry shortly.', 2)
  })
}
