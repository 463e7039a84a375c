/** The package README stays true to the code it documents. */
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
import { ErrorCode } from "../src/index.js";

const root = fileURLToPath(new URL("..", import.meta.url));

describe("documentation", () => {
  it("the README lists every error code", () => {
    const readme = readFileSync(join(root, "README.md"), "utf8");
    const missing = Object.values(ErrorCode).filter((code) => !readme.includes(`| \`${code}\` |`));
    expect(missing).toEqual([]);
  });
});
