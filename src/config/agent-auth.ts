// Settings of the agent-facing authorization server (DESIGN §5), read by loadConfig through the same EnvReader.
import type { EnvReader } from './env.ts'

/** A resource server allowed to introspect any token issued for its resources (RFC 7662 §2.1). */
export interface ResourceServerClient {
  clientId: string
  clientSecret: string
  /** Resource paths on the relay (`/v1`, `/mcp`, `/mcp/<server>`) whose tokens it may introspect. */
  resources: string[]
}

export interface AgentAuthConfig {
  /** Lifetime of a relay-issued access token. */
  accessTokenTtlSec: number
  /** A refresh token unused for this long expires (each rotation starts the idle time again). */
  refreshTokenIdleTtlSec: number
  /** No refresh token of a grant outlives this, counted from the first sign-in of the grant. */
  refreshTokenAbsoluteTtlSec: number
  deviceCodeTtlSec: number
  /** How long a user's "allow" for one client is remembered. */
  consentTtlSec: number
  /** RFC 7591 dynamic registration (for clients that predate client ID metadata documents). */
  registrationEnabled: boolean
  /** When set, registration requires `Authorization: Bearer <this>` (RFC 7591 §3 initial access token). */
  registrationInitialAccessToken: string | undefined
  /** Registrations per client address per hour (0: no limit). */
  registrationRateLimitPerHour: number
  /** Hosts whose private or loopback addresses a client ID metadata document may be fetched from. */
  clientMetadataAllowedHosts: string[]
  resourceServerClients: ResourceServerClient[]
  /** `Authorization: Bearer` secret for the operator API (revoke every grant of a user); unset → no operator API. */
  operatorApiToken: string | undefined
}

const RESOURCE_PATH = /^\/v1$|^\/mcp(?:\/[a-z0-9][a-z0-9-]{0,62})?$/

export function parseAgentAuthConfig (r: EnvReader): AgentAuthConfig {
  const { problems, get } = r
  const refreshTokenIdleTtlSec = r.integer('AGENT_REFRESH_TOKEN_IDLE_TTL_SEC', 86_400, 60, 90 * 86_400)
  const refreshTokenAbsoluteTtlSec = r.integer('AGENT_REFRESH_TOKEN_ABSOLUTE_TTL_SEC', 7 * 86_400, 60, 365 * 86_400)
  if (refreshTokenAbsoluteTtlSec < refreshTokenIdleTtlSec) problems.push('AGENT_REFRESH_TOKEN_ABSOLUTE_TTL_SEC must not be shorter than AGENT_REFRESH_TOKEN_IDLE_TTL_SEC')
  const registrationInitialAccessToken = get('AGENT_REGISTRATION_INITIAL_ACCESS_TOKEN')
  if (registrationInitialAccessToken !== undefined && registrationInitialAccessToken.length < 32) {
    problems.push('AGENT_REGISTRATION_INITIAL_ACCESS_TOKEN must be at least 32 characters (e.g. `openssl rand -base64 32`)')
  }
  const operatorApiToken = get('OPERATOR_API_TOKEN')
  if (operatorApiToken !== undefined && operatorApiToken.length < 32) problems.push('OPERATOR_API_TOKEN must be at least 32 characters (e.g. `openssl rand -base64 32`)')
  return {
    accessTokenTtlSec: r.integer('AGENT_ACCESS_TOKEN_TTL_SEC', 600, 30, 86_400),
    refreshTokenIdleTtlSec,
    refreshTokenAbsoluteTtlSec,
    deviceCodeTtlSec: r.integer('AGENT_DEVICE_CODE_TTL_SEC', 600, 60, 3600),
    consentTtlSec: r.integer('AGENT_CONSENT_TTL_SEC', 90 * 86_400, 0, 365 * 86_400),
    registrationEnabled: r.flag('AGENT_REGISTRATION_ENABLED', true),
    registrationInitialAccessToken,
    registrationRateLimitPerHour: r.integer('AGENT_REGISTRATION_RATE_LIMIT', 30, 0, 1_000_000),
    clientMetadataAllowedHosts: (r.list('AGENT_CLIENT_METADATA_ALLOWED_HOSTS') ?? []).map((host) => host.toLowerCase()),
    resourceServerClients: parseResourceServerClients(get('AGENT_RESOURCE_SERVER_CLIENTS'), problems),
    operatorApiToken,
  }
}

function parseResourceServerClients (raw: string | undefined, problems: string[]): ResourceServerClient[] {
  if (raw === undefined) return []
  const expected = 'AGENT_RESOURCE_SERVER_CLIENTS must be a JSON list of {"client_id","client_secret","resources":["/mcp",…]}'
  let parsed: unknown
  try {
    parsed = JSON.parse(raw)
  } catch {
    problems.push(`${expected} (it is not valid JSON)`)
    return []
  }
  if (!Array.isArray(parsed)) {
    problems.push(expected)
    return []
  }
  const clients: ResourceServerClient[] = []
  for (const entry of parsed as unknown[]) {
    const { client_id: clientId, client_secret: clientSecret, resources } = (entry ?? {}) as Record<string, unknown>
    if (typeof clientId !== 'string' || !/^[\w.:-]{1,128}$/.test(clientId) || typeof clientSecret !== 'string' || clientSecret.length < 32 ||
        !Array.isArray(resources) || resources.length === 0 || !resources.every((p) => typeof p === 'string' && RESOURCE_PATH.test(p))) {
      problems.push(`${expected}; client_secret at least 32 characters, resources among /v1, /mcp, /mcp/<server>`)
      continue
    }
    clients.push({ clientId, clientSecret, resources: resources as string[] })
  }
  return clients
}
