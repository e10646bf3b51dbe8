// Starts the real dev stack on free ports for a test file, with logs captured at debug level.
import { Writable } from 'node:stream'
import { createLogger } from '../../src/observability/logger.ts'
import { startDevStack, type DevStack, type DevStackOptions } from '../../dev/start-stack.ts'
import { DEV_CLI_CLIENT_ID, DEV_RELAY_SCOPE } from '../../dev/entra-emulator/index.ts'
import { createDispatcher, createFetch, type FetchLike } from '../../src/net/http-client.ts'
import { startSampleMcpServer, type SampleMcpServer } from '../../dev/sample-mcp/index.ts'

export interface TestStack extends DevStack {
  /** Every log line the relay wrote, as JSON text. */
  logs: string[]
  /** fetch that trusts the emulator CA (for emulator calls); relay calls are plain http on loopback. */
  fetch: FetchLike
  /** An Entra access token for the relay's scope, from the emulator's password grant (mode A). */
  userToken: (username: string) => Promise<string>
  relay: DevStack['relay']
  call: (path: string, init?: RequestInit & { token?: string }) => Promise<{ status: number, headers: Headers, body: any }>
  oboCalls: () => number
}

export async function startTestStack (options: DevStackOptions = {}): Promise<TestStack> {
  const logs: string[] = []
  const sink = new Writable({
    write (chunk, _encoding, callback) {
      logs.push(String(chunk))
      callback()
    },
  })
  const stack = await startDevStack({
    relayPort: 0,
    emulatorPort: 0,
    notesPort: 0,
    calendarPort: 0,
    logger: createLogger('debug', sink),
    ...options,
  })
  const fetch = createFetch(createDispatcher({ trustedCaPem: stack.emulator.caPem }))
  const userToken = async (username: string): Promise<string> => {
    const user = stack.emulator.users.find((u) => u.username === username)
    if (user === undefined) throw new Error(`no test user ${username}`)
    const response = await fetch(`${stack.emulator.url}/${stack.emulator.tenantId}/oauth2/v2.0/token`, {
      method: 'POST',
      body: new URLSearchParams({ grant_type: 'password', client_id: DEV_CLI_CLIENT_ID, username, password: user.password, scope: DEV_RELAY_SCOPE }),
    })
    const body = await response.json() as { access_token?: string }
    if (body.access_token === undefined) throw new Error(`password grant failed: ${JSON.stringify(body)}`)
    return body.access_token
  }
  const call: TestStack['call'] = async (path, init = {}) => {
    const { token, ...rest } = init
    const headers = new Headers(rest.headers)
    if (token !== undefined) headers.set('authorization', `Bearer ${token}`)
    if (rest.body !== undefined && !headers.has('content-type')) headers.set('content-type', 'application/json')
    const response = await globalThis.fetch(`${stack.relayUrl}${path}`, { ...rest, headers, redirect: 'manual' })
    const text = await response.text()
    let body: unknown = text
    try { body = JSON.parse(text) } catch {}
    return { status: response.status, headers: response.headers, body }
  }
  return { ...stack, logs, fetch, userToken, call, oboCalls: () => stack.emulator.stats().calls.on_behalf_of }
}

/** Another sample MCP server trusting this stack's emulator, e.g. for an app the relay is not pre-authorized for. */
export async function startExtraSampleServer (stack: TestStack, options: { port: number, appClientId: string, appIdUri: string, slowToolStepMs?: number }): Promise<SampleMcpServer> {
  return await startSampleMcpServer({
    name: 'notes',
    host: '127.0.0.1',
    issuer: stack.emulator.issuer,
    jwksUri: stack.emulator.jwksUri,
    tenantId: stack.emulator.tenantId,
    fetch: stack.fetch,
    ...options,
  })
}
