import type { JsonObject } from './modern/types.ts'

/** A JSON object (what a JSON-RPC message, its params and results must be): not null, not an array. */
export function isJsonObject (value: unknown): value is JsonObject {
  return typeof value === 'object' && value !== null && !Array.isArray(value)
}
