// Entra ID emulator: the dev stack's and the tests' stand-in for Microsoft Entra ID (v2 endpoints).
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises'
import type { AddressInfo } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { createDevCa, createServerCertificate } from './ca.ts'
import { NO_STEP_UP } from './claims.ts'
import { createClock, issuerOf, type EmulatorContext } from './context.ts'
import { DEV_TENANT_DOMAIN, DEV_TENANT_ID, defaultApps, defaultTenants, defaultUsers } from './defaults.ts'
import { FaultBook } from './faults.ts'
import { SigningKeys } from './keys.ts'
import { Registry, scopeNamesOf } from './registry.ts'
import { parseScopes, responseScope, singleResource } from './scopes.ts'
import { buildEmulatorServer } from './server.ts'
import { GrantStore } from './store.ts'
import { mintUserAccessToken, newSessionId, signWithKey } from './tokens.ts'
import { updateAppSettings } from './app-settings.ts'
import { GRANT_NAMES, type EmulatorOptions, type EntraEmulator, type GrantName } from './types.ts'

export * from './defaults.ts'
export { createClientCertificate, type ClientCertificate } from './ca.ts'
export { createPkcePair, readSignInForm, requestToken, signInWithForm, type PkcePair, type SignInForm, type SignInResult, type TokenAnswer } from './drive.ts'
export { parseFaultSpec } from './faults.ts'
export type * from './types.ts'

function zeroCalls (): Record<GrantName, number> {
  return Object.fromEntries(GRANT_NAMES.map(grant => [grant, 0])) as Record<GrantName, number>
}

export async function startEntraEmulator (options: EmulatorOptions = {}): Promise<EntraEmulator> {
  const tenantId = options.tenantId ?? DEV_TENANT_ID
  const registry = new Registry({ tenantId, domain: DEV_TENANT_DOMAIN, users: options.users ?? defaultUsers() }, options.apps ?? defaultApps(),
    options.tenants ?? defaultTenants())
  const clock = createClock(options.now)
  const [ca, keys] = await Promise.all([createDevCa(), SigningKeys.create(clock.now, options.signingKeyActivationDelaySec ?? 86_400)])
  const tls = await createServerCertificate(ca, options.hostnames)
  const ownCertDir = options.certDir === undefined
  const certDir = options.certDir ?? await mkdtemp(join(tmpdir(), 'entra-emulator-'))
  await mkdir(certDir, { recursive: true })
  const caFile = join(certDir, 'ca.pem')
  await writeFile(caFile, ca.caPem)

  const context: EmulatorContext = {
    url: '',
    tenantId,
    registry,
    keys,
    store: new GrantStore(clock.now),
    faults: new FaultBook(),
    calls: zeroCalls(),
    accessTokenLifetimeSec: options.accessTokenLifetimeSec,
    // Refresh tokens: 90 days of inactivity (sliding); SPA ones 24 hours, fixed.
    // https://learn.microsoft.com/en-us/entra/identity-platform/refresh-tokens#token-lifetime
    refreshTokenLifetimeSec: options.refreshTokenLifetimeSec ?? 90 * 86_400,
    spaRefreshTokenLifetimeSec: options.spaRefreshTokenLifetimeSec ?? 86_400,
    clock,
    log: options.logger,
  }
  const stats = () => ({ calls: { ...context.calls } })
  const reset = () => {
    Object.assign(context.calls, zeroCalls())
    context.faults.clear()
    context.store.clear()
    registry.reset()
  }
  const rotateSigningKey = () => { keys.rotate() }

  const app = await buildEmulatorServer(context, tls, { stats, reset, rotateSigningKey })
  let closing: Promise<void> | undefined
  const close = async () => {
    closing ??= (async () => {
      await app.close()
      await keys.settled()
      if (ownCertDir) await rm(certDir, { recursive: true, force: true })
    })()
    await closing
  }
  try {
    await app.listen({ port: options.port ?? 8443, host: options.host ?? '127.0.0.1' })
  } catch (err) {
    await close()
    throw err
  }
  context.url = options.publicUrl === undefined ? `https://localhost:${(app.server.address() as AddressInfo).port}` : new URL(options.publicUrl).origin
  const issuer = issuerOf(context)

  return {
    url: context.url,
    tenantId,
    issuer,
    jwksUri: `${context.url}/${tenantId}/discovery/v2.0/keys`,
    caPem: ca.caPem,
    caFile,
    tls,
    get users () { return registry.users },
    registry: {
      addApp: app => { registry.addApp(app) },
      addRedirectUri: (clientId, uri) => { registry.addRedirectUri(clientId, uri) },
      getApp: clientId => registry.getApp(clientId),
      grantConsent: (user, clientId, scopes) => {
        const tenant = registry.tenantOfUsername(user) ?? registry.homeTenant
        const member = tenant.findUser(user) ?? registry.findUser(user)
        if (member === undefined) throw new TypeError(`unknown user: ${user}`)
        for (const resource of parseScopes(scopes.join(' '), registry, tenant).resources) {
          registry.recordConsent(member.oid, clientId, resource.app.clientId, resource.isDefault ? scopeNamesOf(resource.app) : resource.names, tenant)
        }
      },
      grantAdminConsent: (clientId, scopes, tenantName) => {
        const tenant = tenantName === undefined ? registry.homeTenant : registry.tenant(tenantName)
        if (tenant === undefined) throw new TypeError(`unknown tenant: ${tenantName ?? ''}`)
        if (registry.getApp(clientId) === undefined) throw new TypeError(`unknown app: ${clientId}`)
        tenant.provisioned.add(clientId.toLowerCase())
        for (const resource of parseScopes(scopes.join(' '), registry, tenant).resources) {
          registry.recordAdminConsent(tenant, clientId, resource.app.clientId, resource.isDefault ? scopeNamesOf(resource.app) : resource.names)
        }
      },
      updateApp: (clientId, settings) => updateAppSettings(registry, clientId, settings),
      setUserConsent: (allowed, tenantName) => {
        const tenant = tenantName === undefined ? registry.homeTenant : registry.tenant(tenantName)
        if (tenant === undefined) throw new TypeError(`unknown tenant: ${tenantName ?? ''}`)
        tenant.userConsentAllowed = allowed
      },
    },
    stats,
    reset,
    addFault: fault => { context.faults.add(fault) },
    rotateSigningKey,
    activateSigningKey: () => keys.activate(),
    advanceClock: seconds => { clock.advance(seconds) },
    now: () => clock.now(),
    async signToken (claims, signOptions = {}) {
      const known = signOptions.kid === undefined ? keys.current : keys.find(signOptions.kid)
      // An unknown kid still gets a real signature (by the current key), for "key not found" cases.
      const key = known ?? { ...keys.current, kid: signOptions.kid ?? keys.current.kid, x5t: undefined }
      return await signWithKey(key, claims, signOptions.header, signOptions.alg ?? 'RS256')
    },
    async issueUserToken (username, { clientId, scopes }) {
      const user = registry.findUser(username)
      if (user === undefined) throw new TypeError(`unknown user: ${username}`)
      const client = registry.getApp(clientId)
      if (client === undefined) throw new TypeError(`unknown app: ${clientId}`)
      const requested = parseScopes(scopes.join(' '), registry, registry.homeTenant, client.displayName)
      const resource = singleResource(requested, registry)
      const scopeNames = resource.isDefault ? scopeNamesOf(resource.app) : resource.names
      return await mintUserAccessToken(context, {
        kind: 'user',
        tenant: registry.homeTenant,
        user,
        client,
        azpacr: client.isPublicClient === true ? '0' : '1',
        resource: resource.app,
        resourceIdentifier: resource.identifier,
        scopeNames,
        scope: responseScope(resource, scopeNames, requested.oidc),
        oidc: requested.oidc,
        sid: newSessionId(),
        nonce: undefined,
        clientInfo: false,
        authTimeSec: Math.floor(clock.now() / 1000),
        stepUp: NO_STEP_UP,
        clientCapabilities: [],
        refreshChain: { redirectType: 'web' },
      })
    },
    close,
  }
}
