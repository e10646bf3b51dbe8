// Prometheus metrics (prom-client), one registry per relay: request durations by route, OBO cache outcomes,
// Entra answers by status and AADSTS code, downstream latency by server and outcome, rate limiting and load
// shedding, pooled clients and open streams. Labels are bounded (route templates, configured server ids,
// reasons); never a user, a token or anything a caller chose.
import { createServer, type Server } from 'node:http'
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client'

const SECONDS = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30]

export interface Metrics {
  registry: Registry
  httpRequest: (labels: { method: string, route: string, status: number }, seconds: number) => void
  oboCache: (outcome: 'hit' | 'miss' | 'coalesced') => void
  entraResponse: (labels: { status: number, aadsts: string | undefined }) => void
  downstream: (labels: { server: string, outcome: string }, seconds: number) => void
  rateLimited: (scope: 'user' | 'client') => void
  shed: () => void
  /** Gauges read when scraped. */
  observeMcpClients: (read: () => number) => void
  /** Requests and streams open on /mcp and /mcp/:server (the stream guard's count). */
  observeOpenStreams: (read: () => number) => void
}

export function createMetrics (): Metrics {
  const registry = new Registry()
  collectDefaultMetrics({ register: registry, prefix: 'obo_relay_' })
  const http = new Histogram({ name: 'obo_relay_http_request_duration_seconds', help: 'HTTP requests by route template, method and status', labelNames: ['method', 'route', 'status'], buckets: SECONDS, registers: [registry] })
  const obo = new Counter({ name: 'obo_relay_obo_cache_total', help: 'On-Behalf-Of cache lookups by outcome (hit, miss = one Entra call, coalesced = waited for another caller\'s)', labelNames: ['outcome'], registers: [registry] })
  const entra = new Counter({ name: 'obo_relay_entra_responses_total', help: 'Answers of Entra\'s token and metadata endpoints by HTTP status and AADSTS code', labelNames: ['status', 'aadsts'], registers: [registry] })
  const downstream = new Histogram({ name: 'obo_relay_downstream_request_duration_seconds', help: 'MCP server exchanges by configured server and outcome (ok or a reason)', labelNames: ['server', 'outcome'], buckets: SECONDS, registers: [registry] })
  const limited = new Counter({ name: 'obo_relay_rate_limited_total', help: 'Requests refused with 429, by limit', labelNames: ['scope'], registers: [registry] })
  const shed = new Counter({ name: 'obo_relay_load_shed_total', help: 'Requests refused with 503 because the event loop lagged', registers: [registry] })
  const clientReaders: Array<() => number> = []
  const streamReaders: Array<() => number> = []
  // eslint-disable-next-line no-new -- registered on creation; read through the registry
  new Gauge({
    name: 'obo_relay_open_streams',
    help: 'Requests and streams open on /mcp and /mcp/:server (GET streams, subscriptions/listen, tool calls in progress)',
    registers: [registry],
    collect () { this.set(streamReaders.reduce((sum, read) => sum + read(), 0)) },
  })
  // eslint-disable-next-line no-new -- registered on creation; read through the registry
  new Gauge({
    name: 'obo_relay_mcp_clients',
    help: 'Pooled MCP client sessions to downstream servers',
    registers: [registry],
    collect () { this.set(clientReaders.reduce((sum, read) => sum + read(), 0)) },
  })
  return {
    registry,
    httpRequest: (labels, seconds) => { http.observe({ method: labels.method, route: labels.route, status: String(labels.status) }, seconds) },
    oboCache: (outcome) => { obo.inc({ outcome }) },
    entraResponse: ({ status, aadsts }) => { entra.inc({ status: String(status), aadsts: aadsts ?? 'none' }) },
    downstream: (labels, seconds) => { downstream.observe(labels, seconds) },
    rateLimited: (scope) => { limited.inc({ scope }) },
    shed: () => { shed.inc() },
    observeMcpClients: (read) => { clientReaders.push(read) },
    observeOpenStreams: (read) => { streamReaders.push(read) },
  }
}

/** `/metrics` on its own port, apart from the public one (Prometheus scrapes it inside the cluster). */
export async function startMetricsServer (metrics: Metrics, options: { host: string, port: number }): Promise<{ server: Server, url: string }> {
  const server = createServer((req, res) => {
    if (req.method !== 'GET' || (req.url ?? '').split('?')[0] !== '/metrics') {
      res.writeHead(404, { 'content-type': 'text/plain' }).end('not found\n')
      return
    }
    metrics.registry.metrics().then(
      (text) => { res.writeHead(200, { 'content-type': metrics.registry.contentType }).end(text) },
      () => { res.writeHead(500, { 'content-type': 'text/plain' }).end('metrics unavailable\n') })
  })
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject)
    server.listen(options.port, options.host, () => { server.off('error', reject); resolve() })
  })
  const address = server.address()
  const port = typeof address === 'object' && address !== null ? address.port : options.port
  return { server, url: `http://${options.host.includes(':') ? `[${options.host}]` : options.host}:${port}/metrics` }
}
