// A relay as its own process (`node src/server.ts`), configured for a test stack's emulator and sample servers:
// replicas, restarts and a small heap are real here, not simulated in one process.
import { spawn, type ChildProcess } from 'node:child_process'
import { DEV_RELAY_CLIENT_ID, DEV_RELAY_CLIENT_SECRET, DEV_RELAY_SCOPE } from '../../dev/entra-emulator/index.ts'
import { freePort } from '../../dev/start-stack.ts'
import type { TestStack } from './stack.ts'

export interface RelayProcess {
  url: string
  port: number
  /** Everything it wrote (JSON log lines at LOG_LEVEL, and any crash). */
  output: () => string
  /** SIGTERM and wait for the exit (graceful); `kill` is SIGKILL. */
  stop: () => Promise<void>
  kill: () => Promise<void>
  /** Starts it again on the same port with the same settings. */
  restart: () => Promise<void>
  /** The running process's id (for /proc readings), undefined once it exited. */
  pid: () => number | undefined
  /** Whether it exited or was killed (a crash, when nobody stopped it). */
  exited: () => boolean
}

/** The settings a relay process needs to use this stack's emulator and sample servers. */
export function relayEnv (stack: TestStack, extra: Record<string, string> = {}): Record<string, string> {
  return {
    TENANT_ID: stack.emulator.tenantId,
    CLIENT_ID: DEV_RELAY_CLIENT_ID,
    CLIENT_SECRET: DEV_RELAY_CLIENT_SECRET,
    SCOPE: DEV_RELAY_SCOPE,
    HOST: '127.0.0.1',
    AUTHORITY_HOST: stack.emulator.url,
    TRUSTED_CA_FILE: stack.emulator.caFile,
    MCP_SERVERS: JSON.stringify([{ id: 'notes', url: stack.notes.url }, { id: 'calendar', url: stack.calendar.url }]),
    ALLOW_INSECURE_LOOPBACK: 'true',
    METRICS_PORT: '-1',
    RATE_LIMIT_USER_PER_MIN: '0',
    RATE_LIMIT_CLIENT_PER_MIN: '0',
    LOG_LEVEL: 'warn',
    ...extra,
  }
}

/** `cwd`: another checkout whose `src/server.ts` runs (before/after measurements). */
export async function startRelayProcess (env: Record<string, string>, options: { port?: number, nodeArgs?: string[], cwd?: string } = {}): Promise<RelayProcess> {
  const port = options.port ?? await freePort()
  const url = `http://localhost:${port}`
  let child: ChildProcess | undefined
  let output = ''
  const launch = async (): Promise<void> => {
    child = spawn(process.execPath, [...(options.nodeArgs ?? []), 'src/server.ts'], {
      ...(options.cwd === undefined ? {} : { cwd: options.cwd }),
      env: { PATH: process.env.PATH, PUBLIC_URL: url, ...env, PORT: String(port) },
      stdio: ['ignore', 'pipe', 'pipe'],
    })
    child.stdout?.on('data', (chunk: Buffer) => { output += String(chunk) })
    child.stderr?.on('data', (chunk: Buffer) => { output += String(chunk) })
    const deadline = Date.now() + 20_000
    for (;;) {
      if (await fetch(`${url}/healthz`).then((r) => r.ok, () => false)) return
      if (child.exitCode !== null || Date.now() > deadline) throw new Error(`relay process did not start: ${output.slice(-2000)}`)
      await new Promise((resolve) => setTimeout(resolve, 100))
    }
  }
  const hasExited = (): boolean => child === undefined || child.exitCode !== null || child.signalCode !== null
  const exit = async (signal: NodeJS.Signals): Promise<void> => {
    const running = child
    if (running === undefined || hasExited()) return
    const exited = new Promise<void>((resolve) => running.once('exit', () => resolve()))
    running.kill(signal)
    await exited
  }
  await launch()
  return {
    url,
    port,
    output: () => output,
    stop: async () => { await exit('SIGTERM') },
    kill: async () => { await exit('SIGKILL') },
    restart: async () => {
      await exit('SIGTERM')
      await launch()
    },
    pid: () => hasExited() ? undefined : child?.pid,
    exited: hasExited,
  }
}
