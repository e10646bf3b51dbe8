// A metadata fetch or validation failure whose message is safe to show: it names the URL the relay chose
// and the field that failed, never a value from the upstream document, its body or a resolved internal address.

export type MetadataErrorCode =
  | 'refused' // SSRF policy: scheme, address, redirect
  | 'timeout'
  | 'too_large'
  | 'content_type'
  | 'http_status'
  | 'invalid_json'
  | 'network'
  | 'invalid_metadata'
  | 'not_found'

export class MetadataError extends Error {
  readonly code: MetadataErrorCode
  readonly httpStatus: number | undefined

  constructor (code: MetadataErrorCode, message: string, options: { httpStatus?: number, cause?: unknown } = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause })
    this.name = 'MetadataError'
    this.code = code
    this.httpStatus = options.httpStatus
  }
}
