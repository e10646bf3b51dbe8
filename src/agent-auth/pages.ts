// The authorization server's pages: the relay-owned consent page (before the Entra sign-in), the device-code
// pages and the small "done" pages. Plain HTML, every value escaped, the relay's stylesheet, no script.
import { AGENT_SCOPES, type AgentScope } from './scopes.ts'

export const escapeHtml = (value: unknown): string => String(value ?? '').replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`)

/** No script, our stylesheet, forms only to the listed targets, never framed. */
export function pageCsp (formTargets: readonly string[] = []): string {
  return `default-src 'none'; style-src 'self'; img-src 'self'; form-action 'self'${formTargets.map((t) => ` ${t}`).join('')}; frame-ancestors 'none'; base-uri 'none'`
}

export function page (title: string, body: string): string {
  return `<!doctype html><html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width,initial-scale=1">
<title>${escapeHtml(title)}</title><link rel="stylesheet" href="/assets/home.css"></head><body>${body}</body></html>`
}

export interface ConsentView {
  uid: string
  csrf: string
  clientName: string
  clientId: string
  /** Where the agent receives the result: a host, or "this device" for the device flow. */
  redirectHost: string
  /** How the client is known: its metadata document, a registration, or the relay's configuration. */
  clientSource: 'metadata document' | 'registered' | 'configured'
  resources: Array<{ indicator: string, description: string }>
  scopes: AgentScope[]
  /** OIDC scopes asked for (openid, profile, offline_access). */
  identityScopes: string[]
  signedInAs: string | undefined
}

export function consentPage (v: ConsentView): string {
  const resources = v.resources.map((r) => `<li><code>${escapeHtml(r.indicator)}</code> — ${escapeHtml(r.description)}</li>`).join('')
  const scopes = v.scopes.map((s) => `<li><code>${escapeHtml(s)}</code> — ${escapeHtml(AGENT_SCOPES[s])}</li>`).join('')
  const identity = v.identityScopes.length === 0 ? '' : `<li>Your identity (<code>${escapeHtml(v.identityScopes.join(' '))}</code>): your name, user name and ids</li>`
  const hidden = `<input type="hidden" name="csrf" value="${escapeHtml(v.csrf)}">`
  return page('Allow an agent?', `<h1>Allow <span id="client-name">${escapeHtml(v.clientName)}</span> to act for you?</h1>
<p>An agent asks to use your MCP servers through this relay, as you.</p>
<table><tbody>
<tr><th>Agent</th><td>${escapeHtml(v.clientName)}<br><small>client id <code id="client-id">${escapeHtml(v.clientId)}</code> (${escapeHtml(v.clientSource)})</small></td></tr>
<tr><th>Sends the result to</th><td id="redirect-host"><code>${escapeHtml(v.redirectHost)}</code></td></tr>
<tr><th>Will reach</th><td><ul id="resources">${resources}</ul></td></tr>
<tr><th>May</th><td><ul id="scopes">${scopes}${identity}</ul></td></tr>
${v.signedInAs === undefined ? '' : `<tr><th>As</th><td>${escapeHtml(v.signedInAs)}</td></tr>`}
</tbody></table>
<p>If you allow it, you sign in with Microsoft Entra ID next; the agent then acts as you until you revoke it on the relay's home page.</p>
<form class="inline" id="approve" method="post" action="/oauth/interaction/${escapeHtml(v.uid)}/confirm">${hidden}<button type="submit" name="decision" value="allow">Allow</button></form>
<form class="inline" id="deny" method="post" action="/oauth/interaction/${escapeHtml(v.uid)}/abort">${hidden}<button type="submit" name="decision" value="deny">Deny</button></form>`)
}

export function deviceInputPage (form: string, error: 'invalid' | 'aborted' | 'failed' | undefined): string {
  const message = error === 'invalid'
    ? '<p class="error" id="device-error">That code is not right, or it expired. Try again.</p>'
    : error === 'aborted'
      ? '<p class="error" id="device-error">The sign-in was cancelled.</p>'
      : error === 'failed' ? '<p class="error" id="device-error">The request could not be processed.</p>' : '<p>Enter the code your agent shows.</p>'
  return page('Connect a device', `<h1>Connect an agent running elsewhere</h1>${message}${form}<p><button type="submit" form="op.deviceInputForm">Continue</button></p>`)
}

export function deviceConfirmPage (form: string, clientName: string, userCode: string): string {
  return page('Confirm the device', `<h1>Is this your agent?</h1>
<p><strong>${escapeHtml(clientName)}</strong> shows the code <code id="user-code">${escapeHtml(userCode)}</code>.</p>
<p>Continue only if you started this on a device you control and the code matches.</p>${form}
<p><button type="submit" form="op.deviceConfirmForm">Continue</button>
<button type="submit" form="op.deviceConfirmForm" value="yes" name="abort">Cancel</button></p>`)
}

export function donePage (title: string, message: string): string {
  return page(title, `<h1>${escapeHtml(title)}</h1><p id="done">${escapeHtml(message)}</p><p><a href="/">Your connected agents</a></p>`)
}
