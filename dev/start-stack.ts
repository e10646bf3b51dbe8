// The dev stack as a function: Entra emulator (HTTPS) + sample MCP servers + the relay, wired together.
// `npm run dev` and the end-to-end tests both start it, so tests run what a new user runs.
import { createServer } from 'node:net'
import type { Logger } from 'pino'
import { loadConfig, type Config } from '../src/config.ts'
import { createLogger } from '../src/logger.ts'
import { createDispatcher, createFetch } from '../src/net/http-client.ts'
import { createRelay, type Relay, type RelayOptions } from '../src/relay.ts'
import {
  DEV_CALENDAR_APP_ID,
  DEV_NOTES_APP_ID,
  DEV_RELAY_CLIENT_ID,
  DEV_RELAY_CLIENT_SECRET,
  DEV_RELAY_SCOPE,
  startEntraEmulator,
  type EntraEmulator,
  type EmulatorOptions,
} from './entra-emulator/index.ts'
import { startSampleMcpServer, type SampleMcpOptions, type SampleMcpServer } from './sample-mcp/index.ts'

/** The relay's counterparts: the Entra emulator and the two sample MCP servers trusting it. */
export interface DevServicesOptions {
  /** 0 picks a free port (tests); defaults are DESIGN §9's 8443, 9101, 9102. */
  emulatorPort?: number
  notesPort?: number
  calendarPort?: number
  /** Bind address of all three, default '127.0.0.1'. */
  host?: string
  emulator?: Omit<EmulatorOptions, 'port' | 'host'>
  notesOptions?: Partial<SampleMcpOptions>
  calendarOptions?: Partial<SampleMcpOptions>
}

export interface DevServices {
  emulator: EntraEmulator
  notes: SampleMcpServer
  calendar: SampleMcpServer
  close: () => Promise<void>
}

export interface DevStackOptions extends DevServicesOptions {
  /** 0 picks a free port (tests); default 8080. */
  relayPort?: number
  logLevel?: Config['logLevel']
  logger?: Logger
  /** Extra relay settings (env names), e.g. `{ DOWNSTREAM_TIMEOUT_MS: '500' }`. */
  relayEnv?: Record<string, string>
  relay?: Omit<RelayOptions, 'config' | 'logger'>
  /** More relay server entries pointing at a sample server, e.g. one with an explicit (config) scope. */
  extraServers?: Array<{ id: string, on?: 'notes' | 'calendar', url?: string, scopes?: string[] }>
}

export interface DevStack {
  emulator: EntraEmulator
  notes: SampleMcpServer
  calendar: SampleMcpServer
  relay: Relay
  relayUrl: string
  config: Config
  close: () => Promise<void>
}

/** A free loopback port, for the relay whose public URL must be known before it listens. */
export async function freePort (host = '127.0.0.1'): Promise<number> {
  return await new Promise((resolve, reject) => {
    const server = createServer()
    server.once('error', reject)
    server.listen(0, host, () => {
      const address = server.address()
      server.close(() => resolve(typeof address === 'object' && address !== null ? address.port : 0))
    })
  })
}

/** Starts the emulator and the sample servers (which validate tokens against the emulator's issuer); `npm run dev` adds the relay. */
export async function startDevServices (options: DevServicesOptions = {}): Promise<DevServices> {
  const host = options.host ?? '127.0.0.1'
  const closers: Array<() => Promise<void>> = []
  const closeAll = async () => {
    for (const close of closers.reverse()) await close().catch(() => {})
  }
  try {
    const emulator = await startEntraEmulator({ ...options.emulator, port: options.emulatorPort ?? 8443, host })
    closers.push(() => emulator.close())
    const trustingFetch = createFetch(createDispatcher({ trustedCaPem: emulator.caPem }))
    const sampleOptions = { host, issuer: emulator.issuer, jwksUri: emulator.jwksUri, tenantId: emulator.tenantId, fetch: trustingFetch }
    const notes = await startSampleMcpServer({ ...sampleOptions, name: 'notes', port: options.notesPort ?? 9101, appClientId: DEV_NOTES_APP_ID, appIdUri: 'api://notes-mcp', ...options.notesOptions })
    closers.push(() => notes.close())
    const calendar = await startSampleMcpServer({ ...sampleOptions, name: 'calendar', port: options.calendarPort ?? 9102, appClientId: DEV_CALENDAR_APP_ID, appIdUri: 'api://calendar-mcp', ...options.calendarOptions })
    closers.push(() => calendar.close())
    return { emulator, notes, calendar, close: closeAll }
  } catch (err) {
    await closeAll()
    throw err
  }
}

export async function startDevStack (options: DevStackOptions = {}): Promise<DevStack> {
  const host = options.host ?? '127.0.0.1'
  const closers: Array<() => Promise<void>> = []
  const closeAll = async () => {
    for (const close of closers.reverse()) await close().catch(() => {})
  }
  try {
    const services = await startDevServices(options)
    closers.push(() => services.close())
    const { emulator, notes, calendar } = services

    const relayPort = options.relayPort === 0 ? await freePort(host) : (options.relayPort ?? 8080)
    const relayUrl = `http://localhost:${relayPort}`
    emulator.registry.addRedirectUri(DEV_RELAY_CLIENT_ID, `${relayUrl}/auth/callback`)
    const config = loadConfig({
      TENANT_ID: emulator.tenantId,
      CLIENT_ID: DEV_RELAY_CLIENT_ID,
      CLIENT_SECRET: DEV_RELAY_CLIENT_SECRET,
      SCOPE: DEV_RELAY_SCOPE,
      PUBLIC_URL: relayUrl,
      PORT: String(relayPort),
      HOST: host,
      AUTHORITY_HOST: emulator.url,
      TRUSTED_CA_FILE: emulator.caFile,
      MCP_SERVERS: JSON.stringify([
        { id: 'notes', url: notes.url },
        { id: 'calendar', url: calendar.url },
        ...(options.extraServers ?? []).map((s) => ({ id: s.id, url: s.url ?? (s.on === 'calendar' ? calendar : notes).url, scopes: s.scopes })),
      ]),
      ALLOW_INSECURE_LOOPBACK: 'true',
      LOG_LEVEL: options.logLevel ?? 'info',
      ...options.relayEnv,
    })
    const logger = options.logger ?? createLogger(config.logLevel)
    const relay = await createRelay({ ...options.relay, config, logger })
    closers.push(() => relay.close())
    await relay.app.listen({ host, port: relayPort })
    return { emulator, notes, calendar, relay, relayUrl, config, close: closeAll }
  } catch (err) {
    await closeAll()
    throw err
  }
}
