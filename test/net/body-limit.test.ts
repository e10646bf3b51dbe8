// The byte bound per SSE event and per body: an event past the bound is refused however the chunks fall,
// the one that ends inside the chunk that carries it too; events within it pass however many a chunk holds.
import { describe, expect, it } from 'vitest'
import { BodyLimiter, ResponseTooLargeError } from '../../src/net/body-limit.ts'

const SSE = 'text/event-stream'
const bytes = (text: string) => Buffer.from(text)
const event = (size: number, eol = '\n') => `data: ${'x'.repeat(size)}${eol}${eol}`
const pushAll = (limiter: BodyLimiter, chunks: string[]) => { for (const chunk of chunks) limiter.push(bytes(chunk)) }

describe('BodyLimiter, per event', () => {
  it('refuses an event past the bound that ends in the very chunk that carries it', () => {
    expect(() => new BodyLimiter(1000, SSE).push(bytes(event(2000)))).toThrow(ResponseTooLargeError)
  })

  it('refuses one past the bound split over chunks, its end in the last', () => {
    const limiter = new BodyLimiter(1000, SSE)
    limiter.push(bytes(`data: ${'x'.repeat(600)}`))
    expect(() => limiter.push(bytes(`${'x'.repeat(600)}\n\n`))).toThrow(ResponseTooLargeError)
  })

  it('refuses one past the bound after small ones in the same chunk', () => {
    expect(() => new BodyLimiter(1000, SSE).push(bytes(event(10) + event(10) + event(1500) + event(10)))).toThrow(ResponseTooLargeError)
  })

  it('refuses one that never ends once it passes the bound', () => {
    const limiter = new BodyLimiter(1000, SSE)
    expect(() => pushAll(limiter, Array.from({ length: 20 }, () => 'x'.repeat(100)))).toThrow(ResponseTooLargeError)
  })

  for (const eol of ['\n', '\r', '\r\n']) {
    it(`passes any number of events within the bound in one chunk and across chunks (line ends ${JSON.stringify(eol)})`, () => {
      const limiter = new BodyLimiter(1000, SSE)
      const stream = Array.from({ length: 50 }, () => event(900, eol)).join('')
      limiter.push(bytes(stream))
      for (let i = 0; i < stream.length; i += 700) limiter.push(bytes(stream.slice(i, i + 700)))
    })

    it(`a boundary split between two chunks still ends the event (line ends ${JSON.stringify(eol)})`, () => {
      const limiter = new BodyLimiter(1000, SSE)
      limiter.push(bytes(`data: ${'x'.repeat(900)}${eol}`))
      limiter.push(bytes(`${eol}data: ${'x'.repeat(900)}${eol}${eol}`))
    })
  }

  it('charges an event its own line ends only, CRLF too: one of exactly the bound passes, one byte more does not', () => {
    const one = event(100, '\r\n') // its bytes: up to its first CRLF; the blank line ends it
    const size = one.length - 2
    new BodyLimiter(size, SSE).push(bytes(one + one + one))
    const limiter = new BodyLimiter(size, SSE)
    limiter.push(bytes(one.slice(0, 50)))
    limiter.push(bytes(one.slice(50) + one + one))
    expect(() => new BodyLimiter(size - 1, SSE).push(bytes(one + one))).toThrow(ResponseTooLargeError)
  })
})

describe('BodyLimiter, whole body', () => {
  it('counts every byte of a body that is not an event stream, blank lines or not', () => {
    const limiter = new BodyLimiter(1000, 'application/json')
    limiter.push(bytes(event(500)))
    expect(() => limiter.push(bytes(event(500)))).toThrow(ResponseTooLargeError)
  })
})
