// The live suite's journey (test/live/journey.ts) against the emulator, with v2 and with v1 tokens for the
// relay's API: the same body a real tenant runs.
import { afterAll, beforeAll, describe } from 'vitest'
import { DEV_RELAY_CLIENT_ID } from '../../dev/entra-emulator/index.ts'
import { journey, type JourneyTarget } from '../live/journey.ts'
import { startTestStack, type TestStack } from '../helpers/stack.ts'

for (const version of [2, 1] as const) {
  describe(`journey against the emulator, relay API on v${version} tokens`, () => {
    let stack: TestStack
    beforeAll(async () => {
      stack = await startTestStack()
      stack.emulator.registry.updateApp(DEV_RELAY_CLIENT_ID, { accessTokenAcceptedVersion: version === 2 ? 2 : null })
    })
    afterAll(async () => { await stack?.close() })
    const target = (): JourneyTarget => ({
      relayUrl: stack.relayUrl,
      userToken: async () => await stack.userToken('alice@contoso.test'),
      username: 'alice@contoso.test',
      relayClientId: DEV_RELAY_CLIENT_ID,
      serverId: 'notes',
    })
    journey(target, version === 2 ? '2.0' : '1.0')
  })
}
