import type { AppRegistration, TenantDefinition, TestUser } from './types.ts'

export const DEV_TENANT_ID = '11111111-1111-1111-1111-111111111111'
/** The tenant's verified domain: usernames end with it and it works as a tenant alias in URLs. */
export const DEV_TENANT_DOMAIN = 'contoso.test'
export const DEV_RELAY_CLIENT_ID = '22222222-2222-2222-2222-222222222222'
export const DEV_RELAY_CLIENT_SECRET = 'relay-dev-secret'
export const DEV_RELAY_APP_ID_URI = `api://${DEV_RELAY_CLIENT_ID}`
export const DEV_RELAY_SCOPE = `${DEV_RELAY_APP_ID_URI}/user_impersonation`
export const DEV_RELAY_REDIRECT_URI = 'http://localhost:8080/auth/callback'
export const DEV_CLI_CLIENT_ID = '33333333-3333-3333-3333-333333333333'
export const DEV_NOTES_APP_ID = '44444444-4444-4444-4444-444444444401'
export const DEV_CALENDAR_APP_ID = '44444444-4444-4444-4444-444444444402'
export const DEV_RESTRICTED_APP_ID = '44444444-4444-4444-4444-444444444403'
export const DEV_NOTES_SCOPE = 'api://notes-mcp/user_impersonation'
export const DEV_CALENDAR_SCOPE = 'api://calendar-mcp/user_impersonation'
export const DEV_RESTRICTED_SCOPE = 'api://restricted-mcp/user_impersonation'

/** Microsoft Graph, present in every tenant: the resource of a request that names only OIDC scopes. */
export const GRAPH_APP_ID = '00000003-0000-0000-c000-000000000000'

export const DEV_ALICE: TestUser = {
  username: `alice@${DEV_TENANT_DOMAIN}`,
  password: 'alice-password',
  oid: 'a11ce000-0000-4000-8000-00000000a11c',
  name: 'Alice Example',
}

export const DEV_BOB: TestUser = {
  username: `bob@${DEV_TENANT_DOMAIN}`,
  password: 'bob-password',
  oid: 'b0b00000-0000-4000-8000-000000000b0b',
  name: 'Bob Example',
}

/** Holds the Global Administrator role: may grant tenant-wide admin consent. */
export const DEV_ADMIN: TestUser = {
  username: `admin@${DEV_TENANT_DOMAIN}`,
  password: 'admin-password',
  oid: 'ad000000-0000-4000-8000-0000000000ad',
  name: 'Contoso Admin',
  roles: ['Global Administrator'],
}

/** A second tenant where the relay is not provisioned until its admin consents. */
export const DEV_OTHER_TENANT_ID = '99999999-9999-9999-9999-999999999999'
export const DEV_OTHER_TENANT_DOMAIN = 'fabrikam.test'

export const DEV_CAROL: TestUser = {
  username: `carol@${DEV_OTHER_TENANT_DOMAIN}`,
  password: 'carol-password',
  oid: 'ca401000-0000-4000-8000-00000000ca40',
  name: 'Carol Example',
  roles: ['Global Administrator'],
}

export const DEV_DAVE: TestUser = {
  username: `dave@${DEV_OTHER_TENANT_DOMAIN}`,
  password: 'dave-password',
  oid: 'da5e0000-0000-4000-8000-00000000da5e',
  name: 'Dave Example',
}

export function defaultUsers (): TestUser[] {
  return [{ ...DEV_ALICE }, { ...DEV_BOB }, structuredClone(DEV_ADMIN)]
}

export function defaultTenants (): TenantDefinition[] {
  return [{ tenantId: DEV_OTHER_TENANT_ID, domain: DEV_OTHER_TENANT_DOMAIN, users: [structuredClone(DEV_CAROL), { ...DEV_DAVE }] }]
}

export function defaultApps (): AppRegistration[] {
  return [
    {
      clientId: DEV_RELAY_CLIENT_ID,
      displayName: 'obo-relay (dev)',
      appIdUri: DEV_RELAY_APP_ID_URI,
      exposedScopes: ['user_impersonation'],
      appRoles: ['access_as_application'],
      secrets: [DEV_RELAY_CLIENT_SECRET],
      redirectUris: [DEV_RELAY_REDIRECT_URI],
      preAuthorizedClients: [{ clientId: DEV_CLI_CLIENT_ID, scopes: ['user_impersonation'] }],
      // The dev stack validates v2 tokens; an app left at the default would get v1 ones.
      accessTokenAcceptedVersion: 2,
      optionalClaims: { accessToken: ['xms_cc'] },
      signInAudience: 'AzureADMultipleOrgs',
    },
    {
      clientId: DEV_CLI_CLIENT_ID,
      displayName: 'obo-relay CLI (dev)',
      isPublicClient: true,
      redirectUris: ['http://localhost', 'http://127.0.0.1'],
      signInAudience: 'AzureADMultipleOrgs',
    },
    mcpApp(DEV_NOTES_APP_ID, 'notes MCP (dev)', 'api://notes-mcp', true),
    mcpApp(DEV_CALENDAR_APP_ID, 'calendar MCP (dev)', 'api://calendar-mcp', true),
    { ...mcpApp(DEV_RESTRICTED_APP_ID, 'restricted MCP (dev)', 'api://restricted-mcp', false), exposedScopes: ['user_impersonation', { value: 'admin_access', type: 'Admin' }] },
  ]
}

function mcpApp (clientId: string, displayName: string, appIdUri: string, relayPreAuthorized: boolean): AppRegistration {
  return {
    clientId,
    displayName,
    appIdUri,
    exposedScopes: ['user_impersonation'],
    appRoles: ['access_as_application'],
    preAuthorizedClients: relayPreAuthorized ? [{ clientId: DEV_RELAY_CLIENT_ID, scopes: ['user_impersonation'] }] : [],
    accessTokenAcceptedVersion: 2,
    optionalClaims: { accessToken: ['xms_cc'] },
  }
}

/** Built in, like the Microsoft Graph service principal of a real tenant (its delegated scopes are admin-consented). */
export function graphApp (): AppRegistration {
  return {
    clientId: GRAPH_APP_ID,
    displayName: 'Microsoft Graph',
    appIdUri: 'https://graph.microsoft.com',
    exposedScopes: ['User.Read', 'openid', 'profile', 'email', 'offline_access', { value: 'User.Read.All', type: 'Admin' }],
  }
}
