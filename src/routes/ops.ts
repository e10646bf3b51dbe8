// Health and readiness (DESIGN §2): liveness never touches a dependency; readiness re-checks on a short TTL.
import type { FastifyInstance } from 'fastify'

export interface ReadinessCheck {
  name: string
  /** Resolves when usable; rejects with a message safe to show (no secrets). */
  check: () => Promise<void>
}

export interface OpsRoutesOptions {
  readinessChecks: readonly ReadinessCheck[]
  /** How long one readiness answer is reused, so a probe storm cannot hammer Entra or the store. */
  readinessTtlMs?: number
  now?: () => number
}

interface Readiness { ok: boolean, checks: Record<string, string> }

export async function opsRoutes (app: FastifyInstance, o: OpsRoutesOptions): Promise<void> {
  const ttlMs = o.readinessTtlMs ?? 2_000
  const now = o.now ?? Date.now
  let last: { at: number, result: Promise<Readiness> } | undefined

  const evaluate = async (): Promise<Readiness> => {
    const checks: Record<string, string> = {}
    let ok = true
    await Promise.all(o.readinessChecks.map(async ({ name, check }) => {
      try {
        await check()
        checks[name] = 'ok'
      } catch (err) {
        ok = false
        checks[name] = err instanceof Error ? err.message : 'not ready'
      }
    }))
    return { ok, checks }
  }

  const config = { auth: 'public' } as const
  app.get('/healthz', { config, schema: { hide: true } }, async () => ({ status: 'ok' }))
  app.get('/readyz', { config, schema: { hide: true } }, async (_request, reply) => {
    if (last === undefined || now() - last.at >= ttlMs) last = { at: now(), result: evaluate() }
    const { ok, checks } = await last.result
    if (!ok) return reply.code(503).send({ status: 'unavailable', checks })
    return { status: 'ready', checks }
  })
}
