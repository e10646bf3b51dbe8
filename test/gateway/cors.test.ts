// Browsers may call the MCP endpoints from CORS_ALLOWED_ORIGINS only: preflights answered, the session header
// exposed, every other Origin refused (403) before authentication.
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { startTestStack, type TestStack } from '../helpers/stack.ts'

const APP = 'https://agent-ui.example'
let stack: TestStack
let alice: string

beforeAll(async () => {
  stack = await startTestStack({ relayEnv: { CORS_ALLOWED_ORIGINS: APP } })
  alice = await stack.userToken('alice@contoso.test')
})
afterAll(async () => { await stack?.close() })

describe('CORS on /mcp and /mcp/:server', () => {
  it.each(['/mcp', '/mcp/notes'])('answers the preflight of an allowed origin on %s', async (path) => {
    const response = await fetch(`${stack.relayUrl}${path}`, {
      method: 'OPTIONS',
      headers: { origin: APP, 'access-control-request-method': 'POST', 'access-control-request-headers': 'authorization, content-type, mcp-protocol-version, mcp-session-id' },
    })
    expect(response.status).toBe(204)
    expect(response.headers.get('access-control-allow-origin')).toBe(APP)
    expect(response.headers.get('access-control-allow-credentials')).toBeNull()
  })

  it('lets an allowed origin call, exposing Mcp-Session-Id; refuses any other', async () => {
    const init = (origin: string) => fetch(`${stack.relayUrl}/mcp`, {
      method: 'POST',
      headers: { origin, authorization: `Bearer ${alice}`, 'content-type': 'application/json', accept: 'application/json, text/event-stream' },
      body: JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'initialize', params: { protocolVersion: '2025-11-25', capabilities: {}, clientInfo: { name: 'web', version: '1' } } }),
    })
    const allowed = await init(APP)
    expect(allowed.status).toBe(200)
    expect(allowed.headers.get('access-control-allow-origin')).toBe(APP)
    expect(allowed.headers.get('access-control-expose-headers')).toContain('mcp-session-id')
    await allowed.body?.cancel()
    const other = await init('https://elsewhere.example')
    expect(other.status).toBe(403)
    expect(other.headers.get('access-control-allow-origin')).toBeNull()
  })
})
