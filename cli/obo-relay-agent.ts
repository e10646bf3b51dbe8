#!/usr/bin/env node
// obo-relay-agent: an agent's command line for the relay (issue 10), built on the TypeScript client in ./client.
import { spawn } from 'node:child_process'
import { parseArgs } from 'node:util'
import { AgentError, defaultConfigDir, EXIT_CODES, fileCredentialStore, RelayAgentClient } from './client/index.ts'

const USAGE = `Usage: obo-relay-agent [--relay URL] [--json] [--config-dir DIR] <command> [arguments]

Commands:
  login [--device] [--no-browser]   sign the user in (browser with a loopback callback, or a device code)
  status                            who is logged in, and until when the token is valid
  servers                           the MCP servers the relay reaches
  tools <server>                    the tools of one server
  call <server> <tool> [--args JSON] call a tool as the user
  token                             print a valid access token (DPoP-bound: useless without its key)
  refresh                           refresh the tokens now
  introspect [--refresh]            ask the relay about the access (or refresh) token
  userinfo                          the OpenID Connect userinfo of the user
  discover                          the relay's resource and authorization server metadata
  revoke                            revoke the tokens (the relay forgets this agent's access)
  logout                            revoke, then delete the credentials

--relay defaults to $OBO_RELAY_URL. Credentials live in $XDG_CONFIG_HOME/obo-relay-agent (mode 0600).
Exit codes: 0 ok, 1 unexpected, ${Object.entries(EXIT_CODES).map(([kind, code]) => `${code} ${kind}`).join(', ')}.`

interface Output {
  json: boolean
  result: (value: unknown, human: string) => void
  info: (line: string) => void
}

async function main (argv: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    strict: true,
    options: {
      relay: { type: 'string' },
      json: { type: 'boolean', default: false },
      'config-dir': { type: 'string' },
      device: { type: 'boolean', default: false },
      'no-browser': { type: 'boolean', default: false },
      args: { type: 'string' },
      refresh: { type: 'boolean', default: false },
      help: { type: 'boolean', short: 'h', default: false },
    },
  })
  if (values.help || positionals.length === 0) {
    process.stdout.write(`${USAGE}\n`)
    return values.help ? 0 : EXIT_CODES.usage
  }
  const relay = values.relay ?? process.env.OBO_RELAY_URL
  if (relay === undefined) throw new AgentError('usage', 'Name the relay with --relay URL or OBO_RELAY_URL.')
  const out: Output = {
    json: values.json,
    result: (value, human) => { process.stdout.write(values.json ? `${JSON.stringify(value)}\n` : `${human}\n`) },
    info: (line) => { process.stderr.write(`${line}\n`) },
  }
  const store = fileCredentialStore(values['config-dir'] ?? defaultConfigDir(), relay)
  const client = new RelayAgentClient({ relayUrl: relay, store, clientName: 'obo-relay-agent' })
  const [command, ...rest] = positionals
  const needs = (count: number, names: string) => {
    if (rest.length !== count) throw new AgentError('usage', `${command} takes ${names === '' ? 'no arguments' : names}.`)
  }

  switch (command) {
    case 'login': {
      needs(0, '')
      const tokens = values.device
        ? await client.loginWithDevice({
          show: ({ userCode, verificationUri, verificationUriComplete, expiresInSec }) => {
            out.info(`To sign in, open ${verificationUri} and enter the code ${userCode} (valid ${Math.round(expiresInSec / 60)} minutes).`)
            if (verificationUriComplete !== undefined) out.info(`Or open ${verificationUriComplete}`)
          },
        })
        : await client.loginWithBrowser({
          openUrl: (url) => {
            out.info(`Open this URL to sign in (waiting 5 minutes):\n${url}`)
            if (!values['no-browser']) openBrowser(url)
          },
        })
      const me = await client.me() as { upn?: string | null, name?: string | null }
      out.result({ status: 'logged_in', user: me, expires_at: tokens.expires_at }, `Logged in as ${me.upn ?? me.name ?? 'the user'}; credentials in ${store.path}`)
      return 0
    }
    case 'status': {
      needs(0, '')
      const credentials = await client.credentials()
      if (credentials?.tokens === undefined) throw new AgentError('not_logged_in', `Not logged in to ${new URL(relay).origin}.`)
      const me = await client.me() as { upn?: string | null }
      const expiresAt = (await client.credentials())?.tokens?.expires_at ?? 0
      out.result({ status: 'logged_in', relay: credentials.relay, client_id: credentials.clientId, user: me, expires_at: expiresAt }, `Logged in to ${credentials.relay} as ${me.upn ?? '?'}; the access token is valid until ${new Date(expiresAt * 1000).toISOString()}`)
      return 0
    }
    case 'servers': {
      needs(0, '')
      const answer = await client.servers() as { servers: Array<{ id: string, status: string }> }
      out.result(answer, answer.servers.map((s) => `${s.id}\t${s.status}`).join('\n'))
      return 0
    }
    case 'tools': {
      needs(1, '<server>')
      const answer = await client.tools(rest[0] as string) as { tools: Array<{ name: string, description?: string }> }
      out.result(answer, answer.tools.map((t) => `${t.name}\t${t.description ?? ''}`).join('\n'))
      return 0
    }
    case 'call': {
      needs(2, '<server> <tool>')
      let args: unknown
      try {
        args = JSON.parse(values.args ?? '{}')
      } catch {
        throw new AgentError('usage', '--args must be a JSON object.')
      }
      if (typeof args !== 'object' || args === null || Array.isArray(args)) throw new AgentError('usage', '--args must be a JSON object.')
      const result = await client.callTool(rest[0] as string, rest[1] as string, args as Record<string, unknown>)
      out.result(result, JSON.stringify(result, null, 2))
      return (result as { isError?: boolean }).isError === true ? EXIT_CODES.relay : 0
    }
    case 'token': {
      needs(0, '')
      const token = await client.accessToken()
      out.result({ access_token: token, token_type: 'DPoP' }, token)
      return 0
    }
    case 'refresh': {
      needs(0, '')
      const tokens = await client.refresh()
      out.result({ status: 'refreshed', expires_at: tokens.expires_at }, `Refreshed; valid until ${new Date(tokens.expires_at * 1000).toISOString()}`)
      return 0
    }
    case 'introspect': {
      needs(0, '')
      const answer = await client.introspect(values.refresh ? 'refresh' : 'access')
      out.result(answer, JSON.stringify(answer, null, 2))
      return 0
    }
    case 'userinfo': {
      needs(0, '')
      const answer = await client.userinfo()
      out.result(answer, JSON.stringify(answer, null, 2))
      return 0
    }
    case 'discover': {
      needs(0, '')
      const { resource, authorizationServer } = await client.discover()
      out.result({ resource, authorization_server: authorizationServer }, JSON.stringify({ resource, authorization_server: authorizationServer }, null, 2))
      return 0
    }
    case 'revoke': {
      needs(0, '')
      await client.revoke()
      out.result({ status: 'revoked' }, 'Revoked; log in again to use the relay.')
      return 0
    }
    case 'logout': {
      needs(0, '')
      await client.logout()
      out.result({ status: 'logged_out' }, `Logged out; ${store.path} deleted.`)
      return 0
    }
    default:
      throw new AgentError('usage', `Unknown command "${command ?? ''}".\n${USAGE}`)
  }
}

/** Opens the URL in the user's browser when there is a desktop to show it on; otherwise the printed URL does. */
function openBrowser (url: string): void {
  const opener = process.platform === 'darwin'
    ? ['open', [url]] as const
    : process.platform === 'win32'
      ? ['cmd', ['/c', 'start', '', url]] as const
      : (process.env.DISPLAY !== undefined || process.env.WAYLAND_DISPLAY !== undefined) ? ['xdg-open', [url]] as const : undefined
  if (opener === undefined) return
  try {
    const child = spawn(opener[0], [...opener[1]], { stdio: 'ignore', detached: true })
    child.on('error', () => {})
    child.unref()
  } catch {
    // No opener: the printed URL is enough.
  }
}

main(process.argv.slice(2)).then((code) => { process.exitCode = code }, (err: unknown) => {
  const json = process.argv.includes('--json')
  if (err instanceof AgentError) {
    process.stderr.write(`obo-relay-agent: ${err.message}\n`)
    if (json) process.stdout.write(`${JSON.stringify({ error: err.kind, message: err.message, ...(err.body === undefined ? {} : { relay_error: err.body }) })}\n`)
    process.exitCode = EXIT_CODES[err.kind]
    return
  }
  if ((err as { code?: string }).code?.startsWith('ERR_PARSE_ARGS') === true) {
    process.stderr.write(`obo-relay-agent: ${(err as Error).message}\n${USAGE}\n`)
    process.exitCode = EXIT_CODES.usage
    return
  }
  process.stderr.write(`obo-relay-agent: unexpected error: ${err instanceof Error ? err.message : String(err)}\n`)
  process.exitCode = 1
})
