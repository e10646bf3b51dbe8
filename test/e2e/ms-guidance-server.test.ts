// An MCP server registered as Microsoft now recommends: HTTPS, App ID URI = the server's canonical URL, v2
// tokens, PRM at the origin root listing bare scope names. Discovery qualifies the names with `resource`,
// the audience binding accepts the server's own URL, and the call reaches it as alice over TLS (dev CA).
// https://learn.microsoft.com/en-us/azure/app-service/configure-authentication-mcp
import { afterAll, beforeAll, expect, it } from 'vitest'
import { DEV_RELAY_CLIENT_ID } from '../../dev/entra-emulator/index.ts'
import { startSampleMcpServer, type SampleMcpServer } from '../../dev/sample-mcp/index.ts'
import { freePort } from '../../dev/start-stack.ts'
import { startTestStack, type TestStack } from '../helpers/stack.ts'

const APP_ID = '77777777-7777-7777-7777-000000000001'
let stack: TestStack
let server: SampleMcpServer
let url: string

beforeAll(async () => {
  const port = await freePort()
  url = `https://localhost:${port}/mcp`
  stack = await startTestStack({ extraServers: [{ id: 'guided', url }] })
  stack.emulator.registry.addApp({
    clientId: APP_ID,
    displayName: 'MCP server with its URL as App ID URI',
    appIdUri: url,
    exposedScopes: ['user_impersonation'],
    preAuthorizedClients: [{ clientId: DEV_RELAY_CLIENT_ID, scopes: ['user_impersonation'] }],
    accessTokenAcceptedVersion: 2,
  })
  server = await startSampleMcpServer({
    name: 'notes',
    port,
    tls: stack.emulator.tls,
    appClientId: APP_ID,
    appIdUri: url,
    issuer: stack.emulator.issuer,
    jwksUri: stack.emulator.jwksUri,
    tenantId: stack.emulator.tenantId,
    fetch: stack.fetch,
    prmLocation: 'root',
    prmDocument: { scopes_supported: ['user_impersonation'] },
  })
})
afterAll(async () => {
  await server?.close()
  await stack?.close()
})

it('discovers the qualified scope, binds the server to its own URL, and calls it as alice over HTTPS', async () => {
  const token = await stack.userToken('alice@contoso.test')
  const row = ((await stack.call('/v1/servers', { token })).body.servers as Array<Record<string, unknown>>).find((s) => s.id === 'guided')
  expect(row).toMatchObject({ status: 'ok', scopeSource: 'prm', audience: url, scopes: [`${url}/user_impersonation`], resource: url })
  const res = await stack.call('/v1/servers/guided/tools/whoami', { method: 'POST', token, body: '{}' })
  expect(res.status).toBe(200)
  expect(res.body.structuredContent).toMatchObject({ upn: 'alice@contoso.test', aud: APP_ID, azp: DEV_RELAY_CLIENT_ID })
})
