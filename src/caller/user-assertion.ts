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
 * memos of sessions and grants (TokenMemo) keep one per session or grant for as long as its token lives, without
 * the token itself (a second copy of 1–2 KB per session, in clear, besides the sealed partition it came from): the
 * OBO cache is keyed by `tokenHash`, so only a miss asks for the token, and `token()` takes it from the partition
 * again.
 */
export interface UserAssertion extends UserIdentity {
  /** SHA-256 (base64url) of the token: what the OBO cache keys on. */
  readonly tokenHash: string
  /** An Entra access token whose audience is the relay. Never logged, never returned. */
  token: () => Promise<string>
  /** Expiry of the token, epoch seconds. */
  readonly exp: number
  readonly mode: AuthMode
  /** The agent grant whose MSAL partition produced the token (mode `agent`): its OBO tokens are dropped with it. */
  readonly grantId?: string
  readonly access: AccessClaims
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
 * What is kept of a user's token between requests: its hash, expiry and claims. With a `source` (sessions and
 * grants: their memos) it keeps only the key to fetch the token again by; without one it holds the token (an
 * Entra bearer: the request carries it anyway).
 */
export class TokenMemo {
  readonly tokenHash: string
  /** Expiry of the token, epoch seconds. */
  readonly exp: number
  readonly access: AccessClaims
  /** The token (an Entra bearer's), or the key to fetch it again by from `#from`: two fields, no object. */
  readonly #heldOrKey: string
  readonly #from: TokenSource | undefined

  constructor (token: string, exp: number, source?: { from: TokenSource, key: string }) {
    this.tokenHash = sha256b64url(token)
    this.exp = exp
    this.access = accessClaimsOf(token)
    this.#heldOrKey = source === undefined ? token : source.key
    this.#from = source?.from
  }

  async token (): Promise<string> {
    return this.#from === undefined ? this.#heldOrKey : await this.#from.tokenOf(this.#heldOrKey, this.tokenHash)
  }
}

/**
 * A request's assertion: the user as the request's record (or token) names them, and the memo of their token.
 * Made per request from the memo, so a memo holds no identity strings of its own.
 */
class Assertion implements UserAssertion {
  readonly tid: string
  readonly oid: string
  readonly upn: string | undefined
  readonly name: string | undefined
  readonly mode: AuthMode
  readonly grantId?: string
  readonly #memo: TokenMemo

  constructor (user: UserIdentity, mode: AuthMode, memo: TokenMemo, grantId: string | undefined) {
    this.tid = user.tid
    this.oid = user.oid
    this.upn = user.upn
    this.name = user.name
    this.mode = mode
    if (grantId !== undefined) this.grantId = grantId
    this.#memo = memo
  }

  get tokenHash (): string { return this.#memo.tokenHash }
  get exp (): number { return this.#memo.exp }
  get access (): AccessClaims { return this.#memo.access }

  async token (): Promise<string> {
    return await this.#memo.token()
  }
}

/** The user (tid, oid, upn and name are read of `user`), how they came, and their token's memo. */
export function userAssertionOf (user: UserIdentity, mode: AuthMode, memo: TokenMemo, grantId?: string): UserAssertion {
  return new Assertion(user, mode, memo, grantId)
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
