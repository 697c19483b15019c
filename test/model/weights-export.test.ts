// `clipts export`: a training checkpoint's weights without optimizer state, in
// float32 or bfloat16, loadable wherever a checkpoint is.
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { readSafetensors, toBf16Bits, writeSafetensors } from "../../src/model/safetensors.js";
import { exportWeights } from "../../src/model/weights-file.js";

describe("exportWeights", () => {
  it("drops optimizer moments and stores float tensors as float32 or bfloat16", async () => {
    const dir = mkdtempSync(path.join(tmpdir(), "clipts-export-"));
    const ckpt = path.join(dir, "step-00000010.safetensors");
    const w = Float32Array.from({ length: 64 }, (_, i) => Math.sin(i) * 3);
    await writeSafetensors(ckpt, [
      { name: "visual.proj", shape: [8, 8], dtype: "F32", data: () => w },
      { name: "optimizer.exp_avg.visual.proj", shape: [8, 8], dtype: "F32", data: () => w },
    ], { format: "x", state: "{}" });
    for (const dtype of ["F32", "BF16"] as const) {
      const out = path.join(dir, `w-${dtype}.safetensors`);
      expect((await exportWeights(ckpt, out, dtype)).tensors).toBe(1);
      const back = await readSafetensors(out);
      expect([...back.tensors.keys()]).toEqual(["visual.proj"]);
      expect(back.metadata).toMatchObject({ format: "x", state: "{}", exported_dtype: dtype });
      const got = back.tensors.get("visual.proj")!.data as Float32Array;
      const want = dtype === "F32" ? w : new Float32Array(Uint32Array.from(toBf16Bits(w), (b) => b << 16).buffer);
      expect(Array.from(got)).toEqual(Array.from(want));
    }
  });
});
