// Finds or provisions nginx for the benchmark's reverse-proxy baseline: NGINX_PATH, the machine's, then Debian's
// package (as for redis-server). It is only ever run with its own config file (bench/lib/nginx.ts), never as
// the system service.
import { aptInstall, canUseApt } from './apt.ts'
import { findOnPath, isExecutable, secondsSince } from './run.ts'
import type { Provisioned } from './chromium.ts'

const DEBIAN_NGINX = '/usr/sbin/nginx'

export async function provisionNginx (options: { nginxPath?: string | undefined } = {}): Promise<Provisioned> {
  if (options.nginxPath !== undefined && options.nginxPath !== '') {
    if (!isExecutable(options.nginxPath)) throw new Error(`NGINX_PATH=${options.nginxPath} is not an executable file`)
    return { path: options.nginxPath, how: `nginx from NGINX_PATH at ${options.nginxPath}` }
  }
  const found = isExecutable(DEBIAN_NGINX) ? DEBIAN_NGINX : findOnPath('nginx')
  if (found !== undefined) return { path: found, how: `nginx found at ${found}` }

  let failure = 'apt-get: not root or apt-get not found'
  if (canUseApt()) {
    const started = performance.now()
    // Debian's nginx (the proxy module is built in); its packaged service is never started by the benchmark.
    const apt = await aptInstall(['nginx'])
    if (apt.installed && isExecutable(DEBIAN_NGINX)) return { path: DEBIAN_NGINX, how: `installed nginx with apt-get (${secondsSince(started)})` }
    failure = apt.installed ? `apt-get installed nginx but ${DEBIAN_NGINX} is missing` : apt.reason
  }
  throw new Error('nginx for the benchmark was not found and could not be installed. Install Debian\'s nginx ' +
    `(as root: apt-get install nginx) or set NGINX_PATH to an nginx binary.\n${failure}`)
}
