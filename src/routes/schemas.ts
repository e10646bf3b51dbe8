/**
 * The error shape of every 4xx/5xx answer (DESIGN §2). `additionalProperties: true` keeps members a schema
 * does not list (`claims`, `login_url`, future ones) instead of letting the serializer drop them.
 */
export const errorResponseSchema = {
  type: 'object',
  required: ['error', 'reason', 'error_description'],
  additionalProperties: true,
  properties: {
    error: { type: 'string', description: 'OAuth-style error code' },
    reason: { type: 'string', description: 'stable machine-readable reason (see the README)' },
    error_description: { type: 'string' },
    request_id: { type: 'string' },
    claims: { type: 'string', description: 'base64url claims challenge to satisfy at login_url' },
    login_url: { type: 'string', description: 'where the user can sign in again or consent' },
  },
} as const

export const errorResponses = Object.fromEntries([400, 401, 403, 404, 413, 415, 429, 500, 502, 503, 504].map((status) => [status, errorResponseSchema]))
