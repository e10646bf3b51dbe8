// Where the user acts on an error's intent (sign in again, with claims; consent; an administrator's consent).
import type { Config } from '../config/index.ts'
import type { ErrorIntent } from '../errors.ts'
import type { Caller } from './auth.ts'

/**
 * Where the person behind a caller acts on an intent: for an agent, a sign-in for that agent's grant (its
 * partition is what Entra refused or wants stepped up); for everyone else, the browser sign-in.
 */
export function loginUrlFor (intent: ErrorIntent, config: Pick<Config, 'authorityHost' | 'clientId' | 'redirectUri' | 'relayScope' | 'publicUrl'>, caller: Caller | undefined): string {
  if (intent.kind === 'admin_consent') {
    // https://learn.microsoft.com/en-us/entra/identity-platform/v2-admin-consent
    const url = new URL(`${config.authorityHost.origin}/${intent.tenantId}/v2.0/adminconsent`)
    url.searchParams.set('client_id', config.clientId)
    url.searchParams.set('redirect_uri', config.redirectUri.href)
    const relayDefault = `${config.relayScope.slice(0, config.relayScope.lastIndexOf('/'))}/.default`
    url.searchParams.set('scope', intent.scopes.length > 0 ? intent.scopes.join(' ') : relayDefault)
    return url.href
  }
  const url = new URL('/auth/login', config.publicUrl)
  const grantId = caller?.kind === 'agent' ? caller.grant?.id : intent.grantId
  if (grantId !== undefined) url.searchParams.set('grant', grantId)
  if (intent.kind === 'consent') {
    url.searchParams.set('prompt', 'consent')
    if (intent.scopes.length > 0) url.searchParams.set('consent_scopes', intent.scopes.join(' '))
  } else if (intent.claims !== undefined) {
    url.searchParams.set('claims', intent.claims)
  }
  return url.href
}
