/**
 * Every `codec` row of the conformance checklists has at least one test whose
 * title carries its ID in brackets, e.g. it("[MQTT-3.3.1-4] ...").
 *
 * The checklists live outside the repository: <repo>/../shared/conformance/
 * (in CI the repository is cloned next to `shared/`). Rows bound to `client` or
 * `both` belong to the engine, except the transport rows listed in `notEngine`.
 */
import { readdirSync, readFileSync, statSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";

const SELF = fileURLToPath(import.meta.url);
const TEST_DIR = dirname(SELF); // <repo>/packages/core/test
const REPO_ROOT = resolve(TEST_DIR, "../../..");
const CONFORMANCE_DIR = resolve(REPO_ROOT, "../shared/conformance");

interface Row {
  id: string;
  binds: string;
  area: string;
  paraphrase: string;
}

function readChecklist(file: string): Row[] {
  const path = join(CONFORMANCE_DIR, file);
  const text = readFileSync(path, "utf8");
  const lines = text.split(/\r?\n/).filter((l) => l.trim() !== "");
  const header = lines[0]?.split("\t") ?? [];
  expect(header.slice(0, 4), `${path} header`).toEqual(["id", "binds", "area", "paraphrase"]);
  return lines.slice(1).map((l) => {
    const [id = "", binds = "", area = "", paraphrase = ""] = l.split("\t");
    return { id: id.trim(), binds: binds.trim(), area: area.trim(), paraphrase };
  });
}

function testFiles(dir: string): string[] {
  const out: string[] = [];
  for (const name of readdirSync(dir)) {
    const p = join(dir, name);
    if (statSync(p).isDirectory()) out.push(...testFiles(p));
    else if (/\.test\.[cm]?[jt]sx?$/.test(name)) out.push(p);
  }
  return out;
}

/**
 * Titles of it()/test() calls (also it.only/skip/concurrent/fails and the title
 * after it.each(...)), as written in the source.
 */
export function testTitles(source: string): string[] {
  const titles: string[] = [];
  const str = String.raw`(["'\x60])((?:\\.|(?!\1)[^\\])*)\1`;
  const direct = new RegExp(String.raw`\b(?:it|test)(?:\.(?:only|skip|concurrent|fails|sequential))*\(\s*` + str, "g");
  const each = new RegExp(String.raw`\b(?:it|test)(?:\.\w+)*\.each\([\s\S]*?\)\(\s*` + str, "g");
  for (const re of [direct, each]) {
    for (const m of source.matchAll(re)) titles.push(m[2]!);
  }
  return titles;
}

const ID_IN_TITLE = /\[(MQTT-[0-9A-Za-z.-]+)\]/g;

function taggedIds(): Map<string, string[]> {
  const ids = new Map<string, string[]>();
  for (const file of testFiles(TEST_DIR)) {
    if (file === SELF) continue; // its parser self-test holds sample titles
    const rel = file.slice(TEST_DIR.length + 1);
    for (const title of testTitles(readFileSync(file, "utf8"))) {
      for (const m of title.matchAll(ID_IN_TITLE)) {
        const id = m[1]!;
        const where = ids.get(id) ?? [];
        if (!where.includes(rel)) where.push(rel);
        ids.set(id, where);
      }
    }
  }
  return ids;
}

describe("conformance coverage", () => {
  const checklists = [
    {
      file: "mqtt-v5-client.tsv",
      rows: 146,
      codec: 56,
      notEngine: ["MQTT-4.2-1", "MQTT-6.0.0-1", "MQTT-6.0.0-2", "MQTT-6.0.0-3", "MQTT-7.0.0-2", "MQTT-7.1.2-1"],
    },
    {
      file: "mqtt-v311-client.tsv",
      rows: 81,
      codec: 46,
      notEngine: ["MQTT-6.0.0-1", "MQTT-6.0.0-2", "MQTT-6.0.0-3", "MQTT-7.0.0-2", "MQTT-7.1.2-1"],
    },
  ];

  it("finds the checklists next to the repository", () => {
    expect(statSync(CONFORMANCE_DIR, { throwIfNoEntry: false })?.isDirectory(), `no directory ${CONFORMANCE_DIR}`).toBe(true);
  });

  it("title parser sees plain, modified and .each titles", () => {
    const src = [
      'it("[MQTT-1] a", () => {});',
      "test('[MQTT-2] b', () => {});",
      "it.skip(`[MQTT-3] c`, () => {});",
      'it.each([[1, 2]])("[MQTT-4] d %i", () => {});',
      'const notATitle = "[MQTT-5]";',
    ].join("\n");
    const ids = testTitles(src).flatMap((t) => [...t.matchAll(ID_IN_TITLE)].map((m) => m[1]));
    expect(ids).toEqual(["MQTT-1", "MQTT-2", "MQTT-3", "MQTT-4"]);
  });

  const tagged = taggedIds();

  for (const c of checklists) {
    it(`every codec row of ${c.file} has a tagged test`, () => {
      const rows = readChecklist(c.file);
      expect(rows.length).toBe(c.rows);
      const codec = rows.filter((r) => r.binds === "codec");
      expect(codec.length).toBe(c.codec);
      const missing = codec.filter((r) => !tagged.has(r.id));
      expect(
        missing.map((r) => r.id),
        `codec rows of ${c.file} without a test tagged [ID]:\n${missing.map((r) => `  ${r.id}\t${r.paraphrase}`).join("\n")}`,
      ).toEqual([]);

      const engine = rows.filter((r) => r.binds === "client" || r.binds === "both");
      const engineCovered = engine.filter((r) => tagged.has(r.id));
      console.log(
        `${c.file}: codec ${codec.length - missing.length}/${codec.length}; ` +
          `client+both ${engineCovered.length}/${engine.length} (${c.notEngine.length} belong to transports, see conformance.engine.test.ts)`,
      );
    });

    it(`every client and both row of ${c.file} that the engine enforces has a tagged test`, () => {
      const rows = readChecklist(c.file).filter((r) => r.binds === "client" || r.binds === "both");
      const missing = rows.filter((r) => !tagged.has(r.id)).map((r) => r.id);
      // Exactly the rows documented at the top of conformance.engine.test.ts as
      // not the engine's to enforce: a new gap, or a stale exclusion, fails here.
      expect(missing, `client/both rows of ${c.file} without a tagged test`).toEqual(c.notEngine);
    });
  }

  it("reports tagged IDs that are in neither checklist", () => {
    const known = new Set(checklists.flatMap((c) => readChecklist(c.file).map((r) => r.id)));
    const unknown = [...tagged.keys()].filter((id) => !known.has(id)).sort();
    if (unknown.length > 0) console.log(`tagged IDs not in the checklists (server-side or informative): ${unknown.join(", ")}`);
    // Every such ID must still look like a standard ID.
    for (const id of unknown) expect(id).toMatch(/^MQTT-\d+(?:[.-]\d+)*-\d+$/);
  });
});
