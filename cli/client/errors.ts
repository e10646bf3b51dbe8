// What can go wrong for an agent, by class; the CLI turns each class into its own exit code.

export type AgentErrorKind =
  | 'usage' // bad command line
  | 'not_logged_in' // no credentials, or the relay no longer accepts them (log in again)
  | 'sign_in_required' // the user must sign in again in a browser (login_url)
  | 'insecure_credentials' // the credentials file is readable by others
  | 'credentials_corrupt'
  | 'locked' // another process holds the credentials lock
  | 'timeout' // the browser sign-in did not come back in time
  | 'denied' // the user or the relay refused (access_denied, 403)
  | 'oauth' // the authorization server refused a request (4xx)
  | 'relay' // the relay answered an API call with an error
  | 'network' // the relay could not be reached

export const EXIT_CODES: Record<AgentErrorKind, number> = {
  usage: 2,
  not_logged_in: 3,
  sign_in_required: 4,
  insecure_credentials: 5,
  credentials_corrupt: 5,
  locked: 6,
  timeout: 7,
  denied: 8,
  oauth: 9,
  relay: 10,
  network: 11,
}

export class AgentError extends Error {
  readonly kind: AgentErrorKind
  /** The relay's JSON error body, when there is one (`error`, `reason`, `login_url`...). */
  readonly body: Record<string, unknown> | undefined
  readonly status: number | undefined

  constructor (kind: AgentErrorKind, message: string, options: { body?: Record<string, unknown>, status?: number, cause?: unknown } = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause })
    this.name = 'AgentError'
    this.kind = kind
    this.body = options.body
    this.status = options.status
  }
}
