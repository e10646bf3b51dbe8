// Two relays on one store, as two replicas behind a load balancer: an MCP session opened on one is served by
// the other, for its user only (the session state and the user binding live in the store).
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { freePort } from '../../dev/start-stack.ts'
import { createLogger } from '../../src/observability/logger.ts'
import { createRelay, type Relay } from '../../src/relay.ts'
import { createMemoryStore } from '../../src/stores/memory.ts'
import { startTestStack, type TestStack } from '../helpers/stack.ts'
import { connectSdk, messagesOf, structured } from '../helpers/mcp-clients.ts'

let stack: TestStack
let replica: Relay
let replicaUrl: string
let alice: string
let bob: string

beforeAll(async () => {
  const store = createMemoryStore()
  stack = await startTestStack({ relay: { store } })
  const port = await freePort()
  replicaUrl = `http://localhost:${port}`
  replica = await createRelay({ config: { ...stack.config, port, mcpAllowedHosts: [...stack.config.mcpAllowedHosts, `localhost:${port}`] }, logger: createLogger('silent'), store })
  await replica.app.listen({ host: '127.0.0.1', port })
  alice = await stack.userToken('alice@contoso.test')
  bob = await stack.userToken('bob@contoso.test')
})
afterAll(async () => {
  await replica?.close()
  await stack?.close()
})

const aliceOid = () => stack.emulator.users.find((u) => u.username === 'alice@contoso.test')!.oid

const callOn = (base: string, path: string, token: string, sessionId: string, name: string) => fetch(`${base}${path}`, {
  method: 'POST',
  headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json', accept: 'application/json, text/event-stream', 'mcp-session-id': sessionId, 'mcp-protocol-version': '2025-11-25' },
  body: JSON.stringify({ jsonrpc: '2.0', id: 21, method: 'tools/call', params: { name, arguments: {} } }),
})

describe.each([['/mcp', 'notes__whoami'], ['/mcp/notes', 'whoami']])('a session of %s opened on one replica', (path, tool) => {
  it('is served by the other, for its user only', async () => {
    const { transport, close } = await connectSdk(`${stack.relayUrl}${path}`, alice)
    try {
      const sessionId = transport.sessionId as string
      const elsewhere = await callOn(replicaUrl, path, alice, sessionId, tool)
      expect(elsewhere.status).toBe(200)
      const [answer] = await messagesOf(elsewhere)
      expect(structured(answer!.result)).toMatchObject({ oid: aliceOid() })
      expect((await callOn(replicaUrl, path, bob, sessionId, tool)).status).toBe(404)
    } finally {
      await close()
    }
  })
})
