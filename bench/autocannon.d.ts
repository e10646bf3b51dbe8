// The part of autocannon's API the benchmark uses (the package ships no types).
declare module 'autocannon' {
  import type { EventEmitter } from 'node:events'

  export interface AutocannonRequest {
    method?: string
    path?: string
    headers?: Record<string, string>
    body?: string | Buffer
    setupRequest?: (request: AutocannonRequest, context: Record<string, unknown>) => AutocannonRequest
  }

  export interface AutocannonOptions {
    url: string
    connections?: number
    pipelining?: number
    duration?: number
    amount?: number
    timeout?: number
    method?: string
    headers?: Record<string, string>
    body?: string | Buffer
    idReplacement?: boolean
    requests?: AutocannonRequest[]
  }

  export interface Histogram { average: number, mean: number, stddev: number, min: number, max: number, total: number, p50: number, p99: number }

  export interface AutocannonResult {
    requests: Histogram & { sent: number }
    latency: Histogram
    duration: number
    errors: number
    timeouts: number
    non2xx: number
    statusCodeStats: Record<string, { count: number }>
  }

  export interface Instance extends EventEmitter, PromiseLike<AutocannonResult> {
    stop: () => void
  }

  function autocannon (options: AutocannonOptions): Instance
  export default autocannon
}
