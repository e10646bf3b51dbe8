// Prints the Azure CLI commands that create the live suite's registrations in an Entra test tenant (it runs
// nothing itself). Read them, run them signed in as an administrator of a *test* tenant (`az login
// --tenant <id> --allow-no-subscriptions`), then export the ENTRA_TEST_* lines they end with.
//   node scripts/entra-test-tenant.ts [--user alice@<your-test-domain>]
import { randomUUID } from 'node:crypto'

const arg = (name: string, fallback: string): string => {
  const i = process.argv.indexOf(`--${name}`)
  return i === -1 ? fallback : process.argv[i + 1] ?? fallback
}
const user = arg('user', 'obo-relay-test@<your-test-domain>')
const relayScopeId = randomUUID()
const mcpScopeId = randomUUID()
const graph = 'https://graph.microsoft.com/v1.0'

process.stdout.write(`# 1. The relay: a confidential web app with its own API scope. Its API is left at the default
#    token version (accessTokenAcceptedVersion unset → v1 tokens), the case the relay must handle.
RELAY=$(az ad app create --display-name obo-relay-test --sign-in-audience AzureADMyOrg \\
  --web-redirect-uris http://localhost:8080/auth/callback --query appId -o tsv)
RELAY_OBJ=$(az ad app show --id $RELAY --query id -o tsv)
az ad app update --id $RELAY --identifier-uris api://$RELAY
az rest --method PATCH --uri ${graph}/applications/$RELAY_OBJ --body '{"api":{"oauth2PermissionScopes":[{"id":"${relayScopeId}","value":"user_impersonation","type":"User","isEnabled":true,"adminConsentDisplayName":"Use the relay","adminConsentDescription":"Lets agents act for the signed-in user through obo-relay","userConsentDisplayName":"Use the relay","userConsentDescription":"Lets agents act for you through obo-relay"}]}}'
az ad sp create --id $RELAY
RELAY_SECRET=$(az ad app credential reset --id $RELAY --display-name live-suite --years 1 --query password -o tsv)

# 2. A public client for the test's ROPC sign-in, pre-authorized for the relay's scope.
CLI=$(az ad app create --display-name obo-relay-test-cli --is-fallback-public-client true \\
  --public-client-redirect-uris http://localhost --query appId -o tsv)
az ad sp create --id $CLI
az rest --method PATCH --uri ${graph}/applications/$RELAY_OBJ --body "{\\"api\\":{\\"preAuthorizedApplications\\":[{\\"appId\\":\\"$CLI\\",\\"delegatedPermissionIds\\":[\\"${relayScopeId}\\"]}]}}"

# 3. The MCP server's API: an App ID URI, v2 tokens (requestedAccessTokenVersion 2), and the relay pre-authorized,
#    so On-Behalf-Of needs no consent prompt.
MCP=$(az ad app create --display-name obo-relay-test-mcp --sign-in-audience AzureADMyOrg --query appId -o tsv)
MCP_OBJ=$(az ad app show --id $MCP --query id -o tsv)
az ad app update --id $MCP --identifier-uris api://$MCP
az rest --method PATCH --uri ${graph}/applications/$MCP_OBJ --body "{\\"api\\":{\\"requestedAccessTokenVersion\\":2,\\"oauth2PermissionScopes\\":[{\\"id\\":\\"${mcpScopeId}\\",\\"value\\":\\"user_impersonation\\",\\"type\\":\\"User\\",\\"isEnabled\\":true,\\"adminConsentDisplayName\\":\\"Call the MCP server\\",\\"adminConsentDescription\\":\\"Call the MCP server for the user\\"}],\\"preAuthorizedApplications\\":[{\\"appId\\":\\"$RELAY\\",\\"delegatedPermissionIds\\":[\\"${mcpScopeId}\\"]}]}}"
az ad sp create --id $MCP

# 4. A test user without MFA (ROPC cannot do MFA): only in a test tenant.
az ad user create --display-name "obo-relay test user" --user-principal-name ${user} \\
  --password "<a long random password>" --force-change-password-next-sign-in false

# 5. What the live suite reads:
cat <<ENV
export ENTRA_TEST_TENANT_ID=$(az account show --query tenantId -o tsv)
export ENTRA_TEST_CLIENT_ID=$RELAY
export ENTRA_TEST_CLIENT_SECRET=$RELAY_SECRET
export ENTRA_TEST_SCOPE=api://$RELAY/user_impersonation
export ENTRA_TEST_PUBLIC_CLIENT_ID=$CLI
export ENTRA_TEST_USERNAME=${user}
export ENTRA_TEST_PASSWORD='<the password above>'
export ENTRA_TEST_MCP_SCOPE=api://$MCP/user_impersonation
export ENTRA_TEST_MCP_CLIENT_ID=$MCP
ENV
# Then: npx vitest run test/live
`)
