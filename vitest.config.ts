// One vitest config for every package: tests resolve workspace packages to their
// TypeScript source through the "@sansmqtt/source" export condition, so a test
// run needs no build.
import { defineConfig } from "vitest/config";

export default defineConfig({
  resolve: { conditions: ["@sansmqtt/source"] },
  ssr: { resolve: { conditions: ["@sansmqtt/source"], externalConditions: ["@sansmqtt/source"] } },
  test: {
    include: ["test/**/*.test.ts"],
    testTimeout: 20_000,
  },
});
