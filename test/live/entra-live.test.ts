// The end-to-end path against a real Entra test tenant. Runs only when ENTRA_TEST_* are set.
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { loadConfig } from '../../src/config/index.ts'
import { createLogger } from '../../src/observability/logger.ts'
import { createRelay, type Relay } from '../../src/relay.ts'
import { startSampleMcpServer, type SampleMcpServer } from '../../dev/sample-mcp/index.ts'
import { freePort } from '../../dev/start-stack.ts'

const NAMES = ['TENANT_ID', 'CLIENT_ID', 'CLIENT_SECRET', 'SCOPE', 'PUBLIC_CLIENT_ID', 'USERNAME', 'PASSWORD', 'MCP_SCOPE', 'MCP_CLIENT_ID'] as const
const env = Object.fromEntries(NAMES.map((n) => [n, process.env[`ENTRA_TEST_${n}`]])) as Record<typeof NAMES[number], string | undefined>
const missing = NAMES.filter((n) => env[n] === undefined || env[n] === '').map((n) => `ENTRA_TEST_${n}`)
const live = missing.length === 0
if (!live) console.log(`[live suite] skipped: set ${missing.join(', ')} to run it against a real Entra tenant (see README)`)

describe.skipIf(!live)('live Entra tenant', () => {
  let relay: Relay
  let mcp: SampleMcpServer
  let relayUrl: string
  let userToken: string

  beforeAll(async () => {
    const authority = `https://login.microsoftonline.com/${env.TENANT_ID!}`
    const response = await fetch(`${authority}/oauth2/v2.0/token`, {
      method: 'POST',
      body: new URLSearchParams({ grant_type: 'password', client_id: env.PUBLIC_CLIENT_ID!, username: env.USERNAME!, password: env.PASSWORD!, scope: env.SCOPE! }),
    })
    const body = await response.json() as { access_token?: string, error_description?: string }
    if (body.access_token === undefined) throw new Error(`ROPC for the test user failed: ${body.error_description?.split('\r\n')[0] ?? response.status}`)
    userToken = body.access_token

    const appIdUri = env.MCP_SCOPE!.slice(0, env.MCP_SCOPE!.lastIndexOf('/'))
    mcp = await startSampleMcpServer({
      name: 'notes',
      port: 0,
      appClientId: env.MCP_CLIENT_ID!,
      appIdUri,
      tenantId: env.TENANT_ID!,
      issuer: `https://login.microsoftonline.com/${env.TENANT_ID!}/v2.0`,
      jwksUri: `https://login.microsoftonline.com/${env.TENANT_ID!}/discovery/v2.0/keys`,
      requiredScope: env.MCP_SCOPE!.slice(env.MCP_SCOPE!.lastIndexOf('/') + 1),
    })
    const port = await freePort()
    relayUrl = `http://localhost:${port}`
    const config = loadConfig({
      TENANT_ID: env.TENANT_ID,
      CLIENT_ID: env.CLIENT_ID,
      CLIENT_SECRET: env.CLIENT_SECRET,
      SCOPE: env.SCOPE,
      PUBLIC_URL: relayUrl,
      PORT: String(port),
      HOST: '127.0.0.1',
      ALLOW_INSECURE_LOOPBACK: 'true',
      LOG_LEVEL: 'warn',
      // The sample server's PRM names the live tenant, so discovery runs for real as well.
      MCP_SERVERS: JSON.stringify([{ id: 'live', url: mcp.url }]),
    })
    relay = await createRelay({ config, logger: createLogger('warn') })
    await relay.app.listen({ host: '127.0.0.1', port })
  }, 60_000)
  afterAll(async () => {
    await relay?.close()
    await mcp?.close()
  })

  it('validates a real Entra token for the relay (mode A)', async () => {
    const res = await fetch(`${relayUrl}/v1/me`, { headers: { authorization: `Bearer ${userToken}` } })
    expect(res.status).toBe(200)
    expect((await res.json() as { upn: string }).upn.toLowerCase()).toBe(env.USERNAME!.toLowerCase())
  })

  it('discovers the scope, exchanges On-Behalf-Of with Entra, and calls whoami as the user', async () => {
    const res = await fetch(`${relayUrl}/v1/servers/live/tools/whoami`, { method: 'POST', headers: { authorization: `Bearer ${userToken}`, 'content-type': 'application/json' }, body: '{"arguments":{}}' })
    expect(res.status).toBe(200)
    const body = await res.json() as { structuredContent: { upn: string, azp: string } }
    expect(body.structuredContent.upn.toLowerCase()).toBe(env.USERNAME!.toLowerCase())
    expect(body.structuredContent.azp).toBe(env.CLIENT_ID)
  }, 30_000)
})
