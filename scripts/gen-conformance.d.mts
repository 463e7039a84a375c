// Types for scripts/gen-conformance.mjs, which packages/core/test/conformance.coverage.test.ts imports.
export interface ChecklistRow {
  id: string;
  binds: "codec" | "client" | "both";
  area: string;
  layer: "codec" | "engine" | "transport";
  paraphrase: string;
}
export declare const REPO_ROOT: string;
export declare const DOC: string;
export declare const REGENERATE: string;
export declare const CHECKLISTS: ReadonlyArray<{ version: string; file: string }>;
export declare const COLUMNS: readonly string[];
export declare const LAYERS: ReadonlyArray<ChecklistRow["layer"]>;
export declare function readChecklist(file: string, root?: string): ChecklistRow[];
export declare function testTitles(source: string): string[];
export declare const ID_IN_TITLE: RegExp;
export declare function testFiles(root?: string): string[];
export declare function taggedIds(root?: string): Map<string, string[]>;
export declare function renderConformance(root?: string): string;
