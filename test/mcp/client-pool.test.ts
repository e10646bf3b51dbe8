// The MCP client pool against a real sample server: reuse, bound, idle eviction, token change, session cleanup.
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { DEV_NOTES_APP_ID, DEV_RELAY_CLIENT_ID, startEntraEmulator, type EntraEmulator } from '../../dev/entra-emulator/index.ts'
import { startSampleMcpServer, type SampleMcpServer } from '../../dev/sample-mcp/index.ts'
import { createLogger } from '../../src/observability/logger.ts'
import { DownstreamCall } from '../../src/downstream/call.ts'
import { McpClientPool, type PooledClient } from '../../src/mcp/client-pool.ts'
import { createDispatcher, createFetch } from '../../src/net/http-client.ts'

let emulator: EntraEmulator
let notes: SampleMcpServer
const logger = createLogger('silent')

beforeAll(async () => {
  emulator = await startEntraEmulator({ port: 0 })
  notes = await startSampleMcpServer({
    name: 'notes',
    port: 0,
    appClientId: DEV_NOTES_APP_ID,
    appIdUri: 'api://notes-mcp',
    issuer: emulator.issuer,
    jwksUri: emulator.jwksUri,
    tenantId: emulator.tenantId,
    fetch: createFetch(createDispatcher({ trustedCaPem: emulator.caPem })),
  })
})
afterAll(async () => {
  await dispatcher.close()
  await notes?.close()
  await emulator?.close()
})

const tokenFor = (username: string) => emulator.issueUserToken(username, { clientId: DEV_RELAY_CLIENT_ID, scopes: ['api://notes-mcp/user_impersonation'] })
const until = async (condition: () => boolean, ms = 3000) => {
  const deadline = Date.now() + ms
  while (!condition()) {
    if (Date.now() > deadline) throw new Error('condition not met in time')
    await new Promise((resolve) => setTimeout(resolve, 20))
  }
}

/** One pool operation inside its own bounded call, as the tool service runs them. */
async function use<T> (pool: McpClientPool, key: string, token: string, operation: (entry: PooledClient, call: DownstreamCall) => Promise<T>): Promise<T> {
  const call = new DownstreamCall({ timeoutMs: 10_000, maxResponseBytes: 1024 * 1024 })
  try {
    return await pool.use(key, new URL(notes.url), token, call, async (entry) => await operation(entry, call))
  } finally {
    call.dispose()
  }
}
const entryOf = (pool: McpClientPool, key: string, token: string) => use(pool, key, token, async (entry) => entry)
const dispatcher = createDispatcher()
const options = { dispatcher, logger }

describe('McpClientPool', () => {
  it('reuses the client for the same key and token; another token gets its own client', async () => {
    const pool = new McpClientPool(options)
    const t1 = await tokenFor('alice@contoso.test')
    const a = await entryOf(pool, 'alice|notes', t1)
    expect(await entryOf(pool, 'alice|notes', t1)).toBe(a)
    const b = await entryOf(pool, 'alice|notes', await tokenFor('alice@contoso.test'))
    expect(b).not.toBe(a)
    expect(pool.size).toBe(2)
    await pool.close()
  })

  it('concurrent uses for one key connect once', async () => {
    const pool = new McpClientPool(options)
    const token = await tokenFor('bob@contoso.test')
    const clients = await Promise.all(Array.from({ length: 10 }, () => entryOf(pool, 'bob|notes', token)))
    expect(new Set(clients).size).toBe(1)
    await pool.close()
  })

  it('is bounded: the least recently used client is closed and its session ended', async () => {
    const before = notes.sessionCount()
    const pool = new McpClientPool({ ...options, maxClients: 2 })
    for (const user of ['u1', 'u2', 'u3']) await entryOf(pool, `${user}|notes`, await tokenFor('alice@contoso.test'))
    expect(pool.size).toBe(2)
    await until(() => notes.sessionCount() === before + 2)
    await pool.close()
    await until(() => notes.sessionCount() === before)
  })

  it('one user cannot fill the pool: beyond three clients per user and server the oldest retire', async () => {
    const before = notes.sessionCount()
    const pool = new McpClientPool(options)
    for (let i = 0; i < 6; i++) await entryOf(pool, 'greedy|notes', await tokenFor('alice@contoso.test'))
    await entryOf(pool, 'other|notes', await tokenFor('bob@contoso.test'))
    expect(pool.size).toBe(4)
    await until(() => notes.sessionCount() === before + 4)
    await pool.close()
  })

  it('evicts idle clients by itself', async () => {
    const before = notes.sessionCount()
    const pool = new McpClientPool({ ...options, idleTimeoutMs: 150 })
    await entryOf(pool, 'idle|notes', await tokenFor('alice@contoso.test'))
    expect(notes.sessionCount()).toBe(before + 1)
    await until(() => pool.size === 0 && notes.sessionCount() === before)
  })

  it('a client evicted while a call runs is closed only after that call completes', async () => {
    const before = notes.sessionCount()
    const pool = new McpClientPool({ ...options, maxClients: 1 })
    const slow = use(pool, 'a|notes', await tokenFor('alice@contoso.test'), async (entry, call) =>
      await entry.session.request('tools/call', { name: 'slow', arguments: { steps: 3 } }, call))
    await until(() => notes.sessionCount() === before + 1)
    // Another key pushes the running client out of the pool.
    await entryOf(pool, 'b|notes', await tokenFor('bob@contoso.test'))
    const result = await slow
    expect(result.isError).not.toBe(true)
    await until(() => notes.sessionCount() === before + 1)
    await pool.close()
  })
})
