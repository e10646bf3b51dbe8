import { defineConfig } from 'vitest/config'

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    // Finds or installs Chromium and redis-server, prints what it did, and provides their paths (inject).
    globalSetup: ['test/setup/provision.ts'],
    // Every suite starts real servers (HTTPS emulator, MCP servers): give them room, but bounded.
    testTimeout: 30_000,
    hookTimeout: 60_000,
    pool: 'forks',
    reporters: ['default', 'json'],
    outputFile: { json: 'test-results/vitest.json' },
  },
})
