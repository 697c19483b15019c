// How to start a worker thread on one of clipts' modules. From the compiled
// package the entry is the module's .js file. When clipts runs from
// TypeScript source (vitest, tsx) that file is a .ts, which plain Node cannot
// load, so a small bootstrap registers tsx's ESM hooks in the worker first.
import { existsSync } from "node:fs";
import { createRequire } from "node:module";
import { fileURLToPath, pathToFileURL } from "node:url";

/** `js`: the worker module's compiled URL (new URL("./x-worker.js", import.meta.url)). */
export function workerEntry(js: URL): { entry: URL | string; eval: boolean } {
  if (existsSync(fileURLToPath(js))) return { entry: js, eval: false };
  const ts = js.href.replace(/\.js$/, ".ts");
  // require.resolve gives the CommonJS build of tsx/esm/api; its ESM twin
  // (the "import" export) sits beside it.
  const api = createRequire(import.meta.url).resolve("tsx/esm/api").replace(/\.cjs$/, ".mjs");
  const boot = `import(${JSON.stringify(pathToFileURL(api).href)}).then((m) => { m.register(); return import(${JSON.stringify(ts)}); })`;
  return { entry: boot, eval: true };
}
