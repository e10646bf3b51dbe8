// The hostile MCP fixture wired to a test stack: its APIs registered at the emulator (relay pre-authorized,
// so On-Behalf-Of would succeed if the relay asked), and its endpoints configured as relay servers.
import { DEV_RELAY_CLIENT_ID } from '../../dev/entra-emulator/index.ts'
import { freePort, type ExtraServer } from '../../dev/start-stack.ts'
import { startHostileMcpServer, type Behaviour, type HostileMcpServer } from '../fixtures/hostile-mcp.ts'
import { startTestStack, type TestStack } from './stack.ts'
import type { DevStackOptions } from '../../dev/start-stack.ts'
import { Dispatcher } from 'undici'
import { createDispatcher, createFetch, type FetchLike } from '../../src/net/http-client.ts'

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

/**
 * The relay's own outbound fetch (handed to it as `relay.fetch`), counting the body bytes it reads of the answers
 * `counts` picks, one entry of `reads` per answer: a measurement, not a mock. `connect` gives it the real fetch
 * once the stack's emulator CA is known.
 */
export function countingFetch (counts: (url: string, method: string) => boolean): { fetch: FetchLike, reads: number[], connect: (stack: TestStack) => void } {
  const reads: number[] = []
  let inner: FetchLike | undefined
  const fetch: FetchLike = async (input, init) => {
    if (inner === undefined) throw new Error('not ready')
    const response = await inner(input, init)
    const url = String(input instanceof Request ? input.url : input)
    if (response.body === null || !counts(url, init?.method ?? 'GET')) return response
    const slot = reads.push(0) - 1
    const counted = response.body.pipeThrough(new TransformStream<Uint8Array, Uint8Array>({
      transform (chunk, controller) {
        reads[slot] = (reads[slot] ?? 0) + chunk.byteLength
        controller.enqueue(chunk)
      },
    }))
    return new Response(counted, { status: response.status, headers: response.headers })
  }
  return { fetch, reads, connect: (stack) => { inner = createFetch(createDispatcher({ trustedCaPem: stack.emulator.caPem })) } }
}

/**
 * The relay's connections to MCP servers (handed to it as `relay.mcpDispatcher`), counting the body bytes it
 * reads of the answers `counts` picks, one entry of `reads` per answer: a measurement, not a mock. `connect`
 * gives it a real dispatcher once the stack's emulator CA is known.
 */
export function countingDispatcher (counts: (url: string, method: string) => boolean): { dispatcher: Dispatcher, reads: number[], connect: (stack: TestStack) => void } {
  const reads: number[] = []
  class Counting extends Dispatcher {
    inner: Dispatcher | undefined
    override dispatch (options: Dispatcher.DispatchOptions, handler: Dispatcher.DispatchHandler): boolean {
      if (this.inner === undefined) throw new Error('not ready')
      if (!counts(`${String(options.origin)}${options.path}`, options.method)) return this.inner.dispatch(options, handler)
      const slot = reads.push(0) - 1
      return this.inner.dispatch(options, {
        onRequestStart: (controller, context) => handler.onRequestStart?.(controller, context),
        onRequestUpgrade: (controller, status, headers, socket) => handler.onRequestUpgrade?.(controller, status, headers, socket),
        onResponseStart: (controller, status, headers, message) => handler.onResponseStart?.(controller, status, headers, message),
        onResponseData: (controller, chunk) => {
          reads[slot] = (reads[slot] ?? 0) + chunk.byteLength
          handler.onResponseData?.(controller, chunk)
        },
        onResponseEnd: (controller, trailers) => handler.onResponseEnd?.(controller, trailers),
        onResponseError: (controller, err) => handler.onResponseError?.(controller, err),
      })
    }

    override async close (): Promise<void> {
      await this.inner?.close()
    }

    override async destroy (): Promise<void> {
      await this.inner?.destroy()
    }
  }
  const dispatcher = new Counting()
  return { dispatcher, reads, connect: (stack) => { dispatcher.inner = createDispatcher({ trustedCaPem: stack.emulator.caPem }) } }
}
