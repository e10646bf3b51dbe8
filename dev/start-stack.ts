// The dev stack as a function: Entra emulator (HTTPS) + sample MCP servers + the relay, wired together.
// `npm run dev` and the end-to-end tests both start it, so tests run what a new user runs.
import { writeFile } from 'node:fs/promises'
import { dirname, join } from 'node:path'
import type { Logger } from 'pino'
import { loadConfig, type Config } from '../src/config/index.ts'
import { createLogger } from '../src/observability/logger.ts'
import { startMetricsServer } from '../src/observability/metrics.ts'
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
import { freePort } from './free-port.ts'

export { freePort }

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
  /** Where /metrics is served; 0 picks a free port (default), DESIGN's 9464 for npm run dev. */
  metricsPort?: number
  logLevel?: Config['logLevel']
  logger?: Logger
  /** Extra relay settings (env names), e.g. `{ DOWNSTREAM_TIMEOUT_MS: '500' }`. */
  relayEnv?: Record<string, string>
  relay?: Omit<RelayOptions, 'config' | 'logger'>
  /** More CA certificates (PEM) the relay trusts besides the emulator's, e.g. a test fixture's. */
  extraTrustedCaPems?: string[]
  /** More relay server entries pointing at a sample server, e.g. one with an explicit (config) scope. */
  extraServers?: ExtraServer[]
}

/**
 * A server added to the relay's MCP_SERVERS (tests, `DEV_EXTRA_MCP_SERVERS`). For a pinned `api://`
 * audience the emulator gets an API registration with that App ID URI and a `user_impersonation`
 * scope pre-authorizing the relay, so On-Behalf-Of works for it as for the sample servers.
 */
export interface ExtraServer { id: string, on?: 'notes' | 'calendar', url?: string, scopes?: string[], audience?: string }

export interface DevStack {
  emulator: EntraEmulator
  notes: SampleMcpServer
  calendar: SampleMcpServer
  relay: Relay
  relayUrl: string
  /** The relay's Prometheus endpoint. */
  metricsUrl: string
  config: Config
  close: () => Promise<void>
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

    for (const [index, extra] of (options.extraServers ?? []).entries()) {
      if (extra.audience === undefined || !extra.audience.startsWith('api://')) continue
      if ((options.extraServers ?? []).slice(0, index).some((earlier) => earlier.audience === extra.audience)) continue
      emulator.registry.addApp({
        clientId: `55555555-5555-5555-5555-${String(index + 1).padStart(12, '0')}`,
        displayName: `extra MCP server ${extra.id}`,
        appIdUri: extra.audience,
        exposedScopes: ['user_impersonation'],
        preAuthorizedClients: [{ clientId: DEV_RELAY_CLIENT_ID, scopes: ['user_impersonation'] }],
        accessTokenAcceptedVersion: 2,
      })
    }
    const relayPort = options.relayPort === 0 ? await freePort(host) : (options.relayPort ?? 8080)
    const relayUrl = `http://localhost:${relayPort}`
    // TRUSTED_CA_FILE may hold several certificates: the emulator's CA and any the caller adds.
    let trustedCaFile = emulator.caFile
    if (options.extraTrustedCaPems !== undefined && options.extraTrustedCaPems.length > 0) {
      trustedCaFile = join(dirname(emulator.caFile), 'trusted-bundle.pem')
      await writeFile(trustedCaFile, [emulator.caPem, ...options.extraTrustedCaPems].join('\n'))
    }
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
      TRUSTED_CA_FILE: trustedCaFile,
      MCP_SERVERS: JSON.stringify([
        { id: 'notes', url: notes.url },
        { id: 'calendar', url: calendar.url },
        ...(options.extraServers ?? []).map((s) => ({ id: s.id, url: s.url ?? (s.on === 'calendar' ? calendar : notes).url, scopes: s.scopes, audience: s.audience })),
      ]),
      ALLOW_INSECURE_LOOPBACK: 'true',
      LOG_LEVEL: options.logLevel ?? 'info',
      // Everything comes from one loopback address and a few test users: no limits unless a test sets them.
      RATE_LIMIT_USER_PER_MIN: '0',
      RATE_LIMIT_CLIENT_PER_MIN: '0',
      // The relay shares this process with the emulator and the sample servers, whose work (key generation,
      // signing) would read as the relay's own lag: shed only on a real stall.
      EVENT_LOOP_LAG_LIMIT_MS: '10000',
      METRICS_PORT: String(options.metricsPort ?? 0),
      ...options.relayEnv,
    })
    const logger = options.logger ?? createLogger(config.logLevel)
    const relay = await createRelay({ ...options.relay, config, logger })
    closers.push(() => relay.close())
    await relay.app.listen({ host, port: relayPort })
    const metrics = await startMetricsServer(relay.services.metrics, { host, port: config.metricsPort })
    closers.push(async () => { await new Promise((resolve) => metrics.server.close(resolve)) })
    return { emulator, notes, calendar, relay, relayUrl, metricsUrl: metrics.url, config, close: closeAll }
  } catch (err) {
    await closeAll()
    throw err
  }
}
