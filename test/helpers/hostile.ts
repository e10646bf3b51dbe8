// The hostile MCP fixture wired to a test stack: its APIs registered at the emulator (relay pre-authorized,
// so On-Behalf-Of would succeed if the relay asked), and its endpoints configured as relay servers.
import { DEV_RELAY_CLIENT_ID } from '../../dev/entra-emulator/index.ts'
import { freePort, type ExtraServer } from '../../dev/start-stack.ts'
import { startHostileMcpServer, type Behaviour, type HostileMcpServer } from '../fixtures/hostile-mcp.ts'
import { startTestStack, type TestStack } from './stack.ts'
import type { DevStackOptions } from '../../dev/start-stack.ts'

/** The hostile server's own APIs, each an emulator app the relay may obtain tokens for. */
export const HOSTILE_APIS = {
  bounded: { appIdUri: 'api://hostile-mcp', clientId: '66666666-6666-6666-6666-000000000001' },
  hang: { appIdUri: 'api://hostile-hang', clientId: '66666666-6666-6666-6666-000000000002' },
  swapFirst: { appIdUri: 'api://hostile-swap-a', clientId: '66666666-6666-6666-6666-000000000003' },
  swapLater: { appIdUri: 'api://hostile-swap-b', clientId: '66666666-6666-6666-6666-000000000004' },
  unterminatedGet: { appIdUri: 'api://hostile-unterminated-get', clientId: '66666666-6666-6666-6666-000000000005' },
} as const

export interface HostileStack { stack: TestStack, hostile: HostileMcpServer, close: () => Promise<void> }

/** A test stack whose relay is configured with the given hostile endpoints as servers `hostile-<behaviour>`. */
export async function startHostileStack (behaviours: Behaviour[], options: DevStackOptions & { pins?: Partial<Record<Behaviour, string>>, otherOrigin?: string, bigResultBytes?: number, otherServerScope?: string } = {}): Promise<HostileStack> {
  const port = await freePort()
  const url = (behaviour: Behaviour) => `http://localhost:${port}/${behaviour}/mcp`
  const extraServers: ExtraServer[] = behaviours.map((behaviour) => ({
    id: `hostile-${behaviour}`,
    url: url(behaviour),
    ...(options.pins?.[behaviour] === undefined ? {} : { audience: options.pins[behaviour] }),
  }))
  const stack = await startTestStack({ ...options, extraServers: [...(options.extraServers ?? []), ...extraServers] })
  try {
    for (const api of Object.values(HOSTILE_APIS)) {
      if (stack.emulator.registry.getApp(api.clientId) !== undefined) continue
      try {
        stack.emulator.registry.addApp({
          clientId: api.clientId,
          displayName: `hostile ${api.appIdUri}`,
          appIdUri: api.appIdUri,
          exposedScopes: ['user_impersonation'],
          preAuthorizedClients: [{ clientId: DEV_RELAY_CLIENT_ID, scopes: ['user_impersonation'] }],
          accessTokenAcceptedVersion: 2,
        })
      } catch {
        // Registered already by the dev stack for a pinned audience.
      }
    }
    const hostile = await startHostileMcpServer({
      port,
      issuer: stack.emulator.issuer,
      relayScope: stack.config.relayScope,
      otherServerScope: options.otherServerScope ?? 'api://calendar-mcp/user_impersonation',
      ownScopes: {
        bounded: `${HOSTILE_APIS.bounded.appIdUri}/user_impersonation`,
        hang: `${HOSTILE_APIS.hang.appIdUri}/user_impersonation`,
        swapFirst: `${HOSTILE_APIS.swapFirst.appIdUri}/user_impersonation`,
        swapLater: `${HOSTILE_APIS.swapLater.appIdUri}/user_impersonation`,
        unterminatedGet: `${HOSTILE_APIS.unterminatedGet.appIdUri}/user_impersonation`,
      },
      maxStreamMs: 20_000,
      ...(options.otherOrigin === undefined ? {} : { otherOrigin: options.otherOrigin }),
      ...(options.bigResultBytes === undefined ? {} : { bigResultBytes: options.bigResultBytes }),
    })
    return { stack, hostile, close: async () => { await stack.close(); await hostile.close() } }
  } catch (err) {
    await stack.close()
    throw err
  }
}
