// The emulator's runtime state, shared by routes and grants. `url` is set once the server listens.
import type { Logger } from 'pino'
import type { FaultBook } from './faults.ts'
import type { SigningKeys } from './keys.ts'
import type { Registry } from './registry.ts'
import type { GrantStore } from './store.ts'
import type { GrantName } from './types.ts'

export interface EmulatorContext {
  url: string
  readonly tenantId: string
  readonly registry: Registry
  readonly keys: SigningKeys
  readonly store: GrantStore
  readonly faults: FaultBook
  readonly calls: Record<GrantName, number>
  readonly accessTokenLifetimeSec: number
  readonly refreshTokenLifetimeSec: number
  readonly log: Logger | undefined
}

export function issuerOf (context: EmulatorContext): string {
  return `${context.url}/${context.tenantId}/v2.0`
}

/** Tenant path segments that address this tenant: its id, its domain, and the multi-tenant aliases. */
export function resolveTenant (context: EmulatorContext, segment: string): 'tenant' | 'multi' | undefined {
  const lower = segment.toLowerCase()
  if (lower === context.tenantId.toLowerCase() || lower === context.registry.tenantDomain.toLowerCase()) return 'tenant'
  if (lower === 'organizations' || lower === 'common') return 'multi'
  return undefined
}
