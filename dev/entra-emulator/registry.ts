// The tenant's directory: app registrations, users, and the consent grants between them.
import { GRAPH_APP_ID, graphApp } from './defaults.ts'
import type { AppRegistration, TestUser } from './types.ts'

const GUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i

const LOOPBACK_HOSTS = new Set(['localhost', '127.0.0.1', '[::1]'])

function isLoopback (url: URL): boolean {
  return url.protocol === 'http:' && LOOPBACK_HOSTS.has(url.hostname)
}

function parseUrl (value: string): URL | undefined {
  try {
    return new URL(value)
  } catch {
    return undefined
  }
}

function copyApp (app: AppRegistration): AppRegistration {
  return structuredClone(app)
}

export class Registry {
  readonly tenantId: string
  readonly tenantDomain: string
  readonly #apps = new Map<string, AppRegistration>()
  readonly #users: TestUser[]
  /** `${oid}|${clientId}|${resourceClientId}` → delegated scope names the user consented to. */
  readonly #consents = new Map<string, Set<string>>()

  constructor (tenantId: string, tenantDomain: string, apps: AppRegistration[], users: TestUser[]) {
    this.tenantId = tenantId
    this.tenantDomain = tenantDomain
    this.#users = users.map(user => ({ ...user }))
    this.addApp(graphApp())
    for (const app of apps) this.addApp(app)
  }

  get users (): TestUser[] {
    return this.#users.map(user => ({ ...user }))
  }

  addApp (app: AppRegistration): void {
    if (!GUID.test(app.clientId)) throw new TypeError(`clientId must be a GUID: ${app.clientId}`)
    const owner = app.appIdUri === undefined ? undefined : this.findResource(app.appIdUri)
    if (owner !== undefined && owner.clientId.toLowerCase() !== app.clientId.toLowerCase()) {
      throw new TypeError(`App ID URI already used by another app: ${app.appIdUri}`)
    }
    this.#apps.set(app.clientId.toLowerCase(), copyApp(app))
  }

  getApp (clientId: string): AppRegistration | undefined {
    const app = this.#apps.get(clientId.toLowerCase())
    return app === undefined ? undefined : copyApp(app)
  }

  addRedirectUri (clientId: string, uri: string): void {
    const app = this.#apps.get(clientId.toLowerCase())
    if (app === undefined) throw new TypeError(`unknown app: ${clientId}`)
    app.redirectUris = [...(app.redirectUris ?? []), uri]
  }

  /** A resource named by its App ID URI or its client id (both are accepted in v2 scopes). */
  findResource (identifier: string): AppRegistration | undefined {
    const lower = identifier.toLowerCase()
    for (const app of this.#apps.values()) {
      if (app.appIdUri?.toLowerCase() === lower || app.clientId.toLowerCase() === lower) return app
    }
    return undefined
  }

  /** By username (case-insensitive, as UPNs are) or object id. */
  findUser (usernameOrOid: string): TestUser | undefined {
    const lower = usernameOrOid.toLowerCase()
    return this.#users.find(user => user.username.toLowerCase() === lower || user.oid.toLowerCase() === lower)
  }

  /** Exact match; a public client's loopback URI may differ in port only (RFC 8252 §7.3). */
  redirectUriAllowed (app: AppRegistration, requested: string): boolean {
    const requestedUrl = parseUrl(requested)
    return (app.redirectUris ?? []).some(registered => {
      if (registered === requested) return true
      const registeredUrl = parseUrl(registered)
      if (app.isPublicClient !== true || registeredUrl === undefined || requestedUrl === undefined) return false
      return isLoopback(registeredUrl) && isLoopback(requestedUrl) && requestedUrl.hash === '' &&
        registeredUrl.hostname === requestedUrl.hostname && registeredUrl.pathname === requestedUrl.pathname &&
        registeredUrl.search === requestedUrl.search
    })
  }

  recordConsent (oid: string, clientId: string, resourceClientId: string, scopeNames: Iterable<string>): void {
    const key = `${oid}|${clientId}|${resourceClientId}`.toLowerCase()
    const granted = this.#consents.get(key) ?? new Set<string>()
    for (const name of scopeNames) granted.add(name)
    this.#consents.set(key, granted)
  }

  /**
   * The delegated scopes of `resource` that `clientId` may use for this user without a consent prompt:
   * pre-authorized ones, the user's consents, all of an app's own scopes, and Graph's (admin-consented here).
   */
  consentedScopes (oid: string, clientId: string, resource: AppRegistration): Set<string> {
    const exposed = resource.exposedScopes ?? []
    if (resource.clientId.toLowerCase() === clientId.toLowerCase() || resource.clientId === GRAPH_APP_ID) return new Set(exposed)
    const granted = new Set<string>()
    for (const pre of resource.preAuthorizedClients ?? []) {
      if (pre.clientId.toLowerCase() === clientId.toLowerCase()) pre.scopes.forEach(scope => granted.add(scope))
    }
    const consented = this.#consents.get(`${oid}|${clientId}|${resource.clientId}`.toLowerCase())
    consented?.forEach(scope => granted.add(scope))
    return new Set([...granted].filter(scope => exposed.includes(scope)))
  }

  resetConsents (): void {
    this.#consents.clear()
  }
}
