import type { Logger } from 'pino'

/** A member of an emulated tenant. Passwords exist only for the sign-in form and ROPC. */
export interface TestUser {
  username: string
  password: string
  oid: string
  name: string
  /** Directory roles; `Global Administrator` (or `Cloud Application Administrator`, `Application Administrator`) may grant tenant-wide admin consent. */
  roles?: string[]
}

/** A delegated permission an API exposes; `type: 'Admin'` means only an administrator can consent to it. */
export interface ExposedScope {
  value: string
  type?: 'User' | 'Admin'
}

/** A client secret; `expiresAt`/`startsAt` are ISO dates or epoch milliseconds (Entra's endDateTime/startDateTime). */
export interface ClientSecret {
  value: string
  expiresAt?: string | number
  startsAt?: string | number
}

/** Redirect URIs by platform, as in the app registration's web / spa / publicClient sections. */
export interface RedirectUri {
  uri: string
  type: 'web' | 'spa' | 'publicClient'
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
  /** More Application ID URIs of the same app: `identifierUris` is a collection, each one names the app in a scope.
   *  https://learn.microsoft.com/en-us/graph/api/resources/application (identifierUris: String collection) */
  moreIdentifierUris?: string[]
  /** Delegated permissions (scopes) this API exposes: names (user-consentable) or `{ value, type }`. */
  exposedScopes?: Array<string | ExposedScope>
  /** Application permission (app role) values; an app-only token carries the ones assigned to its client as `roles`. */
  appRoles?: string[]
  /** App roles of other APIs granted to this app (admin-consented application permissions). */
  appRoleAssignments?: Array<{ resource: string, roles: string[] }>
  secrets?: Array<string | ClientSecret>
  /** PEM certificates whose keys may sign `private_key_jwt` client assertions (valid within the certificate's dates). */
  certificates?: string[]
  /** Plain strings are `web` URIs (`publicClient` for a public client). */
  redirectUris?: Array<string | RedirectUri>
  /** Public client: no secret, PKCE (S256) required; loopback redirect URIs may differ in port only. */
  isPublicClient?: boolean
  /** Clients pre-authorized for some of this API's scopes (no consent needed). */
  preAuthorizedClients?: Array<{ clientId: string, scopes: string[] }>
  /** `api.requestedAccessTokenVersion`: absent, null or 1 → v1 access tokens for this API; 2 → v2. */
  accessTokenAcceptedVersion?: 1 | 2 | null
  /** Optional claims this API asks for in its access tokens: `idtyp`, `xms_cc`. */
  optionalClaims?: { accessToken?: string[] }
  /** `AzureADMyOrg` (default): only the home tenant; `AzureADMultipleOrgs`: other tenants after consent. */
  signInAudience?: 'AzureADMyOrg' | 'AzureADMultipleOrgs'
}

/** Another directory besides the home tenant; registered apps are not provisioned there until admin consent. */
export interface TenantDefinition {
  tenantId: string
  domain: string
  users: TestUser[]
}

export type GrantName = 'authorization_code' | 'refresh_token' | 'on_behalf_of' | 'password' | 'client_credentials'

export const GRANT_NAMES: readonly GrantName[] = ['authorization_code', 'refresh_token', 'on_behalf_of', 'password', 'client_credentials']

export type FaultKind = 'claims_challenge' | 'consent_required' | 'invalid_grant' | 'throttle' | 'unavailable' | 'latency' | 'loop_detected' | 'ca_blocked' | 'app_only_assertion'

export const FAULT_KINDS: readonly FaultKind[] = ['claims_challenge', 'consent_required', 'invalid_grant', 'throttle', 'unavailable', 'latency', 'loop_detected', 'ca_blocked', 'app_only_assertion']

/** A scripted failure of the token endpoint; without `count` it fires until reset. */
export interface FaultSpec {
  grant?: GrantName
  /** Matches when the request's `scope` contains this scope, or a scope of this resource (App ID URI). */
  scope?: string
  /** Username (UPN) or object id of the user the request is for. */
  user?: string
  fault: FaultKind
  /** How many times it answers (a claims challenge: how many refused issuances); default until reset. */
  count?: number
  /** claims_challenge: the `claims` JSON string to return (default: a Conditional Access `capolids` request). */
  claims?: string
  retryAfterSec?: number
  latencyMs?: number
  /** throttle: `json` (default) or `text` (a plain-text 429, as Entra's front door sometimes answers). */
  format?: 'json' | 'text'
}

/** What `PATCH /_emulator/apps/<clientId>` may change, and what it answers. */
export interface AppSettings {
  clientId: string
  accessTokenAcceptedVersion: 1 | 2 | null
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
  /** Users of the home tenant. */
  users?: TestUser[]
  /** Further tenants (default: `fabrikam.test` with carol); `[]` for a single tenant. */
  tenants?: TenantDefinition[]
  /** A fixed access-token lifetime; default: random between 3600 and 5400 s, as Entra does. */
  accessTokenLifetimeSec?: number
  /** Refresh-token inactivity lifetime (sliding), default 90 days. */
  refreshTokenLifetimeSec?: number
  /** Fixed lifetime of refresh tokens issued to `spa` redirect URIs, default 24 h. */
  spaRefreshTokenLifetimeSec?: number
  /** A pending signing key becomes the signing key this long after rotateSigningKey() (emulator clock), default 1 day. */
  signingKeyActivationDelaySec?: number
  /** The emulator's clock in epoch ms (default Date.now); advanceClock() adds to it. */
  now?: () => number
  /** Where ca.pem is written; default a fresh temporary directory. */
  certDir?: string
  /** Default: silent. Tokens, passwords and secrets are never logged. */
  logger?: Logger
}

export interface EmulatorRegistry {
  addApp(app: AppRegistration): void
  addRedirectUri(clientId: string, uri: string | RedirectUri): void
  getApp(clientId: string): AppRegistration | undefined
  /** Records a user's consent (as the consent prompt would) for `client` to use `scopes` (full scope strings). */
  grantConsent(user: string, clientId: string, scopes: string[]): void
  /** Tenant-wide (admin) consent for `client` to use `scopes`, in the home tenant or the named one; provisions the client there. */
  grantAdminConsent(clientId: string, scopes: string[], tenant?: string): void
  /** Changes an app's settings as `PATCH /_emulator/apps/<clientId>` does. */
  updateApp(clientId: string, settings: Partial<Omit<AppSettings, 'clientId'>>): AppSettings
  /** Whether users of a tenant (default the home one) may consent to apps themselves (Entra's user consent setting). */
  setUserConsent(allowed: boolean, tenant?: string): void
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
  /** The emulator's own TLS key pair (SAN localhost, 127.0.0.1, ::1; signed by the dev CA), for other local HTTPS servers. */
  tls: { certPem: string, privateKeyPem: string }
  users: TestUser[]
  registry: EmulatorRegistry
  stats(): { calls: Record<GrantName, number> }
  reset(): void
  addFault(fault: FaultSpec): void
  /** Publishes a new key (listed first in JWKS) that signs only once activated: activateSigningKey() or the activation delay. */
  rotateSigningKey(): void
  /** The pending key (if any) becomes the signing key; the previous one stays published. Returns the signing kid. */
  activateSigningKey(): string
  /** Moves the emulator's clock forward (lifetimes, expiries, key activation). */
  advanceClock(seconds: number): void
  /** The emulator's current time in epoch ms. */
  now(): number
  signToken(claims: Record<string, unknown>, options?: SignTokenOptions): Promise<string>
  issueUserToken(username: string, options: { clientId: string, scopes: string[] }): Promise<string>
  close(): Promise<void>
}
