// The process: configuration, listen, signals, graceful shutdown. Everything else lives in buildApp.
import { ConfigError, loadConfig, type Config } from './config/index.ts'
import type { Server } from 'node:http'
import { createLogger } from './observability/logger.ts'
import { startMetricsServer } from './observability/metrics.ts'
import { createRelay, type Relay } from './relay.ts'

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
let metricsServer: Server | undefined
try {
  relay = await createRelay({ config, logger })
  await relay.app.listen({ host: config.host, port: config.port })
  if (config.metricsPort >= 0) {
    const metrics = await startMetricsServer(relay.services.metrics, { host: config.host, port: config.metricsPort })
    metricsServer = metrics.server
    logger.info({ url: metrics.url }, 'metrics')
  }
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
    logger.info({ signal, drainMs: config.shutdownDrainMs }, 'shutting down: no new connections, draining requests')
    const deadline = setTimeout(() => {
      logger.warn({ drainMs: config.shutdownDrainMs }, 'shutdown deadline passed; exiting with requests still open')
      process.exit(0)
    }, config.shutdownDrainMs)
    deadline.unref()
    metricsServer?.close()
    relay.close().then(() => process.exit(0), (err: unknown) => {
      logger.error({ err }, 'shutdown failed')
      process.exit(1)
    })
  })
}
