// Wires the relay's services from config: the one place that constructs clients, stores and the app.
import type { FastifyInstance } from 'fastify'
import type { Logger } from 'pino'
import type { Config } from './config.ts'
import { buildApp } from './app.ts'
import { createDispatcher, createFetch, type FetchLike } from './net/http-client.ts'

export interface Relay {
  app: FastifyInstance
  fetch: FetchLike
  close: () => Promise<void>
}

export async function createRelay (options: { config: Config, logger: Logger }): Promise<Relay> {
  const { config, logger } = options
  const dispatcher = createDispatcher({ trustedCaPem: config.trustedCaPem })
  const fetch = createFetch(dispatcher)
  const app = await buildApp({ config, logger })
  return {
    app,
    fetch,
    close: async () => {
      await app.close()
      await dispatcher.close()
    },
  }
}
