// Streaming through the relay: each progress event reaches the client before the server produces the next (the
// test releases the steps one at a time, so nothing here depends on timing), keep-alive comments between
// events, and a client that goes away mid-stream cancels the upstream request.
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest'
import { startTestStack, type TestStack } from '../helpers/stack.ts'
import { connectSdk, modernPost, structured } from '../helpers/mcp-clients.ts'

let stack: TestStack
let alice: string

beforeAll(async () => {
  stack = await startTestStack({ relayEnv: { SSE_KEEPALIVE_MS: '200' } })
  alice = await stack.userToken('alice@contoso.test')
})
afterAll(async () => { await stack?.close() })

/** A promise for the next value pushed, and the pusher. */
function queue<T> (): { push: (value: T) => void, next: () => Promise<T> } {
  const values: T[] = []
  const waiters: Array<(value: T) => void> = []
  return {
    push: (value) => { const waiter = waiters.shift(); if (waiter !== undefined) waiter(value); else values.push(value) },
    next: async () => values.length > 0 ? values.shift() as T : await new Promise<T>((resolve) => waiters.push(resolve)),
  }
}

describe.each(['/mcp/notes', '/mcp'])('progress streams live through %s', (path) => {
  it('each progress event passes the relay before the next step is released', async () => {
    const gate = `live-${path.replace(/\W/g, '')}`
    const tool = path === '/mcp' ? 'notes__stepped' : 'stepped'
    const { client, close } = await connectSdk(`${stack.relayUrl}${path}`, alice)
    try {
      const progress = queue<number>()
      const call = client.callTool({ name: tool, arguments: { gate, steps: 3 } }, undefined, { onprogress: (p) => progress.push(p.progress), timeout: 60_000 })
      for (let step = 1; step <= 3; step++) {
        stack.notes.releaseStep(gate)
        // Step `step + 1` is not released until this event arrived: it cannot have been buffered behind it.
        expect(await progress.next()).toBe(step)
      }
      expect(structured(await call)).toEqual({ steps: 3 })
    } finally {
      await close()
    }
  })
})

describe('a client that goes away', () => {
  it('cancels the upstream request of /mcp/:server', async () => {
    const { transport, close } = await connectSdk(`${stack.relayUrl}/mcp/notes`, alice)
    const before = stack.notes.abortedAnswers()
    const controller = new AbortController()
    const response = await fetch(`${stack.relayUrl}/mcp/notes`, {
      method: 'POST',
      signal: controller.signal,
      headers: { authorization: `Bearer ${alice}`, 'content-type': 'application/json', accept: 'application/json, text/event-stream', 'mcp-session-id': transport.sessionId as string, 'mcp-protocol-version': '2025-11-25' },
      body: JSON.stringify({ jsonrpc: '2.0', id: 9, method: 'tools/call', params: { name: 'stepped', arguments: { gate: 'gone', steps: 5 }, _meta: { progressToken: 'p' } } }),
    })
    expect(response.headers.get('content-type')).toMatch(/text\/event-stream/)
    expect(response.headers.get('x-accel-buffering')).toBe('no')
    const reader = response.body!.getReader()
    stack.notes.releaseStep('gone')
    let seen = ''
    while (!seen.includes('notifications/progress')) seen += new TextDecoder().decode((await reader.read()).value)
    controller.abort()
    await vi.waitFor(() => { expect(stack.notes.abortedAnswers()).toBeGreaterThan(before) }, { timeout: 10_000, interval: 20 })
    await close()
  })

  it('on /mcp, a legacy client\'s cancellation (notifications/cancelled) reaches the downstream call', async () => {
    const { client, close } = await connectSdk(`${stack.relayUrl}/mcp`, alice)
    const before = stack.notes.abortedAnswers()
    const controller = new AbortController()
    const progress = queue<number>()
    const call = client.callTool({ name: 'notes__stepped', arguments: { gate: 'cancel-legacy', steps: 5 } }, undefined, { signal: controller.signal, onprogress: (p) => progress.push(p.progress) })
    stack.notes.releaseStep('cancel-legacy')
    expect(await progress.next()).toBe(1)
    controller.abort()
    await expect(call).rejects.toThrow()
    await vi.waitFor(() => { expect(stack.notes.abortedAnswers()).toBeGreaterThan(before) }, { timeout: 10_000, interval: 20 })
    await close()
  })

  it('on /mcp, a modern client closing its stream cancels the downstream call', async () => {
    const before = stack.notes.abortedAnswers()
    const controller = new AbortController()
    const response = await modernPost(`${stack.relayUrl}/mcp`, alice, 'tools/call', { name: 'notes__stepped', arguments: { gate: 'cancel-modern', steps: 5 } }, { progressToken: 'm', signal: controller.signal })
    const reader = response.body!.getReader()
    stack.notes.releaseStep('cancel-modern')
    let seen = ''
    while (!seen.includes('notifications/progress')) seen += new TextDecoder().decode((await reader.read()).value)
    controller.abort()
    await vi.waitFor(() => { expect(stack.notes.abortedAnswers()).toBeGreaterThan(before) }, { timeout: 10_000, interval: 20 })
  })

  it('writes keep-alive comments on an idle stream, only between events', async () => {
    const { transport, close } = await connectSdk(`${stack.relayUrl}/mcp/notes`, alice)
    const controller = new AbortController()
    const response = await fetch(`${stack.relayUrl}/mcp/notes`, {
      method: 'POST',
      signal: controller.signal,
      headers: { authorization: `Bearer ${alice}`, 'content-type': 'application/json', accept: 'application/json, text/event-stream', 'mcp-session-id': transport.sessionId as string, 'mcp-protocol-version': '2025-11-25' },
      body: JSON.stringify({ jsonrpc: '2.0', id: 10, method: 'tools/call', params: { name: 'stepped', arguments: { gate: 'idle', steps: 2 }, _meta: { progressToken: 'k' } } }),
    })
    const reader = response.body!.getReader()
    stack.notes.releaseStep('idle')
    let text = ''
    // Wait for the first event and at least one keep-alive after it (nothing else is released meanwhile).
    while (!/notifications\/progress[\s\S]*\n\n: keep-alive\n\n/.test(text)) text += new TextDecoder().decode((await reader.read()).value)
    stack.notes.releaseStep('idle')
    while (!text.includes('"result"')) text += new TextDecoder().decode((await reader.read()).value)
    // Every keep-alive stands alone between two blank lines: never inside an event.
    for (const event of text.split('\n\n').filter(Boolean)) {
      const lines = event.split('\n')
      if (lines[0] === ': keep-alive') expect(lines).toEqual([': keep-alive'])
      else expect(lines.some((line) => line.startsWith(':'))).toBe(false)
    }
    controller.abort()
    await close()
  })
})
