// The browser entry bundles with no Node built-in and without the ws package:
// rolldown bundles `import { WsTransport } from "@sansmqtt/transport-ws"` for
// platform "browser" through the package's export map, and the output imports nothing.
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { rolldown } from "rolldown";
import { describe, expect, it } from "vitest";

const pkgDir = fileURLToPath(new URL("..", import.meta.url));

async function bundle(platform: "browser" | "node"): Promise<{ code: string; imports: string[] }> {
  const dir = mkdtempSync(join(tmpdir(), "sansmqtt-bundle-"));
  try {
    const entry = join(pkgDir, "test", `.bundle-entry-${platform}-${process.pid}.ts`);
    writeFileSync(entry, 'export { WsTransport } from "@sansmqtt/transport-ws";\n');
    try {
      const b = await rolldown({
        input: entry,
        platform,
        logLevel: "silent",
        // Resolve workspace packages to their source, as the tests do; otherwise the
        // default conditions of the platform ("browser" or "node", "import", "default").
        resolve: { conditionNames: ["@sansmqtt/source", "import", platform, "default"] },
        external: platform === "node" ? [/^node:/, "ws", "socks"] : [],
      });
      const { output } = await b.generate({ format: "esm" });
      await b.close();
      const chunk = output[0];
      return { code: chunk.code, imports: [...chunk.imports, ...chunk.dynamicImports] };
    } finally {
      rmSync(entry, { force: true });
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

describe("transport-ws in a browser bundle", () => {
  it("platform browser: the standard-API entry, no node: import, no ws, no import left at all", async () => {
    const { code, imports } = await bundle("browser");
    expect(imports).toEqual([]);
    expect(code).not.toMatch(/["']node:|from\s*["']ws["']|require\(/);
    expect(code).toContain("binaryType"); // the standard-API transport is in there
    expect(code).not.toContain("unexpected-response"); // the ws-only code is not
  });

  it("platform node (the check can fail): the node entry imports ws and Node built-ins", async () => {
    const { imports } = await bundle("node");
    expect(imports).toContain("ws");
    expect(imports.some((i) => i.startsWith("node:"))).toBe(true);
  });
});
