// Vitest global setup: finds or provisions what the tests need on a fresh machine, says what it did, hands the paths to the tests.
import type { TestProject } from 'vitest/node'
import { provisionChromium } from './chromium.ts'
import { provisionRedisServer } from './redis.ts'

declare module 'vitest' {
  export interface ProvidedContext {
    chromiumPath: string
    redisServerPath: string
  }
}

export default async function provision (project: TestProject): Promise<void> {
  // One at a time: both may need apt-get, which holds one dpkg lock.
  const chromium = await provisionChromium({ chromiumPath: process.env.CHROMIUM_PATH })
  console.log(`test setup: ${chromium.how}`)
  const redisServer = await provisionRedisServer({ redisServerPath: process.env.REDIS_SERVER_PATH })
  console.log(`test setup: ${redisServer.how}`)
  project.provide('chromiumPath', chromium.path)
  project.provide('redisServerPath', redisServer.path)
}
