// Cross-site request refusal for state-changing requests on cookie-carrying routes (`/auth/*`, the page's
// API calls). Browsers send `Origin` on every cross-origin POST and `Sec-Fetch-Site` on every request.
import type { FastifyInstance, FastifyRequest } from 'fastify'
import { relayError } from '../errors.ts'

const SAFE_METHODS = new Set(['GET', 'HEAD', 'OPTIONS'])

/**
 * Whether the request comes from the relay's own origin. `requireOrigin`: a missing Origin is refused too
 * (API calls authenticated by cookie); otherwise a request without Origin passes unless the browser says
 * it is cross-site (`Sec-Fetch-Site`), so non-browser clients (curl) can still sign out.
 * @see https://fetch.spec.whatwg.org/#origin-header
 */
export function isSameOrigin (request: FastifyRequest, publicUrl: URL, options: { requireOrigin: boolean }): boolean {
  const origin = request.headers.origin
  if (origin !== undefined) return origin === publicUrl.origin
  const site = request.headers['sec-fetch-site']
  if (site === 'cross-site' || site === 'same-site') return false
  return !options.requireOrigin
}

/** Refuses a foreign state-changing request under `prefix` before anything else runs, cookie or not. */
export function refuseCrossSite (app: FastifyInstance, publicUrl: URL, prefix: string): void {
  // Written with `done` (it never waits); a throw is caught by Fastify's hook runner and becomes the error answer.
  app.addHook('onRequest', (request, _reply, done) => {
    if (!SAFE_METHODS.has(request.method) && request.url.startsWith(prefix) && !isSameOrigin(request, publicUrl, { requireOrigin: false })) {
      throw relayError('cross_site_refused', 'Cross-site request refused: this endpoint only takes requests from the relay\'s own pages.')
    }
    done()
  })
}
