// `clipts doctor`: the report's judgement of BLAS from given numbers and
// process maps, and the command's report and exit code on this machine.
import { spawnSync } from "node:child_process";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
import { blasFloorGflops, judgeBlas, loadedBlas } from "../../src/backend/blas.js";

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..");
const map = (...libs: string[]) => libs.map((l, i) => `7f00000${i}000-7f00000${i}fff r-xp 00000000 fe:01 ${100 + i}  ${l}`).join("\n");

describe("BLAS judgement", () => {
  it("names the library libtorch's sgemm binds to", () => {
    const openblas = "/usr/lib/x86_64-linux-gnu/openblas-pthread/libopenblasp-r0.3.21.so";
    const reference = "/usr/lib/x86_64-linux-gnu/blas/libblas.so.3.11.0";
    expect(loadedBlas(map("/usr/lib/x86_64-linux-gnu/libtorch_cpu.so.1.13.0", openblas))).toEqual({ kind: "openblas", path: openblas });
    // Reference libblas.so.3 with OpenBLAS's LAPACK also mapped: the reference one is used for sgemm.
    expect(loadedBlas(map(openblas, reference)).kind).toBe("reference");
    expect(loadedBlas(map("/opt/intel/lib/libmkl_core.so")).kind).toBe("mkl");
    expect(loadedBlas(map("/usr/lib/libc.so.6"))).toEqual({ kind: "unknown", path: "" });
  });

  it("fails the reference BLAS or a slow matmul, and says how to fix it", () => {
    const ob = { kind: "openblas" as const, path: "/x/libopenblas.so" };
    expect(judgeBlas(120, ob, 20).ok).toBe(true);
    const slow = judgeBlas(6, ob, 20);
    expect(slow.ok).toBe(false);
    expect(slow.message).toMatch(/6\.0 GFLOP\/s, below the 20 .*apt-get install libopenblas0-pthread/);
    const ref = judgeBlas(300, { kind: "reference", path: "/x/blas/libblas.so.3" }, 20);
    expect(ref.ok).toBe(false);
    expect(ref.message).toMatch(/reference BLAS is loaded/);
    expect(blasFloorGflops("flags : fpu sse2 avx avx2 fma")).toBe(20);
    expect(blasFloorGflops("flags : fpu sse2")).toBe(8);
  });
});

describe("clipts doctor", () => {
  it("reports every check and exits 1 exactly when one fails", () => {
    const r = spawnSync(process.execPath, ["--import", "tsx", path.join(root, "src/cli/main.ts"), "doctor", "--json"], { cwd: root, encoding: "utf8" });
    const report = JSON.parse(r.stdout) as { ok: boolean; checks: { name: string; status: string; detail: string }[] };
    const names = report.checks.map((c) => c.name);
    for (const n of ["node", "backends", "image addon", "sharp", "tokenizer"]) expect(names).toContain(n);
    // With the torch addon built, libtorch, CUDA, c10d, BLAS and threads are reported too.
    if (names.includes("libtorch")) for (const n of ["cuda", "distributed", "blas", "threads"]) expect(names).toContain(n);
    else expect(report.checks.find((c) => c.name === "torch backend")?.status).toBe("fail");
    expect(report.ok).toBe(report.checks.every((c) => c.status !== "fail"));
    expect(r.status, r.stderr).toBe(report.ok ? 0 : 1);
    for (const c of report.checks.filter((c) => c.status !== "ok")) expect(c.detail, c.name).toMatch(/install|rebuild|restore|set|needs/);
    expect(report.checks.find((c) => c.name === "tokenizer")?.status).toBe("ok");
  });
});
