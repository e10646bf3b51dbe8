// OpenID Provider metadata and signing keys, per tenant path (GUID, domain, `organizations`, `common`).
import type { FastifyRequest } from 'fastify'
import type { EmulatorApp } from './http.ts'
import { issuerOf, resolveTenantScope, type EmulatorContext } from '../context.ts'
import { aadsts } from '../errors.ts'

type TenantRequest = FastifyRequest<{ Params: { tenant: string } }>

/** Multi-tenant metadata names its issuer with Entra's `{tenantid}` placeholder; endpoints keep the alias. */
function tenantPaths (context: EmulatorContext, segment: string): { path: string, issuer: string } {
  const scope = resolveTenantScope(context, segment)
  if (scope === undefined) throw aadsts.tenantNotFound(segment, 'invalid_tenant')
  return scope.kind === 'tenant'
    ? { path: scope.tenant.id, issuer: issuerOf(context, scope.tenant.id) }
    : { path: scope.alias, issuer: `${context.url}/{tenantid}/v2.0` }
}

export function registerMetadataRoutes (app: EmulatorApp, context: EmulatorContext): void {
  app.get('/:tenant/v2.0/.well-known/openid-configuration', async (request: TenantRequest, reply) => {
    const { path, issuer } = tenantPaths(context, request.params.tenant)
    const base = `${context.url}/${path}`
    return await reply.header('cache-control', 'max-age=86400, private').send({
      token_endpoint: `${base}/oauth2/v2.0/token`,
      token_endpoint_auth_methods_supported: ['client_secret_post', 'private_key_jwt', 'client_secret_basic'],
      jwks_uri: `${base}/discovery/v2.0/keys`,
      response_modes_supported: ['query', 'fragment', 'form_post'],
      subject_types_supported: ['pairwise'],
      id_token_signing_alg_values_supported: ['RS256'],
      // Only what the emulator implements (Entra also lists implicit/hybrid types).
      response_types_supported: ['code'],
      scopes_supported: ['openid', 'profile', 'email', 'offline_access'],
      issuer,
      request_uri_parameter_supported: false,
      authorization_endpoint: `${base}/oauth2/v2.0/authorize`,
      http_logout_supported: true,
      frontchannel_logout_supported: true,
      end_session_endpoint: `${base}/oauth2/v2.0/logout`,
      claims_supported: ['sub', 'iss', 'cloud_instance_name', 'cloud_instance_host_name', 'cloud_graph_host_name', 'msgraph_host',
        'aud', 'exp', 'iat', 'auth_time', 'acr', 'nonce', 'preferred_username', 'name', 'tid', 'ver', 'at_hash', 'c_hash', 'email'],
      tenant_region_scope: 'NA',
      cloud_instance_name: 'microsoftonline.com',
      cloud_graph_host_name: 'graph.windows.net',
      msgraph_host: 'graph.microsoft.com',
      rbac_url: 'https://pas.windows.net',
    })
  })

  app.get('/:tenant/discovery/v2.0/keys', async (request: TenantRequest, reply) => {
    const { issuer } = tenantPaths(context, request.params.tenant)
    return await reply.header('cache-control', 'max-age=86400, private').send(context.keys.jwks(issuer))
  })

  /** v1 keys endpoint: the same keys, without the `issuer` member. */
  app.get('/:tenant/discovery/keys', async (request: TenantRequest, reply) => {
    tenantPaths(context, request.params.tenant)
    const { keys } = context.keys.jwks('')
    return await reply.header('cache-control', 'max-age=86400, private').send({ keys: keys.map(({ issuer: _issuer, ...key }) => key) })
  })
}
