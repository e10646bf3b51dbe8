// One error catalog: services throw RelayError with a stable `reason`; the HTTP edge renders it (DESIGN §2).
// Only `description` and the listed extras leave the process; `cause` is for logs (never tokens).

/** What the caller (or the user behind it) can do; the edge turns it into the right `login_url`. */
export type ErrorIntent =
  | { kind: 'sign_in', claims?: string, grantId?: string }
  | { kind: 'consent', scopes: string[], grantId?: string }
  /** Only a tenant administrator can fix it: grant (or provision) the relay in that tenant. */
  | { kind: 'admin_consent', tenantId: string, scopes: string[] }

/** The parameters of a `WWW-Authenticate` challenge; the edge picks the scheme (Bearer or DPoP). */
export interface AuthChallenge {
  error?: string
  errorDescription?: string
  scope?: string
  /** base64url claims challenge (Entra Conditional Access / step-up). */
  claims?: string
}

/**
 * Every failure the relay reports, by stable reason: `[HTTP status, OAuth-style error code]`.
 * Reasons are part of the API (documented in the README) and label logs and metrics.
 */
export const REASONS = {
  // Requests
  invalid_request: [400, 'invalid_request'],
  json_invalid: [400, 'invalid_request'],
  json_too_deep: [400, 'invalid_request'],
  body_invalid: [400, 'invalid_request'],
  claims_invalid: [400, 'invalid_request'],
  return_to_invalid: [400, 'invalid_request'],
  sign_in_state_invalid: [400, 'invalid_request'],
  body_too_large: [413, 'invalid_request'],
  uri_too_long: [414, 'invalid_request'],
  media_type_unsupported: [415, 'invalid_request'],
  headers_too_large: [431, 'invalid_request'],
  route_not_found: [404, 'not_found'],
  server_unknown: [404, 'not_found'],
  tool_unknown: [404, 'not_found'],
  cross_site_refused: [403, 'access_denied'],
  origin_not_allowed: [403, 'access_denied'],
  host_not_allowed: [403, 'access_denied'],
  method_not_allowed: [405, 'invalid_request'],
  not_acceptable: [406, 'invalid_request'],
  mcp_session_required: [400, 'invalid_request'],
  mcp_session_unknown: [404, 'not_found'],
  tool_not_allowed: [403, 'access_denied'],
  // Who is calling
  credentials_missing: [401, 'invalid_token'],
  token_malformed: [401, 'invalid_token'],
  token_invalid: [401, 'invalid_token'],
  token_expired: [401, 'invalid_token'],
  tenant_not_allowed: [401, 'invalid_token'],
  tenant_refused: [403, 'access_denied'],
  app_only_token: [401, 'invalid_token'],
  scope_missing: [403, 'insufficient_scope'],
  client_not_allowed: [403, 'access_denied'],
  session_ended: [401, 'interaction_required'],
  // Relay-issued tokens (agents, mode B)
  dpop_proof_invalid: [401, 'invalid_dpop_proof'],
  dpop_nonce_required: [401, 'use_dpop_nonce'],
  dpop_bound_token_as_bearer: [401, 'invalid_token'],
  token_audience_mismatch: [401, 'invalid_token'],
  grant_revoked: [401, 'invalid_token'],
  grant_unknown: [400, 'invalid_request'],
  grant_account_mismatch: [403, 'access_denied'],
  interaction_invalid: [400, 'invalid_request'],
  operator_token_invalid: [401, 'invalid_token'],
  // Entra
  sign_in_required: [401, 'interaction_required'],
  claims_challenge: [401, 'interaction_required'],
  consent_required: [403, 'consent_required'],
  admin_consent_required: [403, 'consent_required'],
  consent_declined: [403, 'access_denied'],
  obo_assertion_refused: [403, 'access_denied'],
  access_blocked: [403, 'access_blocked'],
  sign_in_refused: [403, 'access_denied'],
  tenant_not_provisioned: [403, 'access_denied'],
  entra_throttled: [503, 'temporarily_unavailable'],
  entra_unavailable: [503, 'temporarily_unavailable'],
  entra_refused: [502, 'bad_gateway'],
  downstream_scope_unknown: [502, 'bad_gateway'],
  relay_credentials_refused: [500, 'server_error'],
  // Scope discovery and audience binding
  discovery_failed: [502, 'bad_gateway'],
  audience_refused: [502, 'bad_gateway'],
  audience_conflict: [502, 'bad_gateway'],
  // MCP servers
  downstream_claims_challenge: [401, 'interaction_required'],
  downstream_token_refused: [502, 'bad_gateway'],
  downstream_forbidden: [502, 'bad_gateway'],
  downstream_session_lost: [502, 'bad_gateway'],
  downstream_unreachable: [502, 'bad_gateway'],
  downstream_closed: [502, 'bad_gateway'],
  downstream_too_large: [502, 'bad_gateway'],
  downstream_server_error: [502, 'bad_gateway'],
  downstream_status: [502, 'bad_gateway'],
  downstream_mcp_error: [502, 'bad_gateway'],
  downstream_invalid_params: [400, 'invalid_request'],
  downstream_timeout: [504, 'gateway_timeout'],
  // The relay itself
  rate_limited: [429, 'rate_limited'],
  overloaded: [503, 'temporarily_unavailable'],
  store_unavailable: [503, 'temporarily_unavailable'],
  internal: [500, 'server_error'],
} as const satisfies Record<string, readonly [number, string]>

export type Reason = keyof typeof REASONS

export interface RelayErrorOptions {
  headers?: Record<string, string>
  /** Extra JSON members of the body, e.g. `claims`. */
  extra?: Record<string, unknown>
  /** Overrides the default challenge of a 401/403 (RFC 6750 §3). */
  challenge?: AuthChallenge
  intent?: ErrorIntent
  cause?: unknown
  /** Safe details for logs (AADSTS code, correlation id...). */
  logFields?: Record<string, unknown>
}

export class RelayError extends Error {
  readonly statusCode: number
  readonly code: string
  readonly reason: Reason
  readonly description: string
  readonly headers: Record<string, string>
  readonly extra: Record<string, unknown>
  readonly challenge: AuthChallenge | undefined
  readonly intent: ErrorIntent | undefined
  readonly logFields: Record<string, unknown>

  constructor (reason: Reason, description: string, options: RelayErrorOptions = {}) {
    super(description, options.cause === undefined ? undefined : { cause: options.cause })
    const [statusCode, code] = REASONS[reason]
    this.name = 'RelayError'
    this.statusCode = statusCode
    this.code = code
    this.reason = reason
    this.description = description
    this.headers = options.headers ?? {}
    this.extra = options.extra ?? {}
    this.challenge = options.challenge ?? defaultChallenge(reason, code, statusCode, description)
    this.intent = options.intent
    this.logFields = options.logFields ?? {}
  }
}

/** A 401 always challenges (RFC 6750 §3); a request with no credentials at all gets no error code (§3.1). */
function defaultChallenge (reason: Reason, code: string, status: number, description: string): AuthChallenge | undefined {
  if (status !== 401) return undefined
  if (reason === 'credentials_missing') return {}
  return { error: 'invalid_token', errorDescription: description }
}

/** The same error, its sign-in or consent now for one agent grant (the agent was not a caller yet when it failed). */
export function forGrant (err: RelayError, grantId: string): RelayError {
  const intent = err.intent
  if (intent === undefined || (intent.kind !== 'sign_in' && intent.kind !== 'consent')) return err
  return new RelayError(err.reason, err.description, {
    headers: err.headers,
    extra: err.extra,
    ...(err.challenge === undefined ? {} : { challenge: err.challenge }),
    intent: { ...intent, grantId },
    cause: err.cause,
    logFields: err.logFields,
  })
}

export function relayError (reason: Reason, description: string, options?: RelayErrorOptions): RelayError {
  return new RelayError(reason, description, options)
}

/** 403 insufficient_scope naming the scope the caller must obtain (RFC 6750 §3.1). */
export function insufficientScope (description: string, scope: string): RelayError {
  return new RelayError('scope_missing', description, { challenge: { error: 'insufficient_scope', errorDescription: description, scope } })
}

/** The user must act (sign in again, step up with claims); `claims` is base64url when present. */
export function interactionRequired (reason: 'sign_in_required' | 'claims_challenge' | 'downstream_claims_challenge' | 'session_ended', description: string, claims: string | undefined, options: RelayErrorOptions = {}): RelayError {
  return new RelayError(reason, description, {
    ...options,
    extra: { ...options.extra, ...(claims === undefined ? {} : { claims }) },
    intent: claims === undefined ? { kind: 'sign_in' } : { kind: 'sign_in', claims },
    challenge: claims === undefined ? { error: 'invalid_token', errorDescription: description } : { error: 'insufficient_claims', errorDescription: description, claims },
  })
}

export function temporarilyUnavailable (reason: 'entra_throttled' | 'entra_unavailable' | 'store_unavailable' | 'overloaded' | 'rate_limited', description: string, retryAfterSec: number | undefined, options: RelayErrorOptions = {}): RelayError {
  return new RelayError(reason, description, {
    ...options,
    headers: { ...options.headers, ...(retryAfterSec === undefined ? {} : { 'retry-after': String(retryAfterSec) }) },
  })
}

/** An RFC 9110 quoted-string body: backslash-escape `"` and `\`, and never let a line break through. */
function quoted (value: string): string {
  return `"${value.replace(/[\r\n]+/g, ' ').replace(/["\\]/g, '\\$&')}"`
}

/**
 * Renders a challenge (RFC 6750 §3, RFC 9449 §7.1) with the PRM URL of the resource called (RFC 9728 §5.1).
 * DPoP challenges also carry `algs`.
 */
export function formatChallenge (scheme: 'Bearer' | 'DPoP', challenge: AuthChallenge, resourceMetadataUrl: string, extra: Record<string, string> = {}): string {
  const params: string[] = [`resource_metadata=${quoted(resourceMetadataUrl)}`]
  if (challenge.error !== undefined) params.push(`error=${quoted(challenge.error)}`)
  if (challenge.errorDescription !== undefined) params.push(`error_description=${quoted(challenge.errorDescription)}`)
  if (challenge.scope !== undefined) params.push(`scope=${quoted(challenge.scope)}`)
  if (challenge.claims !== undefined) params.push(`claims=${quoted(challenge.claims)}`)
  for (const [name, value] of Object.entries(extra)) params.push(`${name}=${quoted(value)}`)
  return `${scheme} ${params.join(', ')}`
}
