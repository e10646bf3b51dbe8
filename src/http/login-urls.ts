// Where the user acts on an error's intent (sign in again, with claims; consent; an administrator's consent).
import type { Config } from '../config/index.ts'
import type { ErrorIntent } from '../errors.ts'

/** Where a browser user (or the person behind an Entra-bearer agent) acts on an intent. */
export function loginUrlFor (intent: ErrorIntent, config: Pick<Config, 'authorityHost' | 'clientId' | 'redirectUri' | 'relayScope' | 'publicUrl'>): string {
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
  if (intent.kind === 'consent') {
    url.searchParams.set('prompt', 'consent')
    if (intent.scopes.length > 0) url.searchParams.set('consent_scopes', intent.scopes.join(' '))
  } else if (intent.claims !== undefined) {
    url.searchParams.set('claims', intent.claims)
  }
  return url.href
}
