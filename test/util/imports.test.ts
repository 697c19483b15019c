// The import graph of src/ follows the data flow (curation -> data -> train ->
// eval -> ablation over shared util/backend/text/image/formats/model/loss) and
// has no cycles; the checker itself is shown to catch both on a small tree.
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterAll, describe, expect, it } from "vitest";
// @ts-expect-error plain .mjs script without types
import { checkImports } from "../../scripts/check-imports.mjs";

type Check = (root?: string) => { files: number; problems: string[] };
const check = checkImports as Check;
const work = mkdtempSync(path.join(tmpdir(), "clipts-imports-"));
afterAll(() => rmSync(work, { recursive: true, force: true }));

function tree(files: Record<string, string>): string {
  const root = mkdtempSync(path.join(work, "src-"));
  for (const [name, text] of Object.entries(files)) {
    mkdirSync(path.dirname(path.join(root, name)), { recursive: true });
    writeFileSync(path.join(root, name), text);
  }
  return root;
}

describe("import graph", () => {
  it("src/ has no cycle and no import against the data flow", () => {
    const { files, problems } = check();
    expect(files).toBeGreaterThan(100);
    expect(problems).toEqual([]);
  });

  it("reports an upward import, a cycle, a missing file and an unknown folder", () => {
    const root = tree({
      "curation/a.ts": 'import { x } from "../train/b.js";\nexport const a = x;\n',
      "train/b.ts": "export const x = 1;\n",
      "util/c.ts": 'import type { D } from "./d.js";\nexport type C = D;\n',
      "util/d.ts": 'import type { C } from "./c.js";\nexport type D = C | number;\n',
      "data/e.ts": 'import { gone } from "./missing.js";\nimport { y } from "../extra/f.js";\nexport const e = [gone, y];\n',
      "extra/f.ts": "export const y = 2;\n",
      "eval/g.ts": '// import { x } from "../ablation/h.js";  (a comment is no import)\nimport { x } from "../train/b.js";\nexport const g = x;\n',
    });
    const { problems } = check(root);
    expect(problems.sort()).toEqual([
      "curation/a.ts: curation imports train/b.ts, a later stage (train)",
      "data/e.ts: folder extra has no place in the stage order (add it to LEVEL)",
      "data/e.ts: imports data/missing.ts, which does not exist",
      "import cycle: util/c.ts -> util/d.ts -> util/c.ts",
    ]);
  });
});
