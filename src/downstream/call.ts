// One bounded exchange with an MCP server: a deadline, the caller's abort, a byte cap, and what the server
// said in a 401/403. Each request of the exchange is handed the call, so concurrent calls on one pooled
// session never share a signal.
import type { ResponseTooLargeError } from '../net/body-limit.ts'

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
}
