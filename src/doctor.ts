// `clipts doctor`: what a user needs to know before a long run, in the spirit
// of `python -m torch.utils.collect_env`. Each check says ok, warn (works, but
// slower or with less) or fail (something the README's set-up promises is
// missing), and every problem line says how to fix it.
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { availableBackends, setBackend } from "./backend/index.js";
import { judgeBlas, loadedBlas, mappedFiles, matmulGflops } from "./backend/blas.js";

export type CheckStatus = "ok" | "warn" | "fail";

export interface DoctorCheck {
  name: string;
  status: CheckStatus;
  detail: string;
}

export interface DoctorReport {
  checks: DoctorCheck[];
  /** True when no check failed. */
  ok: boolean;
}

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
const SETUP = "apt-get install -y libtorch-dev libopenblas0-pthread libgloo-dev libjpeg-dev && npm ci";

/** Runs every check (about a second: it loads the backends and times a matmul). */
export async function doctor(): Promise<DoctorReport> {
  const checks: DoctorCheck[] = [];
  const add = (name: string, status: CheckStatus, detail: string) => checks.push({ name, status, detail });

  const major = Number(process.versions.node.split(".")[0]);
  add("node", major >= 20 ? "ok" : "fail", `Node ${process.version}${major >= 20 ? "" : ": clipts needs Node 20 or newer"}`);

  const backends = await availableBackends();
  add("backends", backends.length ? "ok" : "fail", backends.length ? `loadable: ${backends.join(", ")}; auto picks ${backends[0]}` : "no tfjs backend loads");

  const torch = await import("./backend/torch.js");
  const avail = torch.torchAvailable();
  if (!avail.available) {
    add("torch backend", "fail", `${avail.reason}; set up with: ${SETUP} (wasm is ~5x and cpu ~100x slower)`);
  } else {
    await setBackend("torch");
    const info = torch.torchInfo();
    const lib = mappedFiles().find((f) => /libtorch_cpu\.so|libtorch\.so/.test(f)) ?? "";
    add("libtorch", "ok", `${info.torchVersion} at ${lib || "(path not found in /proc/self/maps)"}`);
    const cuda = info.cuda ? `CUDA, ${info.cudaDevices ?? 0} device(s) visible` : "no CUDA (CPU only)";
    add("cuda", "ok", cuda);
    const dist = (await import("./backend/torch-dist.js")).loadDistAddon();
    const backendsDist = dist.dist?.distInfo().backends ?? [];
    add("distributed", backendsDist.length ? "ok" : "warn",
      backendsDist.length ? `c10d with ${backendsDist.join(", ")}` : `no c10d: multi-process training is off (${dist.reason}); install libgloo-dev and rebuild (node scripts/build-native.js)`);
    const blas = judgeBlas(matmulGflops(), loadedBlas());
    add("blas", blas.ok ? "ok" : "fail", blas.message);
    const cores = os.availableParallelism();
    add("threads", "ok", `ATen intra-op threads ${info.threads} of ${cores} cores; OPENBLAS_NUM_THREADS=${process.env.OPENBLAS_NUM_THREADS ?? "(unset: all cores)"}`);
  }

  const { imageAddon } = await import("./image/image-native.js");
  add("image addon", imageAddon ? "ok" : "warn",
    imageAddon ? "libjpeg-turbo + PIL-exact bicubic (native/image)" : "not built: sharp decodes everything (slower, not PIL-exact); apt-get install libjpeg-dev && node scripts/build-native.js");
  const sharp = (await import("sharp")).default;
  add("sharp", "ok", `sharp ${sharp.versions.sharp}, libvips ${sharp.versions.vips}`);

  const vocab = path.join(root, "data", "clip-bpe-tokenizer.json");
  let tok: DoctorCheck;
  try {
    const { loadTokenizer } = await import("./text/index.js");
    const t = await loadTokenizer({ kind: "clip" });
    tok = { name: "tokenizer", status: "ok", detail: `${vocab} (${t.tokenize(["a photo of a cat"]).length} ids per caption)` };
  } catch (e) {
    tok = { name: "tokenizer", status: "fail", detail: `${vocab}: ${(e as Error).message.split("\n")[0]}; restore data/ from the package (git checkout data)` };
  }
  checks.push(tok);
  return { checks, ok: checks.every((c) => c.status !== "fail") };
}

/** The report as aligned text lines. */
export function formatDoctor(r: DoctorReport): string {
  const w = Math.max(...r.checks.map((c) => c.name.length));
  const lines = r.checks.map((c) => `${c.status.toUpperCase().padEnd(4)}  ${c.name.padEnd(w)}  ${c.detail}`);
  const failed = r.checks.filter((c) => c.status === "fail").length;
  lines.push(failed ? `${failed} problem(s): see the FAIL lines` : "everything the README promises is here");
  return lines.join("\n");
}
