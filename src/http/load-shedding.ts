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
  const sampler = setInterval(() => {
    // An empty window (no sample yet) means no measured lag, not an infinite one.
    const lagMs = histogram.count === 0 ? 0 : histogram.max / 1e6
    histogram.reset()
    if (lagMs > options.lagLimitMs) sheddingUntil = Date.now() + Math.max(intervalMs, 1000)
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
