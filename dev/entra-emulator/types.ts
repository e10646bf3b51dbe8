import type { Logger } from 'pino'

/** A member of the emulated tenant. Passwords exist only for the sign-in form and ROPC. */
export interface TestUser {
  username: string
  password: string
  oid: string
  name: string
}

/**
 * An app registration (application + service principal in one), shaped after Entra's manifest.
 * Credentials: `secrets` (client secrets) and `certificates` (PEM X.509 certificates, as uploaded under
 * "Certificates & secrets"; client assertions are matched by their `x5t#S256` or `x5t` header).
 */
export interface AppRegistration {
  clientId: string
  displayName: string
  /** Application ID URI (`identifierUris[0]`), e.g. `api://notes-mcp`. */
  appIdUri?: string
  /** Delegated permission (scope) names this API exposes, e.g. `['user_impersonation']`. */
  exposedScopes?: string[]
  /** Application permission (app role) values; an app-only token carries all of them as `roles`. */
  appRoles?: string[]
  secrets?: string[]
  /** PEM certificates whose keys may sign `private_key_jwt` client assertions. */
  certificates?: string[]
  redirectUris?: string[]
  /** Public client: no secret, PKCE (S256) required; loopback redirect URIs may differ in port only. */
  isPublicClient?: boolean
  /** Clients pre-authorized for some of this API's scopes (no consent needed). */
  preAuthorizedClients?: Array<{ clientId: string, scopes: string[] }>
}

export type GrantName = 'authorization_code' | 'refresh_token' | 'on_behalf_of' | 'password' | 'client_credentials'

export const GRANT_NAMES: readonly GrantName[] = ['authorization_code', 'refresh_token', 'on_behalf_of', 'password', 'client_credentials']

export type FaultKind = 'claims_challenge' | 'consent_required' | 'invalid_grant' | 'throttle' | 'unavailable' | 'latency'

export const FAULT_KINDS: readonly FaultKind[] = ['claims_challenge', 'consent_required', 'invalid_grant', 'throttle', 'unavailable', 'latency']

/** A scripted failure of the token endpoint; without `count` it fires until reset. */
export interface FaultSpec {
  grant?: GrantName
  /** Matches when the request's `scope` contains this scope, or a scope of this resource (App ID URI). */
  scope?: string
  /** Username (UPN) or object id of the user the request is for. */
  user?: string
  fault: FaultKind
  count?: number
  /** claims_challenge: the `claims` JSON string to return. */
  claims?: string
  retryAfterSec?: number
  latencyMs?: number
}

export interface EmulatorOptions {
  /** Default 8443; 0 = a random free port. */
  port?: number
  /** Bind address, default '127.0.0.1'; URLs use the hostname 'localhost' unless `publicUrl` is set. */
  host?: string
  /** Origin in `url`, the issuer and the metadata, e.g. `https://emulator:8443` in a compose network. Default `https://localhost:<port>`. */
  publicUrl?: string
  /** Extra names or IPs in the TLS certificate (it always covers localhost, 127.0.0.1 and ::1). */
  hostnames?: string[]
  tenantId?: string
  apps?: AppRegistration[]
  users?: TestUser[]
  accessTokenLifetimeSec?: number
  refreshTokenLifetimeSec?: number
  /** Where ca.pem is written; default a fresh temporary directory. */
  certDir?: string
  /** Default: silent. Tokens, passwords and secrets are never logged. */
  logger?: Logger
}

export interface EmulatorRegistry {
  addApp(app: AppRegistration): void
  addRedirectUri(clientId: string, uri: string): void
  getApp(clientId: string): AppRegistration | undefined
  /** Records a user's consent (as the consent prompt would) for `client` to use `scopes` (full scope strings). */
  grantConsent(user: string, clientId: string, scopes: string[]): void
}

export interface SignTokenOptions {
  /** A published key's kid to sign with; an unknown kid is put in the header of a token signed by the current key. */
  kid?: string
  /** 'RS256' (default), 'PS256', or 'none' (unsigned). */
  alg?: string
  header?: Record<string, unknown>
}

export interface EntraEmulator {
  /** `https://localhost:<port>`: the AUTHORITY_HOST to configure. */
  url: string
  tenantId: string
  issuer: string
  jwksUri: string
  caPem: string
  caFile: string
  users: TestUser[]
  registry: EmulatorRegistry
  stats(): { calls: Record<GrantName, number> }
  reset(): void
  addFault(fault: FaultSpec): void
  rotateSigningKey(): void
  signToken(claims: Record<string, unknown>, options?: SignTokenOptions): Promise<string>
  issueUserToken(username: string, options: { clientId: string, scopes: string[] }): Promise<string>
  close(): Promise<void>
}
