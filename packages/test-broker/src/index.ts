// The throwaway broker's address (scripts/with-broker.sh exports it) and names
// no other test uses. A leaf package, so that packages test-support depends on
// (loop-external) can use it in their own tests without a cycle. Private.
/** A variable that scripts/with-broker.sh exports. Missing means the test fails, never skips. */
export function brokerEnv(name: string): string {
  const value = process.env[name];
  if (!value) {
    throw new Error(
      `${name} is not set: these tests need the throwaway broker. ` +
        "Run them with `bash scripts/test.sh`, or `bash scripts/with-broker.sh pnpm exec turbo run test`.",
    );
  }
  return value;
}

export function brokerPort(name: string): number {
  const port = Number(brokerEnv(name));
  if (!Number.isInteger(port) || port <= 0 || port > 65535) throw new Error(`${name} is not a port: ${process.env[name]}`);
  return port;
}

/** A topic no other test (or earlier run) publishes to. */
export function uniqueTopic(label: string): string {
  return `sansmqtt/test/${label}/${Math.random().toString(36).slice(2, 10)}`;
}

export function uniqueClientId(label: string): string {
  return `sansmqtt-${label}-${Math.random().toString(36).slice(2, 10)}`;
}

export const text = (s: string): Uint8Array => new TextEncoder().encode(s);
export const untext = (b: Uint8Array): string => new TextDecoder().decode(b);
