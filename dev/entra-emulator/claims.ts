// The OIDC `claims` request parameter as Entra reads it: step-up requests (`acrs`, Conditional Access
// `capolids`) and client capabilities (`xms_cc`, which MSAL merges into every request's claims).
// @see https://learn.microsoft.com/en-us/entra/identity-platform/claims-challenge
// @see https://openid.net/specs/openid-connect-core-1_0.html#ClaimsParameter
import { aadsts } from './errors.ts'

export interface ClaimsRequest {
  /** Authentication context class references asked for (any one satisfies). */
  acrs: string[]
  /** Conditional Access policy ids that must be satisfied (all). */
  capolids: string[]
  /** `xms_cc` values the client declared (e.g. `cp1`). */
  clientCapabilities: string[]
}

/** What a sign-in satisfied beyond the password: carried by its codes, refresh tokens and tokens. */
export interface StepUp {
  acrs: string[]
  capolids: string[]
}

export const NO_STEP_UP: StepUp = { acrs: [], capolids: [] }

const MEMBERS = new Set(['id_token', 'access_token', 'userinfo'])

const isObject = (value: unknown): value is Record<string, unknown> => typeof value === 'object' && value !== null && !Array.isArray(value)

function stringsOf (request: unknown): string[] {
  if (!isObject(request)) return []
  const values: unknown[] = [...(Array.isArray(request.values) ? request.values : []), ...(request.value === undefined ? [] : [request.value])]
  return values.filter((value): value is string => typeof value === 'string')
}

/** Parses and validates a `claims` parameter (undefined when absent); malformed → AADSTS50117. */
export function parseClaimsParameter (raw: string | undefined): ClaimsRequest | undefined {
  if (raw === undefined || raw === '') return undefined
  let parsed: unknown
  try {
    parsed = JSON.parse(raw)
  } catch {
    throw aadsts.invalidClaims()
  }
  if (!isObject(parsed)) throw aadsts.invalidClaims()
  for (const [member, requests] of Object.entries(parsed)) {
    if (!MEMBERS.has(member) || !isObject(requests)) throw aadsts.invalidClaims()
    for (const request of Object.values(requests)) {
      // Each claim is null (default) or an object of essential / value / values.
      if (request === null) continue
      if (!isObject(request)) throw aadsts.invalidClaims()
      if (request.essential !== undefined && typeof request.essential !== 'boolean') throw aadsts.invalidClaims()
      if (request.values !== undefined && !Array.isArray(request.values)) throw aadsts.invalidClaims()
    }
  }
  const accessToken = isObject(parsed.access_token) ? parsed.access_token : {}
  return {
    acrs: stringsOf(accessToken.acrs),
    capolids: stringsOf(accessToken.capolids),
    clientCapabilities: stringsOf(accessToken.xms_cc),
  }
}

/** Whether what a sign-in satisfied meets a request's step-up demands. */
export function satisfies (stepUp: StepUp, request: ClaimsRequest): boolean {
  const acrsMet = request.acrs.length === 0 || request.acrs.some(value => stepUp.acrs.includes(value))
  return acrsMet && request.capolids.every(id => stepUp.capolids.includes(id))
}

export function demandsStepUp (request: ClaimsRequest | undefined): boolean {
  return request !== undefined && (request.acrs.length > 0 || request.capolids.length > 0)
}

export function mergeStepUp (stepUp: StepUp, request: ClaimsRequest | undefined): StepUp {
  if (request === undefined) return stepUp
  // A request for one of several contexts is met by the first one offered.
  const acrs = request.acrs.length === 0 || request.acrs.some(value => stepUp.acrs.includes(value)) ? [] : request.acrs.slice(0, 1)
  return {
    acrs: [...new Set([...stepUp.acrs, ...acrs])],
    capolids: [...new Set([...stepUp.capolids, ...request.capolids])],
  }
}
