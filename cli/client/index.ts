// The TypeScript client for agents (what obo-relay-agent is built on).
export { RelayAgentClient, type RelayAgentClientOptions, type Discovery, type BrowserLoginOptions, type DeviceLoginOptions } from './relay-client.ts'
export { fileCredentialStore, defaultConfigDir, type CredentialStore, type StoredCredentials, type StoredTokens } from './credentials.ts'
export { AgentError, EXIT_CODES, type AgentErrorKind } from './errors.ts'
