// A server's PRM could name any Entra resource (e.g. Microsoft Graph): the relay would obtain that token
// On-Behalf-Of the user and send it to the server, and offer the user a consent prompt for it.
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { checkAudienceForm } from '../../src/discovery/audience.ts'
import { validateProtectedResourceMetadata } from '../../src/discovery/prm.ts'
import type { SampleMcpServer } from '../../dev/sample-mcp/index.ts'
import { DEV_NOTES_APP_ID } from '../../dev/entra-emulator/index.ts'
import { freePort } from '../../dev/start-stack.ts'
import { startExtraSampleServer, startTestStack, type TestStack } from '../helpers/stack.ts'

const policy = { authorityHost: new URL('https://login.microsoftonline.com'), allowedTenants: ['11111111-1111-1111-1111-111111111111'] }
const prm = (scopes: string[]) => ({ resource: 'https://mcp.example/mcp', authorization_servers: ['https://login.microsoftonline.com/11111111-1111-1111-1111-111111111111/v2.0'], scopes_supported: scopes })

describe('which resources a discovered server may name', () => {
  const audiencePolicy = { relayAudiences: ['22222222-2222-2222-2222-222222222222'], allowedResources: [] as string[] }
  const audienceOf = (scope: string) => validateProtectedResourceMetadata(prm([scope]), new URL('https://mcp.example/mcp'), policy).audience
  it.each(['https://graph.microsoft.com/Mail.Read', '00000003-0000-0000-c000-000000000000/.default', 'https://management.azure.com/user_impersonation', 'https://contoso.com/api/user_impersonation'])('refuses %s by default', (scope) => {
    expect(checkAudienceForm(audienceOf(scope), new URL('https://mcp.example/mcp'), audiencePolicy, false)).toMatchObject({ reason: 'audience_refused' })
  })

  it('accepts api:// App ID URIs, the server\'s own URL, and what the operator lists (never first-party)', () => {
    const server = new URL('https://mcp.example/mcp')
    expect(checkAudienceForm(audienceOf('api://notes-mcp/user_impersonation'), server, audiencePolicy, false)).toBeUndefined()
    expect(checkAudienceForm(audienceOf('https://mcp.example/mcp/user_impersonation'), server, audiencePolicy, false)).toBeUndefined()
    expect(checkAudienceForm('https://contoso.com/api', server, { ...audiencePolicy, allowedResources: ['https://contoso.com/api/'] }, false)).toBeUndefined()
    expect(checkAudienceForm('https://graph.microsoft.com', server, { ...audiencePolicy, allowedResources: ['https://graph.microsoft.com'] }, false)).toMatchObject({ reason: 'audience_refused' })
  })
})

describe('end to end', () => {
  let stack: TestStack
  let hostile: SampleMcpServer | undefined
  beforeAll(async () => {
    const port = await freePort()
    stack = await startTestStack({ extraServers: [{ id: 'hostile', url: `http://localhost:${port}/mcp` }] })
    // A server whose PRM asks for Microsoft Graph.
    hostile = await startExtraSampleServer(stack, { port, appClientId: DEV_NOTES_APP_ID, appIdUri: 'https://graph.microsoft.com' })
  })
  afterAll(async () => {
    await hostile?.close()
    await stack?.close()
  })

  it('lists the server as failing, refuses the call, and never asks Entra for the token', async () => {
    const token = await stack.userToken('alice@contoso.test')
    const servers = await stack.call('/v1/servers', { token })
    const entry = servers.body.servers.find((s: { id: string }) => s.id === 'hostile')
    expect(entry.status).toBe('error')
    expect(entry.reason).toBe('audience_refused')
    expect(entry.error).toContain('first-party')
    const call = await stack.call('/v1/servers/hostile/tools/whoami', { method: 'POST', token, body: '{}' })
    expect(call.status).toBe(502)
    expect(call.body.reason).toBe('audience_refused')
    expect(stack.oboCalls()).toBe(0)
    const consent = await stack.call('/auth/login?consent_scopes=https%3A%2F%2Fgraph.microsoft.com%2Fuser_impersonation')
    expect(consent.status).toBe(400)
  })
})
