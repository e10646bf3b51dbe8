// Runs a provisioning command without a shell and keeps the tail of its output for error messages.
import { spawn } from 'node:child_process'
import { accessSync, constants } from 'node:fs'
import { delimiter, join } from 'node:path'

export interface CommandResult { exitCode: number, output: string }

const OUTPUT_TAIL_CHARS = 4000

export async function runCommand (command: string, args: readonly string[], options: { env?: NodeJS.ProcessEnv, cwd?: string } = {}): Promise<CommandResult> {
  return await new Promise((resolve) => {
    const child = spawn(command, args, { env: options.env ?? process.env, cwd: options.cwd, stdio: ['ignore', 'pipe', 'pipe'] })
    let output = ''
    const keep = (chunk: Buffer) => { output = (output + chunk.toString('utf8')).slice(-OUTPUT_TAIL_CHARS) }
    child.stdout.on('data', keep)
    child.stderr.on('data', keep)
    child.on('error', (error) => resolve({ exitCode: -1, output: `${output}\n${error.message}` }))
    child.on('close', (code, signal) => resolve({ exitCode: code ?? -1, output: signal === null ? output : `${output}\nkilled by ${signal}` }))
  })
}

export function isExecutable (path: string): boolean {
  try {
    accessSync(path, constants.X_OK)
    return true
  } catch {
    return false
  }
}

/** The first executable called `name` on PATH, like `command -v`. */
export function findOnPath (name: string): string | undefined {
  for (const dir of (process.env.PATH ?? '').split(delimiter)) {
    if (dir !== '' && isExecutable(join(dir, name))) return join(dir, name)
  }
  return undefined
}

export function secondsSince (startMs: number): string {
  return `${Math.round((performance.now() - startMs) / 1000)} s`
}
