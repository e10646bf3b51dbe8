// The dev stack without the relay: the Entra emulator and the two sample MCP servers, for relays that run
// elsewhere (docker-compose's `dev` profile, a relay under a debugger). Configured by the environment:
//
//   SERVICES_HOST        bind address of all three                       default 127.0.0.1 (0.0.0.0 in a container)
//   EMULATOR_PORT, NOTES_PORT, CALENDAR_PORT                              default 8443, 9101, 9102
//   EMULATOR_PUBLIC_URL  the emulator's origin as relays reach it: its issuer, metadata and TLS name
//                        (e.g. https://emulator:8443)                    default https://localhost:<EMULATOR_PORT>
//   EMULATOR_HOSTNAMES   more names for its TLS certificate, comma separated (localhost is always in it)
//   EMULATOR_CERT_DIR    where ca.pem (the CAs to trust: TRUSTED_CA_FILE) is written once all listen   default .dev-certs
//   NOTES_PUBLIC_URL, CALENDAR_PUBLIC_URL  the servers' origins as relays reach them (their PRM `resource`)
//                                                                         default http://localhost:<port>
//   SAMPLES_TLS          true: the sample servers serve HTTPS (certificate from a second dev CA, added to ca.pem),
//                        so relays discover their scopes from PRM as they would in production   default false
//   RELAY_PUBLIC_URLS    more relay origins whose /auth/callback the emulator accepts, comma separated
//                        (http://localhost:8080 always is)
import { mkdir, rename, rm, writeFile } from 'node:fs/promises'
import { connect } from 'node:net'
import { resolve } from 'node:path'
import { createServer as createTlsServer, type Server as TlsServer } from 'node:tls'
import { createDevCa, createServerCertificate } from './entra-emulator/ca.ts'
import { DEV_CLI_CLIENT_ID, DEV_RELAY_CLIENT_ID, DEV_RELAY_SCOPE } from './entra-emulator/index.ts'
import { freePort, startDevServices } from './start-stack.ts'

const env = (name: string): string | undefined => {
  const value = process.env[name]?.trim()
  return value === undefined || value === '' ? undefined : value
}
const fail = (message: string): never => {
  process.stderr.write(`dev services: ${message}\n`)
  process.exit(1)
}
const port = (name: string, fallback: number): number => {
  const raw = env(name)
  if (raw === undefined) return fallback
  const n = Number(raw)
  if (!Number.isInteger(n) || n < 0 || n > 65535) fail(`${name} must be a port number (got "${raw}")`)
  return n
}
const originOf = (name: string, raw: string): string => {
  try {
    const url = new URL(raw)
    if (url.pathname !== '/' || url.search !== '' || url.hash !== '') throw new Error('not an origin')
    return url.origin
  } catch {
    return fail(`${name} must be an origin such as https://emulator:8443 (got "${raw}")`)
  }
}
const origin = (name: string, fallback: string): string => originOf(name, env(name) ?? fallback)
const list = (name: string): string[] => (env(name) ?? '').split(',').map((s) => s.trim()).filter((s) => s !== '')

const emulatorPort = port('EMULATOR_PORT', 8443)
const notesPort = port('NOTES_PORT', 9101)
const calendarPort = port('CALENDAR_PORT', 9102)
const emulatorUrl = origin('EMULATOR_PUBLIC_URL', `https://localhost:${emulatorPort}`)
const certDir = resolve(env('EMULATOR_CERT_DIR') ?? '.dev-certs')
const caFile = resolve(certDir, 'ca.pem')
const relayOrigins = list('RELAY_PUBLIC_URLS').map((raw) => originOf('RELAY_PUBLIC_URLS', raw))

const host = env('SERVICES_HOST') ?? '127.0.0.1'
const samplesTls = env('SAMPLES_TLS') === 'true'
const scheme = samplesTls ? 'https' : 'http'
const notesOrigin = origin('NOTES_PUBLIC_URL', `${scheme}://localhost:${notesPort}`)
const calendarOrigin = origin('CALENDAR_PUBLIC_URL', `${scheme}://localhost:${calendarPort}`)
// A CA file left by an earlier run would be the wrong one: relays wait for this run's (written last).
await rm(caFile, { force: true })
// Behind TLS the sample servers listen on loopback only; the TLS listeners take their ports.
const innerPorts = samplesTls ? { notes: await freePort(), calendar: await freePort() } : undefined

const services = await startDevServices({
  host,
  emulatorPort,
  notesPort,
  calendarPort,
  emulator: {
    publicUrl: emulatorUrl,
    hostnames: [...new Set([new URL(emulatorUrl).hostname, ...list('EMULATOR_HOSTNAMES')])],
  },
  notesOptions: { publicOrigin: notesOrigin, ...(innerPorts && { host: '127.0.0.1', port: innerPorts.notes }) },
  calendarOptions: { publicOrigin: calendarOrigin, ...(innerPorts && { host: '127.0.0.1', port: innerPorts.calendar }) },
})
const { emulator, notes, calendar } = services
const tlsListeners: TlsServer[] = []
const trustedCas = [emulator.caPem.trim()]
if (innerPorts !== undefined) {
  const ca = await createDevCa()
  const certificate = await createServerCertificate(ca, [new URL(notesOrigin).hostname, new URL(calendarOrigin).hostname])
  tlsListeners.push(await terminateTls(innerPorts.notes, notesPort), await terminateTls(innerPorts.calendar, calendarPort))
  trustedCas.push(ca.caPem.trim())

  /** A TLS listener on `port` whose connections are piped, byte for byte (SSE unbuffered), to the sample server. */
  async function terminateTls (innerPort: number, port: number): Promise<TlsServer> {
    const listener = createTlsServer({ key: certificate.privateKeyPem, cert: certificate.certPem }, (socket) => {
      const inner = connect(innerPort, '127.0.0.1')
      socket.pipe(inner).pipe(socket)
      socket.on('error', () => inner.destroy())
      inner.on('error', () => socket.destroy())
    })
    await new Promise<void>((resolve, reject) => listener.once('error', reject).listen(port, host, resolve))
    return listener
  }
}
for (const relayOrigin of relayOrigins) emulator.registry.addRedirectUri(DEV_RELAY_CLIENT_ID, `${relayOrigin}/auth/callback`)
// Written whole (rename) once everything listens, so a relay never reads half a file or a CA too few.
await mkdir(certDir, { recursive: true })
await writeFile(`${caFile}.tmp`, `${trustedCas.join('\n')}\n`)
await rename(`${caFile}.tmp`, caFile)
const tokenUrl = `${emulator.url}/${emulator.tenantId}/oauth2/v2.0/token`
const users = emulator.users.map((u) => `    ${u.username} / ${u.password}  (oid ${u.oid})`).join('\n')
process.stdout.write(`
obo-relay dev services are up (no relay: point one at them)
  Entra emulator      ${emulator.url}/${emulator.tenantId}/v2.0/.well-known/openid-configuration
                      (listening on port ${emulatorPort}; AUTHORITY_HOST=${emulator.url})
  dev CA file         ${caFile}   (TRUSTED_CA_FILE)
  MCP server notes    ${notes.url}   (listening on port ${notesPort})
  MCP server calendar ${calendar.url}   (listening on port ${calendarPort})
  test users
${users}

A relay for them: TENANT_ID=${emulator.tenantId} CLIENT_ID=${DEV_RELAY_CLIENT_ID} CLIENT_SECRET=relay-dev-secret
  SCOPE=${DEV_RELAY_SCOPE} AUTHORITY_HOST=${emulator.url} TRUSTED_CA_FILE=${caFile}
  MCP_SERVERS='[{"id":"notes","url":"${notes.url}"},{"id":"calendar","url":"${calendar.url}"}]'${samplesTls ? '' : ' ALLOW_INSECURE_LOOPBACK=true'}
A user token (mode A): POST ${tokenUrl}
  grant_type=password client_id=${DEV_CLI_CLIENT_ID} username=alice@contoso.test password=alice-password scope=${DEV_RELAY_SCOPE}
`)

let stopping = false
for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.once(signal, () => {
    if (stopping) return
    stopping = true
    process.stdout.write('stopping the dev services…\n')
    for (const listener of tlsListeners) listener.close()
    services.close().then(() => process.exit(0), () => process.exit(1))
  })
}
