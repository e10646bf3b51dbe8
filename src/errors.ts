// One error catalog: routes and services throw RelayError; the app's error handler renders it.
// Only `description` and the listed extras leave the process; `cause` is for logs (never tokens).

export interface BearerChallenge {
  error?: string
  errorDescription?: string
  scope?: string
  /** base64url claims challenge (Entra Conditional Access / step-up). */
  claims?: string
}

export interface RelayErrorOptions {
  headers?: Record<string, string>
  /** Extra JSON members of the body, e.g. `claims`, `login_url`. */
  extra?: Record<string, unknown>
  /** When set, a `WWW-Authenticate: Bearer` header is added with the relay's resource_metadata. */
  challenge?: BearerChallenge
  cause?: unknown
  /** Safe details for logs (AADSTS code, correlation id...). */
  logFields?: Record<string, unknown>
}

export class RelayError extends Error {
  readonly statusCode: number
  readonly code: string
  readonly description: string
  readonly headers: Record<string, string>
  readonly extra: Record<string, unknown>
  readonly challenge: BearerChallenge | undefined
  readonly logFields: Record<string, unknown>

  constructor (statusCode: number, code: string, description: string, options: RelayErrorOptions = {}) {
    super(description, options.cause === undefined ? undefined : { cause: options.cause })
    this.name = 'RelayError'
    this.statusCode = statusCode
    this.code = code
    this.description = description
    this.headers = options.headers ?? {}
    this.extra = options.extra ?? {}
    this.challenge = options.challenge
    this.logFields = options.logFields ?? {}
  }
}

export const errors = {
  invalidRequest: (description: string, options?: RelayErrorOptions) =>
    new RelayError(400, 'invalid_request', description, options),
  /** @see RFC 6750 §3.1 */
  invalidToken: (description: string, options: RelayErrorOptions = {}) =>
    new RelayError(401, 'invalid_token', description, { ...options, challenge: { error: 'invalid_token', errorDescription: description, ...options.challenge } }),
  /** A request without any credentials: RFC 6750 §3.1 says no error code in the challenge. */
  unauthenticated: (description: string, options: RelayErrorOptions = {}) =>
    new RelayError(401, 'invalid_token', description, { ...options, challenge: { ...options.challenge } }),
  /** @see RFC 6750 §3.1 */
  insufficientScope: (description: string, scope: string) =>
    new RelayError(403, 'insufficient_scope', description, { challenge: { error: 'insufficient_scope', errorDescription: description, scope } }),
  interactionRequired: (description: string, claims: string | undefined, loginUrl: string, options: RelayErrorOptions = {}) =>
    new RelayError(401, 'interaction_required', description, {
      ...options,
      extra: { ...(claims === undefined ? {} : { claims }), login_url: loginUrl },
      challenge: claims === undefined ? { error: 'invalid_token', errorDescription: description } : { error: 'insufficient_claims', errorDescription: description, claims },
    }),
  consentRequired: (description: string, loginUrl: string, options: RelayErrorOptions = {}) =>
    new RelayError(403, 'consent_required', description, { ...options, extra: { login_url: loginUrl } }),
  accessDenied: (description: string, options?: RelayErrorOptions) =>
    new RelayError(403, 'access_denied', description, options),
  notFound: (description: string) => new RelayError(404, 'not_found', description),
  payloadTooLarge: (description: string) => new RelayError(413, 'invalid_request', description),
  temporarilyUnavailable: (description: string, retryAfterSec: number | undefined, options: RelayErrorOptions = {}) =>
    new RelayError(503, 'temporarily_unavailable', description, {
      ...options,
      headers: { ...options.headers, ...(retryAfterSec === undefined ? {} : { 'retry-after': String(retryAfterSec) }) },
    }),
  badGateway: (description: string, options?: RelayErrorOptions) => new RelayError(502, 'bad_gateway', description, options),
  gatewayTimeout: (description: string, options?: RelayErrorOptions) => new RelayError(504, 'gateway_timeout', description, options),
  serverError: (description: string, options?: RelayErrorOptions) => new RelayError(500, 'server_error', description, options),
}

/** An RFC 9110 quoted-string body: backslash-escape `"` and `\`, and never let a line break through. */
function quoted (value: string): string {
  return `"${value.replace(/[\r\n]+/g, ' ').replace(/["\\]/g, '\\$&')}"`
}

/** Renders a Bearer challenge (RFC 6750 §3) with the relay's PRM URL (RFC 9728 §5.1). */
export function formatBearerChallenge (challenge: BearerChallenge, resourceMetadataUrl: string): string {
  const params: string[] = [`resource_metadata=${quoted(resourceMetadataUrl)}`]
  if (challenge.error !== undefined) params.push(`error=${quoted(challenge.error)}`)
  if (challenge.errorDescription !== undefined) params.push(`error_description=${quoted(challenge.errorDescription)}`)
  if (challenge.scope !== undefined) params.push(`scope=${quoted(challenge.scope)}`)
  if (challenge.claims !== undefined) params.push(`claims=${quoted(challenge.claims)}`)
  return `Bearer ${params.join(', ')}`
}
