// Byte bounds on what a downstream server sends, enforced while reading: a whole body (JSON and anything
// else) or, for `text/event-stream`, each event. The first byte past the bound stops the reading.

export class ResponseTooLargeError extends Error {
  readonly limitBytes: number
  readonly perEvent: boolean
  constructor (limitBytes: number, perEvent: boolean) {
    super(perEvent ? `an event of the response exceeded ${limitBytes} bytes` : `the response exceeded ${limitBytes} bytes`)
    this.name = 'ResponseTooLargeError'
    this.limitBytes = limitBytes
    this.perEvent = perEvent
  }
}

const LF = 0x0a
const CR = 0x0d

/** Counts bytes of one body; for SSE, bytes since the last event boundary (a blank line: LF LF, CR CR or CRLF CRLF). */
export class BodyLimiter {
  readonly #maxBytes: number
  readonly #perEvent: boolean
  #count = 0
  /** The last bytes seen, so a boundary split across chunks is still found. */
  #tail: number[] = []

  constructor (maxBytes: number, contentType: string | null | undefined) {
    this.#maxBytes = maxBytes
    this.#perEvent = (contentType ?? '').split(';')[0]?.trim().toLowerCase() === 'text/event-stream'
  }

  /** Throws ResponseTooLargeError once the bound is passed. */
  push (chunk: Uint8Array): void {
    if (!this.#perEvent) {
      this.#count += chunk.byteLength
    } else if (this.#count + chunk.byteLength <= this.#maxBytes) {
      // No event can pass the bound in this chunk: only where the last one ends matters.
      const boundaryEnd = this.#lastBoundaryEnd(chunk)
      this.#count = boundaryEnd === -1 ? this.#count + chunk.byteLength : chunk.byteLength - boundaryEnd
    } else {
      // One might, even one that ends in this chunk (its boundary resets the count): every event is measured.
      this.#count = this.#measureEvents(chunk)
    }
    if (this.#perEvent) this.#tail = [...this.#tail, ...chunk.subarray(Math.max(0, chunk.byteLength - 3))].slice(-3)
    if (this.#count > this.#maxBytes) throw new ResponseTooLargeError(this.#maxBytes, this.#perEvent)
  }

  /** The bytes of the event still open after `chunk`; throws as soon as one event passes the bound. */
  #measureEvents (chunk: Uint8Array): number {
    let count = this.#count
    const last = this.#tail[this.#tail.length - 1]
    let lineEnded = last === LF || last === CR
    let afterCr = last === CR
    for (let i = 0; i < chunk.byteLength; i++) {
      const b = chunk[i]
      if (b === LF && afterCr) {
        // The LF of a CRLF: the same line end as its CR, charged to the event (to none after a boundary).
        afterCr = false
        if (count > 0 && ++count > this.#maxBytes) throw new ResponseTooLargeError(this.#maxBytes, true)
        continue
      }
      if (b === LF || b === CR) {
        afterCr = b === CR
        if (lineEnded) {
          count = 0 // a blank line: the event ended here, within the bound
          continue
        }
        lineEnded = true
      } else {
        lineEnded = false
        afterCr = false
      }
      if (++count > this.#maxBytes) throw new ResponseTooLargeError(this.#maxBytes, true)
    }
    return count
  }

  /**
   * Index in `chunk` just past its last event boundary, or -1. A boundary is two line terminators in a row
   * (CRLF counts as one), as an SSE parser sees it; the first may end in the previous chunk.
   * @see https://html.spec.whatwg.org/multipage/server-sent-events.html#parsing-an-event-stream
   */
  #lastBoundaryEnd (chunk: Uint8Array): number {
    const at = (i: number): number | undefined => i >= 0 ? chunk[i] : this.#tail[this.#tail.length + i]
    for (let i = chunk.byteLength - 1; i >= 0; i--) {
      const b = chunk[i]
      if (b !== LF && b !== CR) continue
      const start = b === LF && at(i - 1) === CR ? i - 1 : i
      const before = at(start - 1)
      if (before === LF || before === CR) return i + 1
    }
    return -1
  }
}

/**
 * A copy of `response` whose body stops with ResponseTooLargeError past the bound; `onExceeded` runs
 * first, so the caller can abort the request (and close the connection) before anything more is read.
 */
export function limitResponse (response: Response, maxBytes: number, onExceeded: (err: ResponseTooLargeError) => void): Response {
  if (response.body === null) return response
  const limiter = new BodyLimiter(maxBytes, response.headers.get('content-type'))
  const limited = response.body.pipeThrough(new TransformStream<Uint8Array, Uint8Array>({
    transform (chunk, controller) {
      try {
        limiter.push(chunk)
      } catch (err) {
        onExceeded(err as ResponseTooLargeError)
        controller.error(err)
        return
      }
      controller.enqueue(chunk)
    },
  }))
  return new Response(limited, { status: response.status, statusText: response.statusText, headers: response.headers })
}
