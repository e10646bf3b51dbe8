// The dev stack's control API under /_emulator/: call counters, reset, scripted faults, key rotation.
import type { EmulatorApp } from './http.ts'
import type { EmulatorContext } from '../context.ts'
import { FaultSpecError, parseFaultSpec } from '../faults.ts'

export interface ControlActions {
  stats(): { calls: Record<string, number> }
  reset(): void
  rotateSigningKey(): void
}

export function registerControlRoutes (app: EmulatorApp, context: EmulatorContext, actions: ControlActions): void {
  app.get('/_emulator/stats', async () => actions.stats())

  app.post('/_emulator/reset', async () => {
    actions.reset()
    return { status: 'reset' }
  })

  app.get('/_emulator/faults', async () => ({ faults: context.faults.list() }))

  app.post('/_emulator/faults', async (request, reply) => {
    try {
      const fault = parseFaultSpec(request.body)
      context.faults.add(fault)
      return await reply.code(201).send({ fault })
    } catch (err) {
      if (!(err instanceof FaultSpecError)) throw err
      return await reply.code(400).send({ error: 'invalid_request', error_description: `Invalid fault: ${err.message}` })
    }
  })

  app.delete('/_emulator/faults', async () => {
    context.faults.clear()
    return { faults: [] }
  })

  app.post('/_emulator/rotate-keys', async () => {
    actions.rotateSigningKey()
    return { kid: context.keys.current.kid }
  })
}
