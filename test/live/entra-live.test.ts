// The end-to-end journey (journey.ts, which npm test also runs against the emulator) against a real Entra test
// tenant. Runs only when ENTRA_TEST_* are set. The relay's API is left at the default registration (v1 tokens, the
// case that broke before) and the MCP server's API requests v2 tokens, so both versions are exercised.
import { afterAll, beforeAll, describe } from 'vitest'
import { loadConfig } from '../../src/config/index.ts'
import { createLogger } from '../../src/observability/logger.ts'
import { createRelay, type Relay } from '../../src/relay.ts'
import { startSampleMcpServer, type SampleMcpServer } from '../../dev/sample-mcp/index.ts'
import { freePort } from '../../dev/start-stack.ts'
import { journey } from './journey.ts'

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

  journey(() => ({
    relayUrl,
    userToken: async () => userToken,
    username: env.USERNAME!,
    relayClientId: env.CLIENT_ID!,
    serverId: 'live',
  }))
})
