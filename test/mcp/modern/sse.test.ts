// The event-stream reader, fed byte chunks cut at awkward places (WHATWG HTML § Server-sent events, interpretation).
import { describe, expect, it } from 'vitest'
import { readSseData } from '../../../src/mcp/modern/bounded-body.ts'
import { McpResponseTooLargeError } from '../../../src/mcp/modern/index.ts'

function streamOf (chunks: Array<string | Uint8Array>): ReadableStream<Uint8Array> {
  const encoded = chunks.map((chunk) => (typeof chunk === 'string' ? new TextEncoder().encode(chunk) : chunk))
  return new ReadableStream({
    pull (controller) {
      const next = encoded.shift()
      if (next === undefined) controller.close()
      else controller.enqueue(next)
    },
  })
}

async function collect (chunks: Array<string | Uint8Array>, maxEventBytes = 1024): Promise<string[]> {
  const events: string[] = []
  for await (const data of readSseData(streamOf(chunks), maxEventBytes, () => {})) events.push(data)
  return events
}

describe('readSseData', () => {
  it('joins data lines, strips one leading space, ignores comments, ids, retry and other event types', async () => {
    expect(await collect([
      '\uFEFF: keep-alive\n',
      'id: 1\nretry: 10\ndata: first\ndata:second\n\n',
      'event: other\ndata: skipped\n\n',
      'event: message\ndata:  two spaces\n\n',
    ])).toEqual(['first\nsecond', ' two spaces'])
  })

  it('accepts CRLF, CR and LF line ends, a CRLF split across chunks included', async () => {
    expect(await collect(['data: a\r', '\n\r', '\ndata: b\rdata: c\r\r', 'data: d\n', '\n'])).toEqual(['a', 'b\nc', 'd'])
  })

  it('keeps UTF-8 characters whose bytes are split across chunks', async () => {
    const bytes = new TextEncoder().encode('data: Zürich 世界\n\n')
    expect(await collect([bytes.subarray(0, 9), bytes.subarray(9, 15), bytes.subarray(15)])).toEqual(['Zürich 世界'])
  })

  it('discards an event the stream cuts off, and dispatches nothing for a blank event', async () => {
    expect(await collect(['\n\n', 'data: done\n\n', 'data: cut'])).toEqual(['done'])
  })

  it('bounds what one event holds, its data lines added up', async () => {
    const line = `data: ${'x'.repeat(300)}\n`
    await expect(collect([line, line, line, line], 1024)).rejects.toBeInstanceOf(McpResponseTooLargeError)
    expect(await collect([line, line, '\n', line, line, '\n'], 1024)).toHaveLength(2)
  })
})
