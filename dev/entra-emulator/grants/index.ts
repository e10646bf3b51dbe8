import type { GrantName } from '../types.ts'
import { authorizationCodeGrant } from './authorization-code.ts'
import { clientCredentialsGrant } from './client-credentials.ts'
import type { GrantHandler } from './common.ts'
import { onBehalfOfGrant } from './on-behalf-of.ts'
import { passwordGrant } from './password.ts'
import { refreshTokenGrant } from './refresh-token.ts'

export const JWT_BEARER_GRANT = 'urn:ietf:params:oauth:grant-type:jwt-bearer'

const GRANT_TYPES: Record<string, GrantName> = {
  authorization_code: 'authorization_code',
  refresh_token: 'refresh_token',
  password: 'password',
  client_credentials: 'client_credentials',
  [JWT_BEARER_GRANT]: 'on_behalf_of',
}

export const GRANT_HANDLERS: Record<GrantName, GrantHandler> = {
  authorization_code: authorizationCodeGrant,
  refresh_token: refreshTokenGrant,
  password: passwordGrant,
  client_credentials: clientCredentialsGrant,
  on_behalf_of: onBehalfOfGrant,
}

export function grantNameOf (grantType: string): GrantName | undefined {
  return Object.hasOwn(GRANT_TYPES, grantType) ? GRANT_TYPES[grantType] : undefined
}
