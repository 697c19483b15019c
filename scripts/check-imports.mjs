#!/usr/bin/env node
// Checks the import graph of src/: no cycles between files, and no import
// that runs against the data flow (curation -> data -> train -> eval ->
// ablation, with util, backend, text, model and loss shared below them and
// the CLI and the package index above everything).
//
// Usage: node scripts/check-imports.mjs [SRC_DIR]
// Prints each problem on a line and exits 1 when there is any.
import { readdirSync, readFileSync, statSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";

const SRC = path.join(path.dirname(fileURLToPath(import.meta.url)), "..", "src");

// A folder may import folders of its own level or below. Shared folders sit
// at level 0 and may not import each other upward either (model -> loss is
// fine only if loss is not above model: they are peers, so their mutual
// imports are left to the cycle check).
const LEVEL = {
  util: 0, backend: 0, text: 0, image: 0, model: 0, loss: 0, formats: 0,
  curation: 1, data: 2, train: 3, eval: 4, ablation: 5,
  cli: 6, ".": 6,
};

/** Every .ts file under dir, as paths relative to root. */
function listFiles(root, dir = root) {
  const out = [];
  for (const name of readdirSync(dir)) {
    const full = path.join(dir, name);
    if (statSync(full).isDirectory()) out.push(...listFiles(root, full));
    else if (name.endsWith(".ts") && !name.endsWith(".d.ts")) out.push(path.relative(root, full));
  }
  return out;
}

// Static imports and re-exports (`import ... from "x"`, `export ... from "x"`,
// `import "x"`) and dynamic `import("x")`; type-only imports count too, since
// they tie the modules' meanings together just the same.
const IMPORT_RE = /(?:\bfrom\s*|\bimport\s*\(\s*|\bimport\s+)["']([^"']+)["']/g;

function importsOf(root, file) {
  const text = readFileSync(path.join(root, file), "utf8").replace(/\/\*[\s\S]*?\*\/|\/\/[^\n]*/g, "");
  const targets = [];
  for (const m of text.matchAll(IMPORT_RE)) {
    const spec = m[1];
    if (!spec.startsWith(".")) continue;
    const resolved = path.normalize(path.join(path.dirname(file), spec)).replace(/\.js$/, ".ts");
    targets.push(resolved);
  }
  return targets;
}

const folderOf = (file) => (file.includes(path.sep) ? file.split(path.sep)[0] : ".");

/** The import graph's problems under `root` (default: this checkout's src/). */
export function checkImports(root = SRC) {
  root = path.resolve(root);
  const files = listFiles(root);
  const known = new Set(files);
  const graph = new Map();
  const problems = [];
  for (const file of files) {
    const deps = importsOf(root, file).filter((d) => {
      if (known.has(d)) return true;
      problems.push(`${file}: imports ${d}, which does not exist`);
      return false;
    });
    graph.set(file, deps);
    const from = folderOf(file);
    for (const dep of deps) {
      const to = folderOf(dep);
      if (!(from in LEVEL) || !(to in LEVEL)) {
        problems.push(`${file}: folder ${!(from in LEVEL) ? from : to} has no place in the stage order (add it to LEVEL)`);
      } else if (LEVEL[to] > LEVEL[from]) {
        problems.push(`${file}: ${from} imports ${dep}, a later stage (${to})`);
      }
    }
  }
  // Cycles: depth-first search with colours; each back edge closes a cycle.
  const state = new Map();
  const stack = [];
  const visit = (file) => {
    state.set(file, 1);
    stack.push(file);
    for (const dep of graph.get(file)) {
      if (state.get(dep) === 1) {
        problems.push(`import cycle: ${[...stack.slice(stack.indexOf(dep)), dep].join(" -> ")}`);
      } else if (!state.has(dep)) visit(dep);
    }
    stack.pop();
    state.set(file, 2);
  };
  for (const file of files) if (!state.has(file)) visit(file);
  return { files: files.length, problems };
}

if (process.argv[1] && fileURLToPath(import.meta.url) === path.resolve(process.argv[1])) {
  const root = path.resolve(process.argv[2] ?? SRC);
  const { files, problems } = checkImports(root);
  for (const p of problems) console.log(p);
  console.log(`${files} files under ${path.relative(process.cwd(), root) || "."}: ${problems.length} problem(s)`);
  process.exit(problems.length ? 1 : 0);
}
