// Bench process: the Entra emulator (HTTPS, real tokens), with the trivial upstream's API registered. Over IPC
// it mints user tokens (as ROPC would), counts token-endpoint calls by grant and registers redirect URIs.
import { DEV_RELAY_CLIENT_ID, startEntraEmulator } from '../../dev/entra-emulator/index.ts'
import { ready, serveIpc } from '../lib/ipc-child.ts'
import { TRIVIAL_API } from '../lib/constants.ts'

const emulator = await startEntraEmulator({ port: 0, host: '127.0.0.1' })
emulator.registry.addApp({
  clientId: TRIVIAL_API.clientId,
  displayName: 'bench trivial upstream',
  appIdUri: TRIVIAL_API.appIdUri,
  exposedScopes: ['user_impersonation'],
  preAuthorizedClients: [{ clientId: DEV_RELAY_CLIENT_ID, scopes: ['user_impersonation'] }],
  accessTokenAcceptedVersion: 2,
})

serveIpc({
  token: async ({ username, clientId, scopes }: { username: string, clientId: string, scopes: string[] }) => await emulator.issueUserToken(username, { clientId, scopes }),
  stats: () => emulator.stats(),
  addRedirectUri: ({ clientId, uri }: { clientId: string, uri: string }) => { emulator.registry.addRedirectUri(clientId, uri) },
}, async () => { await emulator.close() })
ready({ url: emulator.url, tenantId: emulator.tenantId, issuer: emulator.issuer, jwksUri: emulator.jwksUri, caFile: emulator.caFile, caPem: emulator.caPem })
