// Finds or provisions redis-server for the Redis store tests: REDIS_SERVER_PATH, the machine's, then Debian's package.
import { aptInstall, canUseApt } from './apt.ts'
import { findOnPath, isExecutable, secondsSince } from './run.ts'
import type { Provisioned } from './chromium.ts'

const DEBIAN_REDIS_SERVER = '/usr/bin/redis-server'

export async function provisionRedisServer (options: { redisServerPath?: string | undefined } = {}): Promise<Provisioned> {
  if (options.redisServerPath !== undefined && options.redisServerPath !== '') {
    if (!isExecutable(options.redisServerPath)) throw new Error(`REDIS_SERVER_PATH=${options.redisServerPath} is not an executable file`)
    return { path: options.redisServerPath, how: `redis-server from REDIS_SERVER_PATH at ${options.redisServerPath}` }
  }
  const found = isExecutable(DEBIAN_REDIS_SERVER) ? DEBIAN_REDIS_SERVER : findOnPath('redis-server')
  if (found !== undefined) return { path: found, how: `redis-server found at ${found}` }

  let failure = 'apt-get: not root or apt-get not found'
  if (canUseApt()) {
    const started = performance.now()
    const apt = await aptInstall(['redis-server'])
    if (apt.installed && isExecutable(DEBIAN_REDIS_SERVER)) return { path: DEBIAN_REDIS_SERVER, how: `installed redis-server with apt-get (${secondsSince(started)})` }
    failure = apt.installed ? `apt-get installed redis-server but ${DEBIAN_REDIS_SERVER} is missing` : apt.reason
  }
  // No npm package ships a redis-server binary that installs without a download or a build.
  throw new Error('redis-server for the Redis store tests was not found and could not be installed. Install Debian\'s redis-server ' +
    `(as root: apt-get install redis-server) or set REDIS_SERVER_PATH to a redis-server binary.\n${failure}`)
}
