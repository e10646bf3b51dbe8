// Where tool filters apply, `/mcp/:server` reads what it otherwise only forwards: the tool calls of a request
// and the `tools/list` answer, which it re-emits without the tools this user may not use.
import { Readable } from 'node:stream'
import { readBoundedText, readSseData } from '../mcp/modern/bounded-body.ts'
import { McpResponseTooLargeError } from '../mcp/modern/client-errors.ts'
import { isEventStream } from './stream-forwarder.ts'

/** Tool names a request (or batch) calls; 'batch' for a batch, which is refused where filters apply. */
export function toolCallsIn (message: unknown): string[] | 'batch' {
  if (Array.isArray(message)) return 'batch'
  if (typeof message !== 'object' || message === null) return []
  const { method, params } = message as { method?: unknown, params?: { name?: unknown } }
  return method === 'tools/call' && typeof params?.name === 'string' ? [params.name] : []
}

function withoutDenied (message: unknown, allowed: (tool: string) => boolean): unknown {
  if (typeof message !== 'object' || message === null) return message
  const result = (message as { result?: { tools?: unknown } }).result
  if (result === undefined || !Array.isArray(result.tools)) return message
  const tools = result.tools.filter((tool: unknown) => typeof tool === 'object' && tool !== null && typeof (tool as { name?: unknown }).name === 'string' && allowed((tool as { name: string }).name))
  return { ...message, result: { ...result, tools } }
}

/** A JSON-RPC response (a result or an error for a request), not a notification or a server request. */
function isResponse (message: unknown): boolean {
  return typeof message === 'object' && message !== null && !('method' in message) && ('result' in message || 'error' in message)
}

/** The whole answer (JSON, or every SSE event), bounded, with denied tools removed from `tools/list` results. */
export async function filterToolsListAnswer (body: Readable, contentType: string | undefined, maxBytes: number, allowed: (tool: string) => boolean, stop: () => void): Promise<string> {
  const web = Readable.toWeb(body) as ReadableStream<Uint8Array>
  if (isEventStream(contentType)) {
    // Bounded in total, not only per event, and read only up to the answer: what follows it (notifications a
    // server keeps sending on the request's stream) is not waited for.
    let out = ''
    let read = 0
    for await (const data of readSseData(web, maxBytes, stop)) {
      read += Buffer.byteLength(data)
      if (read > maxBytes) {
        stop()
        throw new McpResponseTooLargeError(maxBytes, read)
      }
      let message: unknown
      try {
        message = JSON.parse(data)
      } catch {
        continue
      }
      out += `event: message\ndata: ${JSON.stringify(withoutDenied(message, allowed))}\n\n`
      if (isResponse(message)) {
        stop()
        break
      }
    }
    return out
  }
  const text = await readBoundedText(web, maxBytes, stop)
  try {
    return JSON.stringify(withoutDenied(JSON.parse(text), allowed))
  } catch {
    return text
  }
}
