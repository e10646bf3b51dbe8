// The stack the conformance comparison runs on: the dev stack with two more servers behind the relay (the
// reference server and our conformance fixture, each with pinned scopes of an API registered for the test),
// and a forwarder per server that adds alice's Authorization.
import { startTestStack, type TestStack } from '../helpers/stack.ts'
import { registerMcpApp } from '../helpers/mcp-clients.ts'
import { startConformanceServer } from '../fixtures/conformance-server.ts'
import { startEverythingServer, startForwarder, type Stoppable } from '../helpers/conformance.ts'

export interface ConformanceStack {
  stack: TestStack
  /** Direct URL and through-the-relay URL of each server. */
  targets: Array<{ name: 'everything' | 'fixture', direct: string, relayed: string }>
  close: () => Promise<void>
}

const APPS = {
  everything: { clientId: '55555555-5555-4555-8555-555555555511', appIdUri: 'api://everything-mcp' },
  fixture: { clientId: '55555555-5555-4555-8555-555555555512', appIdUri: 'api://conformance-mcp' },
} as const

export async function startConformanceStack (): Promise<ConformanceStack> {
  const closers: Array<() => Promise<void>> = []
  const close = async (): Promise<void> => { for (const c of closers.reverse()) await c().catch(() => {}) }
  try {
    const everything = await startEverythingServer()
    closers.push(everything.close)
    const fixture = await startConformanceServer()
    closers.push(fixture.close)
    const stack = await startTestStack({
      logLevel: 'warn',
      extraServers: [
        { id: 'everything', url: everything.url, scopes: [`${APPS.everything.appIdUri}/user_impersonation`] },
        { id: 'fixture', url: fixture.url, scopes: [`${APPS.fixture.appIdUri}/user_impersonation`] },
      ],
    })
    closers.push(stack.close)
    for (const app of Object.values(APPS)) registerMcpApp(stack, app.clientId, app.appIdUri)
    let token = await stack.userToken('alice@contoso.test')
    const refresh = setInterval(() => { stack.userToken('alice@contoso.test').then((t) => { token = t }, () => {}) }, 10 * 60_000)
    refresh.unref()
    closers.push(async () => { clearInterval(refresh) })
    const forwarders: Stoppable[] = []
    for (const id of ['everything', 'fixture']) {
      const forwarder = await startForwarder(`${stack.relayUrl}/mcp/${id}`, () => `Bearer ${token}`)
      closers.push(forwarder.close)
      forwarders.push(forwarder)
    }
    return {
      stack,
      targets: [
        { name: 'everything', direct: everything.url.replace('127.0.0.1', 'localhost'), relayed: forwarders[0]!.url },
        { name: 'fixture', direct: fixture.url.replace('127.0.0.1', 'localhost'), relayed: forwarders[1]!.url },
      ],
      close,
    }
  } catch (err) {
    await close()
    throw err
  }
}
