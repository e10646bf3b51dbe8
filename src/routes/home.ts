// A page for a signed-in person: identity, servers and status, tools, a form to call one.
import type {} from '@fastify/swagger'
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify'
import { grantLogId, type AgentGrantRecord, type AgentGrants } from '../agent-auth/grants.ts'
import { relayError, RelayError } from '../errors.ts'
import type { ScopeDiscovery } from '../discovery/scope-discovery.ts'
import { callerOf, type Caller } from '../http/auth.ts'
import { PAGE_CSP } from '../http/security-headers.ts'
import { escapeHtml, page, PAGE_STYLE } from './page.ts'

export interface HomeRoutesOptions {
  /** The browser session, if there is one: the page shows a sign-in link instead of refusing. */
  browserCaller: (request: FastifyRequest) => Promise<Caller | undefined>
  discovery: ScopeDiscovery
  /** The user's connected agents (revoke each, or all with "sign out everywhere"). */
  grants: AgentGrants
  /** Ends this browser's session (clears its cookie). */
  endSession: (request: FastifyRequest, reply: FastifyReply) => Promise<void>
}

// Plain DOM script, served from our origin so the CSP can forbid inline script.
const SCRIPT = `
const $ = (s) => document.querySelector(s)
const servers = JSON.parse($('#servers-data').textContent)
const toolsByServer = {}
async function api (path, init) {
  const res = await fetch(path, { credentials: 'same-origin', ...init, headers: { 'content-type': 'application/json', ...(init && init.headers) } })
  const body = await res.json().catch(() => ({}))
  return { status: res.status, body }
}
async function loadTools (id) {
  const cell = document.getElementById('tools-' + id)
  const { status, body } = await api('/v1/servers/' + encodeURIComponent(id) + '/tools', { method: 'GET', headers: {} })
  if (status !== 200) { cell.textContent = (body.error || 'error') + ': ' + (body.error_description || status); cell.className = 'error'; return }
  toolsByServer[id] = body.tools
  cell.textContent = body.tools.map((t) => t.name).join(', ')
  refreshToolSelect()
}
function refreshToolSelect () {
  const server = $('#call-server').value
  const select = $('#call-tool')
  select.replaceChildren(...(toolsByServer[server] || []).map((t) => { const o = document.createElement('option'); o.value = t.name; o.textContent = t.name; return o }))
}
$('#call-server').addEventListener('change', refreshToolSelect)
$('#call-form').addEventListener('submit', async (event) => {
  event.preventDefault()
  let args
  try { args = JSON.parse($('#call-args').value || '{}') } catch { $('#call-result').textContent = 'Arguments must be JSON.'; return }
  const server = $('#call-server').value, tool = $('#call-tool').value
  $('#call-result').textContent = 'Calling ' + server + ' / ' + tool + '…'
  const { status, body } = await api('/v1/servers/' + encodeURIComponent(server) + '/tools/' + encodeURIComponent(tool), { method: 'POST', body: JSON.stringify({ arguments: args }) })
  $('#call-result').textContent = 'HTTP ' + status + '\\n' + JSON.stringify(body, null, 2)
})
for (const s of servers) loadTools(s)
`

const when = (epochMs: number): string => new Date(epochMs).toISOString().replace('T', ' ').replace(/\.\d+Z$/, ' UTC')

function agentRows (grants: AgentGrantRecord[]): string {
  if (grants.length === 0) return '<p id="no-agents">No agent acts for you.</p>'
  const rows = grants.map((g) => `<tr class="agent" data-client-id="${escapeHtml(g.clientId)}"><td><strong>${escapeHtml(g.clientName ?? g.clientId)}</strong><br><small><code>${escapeHtml(g.clientId)}</code> → ${escapeHtml(g.redirectHost)}</small></td>
<td>${g.resources.map((r) => `<code>${escapeHtml(r)}</code>`).join('<br>')}<br><small>${escapeHtml(g.scopes.join(' '))}</small></td>
<td><small>connected ${escapeHtml(when(g.createdAt))}<br>last used ${escapeHtml(when(g.lastUsedAt))}</small></td>
<td><form class="inline revoke" method="post" action="/agents/${encodeURIComponent(grantLogId(g.grantId))}/revoke"><button type="submit">Revoke</button></form></td></tr>`).join('')
  return `<table id="agents"><thead><tr><th>agent</th><th>reaches</th><th>when</th><th></th></tr></thead><tbody>${rows}</tbody></table>`
}

export async function homeRoutes (app: FastifyInstance, o: HomeRoutesOptions): Promise<void> {
  const html = (request: FastifyRequest) => (request.headers.accept ?? '').includes('text/html')

  // Cookie-authenticated state changes: the browser strategy refuses them without the relay's Origin (CSRF).
  // The page names a grant by a hash of its id (the id itself is a store key): found among this user's grants only.
  app.post('/agents/:agent/revoke', {
    config: { auth: 'browser' },
    schema: { hide: true, params: { type: 'object', required: ['agent'], properties: { agent: { type: 'string', pattern: '^[\\w-]{1,64}$' } } } },
  }, async (request: FastifyRequest<{ Params: { agent: string } }>, reply) => {
    const { user } = callerOf(request)
    const mine = await o.grants.listForAccount(`${user.tid}.${user.oid}`)
    const record = mine.find((g) => grantLogId(g.grantId) === request.params.agent)
    if (record === undefined) throw relayError('grant_unknown', 'You have no such connected agent.')
    await o.grants.revoke(record.grantId, 'user')
    return html(request) ? reply.redirect('/', 303) : { status: 'revoked' }
  })

  app.post('/agents/sign-out-everywhere', { config: { auth: 'browser' }, schema: { hide: true } }, async (request, reply) => {
    const { user } = callerOf(request)
    const revoked = await o.grants.revokeAccount(`${user.tid}.${user.oid}`, 'sign_out_everywhere')
    await o.endSession(request, reply)
    request.log.info({ audit: 'account.signed_out_everywhere', account: `${user.tid}.${user.oid}`, revoked }, 'audit')
    return html(request) ? reply.redirect('/', 303) : { status: 'signed_out', revoked }
  })

  const config = { auth: 'public' } as const
  app.get('/assets/home.js', { config, schema: { hide: true } }, async (_request, reply) => reply.type('text/javascript; charset=utf-8').header('cache-control', 'no-cache').send(SCRIPT))
  app.get('/assets/home.css', { config, schema: { hide: true } }, async (_request, reply) => reply.type('text/css; charset=utf-8').header('cache-control', 'no-cache').send(PAGE_STYLE))

  // Public: it shows a sign-in link to a visitor. Only the browser session signs a person in here.
  app.get('/', { config, schema: { hide: true } }, async (request: FastifyRequest, reply) => {
    reply.header('content-security-policy', PAGE_CSP).header('cache-control', 'no-store')
    reply.type('text/html; charset=utf-8')
    let caller: Caller | undefined
    try {
      caller = await o.browserCaller(request)
    } catch (err) {
      if (!(err instanceof RelayError) || err.statusCode >= 500) throw err
    }
    if (caller === undefined) {
      return page('obo-relay', `<h1>obo-relay</h1><p>Lets AI agents act for you against MCP servers protected by Microsoft Entra ID.</p>
<p><a id="sign-in" href="/auth/login?return_to=/">Sign in with Microsoft Entra ID</a></p>`)
    }
    const user = caller.user
    const servers = await o.discovery.refreshedStatus()
    const agents = await o.grants.listForAccount(`${user.tid}.${user.oid}`)
    const rows = servers.map((s) => `<tr><td><code>${escapeHtml(s.id)}</code><br><small>${escapeHtml(s.url)}</small></td>
<td class="${s.status === 'ok' ? 'ok' : 'error'}">${escapeHtml(s.status)}${s.error === undefined ? '' : `: ${escapeHtml(s.error)}`}<br><small>${escapeHtml(s.scopes.join(' '))} (${escapeHtml(s.scopeSource)})</small></td>
<td id="tools-${escapeHtml(s.id)}">loading…</td></tr>`).join('')
    const options = servers.map((s) => `<option value="${escapeHtml(s.id)}">${escapeHtml(s.id)}</option>`).join('')
    // JSON in a non-executed script element; `<` escaped so it cannot close the element.
    const data = JSON.stringify(servers.map((s) => s.id)).replace(/</g, '\\u003c')
    return page('obo-relay', `<h1>obo-relay</h1>
<p id="identity">Signed in as <strong>${escapeHtml(user.name ?? user.upn)}</strong> (${escapeHtml(user.upn)})<br>
<small>tenant <code>${escapeHtml(user.tid)}</code> · object id <code id="oid">${escapeHtml(user.oid)}</code></small></p>
<form class="inline" method="post" action="/auth/logout"><button type="submit">Sign out</button></form>
<form class="inline" id="sign-out-everywhere" method="post" action="/agents/sign-out-everywhere"><button type="submit">Sign out everywhere (this browser and every agent)</button></form>
<h2>Connected agents</h2>${agentRows(agents)}
<h2>MCP servers</h2><table><thead><tr><th>server</th><th>scope discovery</th><th>tools</th></tr></thead><tbody>${rows}</tbody></table>
<h2>Call a tool</h2><form id="call-form"><p><label>Server <select id="call-server">${options}</select></label>
<label>Tool <select id="call-tool"></select></label></p><p><label>Arguments (JSON)<br><textarea id="call-args">{}</textarea></label></p>
<p><button type="submit">Call</button></p></form><pre id="call-result"></pre>
<script id="servers-data" type="application/json">${data}</script><script src="/assets/home.js"></script>`)
  })
}
