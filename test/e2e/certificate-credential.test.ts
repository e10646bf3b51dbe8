// The relay as a confidential client with a certificate (CLIENT_CERTIFICATE_PATH) instead of a secret.
import { mkdtempSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, expect, it } from 'vitest'
import { DEV_RELAY_CLIENT_ID, createClientCertificate, defaultApps } from '../../dev/entra-emulator/index.ts'
import { startTestStack, type TestStack } from '../helpers/stack.ts'

let stack: TestStack

beforeAll(async () => {
  const cert = await createClientCertificate('CN=obo-relay test')
  const path = join(mkdtempSync(join(tmpdir(), 'relay-cert-')), 'relay.pem')
  writeFileSync(path, `${cert.privateKeyPem}\n${cert.certPem}`, { mode: 0o600 })
  // The relay app accepts only this certificate: no secret at all.
  const apps = defaultApps().map((app) => (app.clientId === DEV_RELAY_CLIENT_ID ? { ...app, secrets: [], certificates: [cert.certPem] } : app))
  stack = await startTestStack({ emulator: { apps }, relayEnv: { CLIENT_SECRET: '', CLIENT_CERTIFICATE_PATH: path } })
})
afterAll(async () => { await stack?.close() })

it('exchanges On-Behalf-Of with a client assertion signed by the certificate', async () => {
  expect(stack.config.clientCredential.kind).toBe('certificate')
  const token = await stack.userToken('alice@contoso.test')
  const res = await stack.call('/v1/servers/notes/tools/whoami', { method: 'POST', token, body: '{"arguments":{}}' })
  expect(res.status).toBe(200)
  expect(res.body.structuredContent.upn).toBe('alice@contoso.test')
  expect(stack.oboCalls()).toBe(1)
})

it('an expired certificate → AADSTS700027 → 500 relay_credentials_refused naming the setting', async () => {
  const expired = await createClientCertificate('CN=obo-relay expired', { notBefore: new Date(Date.now() - 2 * 86_400_000), notAfter: new Date(Date.now() - 86_400_000) })
  const path = join(mkdtempSync(join(tmpdir(), 'relay-cert-')), 'relay.pem')
  writeFileSync(path, `${expired.privateKeyPem}\n${expired.certPem}`, { mode: 0o600 })
  const apps = defaultApps().map((app) => (app.clientId === DEV_RELAY_CLIENT_ID ? { ...app, secrets: [], certificates: [expired.certPem] } : app))
  const other = await startTestStack({ emulator: { apps }, relayEnv: { CLIENT_SECRET: '', CLIENT_CERTIFICATE_PATH: path } })
  try {
    const res = await other.call('/v1/servers/notes/tools/whoami', { method: 'POST', token: await other.userToken('alice@contoso.test'), body: '{}' })
    expect(res.status).toBe(500)
    expect(res.body.reason).toBe('relay_credentials_refused')
    expect(res.body.error_description).toMatch(/AADSTS700027.*CLIENT_CERTIFICATE_PATH/)
  } finally {
    await other.close()
  }
})
