// Bench process: the sample `notes` MCP server (official SDK, Streamable HTTP sessions, validating every
// delegated token against the emulator's keys), alone in its process.
import { DEV_NOTES_APP_ID } from '../../dev/entra-emulator/index.ts'
import { startSampleMcpServer } from '../../dev/sample-mcp/index.ts'
import { createDispatcher, createFetch } from '../../src/net/http-client.ts'
import { ready, serveIpc } from '../lib/ipc-child.ts'

const emulator = JSON.parse(process.env.BENCH_EMULATOR ?? '{}') as { issuer: string, jwksUri: string, tenantId: string, caPem: string }
const notes = await startSampleMcpServer({
  name: 'notes',
  port: 0,
  host: '127.0.0.1',
  appClientId: DEV_NOTES_APP_ID,
  appIdUri: 'api://notes-mcp',
  issuer: emulator.issuer,
  jwksUri: emulator.jwksUri,
  tenantId: emulator.tenantId,
  fetch: createFetch(createDispatcher({ trustedCaPem: emulator.caPem })),
  slowToolStepMs: Number(process.env.BENCH_SLOW_STEP_MS ?? 20),
})
serveIpc({ sessions: () => notes.sessionCount() }, async () => { await notes.close() })
ready({ url: notes.url, origin: notes.origin })
