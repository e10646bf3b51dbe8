// Installs Debian packages for the test run: root only, non-interactive, waiting for a dpkg lock others may hold.
import { findOnPath, runCommand, type CommandResult } from './run.ts'

// Other processes on a shared machine may be installing at the same moment: wait for their lock, bounded.
const LOCK_WAIT = ['-o', 'DPkg::Lock::Timeout=600']
// Said by apt-get when its package lists are missing or stale, which `apt-get update` fixes.
const NEEDS_UPDATE = /Unable to locate package|has no installation candidate|is not available|Failed to fetch|apt-get update/i

export function canUseApt (): boolean {
  return process.getuid?.() === 0 && findOnPath('apt-get') !== undefined
}

export type AptOutcome = { installed: true } | { installed: false, reason: string }

export async function aptInstall (packages: readonly string[]): Promise<AptOutcome> {
  const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' }
  const install = async () => await runCommand('apt-get', ['install', '-y', '-q', '--no-install-recommends', ...LOCK_WAIT, ...packages], { env })
  let result: CommandResult = await install()
  if (result.exitCode !== 0 && NEEDS_UPDATE.test(result.output)) {
    const update = await runCommand('apt-get', ['update', '-q', ...LOCK_WAIT], { env })
    if (update.exitCode !== 0) return { installed: false, reason: `apt-get update failed (exit ${update.exitCode}):\n${update.output}` }
    result = await install()
  }
  if (result.exitCode !== 0) return { installed: false, reason: `apt-get install ${packages.join(' ')} failed (exit ${result.exitCode}):\n${result.output}` }
  return { installed: true }
}
