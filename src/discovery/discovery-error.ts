// A discovery failure with a reason that is safe to show: no upstream body, no token, no resolved internal address.

export type DiscoveryErrorCode =
  | 'refused' // SSRF policy: scheme, address, redirect
  | 'timeout'
  | 'too_large'
  | 'content_type'
  | 'http_status'
  | 'invalid_json'
  | 'network'
  | 'invalid_metadata'
  | 'not_found'

export class DiscoveryError extends Error {
  readonly code: DiscoveryErrorCode
  readonly httpStatus: number | undefined

  constructor (code: DiscoveryErrorCode, message: string, options: { httpStatus?: number, cause?: unknown } = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause })
    this.name = 'DiscoveryError'
    this.code = code
    this.httpStatus = options.httpStatus
  }
}

/** A value from an upstream document, quoted and shortened so it can appear in an error message. */
export function quoteUpstream (value: unknown): string {
  const text = JSON.stringify(value) ?? String(value)
  // JSON.stringify escapes C0 controls; drop C1 and bidi controls too so a document cannot forge log lines.
  const clean = text.replace(/[\u007f-\u009f\u200e\u200f\u202a-\u202e\u2066-\u2069]/g, '')
  return clean.length > 120 ? `${clean.slice(0, 117)}...` : clean
}
