/** How the caller authenticated: an Entra bearer for the relay (mode A), a browser session or an agent's relay-issued token (mode B). */
export type AuthMode = 'entra_bearer' | 'session' | 'agent'

/** Who the user is: tenant and object id identify them (`upn` and `name` are for display only). */
export interface UserIdentity {
  tid: string
  oid: string
  upn: string | undefined
  name: string | undefined
}

/** The one value both modes converge on: the user's Entra token for the relay, used as the OBO assertion. */
export interface UserAssertion extends UserIdentity {
  /** An Entra access token whose audience is the relay. Never logged, never returned. */
  token: string
  /** Expiry of `token`, epoch seconds. */
  exp: number
  mode: AuthMode
  /** The agent grant whose MSAL partition produced `token` (mode `agent`): its OBO tokens are dropped with it. */
  grantId?: string
}

/** The identity key of a user: tenant + object id, never the UPN (it can be renamed or reused). */
export function userKey (user: { tid: string, oid: string }): string {
  return `${user.tid}.${user.oid}`
}
