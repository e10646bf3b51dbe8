// The process: configuration, listen, signals, graceful shutdown. Everything else lives in buildApp.
import { ConfigError, loadConfig, type Config } from './config/index.ts'
import { createLogger } from './observability/logger.ts'
import { createRelay, type Relay } from './relay.ts'

/** After a signal, in-flight requests and streams get this long before the process exits anyway. */
const SHUTDOWN_DEADLINE_MS = 10_000

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
let relay: Relay
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
    logger.info({ signal }, 'shutting down: no new connections, draining requests')
    const deadline = setTimeout(() => {
      logger.warn({ deadlineMs: SHUTDOWN_DEADLINE_MS }, 'shutdown deadline passed; exiting with requests still open')
      process.exit(0)
    }, SHUTDOWN_DEADLINE_MS)
    deadline.unref()
    relay.close().then(() => process.exit(0), (err: unknown) => {
      logger.error({ err }, 'shutdown failed')
      process.exit(1)
    })
  })
}
