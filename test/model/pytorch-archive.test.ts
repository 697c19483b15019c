// PyTorch state-dict archives (torch.save, as open_clip_pytorch_model.bin)
// read without executing their pickle: written here by Debian's python3-torch,
// compared with the values PyTorch itself reports; a malicious pickle is
// refused and nothing it names runs.
import { spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, truncateSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { writeFileSync } from "node:fs";
import { readPytorchStateDict } from "../../src/model/pytorch-archive.js";
import { setBackend } from "../../src/backend/index.js";
import { createModel, disposeModel } from "../../src/model/index.js";
import { loadEvalModel } from "../../src/model/load.js";

const PY = "/usr/bin/python3";
const hasTorch = spawnSync(PY, ["-c", "import torch"], { stdio: "ignore" }).status === 0;
const dir = mkdtempSync(path.join(tmpdir(), "clipts-ptarchive-"));

function python(code: string): string {
  const r = spawnSync(PY, ["-c", code], { encoding: "utf8" });
  if (r.status !== 0) throw new Error(r.stderr);
  return r.stdout;
}

describe.skipIf(!hasTorch)("PyTorch state-dict archives", () => {
  it("reads float32, float16, bfloat16, float64, int64, strided and offset views, nested and module.-prefixed dicts", () => {
    const file = path.join(dir, "model.bin");
    const want = JSON.parse(python(`
import torch, json
torch.manual_seed(0)
lin = torch.nn.Linear(5, 3)            # a real module's state dict (OrderedDict with _metadata)
sd = lin.state_dict()
big = torch.randn(4, 6)
sd["half"] = torch.randn(7).half()
sd["bf16"] = torch.randn(3, 2).bfloat16()
sd["f64"] = torch.randn(2).double()
sd["ids"] = torch.arange(5)
sd["transposed"] = big.t()             # strides (1, 6)
sd["slice"] = big[1:3, 2:5]            # storage offset 8, shared storage
sd["module.prefixed"] = torch.ones(2)
torch.save({"state_dict": sd, "epoch": 3}, ${JSON.stringify(file)})
print(json.dumps({k: {"shape": list(v.shape), "values": v.float().flatten().tolist()} for k, v in sd.items()}))
`));
    const got = readPytorchStateDict(file);
    expect([...got.keys()].sort()).toEqual(Object.keys(want).map((k) => k.replace(/^module\./, "")).sort());
    for (const [k, w] of Object.entries(want) as [string, { shape: number[]; values: number[] }][]) {
      const t = got.get(k.replace(/^module\./, ""))!;
      expect(t.shape, k).toEqual(w.shape);
      expect(Array.from(t.values), k).toEqual(w.values.map((x) => Math.fround(x)));
    }
    expect(got.get("half")!.dtype).toBe("F16");
    expect(got.get("bf16")!.dtype).toBe("BF16");
    expect(got.get("weight")!.dtype).toBe("F32");
  });

  it("refuses a pickle that calls anything but tensor rebuilding, and runs nothing", () => {
    const file = path.join(dir, "evil.bin");
    const marker = path.join(dir, "pwned");
    python(`
import torch, os
class Evil:
    def __reduce__(self):
        return (os.system, (${JSON.stringify(`touch ${marker}`)},))
torch.save({"weight": torch.ones(2), "payload": Evil()}, ${JSON.stringify(file)})
`);
    expect(existsSync(marker)).toBe(false);
    expect(() => readPytorchStateDict(file)).toThrow(/evil\.bin: refusing to load: the pickle references posix\.system/);
    expect(existsSync(marker)).toBe(false);
  });

  it("names the file when the archive is cut short", () => {
    const file = path.join(dir, "cut.bin");
    python(`import torch; torch.save({"w": torch.randn(1000)}, ${JSON.stringify(file)})`);
    truncateSync(file, Math.floor(statSync(file).size / 2));
    expect(() => readPytorchStateDict(file)).toThrow(/cut\.bin: /);
    expect(readFileSync(file).length).toBeGreaterThan(0);
  });

  it("loads into a model for evaluation like a safetensors checkpoint (clipts eval --checkpoint model.bin --model NAME)", async () => {
    await setBackend("cpu");
    const ref = createModel("micro", { seed: 3 });
    // The weights as raw float32 plus their names and shapes, saved by PyTorch under open_clip's names.
    const names = [...ref.params.keys()];
    const raw = path.join(dir, "weights.f32"), meta = path.join(dir, "weights.json"), file = path.join(dir, "open_clip_pytorch_model.bin");
    const chunks = names.map((n) => Buffer.from((ref.params.get(n)!.dataSync() as Float32Array).buffer.slice(0)));
    writeFileSync(raw, Buffer.concat(chunks));
    writeFileSync(meta, JSON.stringify(names.map((n) => [n, ref.params.get(n)!.shape])));
    python(`
import torch, json, collections
names = json.load(open(${JSON.stringify(meta)}))
flat = torch.frombuffer(bytearray(open(${JSON.stringify(raw)}, "rb").read()), dtype=torch.float32)
sd, at = collections.OrderedDict(), 0
for n, shape in names:
    k = 1
    for d in shape: k *= d
    sd[n] = flat[at:at + k].reshape(shape).clone()
    at += k
torch.save(sd, ${JSON.stringify(file)})
`);
    const loaded = await loadEvalModel(file, { model: "micro" });
    try {
      for (const n of names) expect(Array.from(loaded.model.params.get(n)!.dataSync()), n).toEqual(Array.from(ref.params.get(n)!.dataSync()));
    } finally {
      loaded.dispose();
      disposeModel(ref);
    }
  });
});
