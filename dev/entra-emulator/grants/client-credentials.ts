// grant_type=client_credentials: an app-only token (assigned roles, no scp) for `<resource>/.default`.
import { aadsts } from '../errors.ts'
import { splitScope } from '../scopes.ts'
import type { AppIssuance } from '../tokens.ts'
import { requireParam, type GrantRequest } from './common.ts'

const DEFAULT_SUFFIX = '/.default'

export async function clientCredentialsGrant ({ context, body, client, tenant, tenantKind }: GrantRequest): Promise<AppIssuance> {
  if (tenantKind === 'multi') throw aadsts.noTenant()
  if (client.azpacr === '0') throw aadsts.missingClientCredentials()
  const scope = requireParam(body, 'scope')
  const [single, ...rest] = splitScope(scope)
  if (single === undefined || rest.length > 0 || !single.endsWith(DEFAULT_SUFFIX)) throw aadsts.clientCredentialsScope(scope)
  const identifier = single.slice(0, -DEFAULT_SUFFIX.length)
  const resource = context.registry.findResource(identifier, tenant)
  if (resource === undefined) throw aadsts.resourceNotFound(identifier, tenant.domain)
  return { kind: 'app', tenant, client: client.app, azpacr: client.azpacr, resource, resourceIdentifier: identifier }
}
