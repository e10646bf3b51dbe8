// Commands for the compose test: every one time-bound, its output kept for the failure message, and
// every phase printed with its duration (the test takes minutes; a silent one looks hung).
import { spawn } from 'node:child_process'
import { appendFileSync } from 'node:fs'

export interface RunOptions {
  timeoutMs: number
  env?: NodeJS.ProcessEnv
  cwd?: string
  /** Also append the output here (long build logs stay out of the terminal unless something fails). */
  logFile?: string
  /** Resolve with the exit code instead of throwing on a non-zero one. */
  allowFailure?: boolean
  /** Called with each line of output (both streams) as it arrives: progress of long scripts. */
  onLine?: (line: string) => void
}

export interface RunResult { code: number, stdout: string, stderr: string }

export class CommandError extends Error {
  readonly result: RunResult
  constructor (message: string, result: RunResult) {
    super(message)
    this.name = 'CommandError'
    this.result = result
  }
}

const activeGroups = new Set<number>()

/** Ends every command still running (their whole process groups), e.g. when the test is interrupted. */
export function killActiveCommands (): void {
  for (const pid of activeGroups) {
    try { process.kill(-pid, 'SIGKILL') } catch {}
  }
  activeGroups.clear()
}

const tail = (text: string, lines = 40): string => text.trimEnd().split('\n').slice(-lines).join('\n')

export async function run (command: string, args: readonly string[], options: RunOptions): Promise<RunResult> {
  const shown = [command, ...args].join(' ')
  return await new Promise((resolve, reject) => {
    // Its own process group, so a timeout also ends what the command started (apt's dpkg, compose's builds).
    const child = spawn(command, args, { cwd: options.cwd, env: options.env ?? process.env, stdio: ['ignore', 'pipe', 'pipe'], detached: true })
    if (child.pid !== undefined) activeGroups.add(child.pid)
    let stdout = ''
    let stderr = ''
    let partialLine = ''
    const keep = (chunk: Buffer, into: 'stdout' | 'stderr'): void => {
      const text = chunk.toString()
      if (into === 'stdout') stdout += text
      else stderr += text
      if (options.onLine !== undefined) {
        const lines = (partialLine + text).split('\n')
        partialLine = lines.pop() ?? ''
        for (const line of lines) options.onLine(line)
      }
      if (options.logFile !== undefined) appendFileSync(options.logFile, text)
    }
    child.stdout.on('data', (chunk: Buffer) => keep(chunk, 'stdout'))
    child.stderr.on('data', (chunk: Buffer) => keep(chunk, 'stderr'))
    let timedOut = false
    const killGroup = (signal: NodeJS.Signals): void => {
      try { process.kill(-(child.pid ?? 0), signal) } catch {}
    }
    const timer = setTimeout(() => {
      timedOut = true
      killGroup('SIGTERM')
      setTimeout(() => killGroup('SIGKILL'), 5_000).unref()
    }, options.timeoutMs)
    child.once('error', (err) => {
      clearTimeout(timer)
      reject(new CommandError(`${shown}: ${err.message}`, { code: -1, stdout, stderr }))
    })
    child.once('close', (code) => {
      clearTimeout(timer)
      if (child.pid !== undefined) activeGroups.delete(child.pid)
      const result = { code: code ?? -1, stdout, stderr }
      if (timedOut) {
        reject(new CommandError(`${shown}: no result within ${Math.round(options.timeoutMs / 1000)} s\n${tail(stdout + stderr)}`, result))
      } else if (result.code !== 0 && options.allowFailure !== true) {
        reject(new CommandError(`${shown}: exit code ${result.code}\n${tail(stdout + stderr)}`, result))
      } else {
        resolve(result)
      }
    })
  })
}

const started = Date.now()
const seconds = (ms: number): string => `${(ms / 1000).toFixed(1)} s`

/** Prints a line with the time since the test began. */
export function progress (message: string): void {
  process.stdout.write(`[compose ${seconds(Date.now() - started).padStart(7)}] ${message}\n`)
}

export const durations: Array<{ phase: string, ms: number, ok: boolean }> = []

/** Runs one phase of the test, printing its start, its end and how long it took. */
export async function phase<T> (name: string, body: () => Promise<T>): Promise<T> {
  progress(`${name} …`)
  const t0 = Date.now()
  try {
    const value = await body()
    durations.push({ phase: name, ms: Date.now() - t0, ok: true })
    progress(`${name}: done in ${seconds(Date.now() - t0)}`)
    return value
  } catch (err) {
    durations.push({ phase: name, ms: Date.now() - t0, ok: false })
    progress(`${name}: FAILED after ${seconds(Date.now() - t0)}`)
    throw err
  }
}

export function summary (): string {
  return durations.map((d) => `  ${d.ok ? 'ok  ' : 'FAIL'} ${seconds(d.ms).padStart(8)}  ${d.phase}`).join('\n')
}

/** Retries `attempt` until it returns a value other than undefined, or throws after `timeoutMs` with the last reason. */
export async function waitFor<T> (what: string, timeoutMs: number, intervalMs: number, attempt: () => Promise<T | undefined>): Promise<T> {
  const deadline = Date.now() + timeoutMs
  let lastReason = 'not tried'
  for (;;) {
    try {
      const value = await attempt()
      if (value !== undefined) return value
      lastReason = 'not yet'
    } catch (err) {
      lastReason = err instanceof Error ? err.message : String(err)
    }
    if (Date.now() + intervalMs > deadline) throw new Error(`${what}: not within ${Math.round(timeoutMs / 1000)} s (last: ${lastReason})`)
    await new Promise((resolve) => setTimeout(resolve, intervalMs))
  }
}
