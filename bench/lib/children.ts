// Every server of the benchmark runs in its own process. This module starts them, talks to the Node ones over
// the IPC channel (request → answer by id), and stops every one of them when the benchmark ends, fails or is
// interrupted (Ctrl-C, SIGTERM), so nothing outlives a run.
import { spawn, type ChildProcess } from 'node:child_process'
import { createWriteStream, mkdirSync } from 'node:fs'
import { dirname } from 'node:path'

export interface ChildOptions {
  args?: readonly string[]
  env?: Record<string, string | undefined>
  /** Node only: flags before the script (`--expose-gc`, `--import …`). */
  nodeArgs?: readonly string[]
  /** Node scripts answer over IPC and, without `ready`, say `{ type: 'ready' }` when they serve. */
  ipc?: boolean
  /** Bound on the start (ready message, or `ready` below). */
  startTimeoutMs?: number
  /** Resolves once the process serves (e.g. its health check answers), instead of a ready message. */
  ready?: (child: BenchChild) => Promise<void>
  /** Its stdout also written whole to this file (e.g. a relay under --trace-gc-nvp). */
  stdoutFile?: string
}

export interface BenchChild {
  name: string
  pid: number
  process: ChildProcess
  /** The ready message's payload (IPC children). */
  info: Record<string, unknown>
  /** The last output it wrote (stdout and stderr), for error messages. */
  output: () => string
  /** One request over IPC; rejects when the child answers an error, exits or does not answer in time. */
  request: <T = unknown>(type: string, payload?: unknown, timeoutMs?: number) => Promise<T>
  /** SIGTERM, then SIGKILL after a grace period; resolves when it exited. */
  stop: (graceMs?: number) => Promise<void>
}

const OUTPUT_TAIL = 8000
const running = new Set<BenchChild>()

/** Starts `command` (`process.execPath` for a Node script) and waits until it serves. */
export async function startChild (name: string, command: string, options: ChildOptions = {}): Promise<BenchChild> {
  const isNode = command === process.execPath
  const ipc = options.ipc ?? isNode
  const child = spawn(command, [...(isNode ? options.nodeArgs ?? [] : []), ...(options.args ?? [])], {
    env: { PATH: process.env.PATH, ...options.env },
    stdio: ipc ? ['ignore', 'pipe', 'pipe', 'ipc'] : ['ignore', 'pipe', 'pipe'],
  })
  let output = ''
  const keep = (chunk: Buffer): void => { output = (output + chunk.toString('utf8')).slice(-OUTPUT_TAIL) }
  child.stdout?.on('data', keep)
  if (options.stdoutFile !== undefined) {
    mkdirSync(dirname(options.stdoutFile), { recursive: true })
    const file = createWriteStream(options.stdoutFile)
    child.stdout?.pipe(file)
  }
  child.stderr?.on('data', keep)
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()))
  let nextId = 1
  const pending = new Map<number, { resolve: (value: unknown) => void, reject: (err: Error) => void, timer: NodeJS.Timeout }>()
  child.on('message', (message: { id?: number, ok?: boolean, result?: unknown, error?: string }) => {
    const waiter = message.id === undefined ? undefined : pending.get(message.id)
    if (waiter === undefined) return
    pending.delete(message.id as number)
    clearTimeout(waiter.timer)
    if (message.ok === true) waiter.resolve(message.result)
    else waiter.reject(new Error(`${name}: ${message.error ?? 'failed'}`))
  })
  child.once('exit', (code, signal) => {
    for (const waiter of pending.values()) {
      clearTimeout(waiter.timer)
      waiter.reject(new Error(`${name} exited (${code ?? signal}) before answering:\n${output}`))
    }
    pending.clear()
  })

  const handle: BenchChild = {
    name,
    pid: child.pid ?? -1,
    process: child,
    info: {},
    output: () => output,
    request: async <T>(type: string, payload?: unknown, timeoutMs = 120_000): Promise<T> => {
      if (!ipc || child.exitCode !== null || child.signalCode !== null) throw new Error(`${name} is not running`)
      const id = nextId++
      return await new Promise<T>((resolve, reject) => {
        const timer = setTimeout(() => {
          pending.delete(id)
          reject(new Error(`${name} did not answer "${type}" within ${timeoutMs} ms`))
        }, timeoutMs)
        pending.set(id, { resolve: resolve as (value: unknown) => void, reject, timer })
        child.send({ id, type, payload })
      })
    },
    stop: async (graceMs = 5_000) => {
      if (child.exitCode === null && child.signalCode === null) {
        child.kill('SIGTERM')
        const timer = setTimeout(() => child.kill('SIGKILL'), graceMs)
        await exited
        clearTimeout(timer)
      }
      running.delete(handle)
    },
  }
  running.add(handle)

  const startTimeoutMs = options.startTimeoutMs ?? 60_000
  try {
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`${name} did not start within ${startTimeoutMs} ms:\n${output}`)), startTimeoutMs)
      const fail = (err: Error): void => { clearTimeout(timer); reject(err) }
      child.once('error', fail)
      child.once('exit', (code, signal) => fail(new Error(`${name} exited (${code ?? signal}) while starting:\n${output}`)))
      if (options.ready === undefined && ipc) {
        child.on('message', function onReady (message: { type?: string, info?: Record<string, unknown> }) {
          if (message.type !== 'ready') return
          child.off('message', onReady)
          handle.info = message.info ?? {}
          clearTimeout(timer)
          resolve()
        })
      } else {
        (options.ready?.(handle) ?? Promise.resolve()).then(() => { clearTimeout(timer); resolve() }, fail)
      }
    })
  } catch (err) {
    await handle.stop(1_000)
    throw err
  }
  child.removeAllListeners('error')
  child.on('error', () => {})
  return handle
}

/** Stops every child still running (in parallel). */
export async function stopAllChildren (): Promise<void> {
  await Promise.all([...running].map(async (child) => await child.stop()))
}

/**
 * Ctrl-C, SIGTERM, an uncaught error or a plain exit: every child goes with the benchmark. `cleanup` runs first
 * (graceful), the synchronous kill on `exit` is the backstop.
 */
export function stopChildrenOnExit (cleanup: () => Promise<void>): void {
  let stopping = false
  const onSignal = (signal: NodeJS.Signals): void => {
    if (stopping) return
    stopping = true
    process.stderr.write(`\nbench: ${signal}, stopping every process\n`)
    const force = setTimeout(() => process.exit(130), 15_000)
    force.unref()
    cleanup().finally(() => process.exit(130))
  }
  process.once('SIGINT', onSignal)
  process.once('SIGTERM', onSignal)
  process.once('exit', () => {
    // SIGTERM, not SIGKILL: nginx's master must live long enough to stop its worker.
    for (const child of running) if (child.process.exitCode === null && child.process.signalCode === null) child.process.kill('SIGTERM')
  })
}

/** CPU time (user + system) of a process and its threads, in µs, from /proc (Linux): for processes without IPC. */
export async function procCpuMicros (pid: number): Promise<number> {
  const { readFile } = await import('node:fs/promises')
  const stat = await readFile(`/proc/${pid}/stat`, 'utf8')
  // Fields after the command name (which may hold spaces) start after the last ')'.
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ')
  const ticks = Number(fields[11]) + Number(fields[12])
  return ticks * (1e6 / CLOCK_TICKS_PER_SEC)
}

/** USER_HZ: 100 on Linux builds for every architecture Node supports. */
const CLOCK_TICKS_PER_SEC = 100
