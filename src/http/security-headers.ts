// Headers on every response (DESIGN §2): nosniff, a same-origin referrer policy (not no-referrer: Chromium then
// sends `Origin: null` on the page's own form posts), and a CSP that forbids framing. Routes that serve a page
// set their own, stricter-or-fitting CSP; everything else gets one that allows nothing at all.
import type { FastifyInstance } from 'fastify'

export const API_CSP = "default-src 'none'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'"
export const PAGE_CSP = "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"

/** Fixed headers, also written by hand where Fastify cannot (errors on the raw socket). */
export const SECURITY_HEADERS = {
  'x-content-type-options': 'nosniff',
  'referrer-policy': 'same-origin',
  'x-frame-options': 'DENY',
} as const

export function securityHeaders (app: FastifyInstance): void {
  app.addHook('onSend', (_request, reply, payload, done) => {
    for (const name in SECURITY_HEADERS) reply.header(name, SECURITY_HEADERS[name as keyof typeof SECURITY_HEADERS])
    if (!reply.hasHeader('content-security-policy')) reply.header('content-security-policy', API_CSP)
    done(null, payload)
  })
}

/** Swagger UI's own CSP (script and style hashes of its page) with framing forbidden and no third-party images. */
export function docsCsp (header: string, publicUrl: URL): string {
  let csp = header.replace("frame-ancestors 'self'", "frame-ancestors 'none'").replace(/ validator\.swagger\.io/g, '').replace(/ https:/g, '')
  // Over plain http (dev on localhost) an upgrade would point the page's assets at a port that speaks no TLS.
  if (publicUrl.protocol === 'http:') csp = csp.replace(/\s*upgrade-insecure-requests;?/, '')
  return `${csp.trim().replace(/;$/, '')}; form-action 'self'`
}
