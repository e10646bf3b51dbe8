// What the relay does when the MCP server misbehaves: timeouts, outages, lost sessions, refused tokens.
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest'
import { DEV_NOTES_APP_ID } from '../../dev/entra-emulator/index.ts'
import type { SampleMcpServer } from '../../dev/sample-mcp/index.ts'
import { startExtraSampleServer, startTestStack, type TestStack } from '../helpers/stack.ts'

let stack: TestStack
let token: string
let replacement: SampleMcpServer | undefined

beforeAll(async () => {
  stack = await startTestStack({ relayEnv: { DOWNSTREAM_TIMEOUT_MS: '400', ENTRA_TIMEOUT_MS: '300' }, notesOptions: { slowToolStepMs: 150 } })
  token = await stack.userToken('alice@contoso.test')
})
afterAll(async () => {
  await replacement?.close()
  await stack?.close()
})
beforeEach(() => { stack.emulator.reset() })

const call = (tool: string, args: object = {}) =>
  stack.call(`/v1/servers/notes/tools/${tool}`, { method: 'POST', token, body: JSON.stringify({ arguments: args }) })

/** Restarts `notes` on the same port: every MCP session it had is gone. */
async function restartNotes (overrides: { appClientId?: string } = {}) {
  const port = Number(new URL(stack.notes.url).port)
  await (replacement ?? stack.notes).close()
  replacement = await startExtraSampleServer(stack, { port, appClientId: overrides.appClientId ?? DEV_NOTES_APP_ID, appIdUri: 'api://notes-mcp', slowToolStepMs: 150 })
}

describe('a slow Entra', () => {
  it('an OBO exchange slower than ENTRA_TIMEOUT_MS → 503 with Retry-After, promptly', async () => {
    stack.emulator.addFault({ grant: 'on_behalf_of', fault: 'latency', latencyMs: 2000, count: 1 })
    const started = Date.now()
    const res = await stack.call('/v1/servers/calendar/tools/whoami', { method: 'POST', token: await stack.userToken('bob@contoso.test'), body: '{}' })
    expect(res.status).toBe(503)
    expect(res.body.error).toBe('temporarily_unavailable')
    expect(res.headers.get('retry-after')).toMatch(/^\d+$/)
    expect(Date.now() - started).toBeLessThan(1900)
  })
})

describe('downstream failures', () => {
  it('a tool slower than DOWNSTREAM_TIMEOUT_MS → 504', async () => {
    const res = await call('slow', { steps: 10 })
    expect(res.status).toBe(504)
    expect(res.body.error).toBe('gateway_timeout')
  })

  it('a lost MCP session (server restarted) is rebuilt transparently', async () => {
    expect((await call('whoami')).status).toBe(200)
    await restartNotes()
    const res = await call('whoami')
    expect(res.status).toBe(200)
    expect(res.body.structuredContent.upn).toBe('alice@contoso.test')
  })

  it('a downstream that refuses the token → one retry with a fresh OBO token, then 502', async () => {
    expect((await call('whoami')).status).toBe(200)
    const before = stack.oboCalls()
    // The server now expects another audience: every delegated token for notes is refused with 401.
    await restartNotes({ appClientId: '44444444-4444-4444-4444-444444444499' })
    const res = await call('whoami')
    expect(res.status).toBe(502)
    expect(res.body.error).toBe('bad_gateway')
    expect(stack.oboCalls() - before).toBe(1)
    await restartNotes()
  })

  it('an MCP server that is down → 502, without its details', async () => {
    await (replacement ?? stack.notes).close()
    const res = await call('whoami')
    expect(res.status).toBe(502)
    expect(res.body.error_description).toBe('Server "notes" cannot be reached.')
    await restartNotes()
    expect((await call('whoami')).status).toBe(200)
  })
})
