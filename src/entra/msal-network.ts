// MSAL's network module on an injected fetch, so MSAL uses the relay's dispatcher (TRUSTED_CA_FILE,
// timeouts) instead of the global fetch. Mirrors @azure/msal-node's HttpClient, status codes included:
// MSAL itself reads Entra's error bodies, Retry-After and throttling headers from the response.
import { ClientAuthError, ClientAuthErrorCodes, type INetworkModule, type NetworkRequestOptions, type NetworkResponse } from '@azure/msal-node'

export interface MsalNetworkOptions {
  /** Applies when MSAL gives no timeout (token requests); default 30 s. */
  timeoutMs?: number
  /** Sees every answer's status and headers before its body is parsed (a 429 may not be JSON). */
  observe?: (status: number, headers: Record<string, string>, body: unknown) => void
}

export function createMsalNetworkClient (fetch: typeof globalThis.fetch, options: MsalNetworkOptions = {}): INetworkModule {
  const defaultTimeoutMs = options.timeoutMs ?? 30_000

  async function send<T> (method: 'GET' | 'POST', url: string, request: NetworkRequestOptions | undefined, timeoutMs: number): Promise<NetworkResponse<T>> {
    const correlationId = request?.correlationId ?? ''
    let response: Response
    try {
      response = await fetch(url, {
        method,
        headers: request?.headers ?? {},
        ...(method === 'POST' ? { body: request?.body ?? '' } : {}),
        signal: AbortSignal.timeout(timeoutMs),
      })
    } catch (err) {
      const reason = err instanceof Error && (err.name === 'TimeoutError' || err.name === 'AbortError')
        ? 'Request timeout'
        : `Network request failed: ${err instanceof Error ? err.message : 'unknown'}`
      throw new ClientAuthError(ClientAuthErrorCodes.networkError, correlationId, reason)
    }
    const headers: Record<string, string> = {}
    response.headers.forEach((value, name) => { headers[name.toLowerCase()] = value })
    options.observe?.(response.status, headers, undefined)
    let body: T
    try {
      body = await response.json() as T
    } catch (err) {
      // Entra answers some 429s and 5xx in plain text ("Too Many Requests"): MSAL still needs an OAuth error
      // to raise, and the status and Retry-After were already observed.
      // https://learn.microsoft.com/en-us/entra/identity-platform/msal-error-handling-js#http-429
      if (response.status >= 400) {
        body = { error: response.status === 429 ? 'temporarily_unavailable' : 'server_error', error_description: `HTTP ${response.status} without a JSON body` } as T
      } else {
        throw new ClientAuthError(ClientAuthErrorCodes.tokenParsingError, correlationId,
          `Failed to parse response (HTTP ${response.status}): ${err instanceof Error ? err.message : 'unknown'}`)
      }
    }
    options.observe?.(response.status, headers, body)
    return { headers, body, status: response.status }
  }

  return {
    sendGetRequestAsync: async <T>(url: string, request?: NetworkRequestOptions, timeout?: number) =>
      await send<T>('GET', url, request, timeout ?? defaultTimeoutMs),
    sendPostRequestAsync: async <T>(url: string, request?: NetworkRequestOptions) =>
      await send<T>('POST', url, request, defaultTimeoutMs),
  }
}
