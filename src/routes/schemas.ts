/** The error shape of every 4xx/5xx answer (DESIGN §2). */
export const errorResponseSchema = {
  type: 'object',
  required: ['error', 'error_description'],
  properties: {
    error: { type: 'string' },
    error_description: { type: 'string' },
    request_id: { type: 'string' },
    claims: { type: 'string' },
    login_url: { type: 'string' },
  },
} as const
