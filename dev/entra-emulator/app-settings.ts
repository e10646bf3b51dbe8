// Run-time changes to an app registration (the control API's PATCH /_emulator/apps/<clientId>).
import type { Registry } from './registry.ts'
import type { AppSettings } from './types.ts'

export class AppSettingsError extends Error {
  readonly status: 400 | 404

  constructor (status: 400 | 404, message: string) {
    super(message)
    this.status = status
  }
}

const VERSIONS: ReadonlyArray<unknown> = [1, 2, null]

export function appSettingsOf (registry: Registry, clientId: string): AppSettings {
  const app = registry.getApp(clientId)
  if (app === undefined) throw new AppSettingsError(404, `unknown app: ${clientId}`)
  return { clientId: app.clientId, accessTokenAcceptedVersion: app.accessTokenAcceptedVersion ?? null }
}

/** Validates untrusted input (unknown members or values → 400) and applies it. */
export function updateAppSettings (registry: Registry, clientId: string, input: unknown): AppSettings {
  const app = registry.editApp(clientId)
  if (app === undefined) throw new AppSettingsError(404, `unknown app: ${clientId}`)
  if (typeof input !== 'object' || input === null || Array.isArray(input)) throw new AppSettingsError(400, 'settings must be a JSON object')
  const record = input as Record<string, unknown>
  const unknown = Object.keys(record).filter(key => key !== 'accessTokenAcceptedVersion')
  if (unknown.length > 0) throw new AppSettingsError(400, `unknown member(s): ${unknown.join(', ')}`)
  if ('accessTokenAcceptedVersion' in record) {
    const version = record.accessTokenAcceptedVersion
    if (!VERSIONS.includes(version)) throw new AppSettingsError(400, 'accessTokenAcceptedVersion must be 1, 2 or null')
    app.accessTokenAcceptedVersion = version as 1 | 2 | null
  }
  return appSettingsOf(registry, clientId)
}
