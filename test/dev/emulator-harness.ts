// Shared by the emulator's tests: a started emulator, a fetch that trusts its CA, and Entra-shaped asserts.
import { expect } from 'vitest'
import {
  DEV_RELAY_CLIENT_ID, DEV_RELAY_CLIENT_SECRET, DEV_TENANT_ID, requestToken, startEntraEmulator,
  type EmulatorOptions, type EntraEmulator, type TokenAnswer,
} from '../../dev/entra-emulator/index.ts'
import { createDispatcher, createFetch } from '../../src/net/http-client.ts'

export const ALICE = { username: 'alice@contoso.test', password: 'alice-password' }
export const BOB = { username: 'bob@contoso.test', password: 'bob-password' }
export const ADMIN = { username: 'admin@contoso.test', password: 'admin-password' }
export const CAROL = { username: 'carol@fabrikam.test', password: 'carol-password' }
export const DAVE = { username: 'dave@fabrikam.test', password: 'dave-password' }
export const RELAY = { client_id: DEV_RELAY_CLIENT_ID, client_secret: DEV_RELAY_CLIENT_SECRET }

export interface Harness {
  emulator: EntraEmulator
  fetch: typeof globalThis.fetch
  token: (params: Record<string, string>, tenant?: string) => Promise<TokenAnswer>
  authorizeUrl: (params: Record<string, string>, tenant?: string) => URL
  control: (method: string, path: string, body?: unknown) => Promise<{ status: number, body: any }>
  close: () => Promise<void>
}

export async function startHarness (options: EmulatorOptions = {}): Promise<Harness> {
  const emulator = await startEntraEmulator({ port: 0, ...options })
  const fetch = createFetch(createDispatcher({ trustedCaPem: emulator.caPem }))
  return {
    emulator,
    fetch,
    token: async (params, tenant = DEV_TENANT_ID) => await requestToken(fetch, `${emulator.url}/${tenant}/oauth2/v2.0/token`, params),
    authorizeUrl: (params, tenant = DEV_TENANT_ID) => {
      const url = new URL(`${emulator.url}/${tenant}/oauth2/v2.0/authorize`)
      for (const [name, value] of Object.entries({ response_type: 'code', ...params })) url.searchParams.set(name, value)
      return url
    },
    control: async (method, path, body) => {
      const response = await fetch(`${emulator.url}/_emulator/${path}`, {
        method,
        ...(body === undefined ? {} : { headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) }),
      })
      return { status: response.status, body: await response.json() }
    },
    close: async () => { await emulator.close() },
  }
}

export function expectEntraError (answer: TokenAnswer, status: number, error: string, code: number): void {
  expect(answer.status).toBe(status)
  expect(answer.body.error).toBe(error)
  expect(answer.body.error_codes).toEqual([code])
  expect(answer.body.error_description).toMatch(new RegExp(`^AADSTS${code}: `))
}

/** The OAuth error of a redirect back to the client. */
export function redirectError (redirect: URL): { error: string | null, description: string } {
  return { error: redirect.searchParams.get('error'), description: redirect.searchParams.get('error_description') ?? '' }
}
