/**
 * The conformance checklists (conformance/*.tsv at the repository root, see
 * conformance/README.md) against the tests: every `codec` and `engine` row has
 * at least one test, in any package, whose title carries its ID in brackets,
 * e.g. it("[MQTT-3.3.1-4] ..."). `transport` rows (the byte stream, WebSocket
 * framing, interoperation; listed at the top of conformance.engine.test.ts) are
 * not required yet. docs/conformance.md, generated from the same data by
 * scripts/gen-conformance.mjs, must be up to date.
 */
import { readFileSync, statSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import {
  CHECKLISTS,
  DOC,
  ID_IN_TITLE,
  REGENERATE,
  REPO_ROOT,
  readChecklist,
  renderConformance,
  taggedIds,
  testTitles,
} from "../../../scripts/gen-conformance.mjs";

const EXPECTED_COUNTS: Record<string, { rows: number; codec: number; engine: number; transport: number }> = {
  "5.0": { rows: 146, codec: 56, engine: 84, transport: 6 },
  "3.1.1": { rows: 81, codec: 46, engine: 30, transport: 5 },
};

describe("conformance coverage", () => {
  it("title parser sees plain, modified, describe and .each titles", () => {
    const src = [
      'it("[MQTT-1] a", () => {});',
      "test('[MQTT-2] b', () => {});",
      "it.skip(`[MQTT-3] c`, () => {});",
      'it.each([[1, 2]])("[MQTT-4] d %i", () => {});',
      'describe("[MQTT-5] [MQTT-6] e", () => {});',
      'const notATitle = "[MQTT-7]";',
    ].join("\n");
    const ids = testTitles(src).flatMap((t) => [...t.matchAll(ID_IN_TITLE)].map((m) => m[1]));
    expect(ids.sort()).toEqual(["MQTT-1", "MQTT-2", "MQTT-3", "MQTT-4", "MQTT-5", "MQTT-6"]);
  });

  const tagged = taggedIds();
  const lists = CHECKLISTS.map((c) => ({ ...c, rows: readChecklist(c.file) }));

  for (const c of lists) {
    it(`${c.file} has the expected rows per layer`, () => {
      const count = (layer: string) => c.rows.filter((r) => r.layer === layer).length;
      expect({ rows: c.rows.length, codec: count("codec"), engine: count("engine"), transport: count("transport") }).toEqual(
        EXPECTED_COUNTS[c.version],
      );
    });

    for (const layer of ["codec", "engine"] as const) {
      it(`every ${layer} row of ${c.file} has a tagged test`, () => {
        const missing = c.rows.filter((r) => r.layer === layer && !tagged.has(r.id));
        expect(
          missing.map((r) => r.id),
          `${layer} rows of ${c.file} without a test tagged [ID]:\n${missing.map((r) => `  ${r.id}\t${r.paraphrase}`).join("\n")}`,
        ).toEqual([]);
      });
    }
  }

  it("tagged IDs that are in neither checklist still look like standard IDs", () => {
    const known = new Set(lists.flatMap((c) => c.rows.map((r) => r.id)));
    const malformed = [...tagged.keys()].filter((id) => !known.has(id) && !/^MQTT-\d+(?:[.-]\d+)*-\d+$/.test(id));
    expect(
      malformed.map((id) => `${id} in ${tagged.get(id)!.join(", ")}`),
      "IDs as the standard prints them, each in its own brackets: [MQTT-6.0.0-1] [MQTT-6.0.0-2], not [MQTT-6.0.0-1..2]",
    ).toEqual([]);
  });

  it(`${DOC} is up to date`, () => {
    const path = join(REPO_ROOT, DOC);
    const current = statSync(path, { throwIfNoEntry: false }) ? readFileSync(path, "utf8") : "";
    const wanted = renderConformance();
    if (current === wanted) return;
    const a = current.split("\n");
    const b = wanted.split("\n");
    let i = 0;
    while (a[i] === b[i]) i++;
    expect.unreachable(
      `${DOC} is stale: run \`${REGENERATE}\` and commit the result.\n` +
        `first difference at line ${i + 1}:\n  file:      ${a[i] ?? "(end of file)"}\n  generated: ${b[i] ?? "(end of file)"}`,
    );
  });

  // The team's original copy of the checklists, when a folder "shared" sits next
  // to the clone (as in CI). A clone with nothing beside it registers no test here.
  const sharedDir = join(REPO_ROOT, "..", "shared", "conformance");
  if (statSync(sharedDir, { throwIfNoEntry: false })?.isDirectory()) {
    for (const c of lists) {
      const name = c.file.slice(c.file.lastIndexOf("/") + 1);
      it(`${c.file} has the same id, binds, area and paraphrase as ${join(sharedDir, name)}`, () => {
        const theirs = readFileSync(join(sharedDir, name), "utf8").trimEnd().split("\n");
        expect(theirs[0]).toBe("id\tbinds\tarea\tparaphrase");
        const ours = ["id\tbinds\tarea\tparaphrase", ...c.rows.map((r) => [r.id, r.binds, r.area, r.paraphrase].join("\t"))];
        expect(ours).toEqual(theirs);
      });
    }
  }
});
