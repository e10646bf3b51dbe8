// MSAL wiring: one lightweight ConfidentialClientApplication per operation, sharing pre-fetched
// authority metadata. A fresh app object has an empty cache and its own throttling state, so one
// user's 429 never blocks another user and no request pays MSAL's linear cache scan (DESIGN §6).
import { X509Certificate } from 'node:crypto'
import {
  ConfidentialClientApplication,
  type Configuration,
  type ICachePlugin,
  LogLevel,
} from '@azure/msal-node'
import type { Logger } from 'pino'
import type { ClientCredential, Config } from '../config/index.ts'
import type { FetchLike } from '../net/http-client.ts'
import { temporarilyUnavailable } from '../errors.ts'
import { createMsalNetworkClient } from './msal-network.ts'

/** What one MSAL call saw on the wire: enough to map throttling and to log Entra's correlation id. */
export interface EntraExchangeRecord {
  status?: number
  retryAfterSec?: number
  correlationId?: string
}

export interface MsalFactoryOptions {
  config: Pick<Config, 'authorityHost' | 'tenantId' | 'clientId' | 'clientCredential' | 'entraTimeoutMs'>
  fetch: FetchLike
  logger: Logger
  /** Sees each answer of Entra's token endpoint: status and AADSTS code (metrics). */
  onResponse?: (answer: { status: number, aadsts: string | undefined }) => void
}

export class MsalFactory {
  readonly #options: MsalFactoryOptions
  readonly #metadataByTenant = new Map<string, Promise<string>>()
  readonly #credential: Pick<Configuration['auth'], 'clientSecret' | 'clientCertificate'>

  constructor (options: MsalFactoryOptions) {
    this.#options = options
    this.#credential = credentialForMsal(options.config.clientCredential)
  }

  authority (tenantId: string = this.#options.config.tenantId): string {
    return `${this.#options.config.authorityHost.origin}/${tenantId}`
  }

  /** The tenant's OpenID metadata, fetched once and handed to every app object (MSAL would refetch it). */
  async authorityMetadata (tenantId: string = this.#options.config.tenantId): Promise<string> {
    let pending = this.#metadataByTenant.get(tenantId)
    if (pending === undefined) {
      pending = this.#fetchMetadata(tenantId)
      this.#metadataByTenant.set(tenantId, pending)
      pending.catch(() => this.#metadataByTenant.delete(tenantId))
    }
    return await pending
  }

  /** Fetches the metadata anew (readiness): a success replaces what every app object is handed. */
  async probe (tenantId: string = this.#options.config.tenantId): Promise<void> {
    const fresh = this.#fetchMetadata(tenantId)
    await fresh
    this.#metadataByTenant.set(tenantId, fresh)
  }

  async #fetchMetadata (tenantId: string): Promise<string> {
    const url = `${this.authority(tenantId)}/v2.0/.well-known/openid-configuration`
    let response: Response
    try {
      response = await this.#options.fetch(url, { signal: AbortSignal.timeout(this.#options.config.entraTimeoutMs) })
    } catch (err) {
      throw temporarilyUnavailable('entra_unavailable', `Entra metadata for tenant ${tenantId} cannot be fetched.`, 5, { cause: err })
    }
    if (!response.ok) throw temporarilyUnavailable('entra_unavailable', `Entra metadata for tenant ${tenantId} answered HTTP ${response.status}.`, 5)
    const metadata = await response.json().catch(() => undefined) as Record<string, unknown> | undefined
    if (typeof metadata?.token_endpoint !== 'string' || typeof metadata.issuer !== 'string') {
      throw temporarilyUnavailable('entra_unavailable', `Entra metadata for tenant ${tenantId} is incomplete.`, 5)
    }
    return JSON.stringify(metadata)
  }

  /**
   * A confidential client for one operation. `record` receives the status, Retry-After and correlation
   * id of the token endpoint's answer; `cachePlugin` binds it to one user's cache partition.
   */
  async client (options: { tenantId?: string, cachePlugin?: ICachePlugin, record?: EntraExchangeRecord } = {}): Promise<ConfidentialClientApplication> {
    const tenantId = options.tenantId ?? this.#options.config.tenantId
    const authorityMetadata = await this.authorityMetadata(tenantId)
    const record = options.record
    const onResponse = this.#options.onResponse
    const network = createMsalNetworkClient(this.#options.fetch, {
      timeoutMs: this.#options.config.entraTimeoutMs,
      observe: (status: number, headers: Record<string, string>, body: unknown) => {
        if (record !== undefined) recordExchange(record, status, headers, body)
        // Once per answer: after the body is read (the first call, before parsing, has none).
        if (body !== undefined) onResponse?.({ status, aadsts: aadstsOf(body) })
      },
    })
    const logger = this.#options.logger
    return new ConfidentialClientApplication({
      auth: {
        clientId: this.#options.config.clientId,
        authority: this.authority(tenantId),
        knownAuthorities: [this.#options.config.authorityHost.host],
        authorityMetadata,
        // The relay handles claims challenges (it passes them to the caller and on to Entra), so it may
        // declare CAE: https://learn.microsoft.com/en-us/entra/identity-platform/app-resilience-continuous-access-evaluation
        clientCapabilities: ['cp1'],
        ...this.#credential,
      },
      ...(options.cachePlugin === undefined ? {} : { cache: { cachePlugin: options.cachePlugin } }),
      system: {
        networkClient: network,
        // Throttling and retries are the relay's decisions (503 + Retry-After to the caller).
        disableInternalRetries: true,
        loggerOptions: {
          logLevel: LogLevel.Warning,
          piiLoggingEnabled: false,
          loggerCallback: (level, message, containsPii) => {
            if (!containsPii && level <= LogLevel.Warning) logger.warn({ msal: message }, 'msal')
          },
        },
      },
    })
  }
}

function credentialForMsal (credential: ClientCredential): Pick<Configuration['auth'], 'clientSecret' | 'clientCertificate'> {
  if (credential.kind === 'secret') return { clientSecret: credential.secret }
  const certPem = credential.pem.match(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g) ?? []
  const keyPem = credential.pem.match(/-----BEGIN (?:RSA |EC )?PRIVATE KEY-----[\s\S]+?-----END (?:RSA |EC )?PRIVATE KEY-----/)?.[0]
  const leaf = certPem[0]
  if (leaf === undefined || keyPem === undefined) throw new Error('CLIENT_CERTIFICATE_PATH must hold a certificate and its private key')
  const cert = new X509Certificate(leaf)
  return {
    clientCertificate: {
      thumbprintSha256: cert.fingerprint256.replaceAll(':', '').toLowerCase(),
      privateKey: keyPem,
      // x5c lets Entra validate subject-name/issuer (SNI) registrations as well as pinned thumbprints.
      x5c: certPem.join('\n'),
    },
  }
}

/** Status, Retry-After and correlation id of Entra's answer, recorded before MSAL interprets it. */
function recordExchange (record: EntraExchangeRecord, status: number, headers: Record<string, string>, body: unknown): void {
  record.status = status
  const retryAfter = Number(headers['retry-after'])
  if (headers['retry-after'] !== undefined && Number.isFinite(retryAfter) && retryAfter >= 0) record.retryAfterSec = Math.ceil(retryAfter)
  const correlationId = (body as { correlation_id?: unknown } | undefined)?.correlation_id
  if (typeof correlationId === 'string') record.correlationId = correlationId
  else if (record.correlationId === undefined && headers['client-request-id'] !== undefined) record.correlationId = headers['client-request-id']
}

/** The first AADSTS code of an Entra error body (`error_codes`), if any. */
function aadstsOf (body: unknown): string | undefined {
  const codes = (body as { error_codes?: unknown } | undefined)?.error_codes
  return Array.isArray(codes) && typeof codes[0] === 'number' ? String(codes[0]) : undefined
}
