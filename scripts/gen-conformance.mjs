#!/usr/bin/env node
// Writes docs/conformance.md: every statement of the conformance checklists
// (conformance/*.tsv), the layer it binds, and the test files whose test titles
// carry its ID in brackets ("[MQTT-3.3.1-4]").
//
//   node scripts/gen-conformance.mjs           regenerate docs/conformance.md
//   node scripts/gen-conformance.mjs --check   exit 1 if docs/conformance.md is stale
//
// The output depends only on the checklists and the test sources (files and IDs
// sorted), so two runs on the same tree give the same bytes.
// packages/core/test/conformance.coverage.test.ts imports this module: it fails
// when the document is stale and when a codec or engine row has no tagged test.
import { readdirSync, readFileSync, statSync, writeFileSync } from "node:fs";
import { dirname, join, relative, sep } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";

export const REPO_ROOT = join(dirname(fileURLToPath(import.meta.url)), "..");
export const DOC = "docs/conformance.md";
export const REGENERATE = "node scripts/gen-conformance.mjs";

export const CHECKLISTS = [
  { version: "5.0", file: "conformance/mqtt-v5-client.tsv" },
  { version: "3.1.1", file: "conformance/mqtt-v311-client.tsv" },
];
export const COLUMNS = ["id", "binds", "area", "layer", "paraphrase"];
export const LAYERS = ["codec", "engine", "transport"];
const BINDS = ["codec", "client", "both"];

/** The rows of one checklist; throws on a malformed file. */
export function readChecklist(file, root = REPO_ROOT) {
  const lines = readFileSync(join(root, file), "utf8").split("\n");
  if (lines.at(-1) === "") lines.pop();
  const header = lines.shift()?.split("\t");
  if (header?.join("\t") !== COLUMNS.join("\t")) {
    throw new Error(`${file}: the header must be ${COLUMNS.join(" ")}, not ${header?.join(" ")}`);
  }
  const seen = new Set();
  return lines.map((line, i) => {
    const where = `${file}:${i + 2}`;
    const cells = line.split("\t");
    if (cells.length !== COLUMNS.length || cells.some((c) => c !== c.trim() || c === "")) {
      throw new Error(`${where}: expected ${COLUMNS.length} non-empty tab-separated cells without padding`);
    }
    const [id, binds, area, layer, paraphrase] = cells;
    if (!/^MQTT-\d+(?:[.-]\d+)*-\d+$/.test(id)) throw new Error(`${where}: "${id}" is not an MQTT statement ID`);
    if (seen.has(id)) throw new Error(`${where}: ${id} appears twice`);
    seen.add(id);
    if (!BINDS.includes(binds)) throw new Error(`${where}: binds "${binds}" is not one of ${BINDS.join(", ")}`);
    if (!LAYERS.includes(layer)) throw new Error(`${where}: layer "${layer}" is not one of ${LAYERS.join(", ")}`);
    if ((binds === "codec") !== (layer === "codec")) {
      throw new Error(`${where}: binds "codec" and layer "codec" go together (binds ${binds}, layer ${layer})`);
    }
    if (paraphrase.includes("|")) throw new Error(`${where}: a paraphrase may not contain "|" (it breaks the Markdown table)`);
    return { id, binds, area, layer, paraphrase };
  });
}

/**
 * Titles of describe()/it()/test() calls as written in the source (also
 * .only/.skip/.concurrent/.fails/.sequential/.todo, and the title after .each(...)).
 */
export function testTitles(source) {
  const titles = [];
  const str = String.raw`(["'\x60])((?:\\.|(?!\1)[^\\])*)\1`;
  const call = String.raw`\b(?:describe|it|test)`;
  const direct = new RegExp(call + String.raw`(?:\.(?:only|skip|concurrent|fails|sequential|todo))*\(\s*` + str, "g");
  const each = new RegExp(call + String.raw`(?:\.\w+)*\.each\([\s\S]*?\)\(\s*` + str, "g");
  for (const re of [direct, each]) {
    for (const m of source.matchAll(re)) titles.push(m[2]);
  }
  return titles;
}

export const ID_IN_TITLE = /\[(MQTT-[0-9A-Za-z.-]+)\]/g;

/** Test files (repo-relative, "/"-separated, sorted) under packages/<name>/test/. */
export function testFiles(root = REPO_ROOT) {
  const out = [];
  const walk = (dir) => {
    for (const name of readdirSync(dir).sort()) {
      const p = join(dir, name);
      if (statSync(p).isDirectory()) walk(p);
      else if (/\.test\.[cm]?[jt]sx?$/.test(name)) out.push(relative(root, p).split(sep).join("/"));
    }
  };
  for (const pkg of readdirSync(join(root, "packages")).sort()) {
    const dir = join(root, "packages", pkg, "test");
    if (statSync(dir, { throwIfNoEntry: false })?.isDirectory()) walk(dir);
  }
  return out.sort();
}

// Its title parser self-test holds sample titles with made-up IDs.
const PARSER_SELF_TEST = "packages/core/test/conformance.coverage.test.ts";

/** ID -> the test files (sorted) with a test or describe title carrying it. */
export function taggedIds(root = REPO_ROOT) {
  const ids = new Map();
  for (const file of testFiles(root)) {
    if (file === PARSER_SELF_TEST) continue;
    for (const title of testTitles(readFileSync(join(root, file), "utf8"))) {
      for (const m of title.matchAll(ID_IN_TITLE)) {
        const where = ids.get(m[1]) ?? [];
        if (!where.includes(file)) where.push(file);
        ids.set(m[1], where);
      }
    }
  }
  return new Map([...ids].sort(([a], [b]) => compareIds(a, b)));
}

/** Orders IDs the way the standard numbers them (MQTT-3.10 after MQTT-3.9). */
function compareIds(a, b) {
  const pa = a.split(/[.-]/);
  const pb = b.split(/[.-]/);
  for (let i = 0; i < Math.min(pa.length, pb.length); i++) {
    const d = Number(pa[i]) - Number(pb[i]); // NaN (not a number) is falsy: compare as text
    if (d) return d;
    if (pa[i] !== pb[i]) return pa[i] < pb[i] ? -1 : 1;
  }
  return pa.length - pb.length;
}

const LAYER_MEANING = {
  codec: "a wire-format rule: what `encodePacket` produces and what `PacketDecoder` accepts (`@sansmqtt/core`, src/codec)",
  engine: "protocol behaviour of the Sans-IO engine `MqttConnection` (`@sansmqtt/core`, src/engine)",
  transport: "the byte stream under the engine, or the client working against real brokers (`@sansmqtt/transport-*`)",
};

/** The text of docs/conformance.md for the tree at root. */
export function renderConformance(root = REPO_ROOT) {
  const tagged = taggedIds(root);
  const lists = CHECKLISTS.map((c) => ({ ...c, rows: readChecklist(c.file, root) }));
  const files = (id) => (tagged.get(id) ?? []).map((f) => `\`${f.replace(/^packages\//, "")}\``).join(", ");
  // IDs whose statement differs between the two versions: a tag counts for both.
  const meaning = new Map();
  for (const c of lists) for (const r of c.rows) meaning.set(`${c.version} ${r.id}`, r.paraphrase);
  const ambiguous = (c, r) =>
    lists.some((o) => o !== c && meaning.has(`${o.version} ${r.id}`) && meaning.get(`${o.version} ${r.id}`) !== r.paraphrase);

  const out = [];
  out.push(
    "# MQTT conformance: statements and the tests that cover them",
    "",
    `Generated by \`${REGENERATE}\` from the checklists in \`conformance/\` and the`,
    "`[MQTT-…]` IDs in the `describe`/`it`/`test` titles of `packages/*/test/**/*.test.ts`. Do not edit it",
    "by hand: `packages/core/test/conformance.coverage.test.ts` fails when it is stale. What the columns",
    "mean, and why each row has the layer it has: [conformance/README.md](../conformance/README.md).",
    "",
    "A row counts as covered when at least one test title carries its ID; that a test covers the",
    "statement well is for review to judge. Paraphrases are the project's own short wording; the",
    "OASIS standard has the normative text.",
    "",
    "Layers:",
    "",
    ...LAYERS.map((l) => `* **${l}**: ${LAYER_MEANING[l]}`),
    "",
    "## Summary",
    "",
    "| version | layer | statements | with a tagged test | without |",
    "| --- | --- | ---: | ---: | ---: |",
  );
  for (const c of lists) {
    const line = (label, rows) => {
      const covered = rows.filter((r) => tagged.has(r.id)).length;
      out.push(`| MQTT ${c.version} | ${label} | ${rows.length} | ${covered} | ${rows.length - covered} |`);
    };
    for (const l of LAYERS) line(l, c.rows.filter((r) => r.layer === l));
    line("**all**", c.rows);
  }
  for (const c of lists) {
    const uncovered = c.rows.filter((r) => !tagged.has(r.id));
    out.push(
      "",
      `## MQTT ${c.version}`,
      "",
      `From \`${c.file}\`: ${c.rows.length} statements, ${uncovered.length} without a tagged test` +
        (uncovered.length ? ` (${uncovered.map((r) => r.id).join(", ")}).` : "."),
    );
    if (c.rows.some((r) => ambiguous(c, r))) {
      out.push(
        "",
        "¹ The other version's checklist uses this ID for a different statement. Tests are matched by",
        "ID alone, so a test tagged with it is listed under both versions.",
      );
    }
    out.push("", "| id | layer | binds | area | statement (paraphrase) | tests |", "| --- | --- | --- | --- | --- | --- |");
    for (const r of c.rows) {
      const id = ambiguous(c, r) ? `${r.id}&nbsp;¹` : r.id;
      out.push(`| ${id} | ${r.layer} | ${r.binds} | ${r.area} | ${r.paraphrase} | ${files(r.id) || "**none**"} |`);
    }
  }
  const known = new Set(lists.flatMap((c) => c.rows.map((r) => r.id)));
  const others = [...tagged.keys()].filter((id) => !known.has(id));
  if (others.length > 0) {
    out.push(
      "",
      "## Tagged IDs in neither checklist",
      "",
      "Statements whose actor is the server, or informative ones, that tests cite anyway.",
      "",
      "| id | tests |",
      "| --- | --- |",
      ...others.map((id) => `| ${id} | ${files(id)} |`),
    );
  }
  return out.join("\n") + "\n";
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const docPath = join(REPO_ROOT, DOC);
  const text = renderConformance();
  if (process.argv.includes("--check")) {
    const current = statSync(docPath, { throwIfNoEntry: false }) ? readFileSync(docPath, "utf8") : "";
    if (current !== text) {
      console.error(`${DOC} is stale: run \`${REGENERATE}\``);
      process.exit(1);
    }
    console.log(`${DOC} is up to date`);
  } else {
    writeFileSync(docPath, text);
    console.log(`wrote ${DOC}`);
  }
}
