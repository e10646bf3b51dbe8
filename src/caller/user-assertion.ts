import { decodeJwt } from 'jose'
import { sha256b64url } from '../crypto/hash.ts'

/** How the caller authenticated: an Entra bearer for the relay (mode A), a browser session or an agent's relay-issued token (mode B). */
export type AuthMode = 'entra_bearer' | 'session' | 'agent'

/** Who the user is: tenant and object id identify them (`upn` and `name` are for display only). */
export interface UserIdentity {
  tid: string
  oid: string
  upn: string | undefined
  name: string | undefined
}

/** The claims of the user's token that tool filters read (TOOL_FILTERS): taken from it once. */
export interface AccessClaims {
  groups: readonly string[]
  roles: readonly string[]
  /** Too many groups for the token: Entra names a Graph endpoint instead of listing them (`_claim_names`). */
  groupOverage: boolean
}

/**
 * The one value both modes converge on: the user's Entra token for the relay, used as the OBO assertion. The
 * memos of sessions and grants keep one per user for as long as its token lives, without the token itself (a
 * second copy of 1–2 KB per session, in clear, besides the sealed partition it came from): the OBO cache is keyed
 * by `tokenHash`, so only a miss asks for the token, and `token()` takes it from the partition again.
 */
export interface UserAssertion extends UserIdentity {
  /** SHA-256 (base64url) of the token: what the OBO cache keys on. */
  tokenHash: string
  /** An Entra access token whose audience is the relay. Never logged, never returned. */
  token: () => Promise<string>
  /** Expiry of the token, epoch seconds. */
  exp: number
  mode: AuthMode
  /** The agent grant whose MSAL partition produced the token (mode `agent`): its OBO tokens are dropped with it. */
  grantId?: string
  access: AccessClaims
}

/** No groups, no roles: the claims of most tokens, shared. */
const NO_ACCESS_CLAIMS: AccessClaims = Object.freeze({ groups: Object.freeze([]), roles: Object.freeze([]), groupOverage: false })
/** What a token that is not a JWT proves: nothing (fail closed where a group would decide). */
const UNKNOWN_ACCESS_CLAIMS: AccessClaims = Object.freeze({ groups: Object.freeze([]), roles: Object.freeze([]), groupOverage: true })

/** Where a memo's token can be had again (a session's or grant's partition), by the memo's key there. */
export interface TokenSource {
  tokenOf: (key: string, tokenHash: string) => Promise<string>
}

/**
 * A user's assertion from its token. With a `source` (sessions and grants: their memos) it keeps only the key to
 * fetch the token again by; without one it holds the token (an Entra bearer: the request carries it anyway).
 * A class, so that a memo costs its fields and nothing per instance besides (no closure).
 */
class Assertion implements UserAssertion {
  readonly tid: string
  readonly oid: string
  readonly upn: string | undefined
  readonly name: string | undefined
  readonly tokenHash: string
  readonly exp: number
  readonly mode: AuthMode
  readonly grantId?: string
  readonly access: AccessClaims
  readonly #held: string | undefined
  readonly #source: { from: TokenSource, key: string } | undefined

  constructor (fields: UserIdentity & { exp: number, mode: AuthMode, grantId?: string }, token: string, source: { from: TokenSource, key: string } | undefined) {
    this.tid = fields.tid
    this.oid = fields.oid
    this.upn = fields.upn
    this.name = fields.name
    this.tokenHash = sha256b64url(token)
    this.exp = fields.exp
    this.mode = fields.mode
    if (fields.grantId !== undefined) this.grantId = fields.grantId
    this.access = accessClaimsOf(token)
    this.#held = source === undefined ? token : undefined
    this.#source = source
  }

  async token (): Promise<string> {
    if (this.#held !== undefined) return this.#held
    const source = this.#source as { from: TokenSource, key: string }
    return await source.from.tokenOf(source.key, this.tokenHash)
  }
}

export function userAssertionOf (
  fields: UserIdentity & { exp: number, mode: AuthMode, grantId?: string },
  token: string,
  source?: { from: TokenSource, key: string }
): UserAssertion {
  return new Assertion(fields, token, source)
}

function accessClaimsOf (token: string): AccessClaims {
  let claims: Record<string, unknown>
  try {
    claims = decodeJwt(token)
  } catch {
    return UNKNOWN_ACCESS_CLAIMS
  }
  const strings = (value: unknown): string[] => Array.isArray(value) ? value.filter((v): v is string => typeof v === 'string') : []
  const groups = strings(claims['groups'])
  const roles = strings(claims['roles'])
  const claimNames = claims['_claim_names']
  const overage = (typeof claimNames === 'object' && claimNames !== null && 'groups' in claimNames) || claims['hasgroups'] === true
  const groupOverage = overage && !Array.isArray(claims['groups'])
  if (groups.length === 0 && roles.length === 0 && !groupOverage) return NO_ACCESS_CLAIMS
  return { groups, roles, groupOverage }
}

/** The identity key of a user: tenant + object id, never the UPN (it can be renamed or reused). */
export function userKey (user: { tid: string, oid: string }): string {
  return `${user.tid}.${user.oid}`
}
