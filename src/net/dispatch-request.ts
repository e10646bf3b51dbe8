// One HTTP exchange on undici's `dispatch` with a handler of our own, for the gateway's hot path. `request()`
// wraps every answer in a Readable and its body mixin; an MCP answer is mostly one small JSON-RPC message read
// whole, so here the body is held as the chunks undici hands over and becomes a Readable only when asked
// (an SSE stream, an answer past the caller's bound). Measured in bench S2: ~70–90 µs less relay CPU per call
// on these machines (bench/RESULTS.md). Backpressure, timeouts (`headersTimeout`, `bodyTimeout`) and aborts
// are undici's own: the handler only pauses, resumes and aborts through its controller.
import { Readable } from 'node:stream'
import type { IncomingHttpHeaders } from 'node:http'
import type { Dispatcher } from 'undici'

export interface UpstreamResponse {
  statusCode: number
  headers: IncomingHttpHeaders
  body: UpstreamBody
}

/** A body read up to a bound: `whole`, or the `head` read so far and its size in `bytes`. */
export type BodyRead = { whole: Buffer, head?: undefined } | { whole?: undefined, head: Buffer[], bytes: number }

/** Before the body is read or streamed, at most this much of it is held; then the connection is paused. */
const HELD_MAX_BYTES = 64 * 1024

/**
 * Sends `options` through `dispatcher`; resolves when the response headers arrive (rejects with undici's error,
 * or the signal's reason, before that). The body is then the caller's to read (`readUpTo`), stream (`stream`)
 * or `discard`; it is never left unread by the gateway.
 */
export async function dispatchRequest (dispatcher: Dispatcher, options: Dispatcher.DispatchOptions, signal: AbortSignal): Promise<UpstreamResponse> {
  signal.throwIfAborted()
  return await new Promise((resolve, reject) => {
    const body = new UpstreamBody(signal, resolve, reject)
    dispatcher.dispatch(options, body)
  })
}

/** The dispatch handler, and the body of the response it receives. */
export class UpstreamBody implements Dispatcher.DispatchHandler {
  readonly #signal: AbortSignal
  #resolve: ((response: UpstreamResponse) => void) | undefined
  #reject: ((err: Error) => void) | undefined
  #controller: Dispatcher.DispatchController | undefined
  #chunks: Buffer[] = []
  #size = 0
  #ended = false
  #error: Error | undefined
  #readable: Readable | undefined
  #wake: (() => void) | undefined
  /** What the reader waiting in readUpTo takes: held bytes up to it do not pause the connection. */
  #wanted = 0
  readonly #onAbort = (): void => { this.#abort(this.#signal.reason instanceof Error ? this.#signal.reason : new Error('aborted')) }

  constructor (signal: AbortSignal, resolve: (response: UpstreamResponse) => void, reject: (err: Error) => void) {
    this.#signal = signal
    this.#resolve = resolve
    this.#reject = reject
    signal.addEventListener('abort', this.#onAbort, { once: true })
  }

  /**
   * The body when it ends within `maxBytes` (`whole`), else what was read of it so far (`head`, `bytes`), the rest to be
   * had from `stream()`. Rejects with the transport's error (undici's code: UND_ERR_BODY_TIMEOUT, UND_ERR_SOCKET…).
   */
  async readUpTo (maxBytes: number): Promise<BodyRead> {
    try {
      return await this.#readUpTo(maxBytes)
    } finally {
      this.#wanted = 0
    }
  }

  async #readUpTo (maxBytes: number): Promise<BodyRead> {
    for (;;) {
      if (this.#error !== undefined) throw this.#error
      // Past the bound even when it has all arrived: `whole` is never more than `maxBytes`.
      if (this.#size > maxBytes) {
        const bytes = this.#size
        return { head: this.#takeChunks(), bytes }
      }
      if (this.#ended) return { whole: this.#take() }
      const more = new Promise<void>((resolve) => { this.#wake = resolve })
      // Held chunks past HELD_MAX_BYTES paused the connection: a reader taking more resumes it, and it stays
      // running up to what the reader takes (the waiter is set first: resuming may hand over the rest, its end
      // included, before it returns).
      this.#wanted = maxBytes
      this.#controller?.resume()
      await more
    }
  }

  /** The whole body if it has all arrived already and is at most `maxBytes`; else undefined, nothing taken. */
  arrived (maxBytes: number): Buffer | undefined {
    return this.#ended && this.#error === undefined && this.#readable === undefined && this.#size <= maxBytes ? this.#take() : undefined
  }

  /** The rest of the body as a Readable (backpressure pauses the connection; destroying it aborts the exchange). */
  stream (): Readable {
    if (this.#readable !== undefined) return this.#readable
    const readable = new Readable({
      read: () => { this.#controller?.resume() },
      destroy: (err, callback) => {
        if (!this.#ended) this.#abort(err ?? new Error('body destroyed'))
        callback(err)
      },
    })
    this.#readable = readable
    for (const chunk of this.#takeChunks()) readable.push(chunk)
    if (this.#error !== undefined) readable.destroy(this.#error)
    else if (this.#ended) readable.push(null)
    return readable
  }

  /** Closes the exchange unread (the connection goes with it): what a failing or hostile server sends is not read. */
  discard (): void {
    this.#takeChunks()
    if (!this.#ended) this.#abort(new Error('body discarded'))
  }

  onRequestStart (controller: Dispatcher.DispatchController): void {
    this.#controller = controller
    if (this.#signal.aborted) this.#onAbort()
  }

  onResponseStart (controller: Dispatcher.DispatchController, statusCode: number, headers: IncomingHttpHeaders): void {
    this.#controller = controller
    // An informational answer (102 Processing, 103 Early Hints) comes before the final one: it is not the answer.
    if (statusCode < 200) return
    const resolve = this.#resolve
    this.#resolve = undefined
    this.#reject = undefined
    resolve?.({ statusCode, headers, body: this })
  }

  onResponseData (controller: Dispatcher.DispatchController, chunk: Buffer): void {
    if (chunk.byteLength === 0) return // undici's parser flushes with an empty chunk on resume
    if (this.#readable !== undefined) {
      if (!this.#readable.push(chunk)) controller.pause()
      return
    }
    this.#chunks.push(chunk)
    this.#size += chunk.byteLength
    if (this.#size > Math.max(HELD_MAX_BYTES, this.#wanted)) controller.pause()
    this.#wakeReader()
  }

  onResponseEnd (): void {
    this.#ended = true
    this.#signal.removeEventListener('abort', this.#onAbort)
    this.#readable?.push(null)
    this.#wakeReader()
  }

  onResponseError (_controller: Dispatcher.DispatchController, err: Error): void {
    this.#signal.removeEventListener('abort', this.#onAbort)
    const reject = this.#reject
    this.#resolve = undefined
    this.#reject = undefined
    if (reject !== undefined) {
      reject(err)
      return
    }
    if (this.#ended) return
    this.#error = err
    this.#takeChunks()
    if (this.#readable !== undefined && !this.#readable.destroyed) this.#readable.destroy(err)
    this.#wakeReader()
  }

  #abort (reason: Error): void {
    if (this.#controller === undefined) return // onRequestStart aborts it when it comes (the signal is read there)
    if (!this.#controller.aborted) this.#controller.abort(reason)
  }

  /** The held chunks, no longer held. */
  #takeChunks (): Buffer[] {
    const chunks = this.#chunks
    this.#chunks = []
    this.#size = 0
    return chunks
  }

  /** The held chunks as one Buffer. */
  #take (): Buffer {
    const size = this.#size
    const chunks = this.#takeChunks()
    return chunks.length === 1 ? chunks[0] as Buffer : Buffer.concat(chunks, size)
  }

  #wakeReader (): void {
    const wake = this.#wake
    this.#wake = undefined
    wake?.()
  }
}
