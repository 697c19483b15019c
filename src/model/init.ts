// Seeded initialization following a ParamSpec table. Each tensor draws from
// its own generator seeded by (seed, name), so a tensor's values do not depend
// on which other tensors a config has.
import { hashUniform, Rng } from "../util/hash.js";
import type { InitSpec } from "./params.js";

/** Fill a Float32Array of `size` values as `init` says, deterministically from (seed, name). */
export function initValues(init: InitSpec, size: number, seed: number, name: string): Float32Array {
  const out = new Float32Array(size);
  if (init.kind === "const") return out.fill(init.value);
  const rng = new Rng(Math.floor(hashUniform(seed, "init", name) * 2 ** 32));
  if (init.kind === "uniform") {
    for (let i = 0; i < size; i++) out[i] = (2 * rng.next() - 1) * init.bound;
    return out;
  }
  // Box-Muller, two normals per pair of uniforms.
  for (let i = 0; i < size; i += 2) {
    const u1 = 1 - rng.next(); // (0, 1]
    const u2 = rng.next();
    const r = Math.sqrt(-2 * Math.log(u1)) * init.std;
    out[i] = r * Math.cos(2 * Math.PI * u2);
    if (i + 1 < size) out[i + 1] = r * Math.sin(2 * Math.PI * u2);
  }
  return out;
}
