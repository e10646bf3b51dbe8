// When OBO needs the user (here: consent to an API that does not pre-authorize the relay), the MCP endpoints
// tell the client where the user can act: the HTTP answer on /mcp/:server, a URL-mode elicitation for legacy
// clients that declare it, an `input_required` result for modern ones, else a tool error that says what to do.
// A server that refuses the user drops out of /mcp's tools while the others stay.
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { UrlElicitationRequiredError } from '@modelcontextprotocol/sdk/types.js'
import { DEV_RESTRICTED_APP_ID, DEV_RESTRICTED_SCOPE } from '../../dev/entra-emulator/index.ts'
import type { SampleMcpServer } from '../../dev/sample-mcp/index.ts'
import { freePort } from '../../dev/start-stack.ts'
import { startExtraSampleServer, startTestStack, type TestStack } from '../helpers/stack.ts'
import { connectSdk, jsonOf, messagesOf, modernPost } from '../helpers/mcp-clients.ts'

let stack: TestStack
let restricted: SampleMcpServer | undefined
let alice: string

beforeAll(async () => {
  const port = await freePort()
  stack = await startTestStack({ extraServers: [{ id: 'restricted', url: `http://localhost:${port}/mcp` }] })
  restricted = await startExtraSampleServer(stack, { port, appClientId: DEV_RESTRICTED_APP_ID, appIdUri: 'api://restricted-mcp' })
  alice = await stack.userToken('alice@contoso.test')
})
afterAll(async () => {
  await restricted?.close()
  await stack?.close()
})

const consentUrl = (url: string) => {
  const parsed = new URL(url)
  expect(parsed.origin + parsed.pathname).toBe(`${stack.relayUrl}/auth/login`)
  expect(parsed.searchParams.get('consent_scopes')).toBe(DEV_RESTRICTED_SCOPE)
}

describe('consent needed during OBO', () => {
  it('/mcp/:server answers 403 consent_required in JSON-RPC form with the login_url', async () => {
    const response = await fetch(`${stack.relayUrl}/mcp/restricted`, {
      method: 'POST',
      headers: { authorization: `Bearer ${alice}`, 'content-type': 'application/json', accept: 'application/json, text/event-stream' },
      body: JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'initialize', params: { protocolVersion: '2025-11-25', capabilities: {}, clientInfo: { name: 'raw', version: '1' } } }),
    })
    expect(response.status).toBe(403)
    const body = await jsonOf(response)
    expect(body).toMatchObject({ jsonrpc: '2.0', id: 1, error: { data: { error: 'consent_required', reason: 'consent_required' } } })
    consentUrl(body.error.data.login_url)
  })

  it('/mcp leaves the server out of tools/list while the others stay, and logs why', async () => {
    const { client, close } = await connectSdk(`${stack.relayUrl}/mcp`, alice)
    try {
      const names = (await client.listTools()).tools.map((t) => t.name)
      expect(names).toContain('notes__whoami')
      expect(names.some((name) => name.startsWith('restricted__'))).toBe(false)
      expect(stack.logs.some((line) => line.includes('server left out of /mcp tools') && line.includes('consent_required'))).toBe(true)
    } finally {
      await close()
    }
  })

  it('a 2025-11-25 client declaring URL elicitation gets -32042 with the sign-in URL', async () => {
    const { client, close } = await connectSdk(`${stack.relayUrl}/mcp`, alice, { capabilities: { elicitation: { url: {} } } })
    try {
      const error = await client.callTool({ name: 'restricted__whoami', arguments: {} }).catch((err: unknown) => err)
      expect(error).toBeInstanceOf(UrlElicitationRequiredError)
      const [elicitation] = (error as UrlElicitationRequiredError).elicitations
      expect(elicitation).toMatchObject({ mode: 'url', elicitationId: expect.any(String), message: expect.stringContaining('consent') })
      consentUrl(elicitation!.url)
    } finally {
      await close()
    }
  })

  it('a legacy client without it gets a tool error that says where to go', async () => {
    const { client, close } = await connectSdk(`${stack.relayUrl}/mcp`, alice)
    try {
      const result = await client.callTool({ name: 'restricted__whoami', arguments: {} })
      expect(result.isError).toBe(true)
      const text = (result.content as Array<{ text: string }>)[0]!.text
      const url = /Open (\S+) in a browser/.exec(text)?.[1]
      consentUrl(url!)
    } finally {
      await close()
    }
  })

  it('a modern client declaring URL elicitation gets an input_required result pointing at the sign-in URL', async () => {
    const response = await modernPost(`${stack.relayUrl}/mcp`, alice, 'tools/call', { name: 'restricted__whoami', arguments: {} }, { capabilities: { elicitation: { url: {} } } })
    expect(response.status).toBe(200)
    const [answer] = await messagesOf(response)
    expect(answer!.result).toMatchObject({ resultType: 'input_required', inputRequests: { 'obo-relay/sign-in': { method: 'elicitation/create', params: { mode: 'url' } } } })
    consentUrl(answer!.result.inputRequests['obo-relay/sign-in'].params.url)
    // The retry answering it runs the call again (still refused: the user has not consented yet).
    const retry = await modernPost(`${stack.relayUrl}/mcp`, alice, 'tools/call', { name: 'restricted__whoami', arguments: {}, inputResponses: { 'obo-relay/sign-in': { action: 'accept' } } }, { id: 2, capabilities: { elicitation: { url: {} } } })
    expect((await messagesOf(retry))[0]!.result.resultType).toBe('input_required')
    const plain = await modernPost(`${stack.relayUrl}/mcp`, alice, 'tools/call', { name: 'restricted__whoami', arguments: {} }, { id: 3 })
    expect((await messagesOf(plain))[0]!.result).toMatchObject({ resultType: 'complete', isError: true })
  })
})
