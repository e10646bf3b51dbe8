// Reading an HTTP answer under a hard byte limit: a whole JSON body, or a text/event-stream event by event.
import { McpResponseTooLargeError } from './client-errors.ts'

const LF = 0x0A
const CR = 0x0D

/** Aborts the request, so the connection is closed rather than drained. Never throws. */
export type StopReading = () => void

/**
 * The body as text, failing as soon as more than `maxBytes` arrived: at most one read past the limit is ever held.
 * @see DESIGN §7 (every downstream exchange is bounded)
 */
export async function readBoundedText (body: ReadableStream<Uint8Array>, maxBytes: number, stop: StopReading): Promise<string> {
  const reader = body.getReader()
  const chunks: Uint8Array[] = []
  let bytesRead = 0
  try {
    while (true) {
      const { done, value } = await reader.read()
      if (done) break
      bytesRead += value.byteLength
      if (bytesRead > maxBytes) {
        stop()
        reader.cancel().catch(() => {})
        throw new McpResponseTooLargeError(maxBytes, bytesRead)
      }
      chunks.push(value)
    }
  } finally {
    reader.releaseLock()
  }
  return new TextDecoder().decode(Buffer.concat(chunks))
}

/**
 * The `data` of each `message` event of an SSE stream, as it completes. What one event holds (its data lines and
 * the line being read) may not exceed `maxEventBytes`; comments, `id` and `retry` are read and dropped.
 * An event cut off by the end of the stream is discarded, as the SSE specification says.
 * @see https://html.spec.whatwg.org/multipage/server-sent-events.html#event-stream-interpretation
 */
export async function * readSseData (body: ReadableStream<Uint8Array>, maxEventBytes: number, stop: StopReading): AsyncGenerator<string> {
  const reader = body.getReader()
  const decoder = new SseDecoder(maxEventBytes)
  let bytesRead = 0
  try {
    while (true) {
      const { done, value } = await reader.read()
      if (done) return
      bytesRead += value.byteLength
      let events: string[]
      try {
        events = decoder.push(value)
      } catch (err) {
        stop()
        reader.cancel().catch(() => {})
        throw err instanceof EventTooLarge ? new McpResponseTooLargeError(maxEventBytes, bytesRead) : err
      }
      for (const data of events) yield data
    }
  } finally {
    reader.releaseLock()
  }
}

export class EventTooLarge extends Error {}

/** Splits bytes into lines (LF, CR or CRLF; those bytes never occur inside UTF-8 sequences) and lines into events. */
export class SseDecoder {
  private readonly maxEventBytes: number
  private lineParts: Uint8Array[] = []
  private lineBytes = 0
  private dataLines: string[] = []
  private dataBytes = 0
  private eventType = ''
  private afterCR = false
  private firstLine = true

  constructor (maxEventBytes: number) {
    this.maxEventBytes = maxEventBytes
  }

  push (chunk: Uint8Array): string[] {
    const events: string[] = []
    let start = 0
    if (this.afterCR && chunk[0] === LF) start = 1
    this.afterCR = false
    for (let index = start; index < chunk.length; index++) {
      const byte = chunk[index]
      if (byte !== LF && byte !== CR) continue
      this.addToLine(chunk.subarray(start, index))
      const event = this.endLine()
      if (event !== undefined) events.push(event)
      if (byte === CR) {
        if (index + 1 === chunk.length) this.afterCR = true
        else if (chunk[index + 1] === LF) index++
      }
      start = index + 1
    }
    this.addToLine(chunk.subarray(start))
    return events
  }

  private addToLine (part: Uint8Array): void {
    if (part.length === 0) return
    this.lineParts.push(part)
    this.lineBytes += part.length
    if (this.lineBytes + this.dataBytes > this.maxEventBytes) throw new EventTooLarge()
  }

  /** Interprets the finished line; returns an event's data when the line was the blank one that ends it. */
  private endLine (): string | undefined {
    let line = new TextDecoder().decode(Buffer.concat(this.lineParts, this.lineBytes))
    this.lineParts = []
    this.lineBytes = 0
    if (this.firstLine) {
      this.firstLine = false
      if (line.startsWith('\uFEFF')) line = line.slice(1)
    }
    if (line === '') return this.dispatch()
    if (line.startsWith(':')) return undefined
    const colon = line.indexOf(':')
    const field = colon === -1 ? line : line.slice(0, colon)
    let value = colon === -1 ? '' : line.slice(colon + 1)
    if (value.startsWith(' ')) value = value.slice(1)
    if (field === 'data') {
      this.dataLines.push(value)
      this.dataBytes += Buffer.byteLength(value) + 1
      if (this.dataBytes > this.maxEventBytes) throw new EventTooLarge()
    } else if (field === 'event') {
      this.eventType = value
    }
    return undefined
  }

  private dispatch (): string | undefined {
    const data = this.dataLines.join('\n')
    const isMessage = this.eventType === '' || this.eventType === 'message'
    const hasData = this.dataLines.length > 0
    this.dataLines = []
    this.dataBytes = 0
    this.eventType = ''
    return hasData && isMessage ? data : undefined
  }
}
