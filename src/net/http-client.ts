import { rootCertificates } from 'node:tls'
import { Agent, fetch as undiciFetch, type Dispatcher } from 'undici'

export type FetchLike = typeof globalThis.fetch

/**
 * The relay's outbound HTTP client. An extra CA (TRUSTED_CA_FILE: the dev emulator's, or a corporate
 * proxy's) is added to the system roots; TLS verification itself is never turned off.
 */
export function createDispatcher (options: { trustedCaPem?: string | undefined, connectTimeoutMs?: number } = {}): Dispatcher {
  return new Agent({
    connect: {
      ...(options.trustedCaPem === undefined ? {} : { ca: [...rootCertificates, options.trustedCaPem] }),
      timeout: options.connectTimeoutMs ?? 10_000,
    },
    keepAliveTimeout: 30_000,
  })
}

/** A fetch bound to a dispatcher, typed as the global fetch so it can be handed to jose, MSAL and the MCP SDK. */
export function createFetch (dispatcher: Dispatcher): FetchLike {
  const bound = (input: Parameters<FetchLike>[0], init?: Parameters<FetchLike>[1]) =>
    // undici's fetch and the global one share the WHATWG shapes; the casts bridge their separate type packages.
    undiciFetch(input as Parameters<typeof undiciFetch>[0], { ...(init as Parameters<typeof undiciFetch>[1]), dispatcher })
  return bound as unknown as FetchLike
}

/** The first value of a response header undici may hand over as a list. */
export function single (value: string | string[] | undefined): string | undefined {
  return Array.isArray(value) ? value[0] : value
}
