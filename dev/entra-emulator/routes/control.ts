// The dev stack's control API under /_emulator/: call counters, reset, scripted faults, app settings,
// the tenant's user-consent setting, key rotation and the clock.
import type { FastifyReply, FastifyRequest } from 'fastify'
import type { EmulatorApp } from './http.ts'
import { AppSettingsError, appSettingsOf, updateAppSettings } from '../app-settings.ts'
import type { EmulatorContext } from '../context.ts'
import { FaultSpecError, parseFaultSpec } from '../faults.ts'

export interface ControlActions {
  stats(): { calls: Record<string, number> }
  reset(): void
  rotateSigningKey(): void
}

const invalid = (reply: FastifyReply, status: number, description: string) =>
  reply.code(status).send({ error: status === 404 ? 'not_found' : 'invalid_request', error_description: description })

const isRecord = (value: unknown): value is Record<string, unknown> => typeof value === 'object' && value !== null && !Array.isArray(value)

export function registerControlRoutes (app: EmulatorApp, context: EmulatorContext, actions: ControlActions): void {
  app.get('/_emulator/stats', async () => actions.stats())

  app.post('/_emulator/reset', async () => {
    actions.reset()
    return { status: 'reset' }
  })

  app.get('/_emulator/faults', async () => ({ faults: context.faults.list() }))

  app.post('/_emulator/faults', async (request, reply) => {
    try {
      const fault = context.faults.add(parseFaultSpec(request.body))
      return await reply.code(201).send({ fault })
    } catch (err) {
      if (!(err instanceof FaultSpecError)) throw err
      return await invalid(reply, 400, `Invalid fault: ${err.message}`)
    }
  })

  app.delete('/_emulator/faults', async () => {
    context.faults.clear()
    return { faults: [] }
  })

  const appRoute = async (request: FastifyRequest<{ Params: { clientId: string } }>, reply: FastifyReply) => {
    try {
      const settings = request.method === 'PATCH'
        ? updateAppSettings(context.registry, request.params.clientId, request.body)
        : appSettingsOf(context.registry, request.params.clientId)
      return await reply.send(settings)
    } catch (err) {
      if (!(err instanceof AppSettingsError)) throw err
      return await invalid(reply, err.status, err.message)
    }
  }
  app.get('/_emulator/apps/:clientId', appRoute)
  app.patch('/_emulator/apps/:clientId', appRoute)

  /** `{ "userConsentAllowed": false }`: Entra's "Do not allow user consent" for that tenant. */
  app.put('/_emulator/tenants/:tenant/consent-policy', async (request: FastifyRequest<{ Params: { tenant: string } }>, reply) => {
    const tenant = context.registry.tenant(request.params.tenant)
    if (tenant === undefined) return await invalid(reply, 404, `unknown tenant: ${request.params.tenant}`)
    const body = request.body
    if (!isRecord(body) || Object.keys(body).some(key => key !== 'userConsentAllowed') || typeof body.userConsentAllowed !== 'boolean') {
      return await invalid(reply, 400, 'expected { "userConsentAllowed": true | false }')
    }
    tenant.userConsentAllowed = body.userConsentAllowed
    return { tenantId: tenant.id, userConsentAllowed: tenant.userConsentAllowed }
  })

  /** Publishes a new signing key; `kid` is the key that signs now, `pendingKid` the one published ahead. */
  app.post('/_emulator/rotate-keys', async () => {
    actions.rotateSigningKey()
    return { kid: context.keys.current.kid, pendingKid: context.keys.pendingKid }
  })

  app.post('/_emulator/activate-key', async () => ({ kid: context.keys.activate() }))

  /** `{ "advanceSec": n }` moves the emulator's clock forward (token lifetimes, expiries, key activation). */
  app.post('/_emulator/clock', async (request, reply) => {
    const body = request.body
    const advanceSec = isRecord(body) ? body.advanceSec : undefined
    if (!isRecord(body) || Object.keys(body).some(key => key !== 'advanceSec') || typeof advanceSec !== 'number' ||
      !Number.isFinite(advanceSec) || advanceSec < 0 || advanceSec > 10 * 365 * 86_400) {
      return await invalid(reply, 400, 'expected { "advanceSec": a non-negative number of seconds }')
    }
    context.clock.advance(advanceSec)
    return { now: new Date(context.clock.now()).toISOString() }
  })
}
