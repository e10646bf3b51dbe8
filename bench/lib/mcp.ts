// MCP over Streamable HTTP by hand, for the load generator's fixed requests: open a legacy session, build a
// tools/call body with a per-request id, and time the first progress event of a streaming call (S6).
import { request, type Dispatcher } from 'undici'
import { LEGACY_PROTOCOL_VERSION } from './constants.ts'

export function mcpHeaders (authorization: string, sessionId?: string): Record<string, string> {
  return {
    authorization,
    'content-type': 'application/json',
    accept: 'application/json, text/event-stream',
    'mcp-protocol-version': LEGACY_PROTOCOL_VERSION,
    ...(sessionId === undefined ? {} : { 'mcp-session-id': sessionId }),
  }
}

/** A tools/call whose id autocannon replaces per request (`idReplacement`), so concurrent calls on one session never share an id. */
export function toolCallBody (name: string, args: Record<string, unknown> = {}): string {
  return JSON.stringify({ jsonrpc: '2.0', id: '[<id>]', method: 'tools/call', params: { name, arguments: args } })
}

/** The JSON-RPC messages of an answer, JSON or SSE. */
export function messagesOf (contentType: string, text: string): Array<Record<string, any>> {
  if (contentType.includes('text/event-stream')) {
    return text.split(/\r?\n\r?\n/).flatMap((event) => {
      const data = event.split(/\r?\n/).filter((line) => line.startsWith('data:')).map((line) => line.slice(5).trimStart()).join('\n')
      return data === '' ? [] : [JSON.parse(data) as Record<string, any>]
    })
  }
  return text === '' ? [] : [JSON.parse(text) as Record<string, any>]
}

export async function postMcp (url: string, headers: Record<string, string>, message: unknown, dispatcher?: Dispatcher): Promise<{ status: number, headers: Record<string, string | string[] | undefined>, messages: Array<Record<string, any>> }> {
  const answer = await request(url, { method: 'POST', headers, body: JSON.stringify(message), ...(dispatcher === undefined ? {} : { dispatcher }) })
  const text = await answer.body.text()
  const contentType = String(answer.headers['content-type'] ?? '')
  return { status: answer.statusCode, headers: answer.headers, messages: answer.statusCode < 300 ? messagesOf(contentType, text) : [{ text }] }
}

/** initialize + notifications/initialized (2025-06-18); the session id, or undefined for a stateless server. */
export async function openSession (url: string, authorization: string): Promise<string | undefined> {
  const init = await postMcp(url, mcpHeaders(authorization), {
    jsonrpc: '2.0', id: 1, method: 'initialize', params: { protocolVersion: LEGACY_PROTOCOL_VERSION, capabilities: {}, clientInfo: { name: 'obo-relay-bench', version: '1' } },
  })
  if (init.status !== 200 || init.messages[0]?.result === undefined) throw new Error(`initialize at ${url} answered ${init.status}: ${JSON.stringify(init.messages).slice(0, 300)}`)
  const sessionId = init.headers['mcp-session-id']
  const id = typeof sessionId === 'string' ? sessionId : undefined
  const initialized = await postMcp(url, mcpHeaders(authorization, id), { jsonrpc: '2.0', method: 'notifications/initialized' })
  if (initialized.status !== 202 && initialized.status !== 200) throw new Error(`notifications/initialized at ${url} answered ${initialized.status}`)
  return id
}

/** One tools/call, checked: the result's text (the load runs send the same request). */
export async function callToolOnce (url: string, authorization: string, sessionId: string | undefined, name: string): Promise<string> {
  const answer = await postMcp(url, mcpHeaders(authorization, sessionId), { jsonrpc: '2.0', id: 'check', method: 'tools/call', params: { name, arguments: {} } })
  const result = answer.messages.find((m) => m.id === 'check')?.result as { content?: Array<{ text?: string }>, isError?: boolean } | undefined
  if (answer.status !== 200 || result === undefined || result.isError === true) throw new Error(`tools/call ${name} at ${url} answered ${answer.status}: ${JSON.stringify(answer.messages).slice(0, 300)}`)
  return result.content?.[0]?.text ?? ''
}

/**
 * Milliseconds from sending a tools/call of a progress-reporting tool to the first `notifications/progress`
 * event read from its SSE answer (the rest of the answer is read to its end).
 */
export async function firstProgressMs (url: string, authorization: string, sessionId: string | undefined, name: string, args: Record<string, unknown>, dispatcher: Dispatcher): Promise<number> {
  const body = JSON.stringify({ jsonrpc: '2.0', id: 'progress', method: 'tools/call', params: { name, arguments: args, _meta: { progressToken: 'bench' } } })
  const started = performance.now()
  const answer = await request(url, { method: 'POST', headers: mcpHeaders(authorization, sessionId), body, dispatcher })
  let first: number | undefined
  let buffered = ''
  for await (const chunk of answer.body) {
    if (first !== undefined) continue
    buffered += String(chunk)
    if (/"method"\s*:\s*"notifications\/progress"/.test(buffered)) first = performance.now() - started
  }
  if (answer.statusCode !== 200 || first === undefined) throw new Error(`no progress event from ${url} (HTTP ${answer.statusCode}): ${buffered.slice(0, 300)}`)
  return first
}
