export interface ServerStatus {
  id: string
  url: string
  resource: string | null
  scopes: string[]
  scopeSource: 'prm' | 'config' | null
  status: 'ok' | 'error' | 'pending'
  error?: string
}
