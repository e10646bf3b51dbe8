// The only module that reads process.env: every setting is parsed and validated here, once, at start.
import { readFileSync } from 'node:fs'
import { randomBytes } from 'node:crypto'

export type LogLevel = 'fatal' | 'error' | 'warn' | 'info' | 'debug' | 'trace' | 'silent'

export interface McpServerConfig {
  /** Path-safe id used in routes: `/v1/servers/:server`, `/mcp/:server`. */
  id: string
  url: URL
  /** Explicit downstream scopes; when absent they are discovered from the server's PRM. */
  scopes?: string[]
}

export type ClientCredential =
  | { kind: 'secret', secret: string }
  | { kind: 'certificate', path: string, pem: string }

export interface Config {
  tenantId: string
  clientId: string
  clientCredential: ClientCredential
  redirectUri: URL
  /** The relay's own API scope (the user signs in for it; inbound tokens must carry it). */
  relayScope: string
  /** Accepted `aud` values of inbound tokens: client id and App ID URI. */
  relayAudiences: string[]
  mcpServers: McpServerConfig[]
  publicUrl: URL
  host: string
  port: number
  authorityHost: URL
  allowedTenants: string[]
  allowedAzp: string[] | undefined
  redisUrl: string | undefined
  /** 32-byte key for AES-256-GCM at rest and for deriving the cookie key. */
  tokenEncryptionKey: Buffer
  tokenEncryptionKeyGenerated: boolean
  logLevel: LogLevel
  trustedCaFile: string | undefined
  trustedCaPem: string | undefined
  downstreamTimeoutMs: number
  /** Each call to Entra's token endpoint gives up after this long (→ 503). */
  entraTimeoutMs: number
  prmCacheTtlSec: number
  oboCacheMaxEntries: number
  /** Hosts whose private/loopback addresses discovery may reach (besides loopback in dev). */
  discoveryAllowedHosts: string[]
  /** Resources besides `api://…` that a server's PRM may name (e.g. a verified-domain App ID URI). */
  discoveryAllowedResources: string[]
  /** http:// PRM and MCP URLs are accepted for loopback hosts only when this is on (dev stack, tests). */
  allowInsecureLoopback: boolean
}

export class ConfigError extends Error {
  readonly problems: string[]
  constructor (problems: string[]) {
    super(`Invalid configuration:\n  - ${problems.join('\n  - ')}`)
    this.name = 'ConfigError'
    this.problems = problems
  }
}

const GUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i
const SERVER_ID = /^[a-z0-9][a-z0-9-]{0,62}$/
const LOG_LEVELS: LogLevel[] = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']

type Env = Record<string, string | undefined>

/** Parses and validates the environment; throws one ConfigError naming every bad variable. */
export function loadConfig (env: Env = process.env): Config {
  const problems: string[] = []
  const get = (name: string): string | undefined => {
    const value = env[name]?.trim()
    return value === undefined || value === '' ? undefined : value
  }
  const required = (name: string, expected: string): string => {
    const value = get(name)
    if (value === undefined) problems.push(`${name} is required: ${expected}`)
    return value ?? ''
  }
  const url = (name: string, value: string | undefined, expected: string): URL | undefined => {
    if (value === undefined) return undefined
    try {
      const parsed = new URL(value)
      if (parsed.protocol !== 'https:' && parsed.protocol !== 'http:') throw new Error('scheme')
      return parsed
    } catch {
      problems.push(`${name} must be ${expected} (got "${value}")`)
      return undefined
    }
  }
  const integer = (name: string, fallback: number, min: number, max: number): number => {
    const value = get(name)
    if (value === undefined) return fallback
    const n = Number(value)
    if (!Number.isInteger(n) || n < min || n > max) {
      problems.push(`${name} must be an integer from ${min} to ${max} (got "${value}")`)
      return fallback
    }
    return n
  }
  const list = (name: string): string[] | undefined =>
    get(name)?.split(',').map((s) => s.trim()).filter((s) => s !== '')

  const tenantId = required('TENANT_ID', 'the Entra tenant id (a GUID), or "organizations" with ALLOWED_TENANTS')
  if (tenantId !== '' && !GUID.test(tenantId) && tenantId !== 'organizations') {
    problems.push(`TENANT_ID must be a tenant GUID or "organizations" (got "${tenantId}")`)
  }
  const clientId = required('CLIENT_ID', "the relay's app registration (client) id, a GUID")
  if (clientId !== '' && !GUID.test(clientId)) problems.push(`CLIENT_ID must be a GUID (got "${clientId}")`)

  let clientCredential: ClientCredential = { kind: 'secret', secret: '' }
  const secret = get('CLIENT_SECRET')
  const certPath = get('CLIENT_CERTIFICATE_PATH')
  if (secret !== undefined && certPath !== undefined) {
    problems.push('Set only one of CLIENT_SECRET and CLIENT_CERTIFICATE_PATH')
  } else if (secret !== undefined) {
    clientCredential = { kind: 'secret', secret }
  } else if (certPath !== undefined) {
    try {
      const pem = readFileSync(certPath, 'utf8')
      if (!pem.includes('PRIVATE KEY-----') || !pem.includes('BEGIN CERTIFICATE-----')) {
        problems.push(`CLIENT_CERTIFICATE_PATH must be a PEM file holding the certificate and its private key (${certPath})`)
      }
      clientCredential = { kind: 'certificate', path: certPath, pem }
    } catch {
      problems.push(`CLIENT_CERTIFICATE_PATH cannot be read (${certPath})`)
    }
  } else {
    problems.push('CLIENT_SECRET or CLIENT_CERTIFICATE_PATH is required: the relay is a confidential client')
  }

  const port = integer('PORT', 8080, 0, 65535)
  const host = get('HOST') ?? '0.0.0.0'
  const publicUrl = url('PUBLIC_URL', get('PUBLIC_URL') ?? `http://localhost:${port}`, 'an absolute http(s) URL where clients reach the relay') ??
    new URL(`http://localhost:${port}`)
  if (publicUrl.pathname !== '/' || publicUrl.search !== '' || publicUrl.hash !== '') {
    problems.push(`PUBLIC_URL must be an origin without path, query or fragment (got "${publicUrl.href}")`)
  }
  const redirectUri = url('REDIRECT_URI', get('REDIRECT_URI') ?? new URL('/auth/callback', publicUrl).href,
    "an absolute URL registered on the relay's app, normally <PUBLIC_URL>/auth/callback") ?? new URL('/auth/callback', publicUrl)

  const relayScope = required('SCOPE', "the relay's own API scope, e.g. api://<CLIENT_ID>/user_impersonation")
  const relayAudiences = [clientId]
  if (relayScope !== '') {
    const slash = relayScope.lastIndexOf('/')
    if (slash <= 0 || slash === relayScope.length - 1 || relayScope.includes(' ')) {
      problems.push(`SCOPE must be one scope of the relay's API, e.g. api://<CLIENT_ID>/user_impersonation (got "${relayScope}")`)
    } else {
      const appIdUri = relayScope.slice(0, slash)
      if (appIdUri !== clientId) relayAudiences.push(appIdUri)
    }
  }

  const authorityHost = url('AUTHORITY_HOST', get('AUTHORITY_HOST') ?? 'https://login.microsoftonline.com', 'the Entra authority origin, e.g. https://login.microsoftonline.com') ??
    new URL('https://login.microsoftonline.com')
  if (authorityHost.protocol !== 'https:') problems.push('AUTHORITY_HOST must use https')

  const allowedTenants = list('ALLOWED_TENANTS') ?? (GUID.test(tenantId) ? [tenantId] : [])
  for (const t of allowedTenants) if (!GUID.test(t)) problems.push(`ALLOWED_TENANTS must be tenant GUIDs separated by commas (got "${t}")`)
  if (allowedTenants.length === 0 && tenantId === 'organizations') problems.push('ALLOWED_TENANTS is required when TENANT_ID is "organizations"')

  const mcpServers = parseMcpServers(get, problems)

  const redisUrl = get('REDIS_URL')
  if (redisUrl !== undefined && !/^rediss?:\/\//.test(redisUrl)) problems.push('REDIS_URL must be a redis:// or rediss:// URL')

  let tokenEncryptionKey = randomBytes(32)
  let tokenEncryptionKeyGenerated = true
  const rawKey = get('TOKEN_ENCRYPTION_KEY')
  if (rawKey !== undefined) {
    const decoded = /^[0-9a-f]{64}$/i.test(rawKey) ? Buffer.from(rawKey, 'hex') : Buffer.from(rawKey, 'base64')
    if (decoded.length !== 32) {
      problems.push('TOKEN_ENCRYPTION_KEY must be 32 random bytes, base64 or hex encoded (e.g. `openssl rand -base64 32`)')
    } else {
      tokenEncryptionKey = decoded
      tokenEncryptionKeyGenerated = false
    }
  } else if (redisUrl !== undefined) {
    problems.push('TOKEN_ENCRYPTION_KEY is required with REDIS_URL: every replica must share it (e.g. `openssl rand -base64 32`)')
  }

  const logLevel = (get('LOG_LEVEL') ?? 'info') as LogLevel
  if (!LOG_LEVELS.includes(logLevel)) problems.push(`LOG_LEVEL must be one of ${LOG_LEVELS.join(', ')} (got "${logLevel}")`)

  const trustedCaFile = get('TRUSTED_CA_FILE')
  let trustedCaPem: string | undefined
  if (trustedCaFile !== undefined) {
    try {
      trustedCaPem = readFileSync(trustedCaFile, 'utf8')
      if (!trustedCaPem.includes('BEGIN CERTIFICATE')) problems.push(`TRUSTED_CA_FILE must be a PEM certificate file (${trustedCaFile})`)
    } catch {
      problems.push(`TRUSTED_CA_FILE cannot be read (${trustedCaFile})`)
    }
  }

  const allowInsecureLoopback = get('ALLOW_INSECURE_LOOPBACK') === 'true'

  if (problems.length > 0) throw new ConfigError(problems)
  return {
    tenantId,
    clientId,
    clientCredential,
    redirectUri,
    relayScope,
    relayAudiences,
    mcpServers,
    publicUrl,
    host,
    port,
    authorityHost,
    allowedTenants,
    allowedAzp: list('ALLOWED_AZP'),
    redisUrl,
    tokenEncryptionKey,
    tokenEncryptionKeyGenerated,
    logLevel,
    trustedCaFile,
    trustedCaPem,
    downstreamTimeoutMs: integer('DOWNSTREAM_TIMEOUT_MS', 30_000, 100, 600_000),
    entraTimeoutMs: integer('ENTRA_TIMEOUT_MS', 10_000, 100, 120_000),
    prmCacheTtlSec: integer('PRM_CACHE_TTL_SEC', 3600, 0, 86_400),
    oboCacheMaxEntries: integer('OBO_CACHE_MAX_ENTRIES', 10_000, 10, 10_000_000),
    discoveryAllowedHosts: list('DISCOVERY_ALLOWED_HOSTS') ?? [],
    discoveryAllowedResources: list('DISCOVERY_ALLOWED_RESOURCES') ?? [],
    allowInsecureLoopback,
  }
}

function parseMcpServers (get: (name: string) => string | undefined, problems: string[]): McpServerConfig[] {
  const servers: McpServerConfig[] = []
  const add = (id: unknown, rawUrl: unknown, scopes: unknown, where: string): void => {
    if (typeof id !== 'string' || !SERVER_ID.test(id)) {
      problems.push(`${where}: "id" must be lowercase letters, digits and dashes (got ${JSON.stringify(id)})`)
      return
    }
    let url: URL
    try {
      if (typeof rawUrl !== 'string') throw new Error('not a string')
      url = new URL(rawUrl)
      if (url.protocol !== 'https:' && url.protocol !== 'http:') throw new Error('scheme')
    } catch {
      problems.push(`${where}: "url" must be the MCP endpoint's absolute http(s) URL (got ${JSON.stringify(rawUrl)})`)
      return
    }
    let scopeList: string[] | undefined
    if (scopes !== undefined) {
      const parsed = typeof scopes === 'string' ? scopes.split(/[\s,]+/).filter(Boolean) : scopes
      if (!Array.isArray(parsed) || parsed.length === 0 || !parsed.every((s) => typeof s === 'string' && s !== '')) {
        problems.push(`${where}: "scopes" must be a non-empty list of scope strings`)
        return
      }
      scopeList = parsed as string[]
    }
    if (servers.some((s) => s.id === id)) {
      problems.push(`${where}: duplicate server id "${id}"`)
      return
    }
    servers.push(scopeList === undefined ? { id, url } : { id, url, scopes: scopeList })
  }

  const rawList = get('MCP_SERVERS')
  if (rawList !== undefined) {
    let parsed: unknown
    try {
      parsed = JSON.parse(rawList)
    } catch {
      problems.push('MCP_SERVERS must be JSON: [{"id":"notes","url":"https://host/mcp","scopes":["api://x/.default"]}]')
    }
    if (parsed !== undefined) {
      if (!Array.isArray(parsed)) {
        problems.push('MCP_SERVERS must be a JSON array of {id, url, scopes?}')
      } else {
        parsed.forEach((entry: unknown, i) => {
          const e = (typeof entry === 'object' && entry !== null ? entry : {}) as Record<string, unknown>
          add(e.id, e.url, e.scopes, `MCP_SERVERS[${i}]`)
        })
      }
    }
  }
  // Seed compatibility: one server from RESOURCE_HOST, its scope optionally from MCP_SCOPE.
  const resourceHost = get('RESOURCE_HOST')
  const mcpScope = get('MCP_SCOPE')
  if (resourceHost !== undefined) {
    add(get('RESOURCE_ID') ?? 'default', resourceHost, mcpScope, 'RESOURCE_HOST')
  } else if (mcpScope !== undefined) {
    problems.push('MCP_SCOPE applies to the server in RESOURCE_HOST; with MCP_SERVERS set "scopes" on each server')
  }
  return servers
}
