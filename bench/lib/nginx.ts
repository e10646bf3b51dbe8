// nginx as a plain reverse proxy for the benchmark: its own prefix, config and logs in a temp dir, in the
// foreground (`daemon off`), one worker, kept-alive upstream connections; never the system service.
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { freePort } from '../../dev/start-stack.ts'
import { startChild, type BenchChild } from './children.ts'

export interface NginxRoute {
  /** The upstream origin, e.g. http://127.0.0.1:9101. */
  upstream: string
  /** Replaces the client's Authorization (the same header swap the minimal proxy and the relay do). */
  authorization: string
}

export interface Nginx {
  /** One listening origin per route, in order. */
  origins: string[]
  /** The worker's pid (it does the proxying; its CPU time is read from /proc). */
  workerPid: number
  child: BenchChild
  stop: () => Promise<void>
}

export async function startNginx (nginxPath: string, routes: NginxRoute[]): Promise<Nginx> {
  const dir = await mkdtemp(join(tmpdir(), 'obo-relay-bench-nginx-'))
  const ports = await Promise.all(routes.map(async () => await freePort()))
  const servers = routes.map((route, i) => {
    const upstream = new URL(route.upstream)
    return `
  upstream up${i} { server ${upstream.hostname}:${upstream.port}; keepalive 64; }
  server {
    listen 127.0.0.1:${ports[i]};
    location / {
      proxy_pass http://up${i};
      proxy_http_version 1.1;
      proxy_set_header Connection "";
      proxy_set_header Authorization "${route.authorization}";
    }
  }`
  }).join('\n')
  const conf = `
worker_processes 1;
daemon off;
pid ${dir}/nginx.pid;
error_log ${dir}/error.log warn;
events { worker_connections 4096; }
http {
  access_log off;
  keepalive_requests 1000000;
  keepalive_timeout 65s;
  client_body_temp_path ${dir}/client_body;
  proxy_temp_path ${dir}/proxy;
  fastcgi_temp_path ${dir}/fastcgi;
  uwsgi_temp_path ${dir}/uwsgi;
  scgi_temp_path ${dir}/scgi;
${servers}
}
`
  const confFile = join(dir, 'nginx.conf')
  await writeFile(confFile, conf)
  const origins = ports.map((port) => `http://127.0.0.1:${port}`)
  const child = await startChild('nginx', nginxPath, {
    args: ['-p', dir, '-c', confFile, '-e', join(dir, 'error.log')],
    ipc: false,
    startTimeoutMs: 15_000,
    ready: async (handle) => {
      for (;;) {
        const up = await Promise.all(origins.map(async (origin) => await fetch(origin, { method: 'HEAD' }).then(() => true, () => false)))
        if (up.every(Boolean)) return
        if (handle.process.exitCode !== null) throw new Error(`nginx exited: ${await readFile(join(dir, 'error.log'), 'utf8').catch(() => '')}`)
        await new Promise((resolve) => setTimeout(resolve, 100))
      }
    },
  })
  const children = (await readFile(`/proc/${child.pid}/task/${child.pid}/children`, 'utf8')).trim().split(/\s+/).map(Number)
  const workerPid = children[0]
  if (workerPid === undefined || !Number.isInteger(workerPid)) throw new Error('nginx started no worker')
  return {
    origins,
    workerPid,
    child,
    stop: async () => {
      await child.stop()
      await rm(dir, { recursive: true, force: true })
    },
  }
}
