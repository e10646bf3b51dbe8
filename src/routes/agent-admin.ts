// The operator API (DESIGN §5): revoke every agent grant of one user. Only with OPERATOR_API_TOKEN set.
import { timingSafeEqual } from 'node:crypto'
import type { FastifyInstance, FastifyRequest } from 'fastify'
import type { AgentGrants } from '../agent-auth/grants.ts'
import { sha256b64url } from '../crypto/hash.ts'
import { relayError } from '../errors.ts'

export interface AgentAdminOptions {
  grants: AgentGrants
  rotateSigningKeys: () => Promise<string[]>
  operatorApiToken: string | undefined
}

export async function agentAdminRoutes (app: FastifyInstance, o: AgentAdminOptions): Promise<void> {
  const expected = o.operatorApiToken
  if (expected === undefined) return
  // Compared as hashes: equal lengths, constant time, and the secret never sits in a comparison buffer.
  const expectedHash = Buffer.from(sha256b64url(expected))
  const authorize = (request: FastifyRequest): void => {
    const match = /^Bearer +(\S+) *$/i.exec(request.headers.authorization ?? '')
    const given = Buffer.from(sha256b64url(match?.[1] ?? ''))
    if (match === null || !timingSafeEqual(given, expectedHash)) {
      throw relayError('operator_token_invalid', 'The operator API needs "Authorization: Bearer <OPERATOR_API_TOKEN>".')
    }
  }

  app.delete('/admin/accounts/:account/agent-grants', {
    config: { auth: 'public' },
    schema: {
      tags: ['operator'],
      summary: 'Revoke every agent grant of one user (<tid>.<oid>): refresh families, MSAL partitions, OBO tokens, MCP sessions',
      params: { type: 'object', required: ['account'], properties: { account: { type: 'string', pattern: '^[0-9a-f-]{36}\\.[0-9a-f-]{36}$' } } },
      response: { 200: { type: 'object', required: ['revoked'], properties: { revoked: { type: 'integer' } } } },
    },
  }, async (request: FastifyRequest<{ Params: { account: string } }>) => {
    authorize(request)
    const revoked = await o.grants.revokeAccount(request.params.account.toLowerCase(), 'operator')
    request.log.info({ audit: 'account.grants_revoked', account: request.params.account, revoked }, 'audit')
    return { revoked }
  })

  app.post('/admin/agent-signing-keys/rotate', {
    config: { auth: 'public' },
    schema: {
      tags: ['operator'],
      summary: 'New signing keys for the authorization server, first in the shared JWKS; they sign once each replica restarts, the old ones stay published',
      response: { 200: { type: 'object', required: ['kids'], properties: { kids: { type: 'array', items: { type: 'string' } } } } },
    },
  }, async (request) => {
    authorize(request)
    const kids = await o.rotateSigningKeys()
    request.log.info({ audit: 'signing_keys.rotated', kids }, 'audit')
    return { kids }
  })
}
