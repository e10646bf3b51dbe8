// Entra-shaped errors: one catalog of AADSTS codes; routes throw EntraError, one handler renders it.
// Messages follow https://login.microsoftonline.com/error wording where known; codes and names:
// https://learn.microsoft.com/en-us/entra/identity-platform/reference-error-codes

export interface EntraErrorExtras {
  suberror?: string
  claims?: string
  headers?: Record<string, string>
  /** Sent as a text/plain body instead of Entra's JSON (the front door's plain 429). */
  textBody?: string
}

export class EntraError extends Error {
  readonly status: number
  readonly error: string
  readonly code: number
  readonly extras: EntraErrorExtras

  constructor (status: number, error: string, code: number, message: string, extras: EntraErrorExtras = {}) {
    super(message)
    this.name = 'EntraError'
    this.status = status
    this.error = error
    this.code = code
    this.extras = extras
  }
}

/** Per-request ids Entra puts in every error (and in `x-ms-request-id` / `client-request-id` headers). */
export interface RequestTrace {
  traceId: string
  correlationId: string
  time: Date
}

/** Entra's timestamp format: `2019-09-19 08:55:37Z`. */
export function entraTimestamp (time: Date): string {
  return time.toISOString().replace('T', ' ').replace(/\.\d{3}Z$/, 'Z')
}

export function errorDescription (err: EntraError, trace: RequestTrace): string {
  return `AADSTS${err.code}: ${err.message}\r\nTrace ID: ${trace.traceId}\r\nCorrelation ID: ${trace.correlationId}\r\nTimestamp: ${entraTimestamp(trace.time)}`
}

export function errorBody (err: EntraError, trace: RequestTrace, baseUrl: string): Record<string, unknown> {
  return {
    error: err.error,
    error_description: errorDescription(err, trace),
    error_codes: [err.code],
    timestamp: entraTimestamp(trace.time),
    trace_id: trace.traceId,
    correlation_id: trace.correlationId,
    error_uri: `${baseUrl}/error?code=${err.code}`,
    ...(err.extras.suberror === undefined ? {} : { suberror: err.extras.suberror }),
    ...(err.extras.claims === undefined ? {} : { claims: err.extras.claims }),
  }
}

const CERT_DOCS = 'Review the documentation at https://docs.microsoft.com/en-us/azure/active-directory/develop/active-directory-certificate-credentials .'

const consentMessage = (clientId: string, clientName: string) =>
  `The user or administrator has not consented to use the application with ID '${clientId}' named '${clientName}'. Send an interactive authorization request for this user and resource.`

const bad = (error: string, code: number, message: string, extras?: EntraErrorExtras) => new EntraError(400, error, code, message, extras)
const client = (code: number, message: string) => new EntraError(401, 'invalid_client', code, message)

/** The catalog, by situation. */
export const aadsts = {
  tenantNotFound: (tenant: string, error = 'invalid_request') => bad(error, 90002, `Tenant '${tenant}' not found. Check to make sure you have the correct tenant ID and are signing into the correct cloud. Check with your subscription administrator, this may happen if there are no active subscriptions for the tenant.`),
  missingParameter: (name: string) => bad('invalid_request', 900144, `The request body must contain the following parameter: '${name}'.`),
  malformedRequest: () => bad('invalid_request', 9002313, 'Invalid request. Request is malformed or invalid.'),
  postOnly: (method: string) => bad('invalid_request', 900561, `The endpoint only accepts POST, OPTIONS requests. Received a ${method} request.`),
  unsupportedGrantType: (grantType: string) => bad('unsupported_grant_type', 70003, `The app requested an unsupported grant type '${grantType}'.`),
  resourceParameter: () => bad('invalid_request', 9010010, "The resource parameter provided in the request doesn't match with the requested scopes."),
  noTenant: () => bad('invalid_request', 50059, 'No tenant-identifying information found in either the request or implied by any provided credentials.'),

  appNotFound: (clientId: string, tenant: string) => bad('unauthorized_client', 700016, `Application with identifier '${clientId}' was not found in the directory '${tenant}'. This can happen if the application has not been installed by the administrator of the tenant or consented to by any user in the tenant. You may have sent your authentication request to the wrong tenant.`),
  publicClientWithCredentials: () => client(700025, "Client is public so neither 'client_assertion' nor 'client_secret' should be presented."),
  missingClientCredentials: () => client(7000218, "The request body must contain the following parameter: 'client_assertion' or 'client_secret'."),
  invalidClientSecret: (clientId: string) => client(7000215, `Invalid client secret provided. Ensure the secret being sent in the request is the client secret value, not the client secret ID, for a secret added to app '${clientId}'.`),
  malformedJwt: () => bad('invalid_request', 50027, 'JWT token is invalid or malformed.'),
  clientAssertionKeyNotFound: (thumbprint: string, clientId: string) => client(700027, `Client assertion failed signature validation. [Reason - The key was not found., Thumbprint of key used by client: '${thumbprint}', Please visit the Azure Portal, Graph Explorer or directly use MS Graph to see configured keys for app Id '${clientId}'.]`),
  clientAssertionSignature: (thumbprint: string, clientId: string) => client(700027, `Client assertion contains an invalid signature. [Reason - Key was found, but use of the key to verify the signature failed., Thumbprint of key used by client: '${thumbprint}', Found key for app Id '${clientId}'.]`),
  clientAssertionSubject: () => client(700021, `Client assertion application identifier doesn't match 'client_id' parameter. ${CERT_DOCS}`),
  clientAssertionAudience: () => client(700023, `Client assertion audience claim does not match Realm issuer. ${CERT_DOCS}`),
  clientAssertionTime: (now: string, nbf: string, exp: string) => client(700024, `Client assertion is not within its valid time range. Current time: ${now}, assertion valid from ${nbf}, expiry time of assertion ${exp}. ${CERT_DOCS}`),

  redirectUriMismatch: (uri: string, clientId: string) => bad('invalid_request', 50011, `The redirect URI '${uri}' specified in the request does not match the redirect URIs configured for the application '${clientId}'. Make sure the redirect URI sent in the request matches one added to your application in the Azure portal. Navigate to https://aka.ms/redirectUriMismatchError to learn more about how to fix this.`),
  noReplyAddress: () => bad('invalid_request', 900971, 'No reply address provided.'),
  unsupportedResponseType: (responseType: string) => bad('unsupported_response_type', 700054, `response_type '${responseType}' is not enabled for the application.`),
  pkceRequired: () => bad('invalid_request', 9002325, 'Proof Key for Code Exchange is required for cross-origin authorization code redemption.'),
  invalidCodeChallengeMethod: () => bad('invalid_request', 50149, 'Invalid Code_Challenge_method parameter.'),
  invalidCodeChallengeSize: () => bad('invalid_request', 501491, 'Invalid size of Code_Challenge parameter.'),
  loginRequired: () => bad('login_required', 50058, 'A silent sign-in request was sent but no user is signed in.'),

  codeVerifierMismatch: () => bad('invalid_grant', 501481, 'The Code_Verifier does not match the code_challenge supplied in the authorization request.'),
  codeRedeemed: () => bad('invalid_grant', 54005, 'OAuth2 Authorization code was already redeemed, please retry with a new valid code or use an existing refresh token.'),
  codeExpired: () => bad('invalid_grant', 70008, 'The provided authorization code or refresh token has expired due to inactivity. Send a new interactive authorization request for this user and resource.'),
  grantMalformed: () => bad('invalid_grant', 9002313, 'Invalid request. Request is malformed or invalid.'),
  grantOfOtherTenant: () => bad('invalid_grant', 700005, 'Provided Authorization Code is intended to use against other tenant, thus rejected.'),
  grantOfOtherClient: () => bad('invalid_grant', 70000, 'Provided grant is invalid or malformed.'),
  replyAddressMismatch: (uri: string, expected: string) => bad('invalid_grant', 500112, `The reply address '${uri}' does not match the reply address '${expected}' provided when requesting Authorization code.`),
  refreshTokenExpired: (issued: string, inactiveSec: number) => bad('invalid_grant', 700082, `The refresh token has expired due to inactivity. The token was issued on ${issued} and was inactive for ${formatDuration(inactiveSec)}.`),
  invalidCredentials: () => bad('invalid_grant', 50126, 'Error validating credentials due to invalid username or password.'),
  userNotFound: (tenant: string) => bad('invalid_grant', 50034, `The user account {EUII Hidden} does not exist in the ${tenant} directory. To sign into this application, the account must be added to the directory.`),
  consentRequired: (clientId: string, clientName: string) => bad('invalid_grant', 65001, consentMessage(clientId, clientName), { suberror: 'consent_required' }),
  /** prompt=none at /authorize when consent is missing. */
  silentConsentRequired: (clientId: string, clientName: string) => bad('consent_required', 65001, consentMessage(clientId, clientName)),

  // AADSTS650053 on a known resource; https://learn.microsoft.com/en-us/entra/identity-platform/reference-error-codes (and Entra's own answers carry invalid_client)
  scopeNotOnResource: (clientName: string, scope: string, resourceId: string) => bad('invalid_client', 650053, `The application '${clientName}' asked for scope '${scope}' that doesn't exist on the resource '${resourceId}'. Contact the app vendor.`),
  invalidScope: (scope: string) => bad('invalid_scope', 70011, `The provided value for the input parameter 'scope' isn't valid. The scope ${scope} isn't valid.`),
  multipleResources: (scope: string) => bad('invalid_scope', 28000, `Provided value for the input parameter scope isn't valid because it contains more than one resource. Scope ${scope} isn't valid.`),
  resourceNotFound: (resource: string, tenant: string) => bad('invalid_resource', 500011, `The resource principal named ${resource} was not found in the tenant named ${tenant}. This can happen if the application has not been installed by the administrator of the tenant or consented to by any user in the tenant. You might have sent your authentication request to the wrong tenant.`),
  clientCredentialsScope: (scope: string) => bad('invalid_scope', 1002012, `The provided value for scope ${scope} is not valid. Client credential flows must have a scope value with /.default suffixed to the resource identifier (application ID URI).`),

  assertionSignature: (reason: string, thumbprint: string) => bad('invalid_grant', 50013, `Assertion failed signature validation. [Reason - ${reason}, Thumbprint of key used by client: '${thumbprint}']`),
  assertionInvalid: (reason: string) => bad('invalid_grant', 50013, `Assertion is invalid because of various reasons - ${reason}`),
  assertionExpired: (now: string, exp: string) => bad('invalid_grant', 500133, `Assertion is not within its valid time range. Ensure that the access token is not expired before using it for user assertion, or request a new token. Current time: ${now}, expiry time of assertion ${exp}.`),
  assertionAudience: (audience: string, clientId: string, clientName: string) => bad('invalid_grant', 500131, `Assertion audience does not match the Client app presenting the assertion. The audience in the assertion was '${audience}' and the expected audience is '${clientId}' or one of the Application Uris of this application with App ID '${clientId}'(${clientName}). The downstream client must request a token for the expected audience (the application that made the OBO request) and this application should use that token as the assertion.`),
  // https://learn.microsoft.com/en-us/entra/identity-platform/reference-error-codes (RequiredClaimIsMissing)
  idTokenAssertion: () => bad('invalid_grant', 240002, "The id_token can't be used as 'urn:ietf:params:oauth:grant-type:jwt-bearer' grant."),
  appOnBehalfOf: (clientId: string) => bad('unauthorized_client', 7000114, `Application '${clientId}' is not allowed to make application on-behalf-of calls.`),

  mfaRequired: (resource: string, claims: string) => bad('interaction_required', 50076, `Due to a configuration change made by your administrator, or because you moved to a new location, you must use multi-factor authentication to access '${resource}'.`, { suberror: 'basic_action', claims }),
  grantRevoked: (issued: string, validFrom: string) => bad('invalid_grant', 50173, `The provided grant has expired due to it being revoked, a fresh auth token is needed. The user might have changed or reset their password. The grant was issued on '${issued}' and the TokensValidFrom date (before which tokens are not valid) for this user is '${validFrom}'.`),
  // https://learn.microsoft.com/en-us/entra/identity-platform/reference-error-codes (LoopDetected)
  loopDetected: () => bad('invalid_request', 50196, 'The server terminated an operation because it encountered a client request loop. Please contact your app vendor.'),
  // BlockedByConditionalAccess: no interaction can fix it, so MSAL's suberror is message_only.
  caBlocked: () => bad('invalid_grant', 53003, 'Access has been blocked by Conditional Access policies. The access policy does not allow token issuance.', { suberror: 'message_only' }),
  // https://learn.microsoft.com/en-us/entra/identity-platform/reference-error-codes (InvalidClientSecretExpiredKeysProvided)
  clientSecretExpired: (clientId: string) => client(7000222, `The provided client secret keys for app '${clientId}' are expired. Visit the Azure portal to create new keys for your app: https://aka.ms/NewClientSecret, or consider using certificate credentials for added security: https://aka.ms/certCreds.`),
  clientCertificateNotValid: (thumbprint: string, clientId: string) => client(700027, `Client assertion failed signature validation. [Reason - The key used is expired or not yet valid., Thumbprint of key used by client: '${thumbprint}', Found key 'Start=..., End=...', Please visit the Azure Portal, Graph Explorer or directly use MS Graph to see configured keys for app Id '${clientId}'.]`),
  spaRefreshTokenExpired: (lifetimeSec: number, issued: string) => bad('invalid_grant', 700084, `The refresh token was issued to a single page app (SPA), and therefore has a fixed, limited lifetime of ${formatDuration(lifetimeSec)}, which can't be extended. It is now expired and a new sign in request must be sent by the SPA to the sign in page. The token was issued on ${issued}.`),
  // AADSTS50117 (Failed to deserialize policy specified in the request's claim parameter)
  invalidClaims: () => bad('invalid_request', 50117, "Failed to deserialize policy specified in the request's claim parameter."),
  userDeclinedConsent: () => bad('consent_required', 65004, 'User declined to consent to access the app.'),
  adminDeclinedConsent: () => bad('access_denied', 65004, 'User declined to consent to access the app.'),
  adminConsentRequired: () => bad('access_denied', 90094, 'The grant requires admin permission.'),
  notAnAdmin: () => bad('access_denied', 90094, 'The grant requires admin permission.'),
  userNotInTenant: (tenant: string) => bad('access_denied', 50020, `User account '{EmailHidden}' from identity provider does not exist in tenant '${tenant}' and cannot access the application in that tenant. The account needs to be added as an external user in the tenant first. Sign out and sign in again with a different Azure Active Directory user account.`),
  throttledText: (retryAfterSec: number) => new EntraError(429, 'temporarily_unavailable', 90055, 'Too Many Requests', { headers: { 'retry-after': String(retryAfterSec), 'content-type': 'text/plain; charset=utf-8' }, textBody: 'Too Many Requests' }),
  throttled: (retryAfterSec: number) => new EntraError(429, 'temporarily_unavailable', 90055, 'TenantThrottlingError - There are too many incoming requests. This exception is thrown for blocked tenants.', { headers: { 'retry-after': String(retryAfterSec) } }),
  unavailable: (retryAfterSec: number) => new EntraError(503, 'temporarily_unavailable', 90033, 'A transient error has occurred. Please try again.', { headers: { 'retry-after': String(retryAfterSec) } }),
} as const

function formatDuration (seconds: number): string {
  const whole = Math.max(0, Math.floor(seconds))
  const h = Math.floor(whole / 3600)
  const m = Math.floor((whole % 3600) / 60)
  const s = whole % 60
  return `${String(h).padStart(2, '0')}:${String(m).padStart(2, '0')}:${String(s).padStart(2, '0')}`
}
