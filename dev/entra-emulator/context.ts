// The emulator's runtime state, shared by routes and grants. `url` is set once the server listens.
import type { Logger } from 'pino'
import type { FaultBook } from './faults.ts'
import type { SigningKeys } from './keys.ts'
import type { Registry, Tenant } from './registry.ts'
import type { GrantStore } from './store.ts'
import type { GrantName } from './types.ts'

export interface EmulatorClock {
  /** Epoch milliseconds. */
  now(): number
  advance(seconds: number): void
}

export function createClock (base: () => number = Date.now): EmulatorClock {
  let offsetMs = 0
  return {
    now: () => base() + offsetMs,
    advance: (seconds: number) => { offsetMs += seconds * 1000 },
  }
}

export interface EmulatorContext {
  url: string
  /** The home tenant's id. */
  readonly tenantId: string
  readonly registry: Registry
  readonly keys: SigningKeys
  readonly store: GrantStore
  readonly faults: FaultBook
  readonly calls: Record<GrantName, number>
  /** Fixed access-token lifetime, or undefined for Entra's random 60–90 minutes. */
  readonly accessTokenLifetimeSec: number | undefined
  readonly refreshTokenLifetimeSec: number
  readonly spaRefreshTokenLifetimeSec: number
  readonly clock: EmulatorClock
  readonly log: Logger | undefined
}

export const nowSecOf = (context: EmulatorContext): number => Math.floor(context.clock.now() / 1000)

/** v2 issuer of a tenant (default the home tenant). */
export function issuerOf (context: EmulatorContext, tenantId: string = context.tenantId): string {
  return `${context.url}/${tenantId}/v2.0`
}

/**
 * v1 issuer of a tenant, as Entra puts it in v1 access tokens (always sts.windows.net, whatever the host).
 * @see https://learn.microsoft.com/en-us/entra/identity-platform/access-tokens#validate-the-issuer
 */
export function v1IssuerOf (tenantId: string): string {
  return `https://sts.windows.net/${tenantId}/`
}

export type TenantScope = { kind: 'tenant', tenant: Tenant } | { kind: 'multi', alias: string }

/** Tenant path segments: a tenant's id or domain, or the multi-tenant aliases. */
export function resolveTenantScope (context: EmulatorContext, segment: string): TenantScope | undefined {
  const tenant = context.registry.tenant(segment)
  if (tenant !== undefined) return { kind: 'tenant', tenant }
  const lower = segment.toLowerCase()
  if (lower === 'organizations' || lower === 'common') return { kind: 'multi', alias: lower }
  return undefined
}

/** Tenant path segments that address a tenant: its id, its domain, and the multi-tenant aliases. */
export function resolveTenant (context: EmulatorContext, segment: string): 'tenant' | 'multi' | undefined {
  return resolveTenantScope(context, segment)?.kind
}
