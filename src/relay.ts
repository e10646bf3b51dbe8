// The relay as one value: its services and the app built on them (the process, dev stack and tests use it).
import type { FastifyInstance } from 'fastify'
import { buildApp } from './app.ts'
import { createServices, type ServiceDeps, type Services } from './services.ts'

export type RelayOptions = ServiceDeps

export interface Relay {
  app: FastifyInstance
  services: Services
  /** Closes the app, then every service it owns. */
  close: () => Promise<void>
}

export async function createRelay (options: RelayOptions): Promise<Relay> {
  const services = await createServices(options)
  try {
    const app = await buildApp({ services })
    await app.ready()
    return { app, services, close: async () => { await app.close() } }
  } catch (err) {
    await services.close()
    throw err
  }
}
