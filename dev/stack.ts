// `npm run dev`: the whole product on its embedded default — Entra emulator, two sample MCP servers, the relay.
import { copyFileSync, mkdirSync } from 'node:fs'
import { resolve } from 'node:path'
import { parseServerList } from '../src/config/index.ts'
import { DEV_CLI_CLIENT_ID, DEV_RELAY_SCOPE } from './entra-emulator/index.ts'
import { startDevStack, type ExtraServer } from './start-stack.ts'

const port = (name: string, fallback: number): number => {
  const raw = process.env[name]
  if (raw === undefined || raw === '') return fallback
  const n = Number(raw)
  if (!Number.isInteger(n) || n < 0 || n > 65535) {
    process.stderr.write(`dev stack: ${name} must be a port number (got "${raw}")\n`)
    process.exit(1)
  }
  return n
}

/** DEV_EXTRA_MCP_SERVERS: more servers for the relay, same form as MCP_SERVERS (e.g. the hostile fixture). */
function extraServers (): ExtraServer[] {
  const raw = process.env.DEV_EXTRA_MCP_SERVERS
  if (raw === undefined || raw.trim() === '') return []
  const problems: string[] = []
  const servers = parseServerList(raw, 'DEV_EXTRA_MCP_SERVERS', problems)
  if (problems.length > 0) {
    process.stderr.write(`dev stack: ${problems.join('\n  ')}\n`)
    process.exit(1)
  }
  return servers.map((server) => ({
    id: server.id,
    url: server.url.href,
    ...(server.scopes === undefined ? {} : { scopes: server.scopes }),
    ...(server.audience === undefined ? {} : { audience: server.audience }),
  }))
}

const stack = await startDevStack({
  extraServers: extraServers(),
  relayPort: port('PORT', 8080),
  emulatorPort: port('EMULATOR_PORT', 8443),
  notesPort: port('NOTES_PORT', 9101),
  calendarPort: port('CALENDAR_PORT', 9102),
  metricsPort: port('METRICS_PORT', 9464),
  logLevel: (process.env.LOG_LEVEL as 'info' | undefined) ?? 'info',
})

// A stable path for the emulator's CA so curl can trust it: `--cacert .dev-certs/ca.pem`.
const certDir = resolve('.dev-certs')
mkdirSync(certDir, { recursive: true })
const caFile = resolve(certDir, 'ca.pem')
copyFileSync(stack.emulator.caFile, caFile)

const tokenUrl = `${stack.emulator.url}/${stack.emulator.tenantId}/oauth2/v2.0/token`
const users = stack.emulator.users.map((u) => `    ${u.username} / ${u.password}  (oid ${u.oid})`).join('\n')
process.stdout.write(`
obo-relay dev stack is up
  relay              ${stack.relayUrl}            (open it in a browser and sign in)
  API docs           ${stack.relayUrl}/docs
  metrics            ${stack.metricsUrl}
  Entra emulator     ${stack.emulator.url}/${stack.emulator.tenantId}/v2.0/.well-known/openid-configuration
  MCP server notes   ${stack.notes.url}
  MCP server calendar ${stack.calendar.url}
${stack.config.mcpServers.filter((server) => server.id !== 'notes' && server.id !== 'calendar').map((server) => `  MCP server ${server.id}  ${server.url.href}  (DEV_EXTRA_MCP_SERVERS)\n`).join('')}  emulator CA        ${caFile}
  test users
${users}

Try it (mode A: an Entra token for the relay, then a tool call that the relay makes On-Behalf-Of alice):

  TOKEN=$(curl -s --cacert ${caFile} ${tokenUrl} \\
    -d grant_type=password -d client_id=${DEV_CLI_CLIENT_ID} \\
    -d username=alice@contoso.test -d password=alice-password \\
    --data-urlencode 'scope=${DEV_RELAY_SCOPE}' | node -pe 'JSON.parse(require("fs").readFileSync(0)).access_token')
  curl -s -H "authorization: Bearer $TOKEN" ${stack.relayUrl}/v1/servers
  curl -s -H "authorization: Bearer $TOKEN" -H 'content-type: application/json' \\
    -d '{"arguments":{}}' ${stack.relayUrl}/v1/servers/notes/tools/whoami

Ctrl-C stops everything.
`)

let stopping = false
for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.once(signal, () => {
    if (stopping) return
    stopping = true
    process.stdout.write('\nstopping the dev stack…\n')
    stack.close().then(() => process.exit(0), () => process.exit(1))
  })
}
