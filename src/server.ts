// The process: configuration, listen, graceful shutdown. Everything else lives in buildApp.
import { ConfigError, loadConfig, type Config } from './config.ts'
import { createLogger } from './logger.ts'
import { createRelay } from './relay.ts'

let config: Config
try {
  config = loadConfig()
} catch (err) {
  if (err instanceof ConfigError) {
    process.stderr.write(`obo-relay: ${err.message}\n`)
    process.exit(1)
  }
  throw err
}

const logger = createLogger(config.logLevel)
const loopbackHost = ['127.0.0.1', '::1', 'localhost'].includes(config.host)
if (config.publicUrl.protocol === 'http:' && !loopbackHost) {
  logger.warn({ publicUrl: config.publicUrl.origin, host: config.host }, 'PUBLIC_URL is http while listening beyond loopback: session cookies are not Secure; put TLS in front and set PUBLIC_URL to its https origin')
}
if (config.tokenEncryptionKeyGenerated) logger.warn('TOKEN_ENCRYPTION_KEY not set: using a random key, browser sessions end when this process does')
let relay: Awaited<ReturnType<typeof createRelay>>
try {
  relay = await createRelay({ config, logger })
  await relay.app.listen({ host: config.host, port: config.port })
} catch (err) {
  logger.fatal({ err: { message: err instanceof Error ? err.message : String(err) } }, 'obo-relay could not start')
  process.stderr.write(`obo-relay: cannot start: ${err instanceof Error ? err.message : String(err)}\n`)
  process.exit(1)
}

let stopping = false
for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.once(signal, () => {
    if (stopping) return
    stopping = true
    logger.info({ signal }, 'shutting down')
    relay.close().then(() => process.exit(0), (err: unknown) => {
      logger.error({ err }, 'shutdown failed')
      process.exit(1)
    })
  })
}
