// Names shared by the benchmark's processes.
/** The trivial upstream's API at the emulator (pinned in MCP_SERVERS, pre-authorized for the relay). */
export const TRIVIAL_API = { clientId: '55555555-5555-5555-5555-0000000b0001', appIdUri: 'api://bench-trivial', scope: 'api://bench-trivial/user_impersonation' }
export const TRIVIAL_TOOL = 'ping'
export const NOTES_SCOPE = 'api://notes-mcp/user_impersonation'
export const LEGACY_PROTOCOL_VERSION = '2025-06-18'
/** 32 bytes, hex: the replicas of S4 share it (sealed values in Redis); a bench constant, never a deployment's. */
export const BENCH_TOKEN_ENCRYPTION_KEY = 'b3c4e0f1a2d5968778695a4b3c2d1e0ff0e1d2c3b4a5968778695a4b3c2d1e0f'
