// One bounded exchange with an MCP server: a deadline, the caller's abort, a byte cap, and what the server
// said in a 401/403. The SDK's transports fetch through `createDownstreamFetch`, which finds the call they
// run in through AsyncLocalStorage, so concurrent calls on one pooled session never share a signal.
import { AsyncLocalStorage } from 'node:async_hooks'
import { limitResponse, type ResponseTooLargeError } from '../net/body-limit.ts'
import type { FetchLike } from '../net/http-client.ts'

export type CallEnd = 'timeout' | 'too_large' | 'caller_gone'

/** Why a call was cut short; the SDK rejects the pending request with this as the abort reason. */
export class DownstreamAbort extends Error {
  readonly end: CallEnd
  constructor (end: CallEnd, options?: { cause?: unknown }) {
    super(end === 'timeout' ? 'the MCP server did not answer in time' : end === 'too_large' ? 'the MCP server sent more than the relay reads' : 'the caller went away', options)
    this.name = 'DownstreamAbort'
    this.end = end
  }
}

export interface DownstreamChallenge {
  status: number
  wwwAuthenticate: string | undefined
}

export interface DownstreamCallOptions {
  timeoutMs: number
  maxResponseBytes: number
  /** The caller's own signal (its connection closed). */
  callerSignal?: AbortSignal | undefined
  /** Sent with every request of the call (trace context, request id). */
  headers?: Record<string, string> | undefined
}

export class DownstreamCall {
  readonly maxResponseBytes: number
  readonly timeoutMs: number
  readonly headers: Record<string, string>
  /** The last 401/403 the server answered in this call, with its challenge. */
  challenge: DownstreamChallenge | undefined
  readonly #controller = new AbortController()
  readonly #timer: NodeJS.Timeout
  readonly #onCallerAbort: () => void
  readonly #callerSignal: AbortSignal | undefined

  constructor (options: DownstreamCallOptions) {
    this.maxResponseBytes = options.maxResponseBytes
    this.timeoutMs = options.timeoutMs
    this.headers = options.headers ?? {}
    this.#timer = setTimeout(() => this.abort('timeout'), options.timeoutMs)
    this.#callerSignal = options.callerSignal
    this.#onCallerAbort = () => this.abort('caller_gone')
    if (options.callerSignal?.aborted === true) this.abort('caller_gone')
    else options.callerSignal?.addEventListener('abort', this.#onCallerAbort, { once: true })
  }

  get signal (): AbortSignal {
    return this.#controller.signal
  }

  /** How the call was cut short, if it was. */
  get end (): CallEnd | undefined {
    const reason: unknown = this.#controller.signal.reason
    return reason instanceof DownstreamAbort ? reason.end : undefined
  }

  abort (end: CallEnd, cause?: ResponseTooLargeError): void {
    if (!this.#controller.signal.aborted) this.#controller.abort(new DownstreamAbort(end, cause === undefined ? undefined : { cause }))
  }

  /** Stops the timer; the call may not be used afterwards. */
  dispose (): void {
    clearTimeout(this.#timer)
    this.#callerSignal?.removeEventListener('abort', this.#onCallerAbort)
  }

  async run<T> (operation: () => Promise<T>): Promise<T> {
    return await current.run(this, operation)
  }
}

const current = new AsyncLocalStorage<DownstreamCall>()
const CANCELLATION_TIMEOUT_MS = 2_000

function isCancellation (body: unknown): boolean {
  if (typeof body !== 'string' || body.length > 4096) return false
  try {
    return (JSON.parse(body) as { method?: unknown }).method === 'notifications/cancelled'
  } catch {
    return false
  }
}

export interface DownstreamFetchOptions {
  /** The REST path never needs the standalone GET stream: answer 405 without connecting (the SDK then skips it). */
  refuseStandaloneGet: boolean
}

/**
 * The fetch the MCP SDK's transports use: every request is bounded by the call it runs in (deadline, abort,
 * byte cap) and records a 401/403 challenge on it. A request outside any call is refused: nothing the relay
 * sends downstream may be unbounded.
 */
export function createDownstreamFetch (fetch: FetchLike, options: DownstreamFetchOptions): FetchLike {
  return async (input, init) => {
    const call = current.getStore()
    if (call === undefined) throw new Error('downstream request outside a bounded call')
    if (options.refuseStandaloneGet && (init?.method ?? 'GET') === 'GET') return new Response(null, { status: 405 })
    if (call.signal.aborted) {
      // The SDK tells the server it gave up (notifications/cancelled): let that one through, briefly bounded.
      if (isCancellation(init?.body)) {
        const response = await fetch(input, { ...init, signal: AbortSignal.timeout(CANCELLATION_TIMEOUT_MS) })
        await response.body?.cancel()
        return new Response(null, { status: response.status })
      }
      call.signal.throwIfAborted()
    }
    const signal = init?.signal == null ? call.signal : AbortSignal.any([init.signal, call.signal])
    const headers = new Headers(init?.headers)
    for (const [name, value] of Object.entries(call.headers)) headers.set(name, value)
    const response = await fetch(input, { ...init, headers, signal })
    if (response.status === 401 || response.status === 403) {
      call.challenge = { status: response.status, wwwAuthenticate: response.headers.get('www-authenticate') ?? undefined }
    }
    return limitResponse(response, call.maxResponseBytes, (err) => call.abort('too_large', err))
  }
}
