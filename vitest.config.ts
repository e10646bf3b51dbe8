import { configDefaults, defineConfig } from 'vitest/config'

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    // Finds or installs Chromium and redis-server, prints what it did, and provides their paths (inject).
    globalSetup: ['test/setup/provision.ts'],
    // The compose test runs real containers for minutes, alone, after every other test (its own project,
    // vitest.compose.config.ts; `npm run test:compose` runs it by itself). The groupOrders are explicit: with one
    // worker, as on 2 cores, vitest runs a groupOrder-0 project after every other group.
    exclude: [...configDefaults.exclude, 'test/compose/compose.test.ts'],
    projects: [{ extends: true, test: { name: 'unit', sequence: { groupOrder: 1 } } }, './vitest.compose.config.ts'],
    // Every suite starts real servers (HTTPS emulator, MCP servers): give them room, but bounded.
    testTimeout: 30_000,
    hookTimeout: 60_000,
    pool: 'forks',
    reporters: ['default', 'json'],
    outputFile: { json: 'test-results/vitest.json' },
  },
})
