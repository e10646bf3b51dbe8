// The HTML the authorize endpoint shows: the sign-in form, a form_post response, an error page.
import { randomBytes } from 'node:crypto'
import type { FastifyReply } from 'fastify'
import { errorDescription, type EntraError, type RequestTrace } from '../errors.ts'
import { escapeHtml, traceHeaders } from './http.ts'

const STYLE = 'body{font-family:system-ui,sans-serif;max-width:28rem;margin:3rem auto;padding:0 1rem}' +
  'label,input,button{display:block;width:100%;margin:.4rem 0;font-size:1rem}#error{color:#a4262c}small{color:#666}'

function page (reply: FastifyReply, status: number, title: string, body: string, scriptNonce?: string): FastifyReply {
  const scripts = scriptNonce === undefined ? "script-src 'none'" : `script-src 'nonce-${scriptNonce}'`
  return reply
    .code(status)
    .headers({
      'content-type': 'text/html; charset=utf-8',
      'cache-control': 'no-store, no-cache',
      pragma: 'no-cache',
      'x-frame-options': 'DENY',
      'content-security-policy': `default-src 'none'; style-src 'unsafe-inline'; ${scripts}`,
      'referrer-policy': 'no-referrer',
    })
    .send(`<!doctype html>\n<html lang="en"><head><meta charset="utf-8"><title>${escapeHtml(title)}</title><style>${STYLE}</style></head>` +
      `<body>${body}</body></html>\n`)
}

function hiddenInputs (params: Record<string, string>): string {
  return Object.entries(params)
    .map(([name, value]) => `<input type="hidden" name="${escapeHtml(name)}" value="${escapeHtml(value)}">`)
    .join('\n')
}

export interface SignInPage {
  action: string
  /** The authorize request's parameters, carried through the form. */
  params: Record<string, string>
  appName: string
  scope: string
  loginHint: string
  error: string | undefined
}

/** Field names: `username`, `password`; the submit button has id `submit`. */
export function signInPage (reply: FastifyReply, trace: RequestTrace, form: SignInPage): FastifyReply {
  const error = form.error === undefined ? '' : `<p id="error" role="alert">${escapeHtml(form.error)}</p>`
  return page(reply.headers(traceHeaders(trace)), 200, 'Sign in to your account', `<main><h1>Sign in</h1>
<p>Entra ID emulator. <strong>${escapeHtml(form.appName)}</strong> asks for: <code>${escapeHtml(form.scope)}</code></p>
${error}
<form method="post" action="${escapeHtml(form.action)}" id="signin">
${hiddenInputs({ ...form.params, emulator_action: 'sign_in' })}
<label for="username">Username</label>
<input id="username" name="username" type="email" autocomplete="username" required value="${escapeHtml(form.loginHint)}">
<label for="password">Password</label>
<input id="password" name="password" type="password" autocomplete="current-password" required>
<button id="submit" type="submit">Sign in</button>
</form></main>`)
}

export interface ConsentPage {
  action: string
  params: Record<string, string>
  appName: string
  username: string
  /** Full scope strings the user is asked to grant. */
  scopes: string[]
  /** Admin consent: "Accept for your organization". */
  forOrganization: boolean
}

/**
 * Entra's "Permissions requested" prompt: `#accept` grants, `#decline` ends in an error redirect.
 * The form posts `emulator_action=consent` and `consent=accept|decline`.
 */
export function consentPage (reply: FastifyReply, trace: RequestTrace, form: ConsentPage): FastifyReply {
  const items = form.scopes.map(scope => `<li><code>${escapeHtml(scope)}</code></li>`).join('\n')
  const who = form.forOrganization ? 'for your organization' : 'for you'
  return page(reply.headers(traceHeaders(trace)), 200, 'Permissions requested', `<main><h1>Permissions requested</h1>
<p><strong>${escapeHtml(form.appName)}</strong> asks ${who} (${escapeHtml(form.username)}) for:</p>
<ul id="scopes">${items}</ul>
<form method="post" action="${escapeHtml(form.action)}" id="consent">
${hiddenInputs({ ...form.params, emulator_action: 'consent' })}
<button id="accept" type="submit" name="consent" value="accept">Accept</button>
<button id="decline" type="submit" name="consent" value="decline">Cancel</button>
</form></main>`)
}

/** Entra's "Need admin approval": the user can only go back to the app without consent (AADSTS90094). */
export function adminApprovalPage (reply: FastifyReply, trace: RequestTrace, form: { action: string, params: Record<string, string>, appName: string }): FastifyReply {
  return page(reply.headers(traceHeaders(trace)), 200, 'Need admin approval', `<main><h1>Need admin approval</h1>
<p><strong>${escapeHtml(form.appName)}</strong> needs permission to access resources in your organization that only an admin can grant. Please ask an admin to grant permission to this app before you can use it.</p>
<form method="post" action="${escapeHtml(form.action)}" id="admin-approval">
${hiddenInputs({ ...form.params, emulator_action: 'return_without_consent' })}
<button id="return" type="submit">Return to the application without granting consent</button>
</form></main>`)
}

/** response_mode=form_post: an auto-submitting form to the redirect URI. */
export function formPostPage (reply: FastifyReply, trace: RequestTrace, redirectUri: string, params: Record<string, string>): FastifyReply {
  const nonce = randomBytes(16).toString('base64')
  return page(reply.headers(traceHeaders(trace)), 200, 'Working...', `<form method="post" action="${escapeHtml(redirectUri)}">
${hiddenInputs(params)}
<noscript><button type="submit">Continue</button></noscript></form>
<script nonce="${nonce}">document.forms[0].submit()</script>`, nonce)
}

/** Errors that cannot go back to the client (unknown app, bad redirect URI): shown to the user. */
export function errorPage (reply: FastifyReply, trace: RequestTrace, err: EntraError): FastifyReply {
  return page(reply.headers(traceHeaders(trace)), err.status === 401 ? 400 : err.status, 'Sign in to your account', `<main><h1>Sorry, but we're having trouble signing you in.</h1>
<p id="error" role="alert">${escapeHtml(errorDescription(err, trace)).replace(/\r\n/g, '<br>')}</p>
<p><small>error: ${escapeHtml(err.error)}</small></p></main>`)
}
