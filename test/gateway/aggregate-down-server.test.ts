// The aggregated /mcp with one configured server down: it drops out of tools/list (logged with its reason) while
// the others stay; a call to it is a JSON-RPC error naming the server, never a stack or a hang.
import { afterAll, beforeAll, expect, it } from 'vitest'
import { freePort } from '../../dev/start-stack.ts'
import { connectSdk, registerMcpApp } from '../helpers/mcp-clients.ts'
import { startTestStack, type TestStack } from '../helpers/stack.ts'

let stack: TestStack
beforeAll(async () => {
  // Nothing listens on this port: the server is down from the start (explicit scopes: no discovery needed).
  const port = await freePort()
  stack = await startTestStack({ extraServers: [{ id: 'down', url: `http://localhost:${port}/mcp`, scopes: ['api://down-mcp/user_impersonation'] }] })
  registerMcpApp(stack, '66666666-6666-4666-8666-666666666601', 'api://down-mcp')
})
afterAll(async () => { await stack?.close() })

it('lists the servers that answer, and a call to the one that is down fails clearly', async () => {
  const { client, close } = await connectSdk(`${stack.relayUrl}/mcp`, await stack.userToken('alice@contoso.test'))
  try {
    const names = (await client.listTools()).tools.map((t) => t.name)
    expect(names).toEqual(expect.arrayContaining(['notes__whoami', 'calendar__whoami']))
    expect(names.filter((name) => name.startsWith('down__'))).toEqual([])
    expect(stack.logs.some((line) => line.includes('server left out of /mcp tools') && line.includes('"server":"down"'))).toBe(true)

    const failure = await client.callTool({ name: 'down__whoami', arguments: {} }).then(() => undefined, (err: unknown) => err as { code?: number, message?: string })
    expect(failure?.code).toBeTypeOf('number')
    expect(failure?.message ?? '').toMatch(/down/)
    expect(failure?.message ?? '').not.toMatch(/ECONNREFUSED|\bat [\w.]+ \(|node:internal/)
    // The session still works afterwards.
    expect((await client.callTool({ name: 'notes__whoami', arguments: {} })).isError).not.toBe(true)
  } finally {
    await close()
  }
})
