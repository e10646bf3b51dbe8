// The directory: app registrations (owned by the home tenant), tenants with their users, which apps each
// tenant has a service principal for, and the consent grants (per user and tenant-wide).
import { GRAPH_APP_ID, graphApp } from './defaults.ts'
import type { AppRegistration, ExposedScope, RedirectUri, TenantDefinition, TestUser } from './types.ts'

const GUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i

const LOOPBACK_HOSTS = new Set(['localhost', '127.0.0.1', '[::1]'])

/** Directory roles that may grant tenant-wide consent. @see https://learn.microsoft.com/en-us/entra/identity/enterprise-apps/grant-admin-consent */
const CONSENT_ADMIN_ROLES = new Set(['global administrator', 'privileged role administrator', 'cloud application administrator', 'application administrator'])

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

const lower = (value: string): string => value.toLowerCase()

/** Every Application ID URI of an app (`appIdUri` first). */
export function identifierUrisOf (app: AppRegistration): string[] {
  return [...(app.appIdUri === undefined ? [] : [app.appIdUri]), ...(app.moreIdentifierUris ?? [])]
}

/** The exposed scopes of an API, each with its consent type (plain names are user-consentable). */
export function exposedScopesOf (app: AppRegistration): ExposedScope[] {
  return (app.exposedScopes ?? []).map(scope => typeof scope === 'string' ? { value: scope, type: 'User' } : { type: 'User', ...scope })
}

export function scopeNamesOf (app: AppRegistration): string[] {
  return exposedScopesOf(app).map(scope => scope.value)
}

export function isAdminScope (app: AppRegistration, name: string): boolean {
  return exposedScopesOf(app).some(scope => scope.value === name && scope.type === 'Admin')
}

export function redirectUrisOf (app: AppRegistration): RedirectUri[] {
  return (app.redirectUris ?? []).map(entry => typeof entry === 'string' ? { uri: entry, type: app.isPublicClient === true ? 'publicClient' : 'web' } : entry)
}

export function isConsentAdmin (user: TestUser): boolean {
  return (user.roles ?? []).some(role => CONSENT_ADMIN_ROLES.has(lower(role)))
}

/** One directory: its users, the apps provisioned in it, and its consent grants. */
export class Tenant {
  readonly id: string
  readonly domain: string
  readonly home: boolean
  readonly #users: TestUser[]
  /** Client ids with a service principal here (the home tenant has one for every registered app). */
  readonly provisioned = new Set<string>()
  /** `${oid}|${clientId}|${resourceClientId}` → scope names a user consented to. */
  readonly consents = new Map<string, Set<string>>()
  /** `${clientId}|${resourceClientId}` → scope names an admin consented to for all users. */
  readonly adminGrants = new Map<string, Set<string>>()
  userConsentAllowed = true

  constructor (definition: TenantDefinition, home: boolean) {
    this.id = definition.tenantId
    this.domain = definition.domain
    this.home = home
    this.#users = definition.users.map(user => structuredClone(user))
  }

  get users (): TestUser[] {
    return this.#users.map(user => structuredClone(user))
  }

  /** By username (case-insensitive, as UPNs are) or object id. */
  findUser (usernameOrOid: string): TestUser | undefined {
    const wanted = lower(usernameOrOid)
    return this.#users.find(user => lower(user.username) === wanted || lower(user.oid) === wanted)
  }

  resetGrants (): void {
    this.consents.clear()
    this.adminGrants.clear()
    this.provisioned.clear()
    this.userConsentAllowed = true
  }
}

export class Registry {
  readonly #apps = new Map<string, AppRegistration>()
  /** Settings the control API may change, as registered: what reset restores. */
  readonly #registeredVersions = new Map<string, AppRegistration['accessTokenAcceptedVersion']>()
  readonly #tenants: Tenant[]

  constructor (home: TenantDefinition, apps: AppRegistration[], others: TenantDefinition[] = []) {
    this.#tenants = [new Tenant(home, true), ...others.map(definition => new Tenant(definition, false))]
    const ids = new Set<string>()
    for (const tenant of this.#tenants) {
      if (!GUID.test(tenant.id)) throw new TypeError(`tenantId must be a GUID: ${tenant.id}`)
      if (ids.has(lower(tenant.id)) || ids.has(lower(tenant.domain))) throw new TypeError(`duplicate tenant: ${tenant.id}`)
      ids.add(lower(tenant.id)).add(lower(tenant.domain))
    }
    this.addApp(graphApp())
    for (const app of apps) this.addApp(app)
  }

  get homeTenant (): Tenant {
    return this.#tenants[0] as Tenant
  }

  get tenants (): readonly Tenant[] {
    return this.#tenants
  }

  /** Home tenant id and domain (the single-tenant API). */
  get tenantId (): string { return this.homeTenant.id }
  get tenantDomain (): string { return this.homeTenant.domain }
  get users (): TestUser[] { return this.homeTenant.users }

  /** A tenant by id or verified domain. */
  tenant (segment: string): Tenant | undefined {
    const wanted = lower(segment)
    return this.#tenants.find(tenant => lower(tenant.id) === wanted || lower(tenant.domain) === wanted)
  }

  /** The tenant whose verified domain a username ends with. */
  tenantOfUsername (username: string): Tenant | undefined {
    const at = username.lastIndexOf('@')
    return at < 0 ? undefined : this.tenant(username.slice(at + 1))
  }

  addApp (app: AppRegistration): void {
    if (!GUID.test(app.clientId)) throw new TypeError(`clientId must be a GUID: ${app.clientId}`)
    for (const uri of identifierUrisOf(app)) {
      const owner = this.#findRegistered(uri)
      if (owner !== undefined && lower(owner.clientId) !== lower(app.clientId)) throw new TypeError(`App ID URI already used by another app: ${uri}`)
    }
    this.#apps.set(lower(app.clientId), copyApp(app))
    this.#registeredVersions.set(lower(app.clientId), app.accessTokenAcceptedVersion)
  }

  /** The registration (wherever provisioned). */
  getApp (clientId: string): AppRegistration | undefined {
    const app = this.#apps.get(lower(clientId))
    return app === undefined ? undefined : copyApp(app)
  }

  /** Mutable registration, for run-time changes (control API). */
  editApp (clientId: string): AppRegistration | undefined {
    return this.#apps.get(lower(clientId))
  }

  /** The app as seen from a tenant: only if it has a service principal there. */
  servicePrincipal (tenant: Tenant, clientId: string): AppRegistration | undefined {
    const app = this.getApp(clientId)
    if (app === undefined) return undefined
    return this.isProvisioned(tenant, app.clientId) ? app : undefined
  }

  isProvisioned (tenant: Tenant, clientId: string): boolean {
    return tenant.home || lower(clientId) === GRAPH_APP_ID || tenant.provisioned.has(lower(clientId))
  }

  addRedirectUri (clientId: string, uri: string | RedirectUri): void {
    const app = this.#apps.get(lower(clientId))
    if (app === undefined) throw new TypeError(`unknown app: ${clientId}`)
    app.redirectUris = [...(app.redirectUris ?? []), uri]
  }

  #findRegistered (identifier: string): AppRegistration | undefined {
    const wanted = lower(identifier)
    for (const app of this.#apps.values()) {
      if (lower(app.clientId) === wanted || identifierUrisOf(app).some((uri) => lower(uri) === wanted)) return app
    }
    return undefined
  }

  /** A resource named by its App ID URI or its client id (both are accepted in v2 scopes), provisioned in `tenant`. */
  findResource (identifier: string, tenant: Tenant = this.homeTenant): AppRegistration | undefined {
    const app = this.#findRegistered(identifier)
    return app !== undefined && this.isProvisioned(tenant, app.clientId) ? copyApp(app) : undefined
  }

  /** Home-tenant user by username or object id (the single-tenant API). */
  findUser (usernameOrOid: string): TestUser | undefined {
    return this.homeTenant.findUser(usernameOrOid)
  }

  /** The registered redirect URI matching `requested` and its platform, or undefined. */
  matchRedirectUri (app: AppRegistration, requested: string): RedirectUri | undefined {
    const requestedUrl = parseUrl(requested)
    return redirectUrisOf(app).find(({ uri: registered, type }) => {
      if (registered === requested) return true
      const registeredUrl = parseUrl(registered)
      // RFC 8252 §7.3: a native client's loopback URI may differ in port only.
      if (type !== 'publicClient' || registeredUrl === undefined || requestedUrl === undefined) return false
      return isLoopback(registeredUrl) && isLoopback(requestedUrl) && requestedUrl.hash === '' &&
        registeredUrl.hostname === requestedUrl.hostname && registeredUrl.pathname === requestedUrl.pathname &&
        registeredUrl.search === requestedUrl.search
    })
  }

  /** Exact match; a public client's loopback URI may differ in port only (RFC 8252 §7.3). */
  redirectUriAllowed (app: AppRegistration, requested: string): boolean {
    return this.matchRedirectUri(app, requested) !== undefined
  }

  recordConsent (oid: string, clientId: string, resourceClientId: string, scopeNames: Iterable<string>, tenant: Tenant = this.homeTenant): void {
    addAll(tenant.consents, `${oid}|${clientId}|${resourceClientId}`, scopeNames)
  }

  /** Admin consent: every user of the tenant may use these scopes through the client; provisions it (and the resource). */
  recordAdminConsent (tenant: Tenant, clientId: string, resourceClientId: string, scopeNames: Iterable<string>): void {
    tenant.provisioned.add(lower(clientId))
    addAll(tenant.adminGrants, `${clientId}|${resourceClientId}`, scopeNames)
  }

  /**
   * The delegated scopes of `resource` that `clientId` may use for this user without a consent prompt:
   * pre-authorized ones, admin grants, the user's consents, all of an app's own scopes, and Graph's
   * user-consentable ones (treated as granted for sign-in, as a tenant's default user consent would).
   */
  consentedScopes (oid: string, clientId: string, resource: AppRegistration, tenant: Tenant = this.homeTenant): Set<string> {
    const exposed = scopeNamesOf(resource)
    if (lower(resource.clientId) === lower(clientId)) return new Set(exposed)
    if (resource.clientId === GRAPH_APP_ID) return new Set(exposed.filter(name => !isAdminScope(resource, name)))
    const granted = new Set<string>()
    for (const pre of resource.preAuthorizedClients ?? []) {
      if (lower(pre.clientId) === lower(clientId)) pre.scopes.forEach(scope => granted.add(scope))
    }
    tenant.adminGrants.get(lower(`${clientId}|${resource.clientId}`))?.forEach(scope => granted.add(scope))
    tenant.consents.get(lower(`${oid}|${clientId}|${resource.clientId}`))?.forEach(scope => granted.add(scope))
    return new Set([...granted].filter(scope => exposed.includes(scope)))
  }

  /** Consents, admin grants and control-API app changes go; apps and redirect URIs added at run time stay. */
  reset (): void {
    for (const tenant of this.#tenants) tenant.resetGrants()
    for (const [clientId, version] of this.#registeredVersions) {
      const app = this.#apps.get(clientId)
      if (app === undefined) continue
      if (version === undefined) delete app.accessTokenAcceptedVersion
      else app.accessTokenAcceptedVersion = version
    }
  }

  resetConsents (): void {
    this.reset()
  }
}

function addAll (map: Map<string, Set<string>>, key: string, values: Iterable<string>): void {
  const set = map.get(lower(key)) ?? new Set<string>()
  for (const value of values) set.add(value)
  map.set(lower(key), set)
}
