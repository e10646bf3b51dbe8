// The agent's credentials on disk: one JSON file per relay in the user's config directory, mode 0600 (refused
// when group or others can read it), written atomically, with a lock file so one refresh runs at a time across
// processes (two concurrent refreshes of one refresh token would look like reuse and revoke the grant).
import { constants } from 'node:fs'
import { mkdir, open, readFile, rename, stat, unlink, chmod } from 'node:fs/promises'
import { homedir } from 'node:os'
import { join } from 'node:path'
import type { webcrypto } from 'node:crypto'
import { AgentError } from './errors.ts'

export interface StoredTokens {
  access_token: string
  token_type: string
  /** Epoch seconds. */
  expires_at: number
  refresh_token?: string | undefined
  scope?: string | undefined
}

export interface StoredCredentials {
  relay: string
  issuer: string
  /** The resource the tokens are for (the relay's `/v1`). */
  resource: string
  clientId: string
  /** Private JWK (Ed25519) for `private_key_jwt` client authentication. */
  clientKey: webcrypto.JsonWebKey & { kid?: string }
  /** Private JWK (Ed25519) the tokens are DPoP-bound to. */
  dpopKey: webcrypto.JsonWebKey
  tokens?: StoredTokens | undefined
}

export interface CredentialStore {
  readonly path: string
  load: () => Promise<StoredCredentials | undefined>
  save: (credentials: StoredCredentials) => Promise<void>
  remove: () => Promise<void>
  /** Runs `work` holding the lock of this relay's credentials (other processes wait). */
  withLock: <T>(work: () => Promise<T>) => Promise<T>
}

/** `$XDG_CONFIG_HOME/obo-relay-agent` (or `~/.config/obo-relay-agent`). */
export function defaultConfigDir (env: NodeJS.ProcessEnv = process.env): string {
  return join(env.XDG_CONFIG_HOME ?? join(homedir(), '.config'), 'obo-relay-agent')
}

const LOCK_STALE_MS = 60_000
const LOCK_WAIT_MS = 30_000

export function fileCredentialStore (configDir: string, relayUrl: string): CredentialStore {
  const name = new URL(relayUrl).host.replace(/[^\w.-]/g, '_')
  const path = join(configDir, `${name}.json`)
  const lockPath = `${path}.lock`

  const load = async (): Promise<StoredCredentials | undefined> => {
    let mode: number
    try {
      mode = (await stat(path)).mode
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined
      throw err
    }
    if ((mode & 0o077) !== 0) {
      throw new AgentError('insecure_credentials', `${path} is readable by other users (mode ${(mode & 0o777).toString(8)}); run chmod 600 on it, or log in again.`)
    }
    try {
      return JSON.parse(await readFile(path, 'utf8')) as StoredCredentials
    } catch {
      throw new AgentError('credentials_corrupt', `${path} is not valid; delete it and log in again.`)
    }
  }

  const save = async (credentials: StoredCredentials): Promise<void> => {
    await mkdir(configDir, { recursive: true, mode: 0o700 })
    const temporary = `${path}.${process.pid}.${Date.now()}.tmp`
    // Created 0600 from the start (never briefly world-readable), then moved over the old file.
    const handle = await open(temporary, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL, 0o600)
    try {
      await handle.writeFile(JSON.stringify(credentials, null, 2))
      await handle.sync()
    } finally {
      await handle.close()
    }
    await chmod(temporary, 0o600)
    await rename(temporary, path)
  }

  const remove = async (): Promise<void> => {
    await unlink(path).catch((err: NodeJS.ErrnoException) => { if (err.code !== 'ENOENT') throw err })
  }

  const acquire = async (): Promise<void> => {
    await mkdir(configDir, { recursive: true, mode: 0o700 })
    const deadline = Date.now() + LOCK_WAIT_MS
    for (;;) {
      try {
        const handle = await open(lockPath, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL, 0o600)
        await handle.writeFile(String(process.pid))
        await handle.close()
        return
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err
      }
      // A lock left by a process that died: older than any refresh takes.
      const held = await stat(lockPath).catch(() => undefined)
      if (held !== undefined && Date.now() - held.mtimeMs > LOCK_STALE_MS) {
        await unlink(lockPath).catch(() => {})
        continue
      }
      if (Date.now() > deadline) throw new AgentError('locked', `Another obo-relay-agent holds ${lockPath}; try again, or delete it if no agent runs.`)
      await new Promise((resolve) => setTimeout(resolve, 50 + Math.random() * 100))
    }
  }

  return {
    path,
    load,
    save,
    remove,
    withLock: async (work) => {
      await acquire()
      try {
        return await work()
      } finally {
        await unlink(lockPath).catch(() => {})
      }
    },
  }
}
