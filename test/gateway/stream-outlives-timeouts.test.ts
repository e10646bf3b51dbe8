// A tool call that streams for longer than REQUEST_TIMEOUT_MS and CONNECTION_TIMEOUT_MS (both about receiving
// requests and idle sockets, never about how long an answer may stream) completes through /mcp/notes: the
// keep-alive comments keep the socket from counting as idle.
import { afterAll, beforeAll, expect, it } from 'vitest'
import { connectSdk, structured } from '../helpers/mcp-clients.ts'
import { startTestStack, type TestStack } from '../helpers/stack.ts'

let stack: TestStack
beforeAll(async () => {
  stack = await startTestStack({ relayEnv: { REQUEST_TIMEOUT_MS: '1000', HEADERS_TIMEOUT_MS: '1000', CONNECTION_TIMEOUT_MS: '5000', SSE_KEEPALIVE_MS: '1000' } })
})
afterAll(async () => { await stack?.close() })

it('a 6 s stream with a silent server survives a 1 s request timeout and a 5 s connection timeout', async () => {
  const { client, close } = await connectSdk(`${stack.relayUrl}/mcp/notes`, await stack.userToken('alice@contoso.test'))
  try {
    const progress: number[] = []
    const call = client.callTool({ name: 'stepped', arguments: { gate: 'outlives', steps: 2 } }, undefined, { onprogress: (p) => progress.push(p.progress), timeout: 30_000 })
    stack.notes.releaseStep('outlives')
    await new Promise((resolve) => setTimeout(resolve, 6_000))
    expect(progress).toEqual([1])
    stack.notes.releaseStep('outlives')
    expect(structured(await call)).toEqual({ steps: 2 })
    expect(progress).toEqual([1, 2])
  } finally {
    await close()
  }
}, 20_000)
