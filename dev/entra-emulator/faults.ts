// Scripted token-endpoint failures: Conditional Access claims challenges (until the user steps up),
// blocks, missing consent, revoked grants, app-only OBO assertions, throttling (JSON or plain text), loops, outages and latency;
// scoped by grant, scope and user, optionally counted.
import { randomUUID } from 'node:crypto'
import { setTimeout as sleep } from 'node:timers/promises'
import { parseClaimsParameter, satisfies, type StepUp } from './claims.ts'
import { aadsts, entraTimestamp, type EntraError } from './errors.ts'
import { splitScope } from './scopes.ts'
import { FAULT_KINDS, GRANT_NAMES, type FaultKind, type FaultSpec, type GrantName, type TestUser } from './types.ts'

const DEFAULT_RETRY_AFTER_SEC = 5
/** Entra's front door sends plain-text 429s with a minute's Retry-After. */
const DEFAULT_TEXT_RETRY_AFTER_SEC = 60
const DEFAULT_LATENCY_MS = 1000
const MAX_LATENCY_MS = 120_000

/** Faults that happen before Entra looks at the request (front door), and ones decided after validation. */
export const FRONT_DOOR_FAULTS: readonly FaultKind[] = ['throttle', 'unavailable', 'latency', 'loop_detected']
export const POLICY_FAULTS: readonly FaultKind[] = ['ca_blocked', 'claims_challenge', 'consent_required', 'invalid_grant', 'app_only_assertion']

export class FaultSpecError extends Error {}

function optionalString (input: Record<string, unknown>, key: string): string | undefined {
  const value = input[key]
  if (value === undefined) return undefined
  if (typeof value !== 'string' || value === '') throw new FaultSpecError(`${key} must be a non-empty string`)
  return value
}

function optionalInteger (input: Record<string, unknown>, key: string, min: number, max: number): number | undefined {
  const value = input[key]
  if (value === undefined) return undefined
  if (typeof value !== 'number' || !Number.isInteger(value) || value < min || value > max) {
    throw new FaultSpecError(`${key} must be an integer from ${min} to ${max}`)
  }
  return value
}

/** Validates untrusted input (the control API's JSON body or addFault's argument). */
export function parseFaultSpec (input: unknown): FaultSpec {
  if (typeof input !== 'object' || input === null || Array.isArray(input)) throw new FaultSpecError('a fault must be a JSON object')
  const record = input as Record<string, unknown>
  const known = new Set(['grant', 'scope', 'user', 'fault', 'count', 'claims', 'retryAfterSec', 'latencyMs', 'format'])
  const unknown = Object.keys(record).filter(key => !known.has(key))
  if (unknown.length > 0) throw new FaultSpecError(`unknown member(s): ${unknown.join(', ')}`)
  const fault = record.fault
  if (typeof fault !== 'string' || !(FAULT_KINDS as readonly string[]).includes(fault)) {
    throw new FaultSpecError(`fault must be one of ${FAULT_KINDS.join(', ')}`)
  }
  const grant = optionalString(record, 'grant')
  if (grant !== undefined && !(GRANT_NAMES as readonly string[]).includes(grant)) {
    throw new FaultSpecError(`grant must be one of ${GRANT_NAMES.join(', ')}`)
  }
  const claims = optionalString(record, 'claims')
  if (claims !== undefined) {
    try {
      parseClaimsParameter(claims)
    } catch {
      throw new FaultSpecError('claims must be a claims request (JSON object of id_token / access_token / userinfo)')
    }
  }
  const format = optionalString(record, 'format')
  if (format !== undefined && (fault !== 'throttle' || (format !== 'json' && format !== 'text'))) {
    throw new FaultSpecError('format must be json or text, and only for throttle')
  }
  // Entra sends AADSTS7000114 only to On-Behalf-Of requests (an app-only assertion), so the fault is scoped to them.
  if (fault === 'app_only_assertion' && grant !== undefined && grant !== 'on_behalf_of') {
    throw new FaultSpecError('app_only_assertion answers only on_behalf_of requests')
  }
  const spec: FaultSpec = { fault: fault as FaultKind }
  const scope = optionalString(record, 'scope')
  const user = optionalString(record, 'user')
  const count = optionalInteger(record, 'count', 1, 1_000_000)
  const retryAfterSec = optionalInteger(record, 'retryAfterSec', 0, 86_400)
  const latencyMs = optionalInteger(record, 'latencyMs', 0, MAX_LATENCY_MS)
  if (grant !== undefined) spec.grant = grant as GrantName
  if (fault === 'app_only_assertion') spec.grant = 'on_behalf_of'
  if (scope !== undefined) spec.scope = scope
  if (user !== undefined) spec.user = user
  if (count !== undefined) spec.count = count
  if (claims !== undefined) spec.claims = claims
  if (retryAfterSec !== undefined) spec.retryAfterSec = retryAfterSec
  if (latencyMs !== undefined) spec.latencyMs = latencyMs
  if (format !== undefined) spec.format = format as 'json' | 'text'
  return spec
}

/** What a token request is about, as far as fault scoping goes. */
export interface FaultTarget {
  grant: GrantName
  scope: string
  user: TestUser | undefined
  /** What the sign-in behind the request satisfied: a claims challenge it meets does not fire. */
  stepUp?: StepUp
}

function matches (spec: FaultSpec, target: FaultTarget): boolean {
  if (spec.grant !== undefined && spec.grant !== target.grant) return false
  if (spec.user !== undefined) {
    const wanted = spec.user.toLowerCase()
    if (target.user === undefined || (target.user.username.toLowerCase() !== wanted && target.user.oid.toLowerCase() !== wanted)) return false
  }
  if (spec.scope !== undefined) {
    const wanted = spec.scope.toLowerCase()
    const scopes = splitScope(target.scope).map(scope => scope.toLowerCase())
    if (!scopes.some(scope => scope === wanted || scope.startsWith(`${wanted}/`))) return false
  }
  return true
}

export class FaultBook {
  #faults: Array<{ spec: FaultSpec, remaining: number | undefined }> = []

  add (spec: FaultSpec): FaultSpec {
    const parsed = parseFaultSpec(spec)
    // A challenge stays the same policy until met, so its default policy id is chosen once.
    if (parsed.fault === 'claims_challenge') parsed.claims ??= defaultClaimsChallenge()
    this.#faults.push({ spec: parsed, remaining: parsed.count })
    return parsed
  }

  list (): FaultSpec[] {
    return this.#faults.map(({ spec, remaining }) => ({ ...spec, ...(remaining === undefined ? {} : { count: remaining }) }))
  }

  clear (): void {
    this.#faults = []
  }

  /** The first scripted fault of these kinds that matches; a counted fault is used up by firing. */
  take (target: FaultTarget, kinds: readonly FaultKind[]): FaultSpec | undefined {
    const index = this.#faults.findIndex(({ spec }) => kinds.includes(spec.fault) && matches(spec, target) && !metByStepUp(spec, target))
    const entry = this.#faults[index]
    if (entry === undefined) return undefined
    if (entry.remaining !== undefined) {
      entry.remaining -= 1
      if (entry.remaining <= 0) this.#faults.splice(index, 1)
    }
    return entry.spec
  }
}

/** A claims challenge no longer fires for tokens whose sign-in did what it asks (acrs, capolids). */
function metByStepUp (spec: FaultSpec, target: FaultTarget): boolean {
  if (spec.fault !== 'claims_challenge' || spec.claims === undefined || target.stepUp === undefined) return false
  const request = parseClaimsParameter(spec.claims)
  return request !== undefined && (request.acrs.length > 0 || request.capolids.length > 0) && satisfies(target.stepUp, request)
}

function defaultClaimsChallenge (): string {
  return JSON.stringify({ access_token: { capolids: { essential: true, values: [randomUUID()] } } })
}

/** Turns a fired fault into the error Entra would send; latency waits and returns undefined. */
export async function faultOutcome (spec: FaultSpec, about: { clientId: string, clientName: string, resourceId: string }): Promise<EntraError | undefined> {
  switch (spec.fault) {
    case 'latency':
      await sleep(spec.latencyMs ?? DEFAULT_LATENCY_MS)
      return undefined
    case 'throttle':
      return spec.format === 'text'
        ? aadsts.throttledText(spec.retryAfterSec ?? DEFAULT_TEXT_RETRY_AFTER_SEC)
        : aadsts.throttled(spec.retryAfterSec ?? DEFAULT_RETRY_AFTER_SEC)
    case 'loop_detected':
      return aadsts.loopDetected()
    case 'ca_blocked':
      return aadsts.caBlocked()
    case 'unavailable':
      return aadsts.unavailable(spec.retryAfterSec ?? DEFAULT_RETRY_AFTER_SEC)
    case 'claims_challenge':
      return aadsts.mfaRequired(about.resourceId, spec.claims ?? defaultClaimsChallenge())
    case 'consent_required':
      return aadsts.consentRequired(about.clientId, about.clientName)
    // https://learn.microsoft.com/en-us/entra/identity-platform/reference-error-codes (AADSTS7000114, as for an app-only assertion)
    case 'app_only_assertion':
      return aadsts.appOnBehalfOf(about.clientId)
    case 'invalid_grant': {
      const now = new Date()
      return aadsts.grantRevoked(entraTimestamp(new Date(now.getTime() - 3_600_000)), entraTimestamp(now))
    }
  }
}
