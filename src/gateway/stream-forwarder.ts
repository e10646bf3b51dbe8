// What the gateway streams to its client from a downstream answer: bytes as they arrive (no buffering), the
// byte bound of the security fixes (per response, or per SSE event), and for SSE keep-alive comments written
// only between events, so an idle stream stays open through proxies and the relay's own connection timeout.
import { Transform, type TransformCallback } from 'node:stream'
import { BodyLimiter, type ResponseTooLargeError } from '../net/body-limit.ts'

export interface StreamForwarderOptions {
  maxBytes: number
  contentType: string | undefined
  /** SSE only: a comment is written when nothing was sent for this long. */
  keepAliveMs: number
  /** Called once when the bound is passed (abort the upstream request). */
  onTooLarge: (err: ResponseTooLargeError) => void
}

const LF = 0x0a
const CR = 0x0d
const KEEP_ALIVE = Buffer.from(': keep-alive\n\n')

export class StreamForwarder extends Transform {
  readonly #limiter: BodyLimiter
  readonly #sse: boolean
  readonly #onTooLarge: StreamForwarderOptions['onTooLarge']
  /** The last bytes written, to know whether the stream stands between two events. */
  #tail: number[] = []
  #started = false
  #lastWriteAt = Date.now()
  readonly #timer: NodeJS.Timeout | undefined

  constructor (options: StreamForwarderOptions) {
    super()
    this.#limiter = new BodyLimiter(options.maxBytes, options.contentType)
    this.#sse = isEventStream(options.contentType)
    this.#onTooLarge = options.onTooLarge
    if (this.#sse) {
      // As soon as the client's response reads it: the status and headers go now, not with the server's first
      // event (Node sends the head with the first body bytes, and a GET stream may stay silent for minutes).
      this.once('resume', () => { if (!this.#started && !this.destroyed) this.push(KEEP_ALIVE) })
      this.#timer = setInterval(() => this.#keepAlive(options.keepAliveMs), Math.max(50, Math.floor(options.keepAliveMs / 2)))
      this.#timer.unref()
    }
  }

  override _transform (chunk: Buffer, _encoding: BufferEncoding, callback: TransformCallback): void {
    try {
      this.#limiter.push(chunk)
    } catch (err) {
      this.#onTooLarge(err as ResponseTooLargeError)
      callback(err as Error)
      return
    }
    this.#started = true
    this.#lastWriteAt = Date.now()
    if (this.#sse) this.#tail = [...this.#tail, ...chunk.subarray(Math.max(0, chunk.byteLength - 4))].slice(-4)
    callback(null, chunk)
  }

  override _flush (callback: TransformCallback): void {
    this.#stop()
    callback()
  }

  override _destroy (err: Error | null, callback: (error?: Error | null) => void): void {
    this.#stop()
    callback(err)
  }

  #stop (): void {
    if (this.#timer !== undefined) clearInterval(this.#timer)
  }

  #keepAlive (intervalMs: number): void {
    if (Date.now() - this.#lastWriteAt < intervalMs || !this.#betweenEvents()) return
    this.#lastWriteAt = Date.now()
    this.push(KEEP_ALIVE)
  }

  /** Nothing sent yet, or the last bytes end an event (two line ends in a row; CRLF counts as one). */
  #betweenEvents (): boolean {
    if (!this.#started) return true
    const t = this.#tail
    const last = t[t.length - 1]
    if (last !== LF && last !== CR) return false
    const end = last === LF && t[t.length - 2] === CR ? t.length - 2 : t.length - 1
    const before = t[end - 1]
    return before === LF || before === CR
  }
}

export function isEventStream (contentType: string | undefined): boolean {
  return (contentType ?? '').split(';')[0]?.trim().toLowerCase() === 'text/event-stream'
}
