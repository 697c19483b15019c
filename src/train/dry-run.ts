// `clipts train --dry-run`: the resolved config and model, parameter count,
// steps, FLOPs and memory (one process, and per GPU by GPU count and option),
// computed without building the model.
import { stringify as toYaml } from "yaml";
import { countParams, forwardFlopsPerSample, gpuMemory, memoryEstimate, type ModelConfig } from "../model/index.js";
import { resolveModelConfig, totalSteps, type TrainConfig } from "./config.js";

export interface DryRunReport {
  config: TrainConfig;
  model: ModelConfig;
  params: number;
  steps: number;
  samples: number;
  trainFlopsPerSample: number;
  totalFlops: number;
  memory: { paramBytes: number; activationBytes: number; lossBytes: number; totalBytes: number; microBatch: number };
}

/** Everything --dry-run prints, computed without building the model. */
export function describeRun(cfg: TrainConfig): DryRunReport {
  const mc = resolveModelConfig(cfg);
  const steps = totalSteps(cfg);
  const k = cfg.train.accum_freq;
  const micro = cfg.data.batch_size / k;
  // forward + backward (2x forward), plus the feature-caching forward when accumulating.
  const trainFlopsPerSample = forwardFlopsPerSample(mc) * (k > 1 ? 4 : 3);
  const mem = memoryEstimate(mc, micro);
  const B = cfg.data.batch_size;
  // B x B logits with softmax/sigmoid intermediates and gradients (~4 copies), plus cached features.
  const lossBytes = 4 * 4 * B * B + (k > 1 ? 2 * 4 * B * mc.embedDim : 0);
  return {
    config: cfg,
    model: mc,
    params: countParams(mc),
    steps,
    samples: steps * B,
    trainFlopsPerSample,
    totalFlops: trainFlopsPerSample * steps * B,
    memory: { paramBytes: mem.paramBytes, activationBytes: mem.activationBytes, lossBytes, totalBytes: mem.totalBytes + lossBytes, microBatch: micro },
  };
}

function fmtBytes(n: number): string {
  const u = ["B", "KiB", "MiB", "GiB", "TiB"];
  let i = 0;
  while (n >= 1024 && i < u.length - 1) {
    n /= 1024;
    i++;
  }
  return `${n.toFixed(i ? 2 : 0)} ${u[i]}`;
}

export function formatDryRun(r: DryRunReport): string {
  return [
    "# resolved config",
    toYaml(r.config).trimEnd(),
    "# resolved model",
    toYaml({ model: r.model }).trimEnd(),
    "# estimate",
    `parameters:            ${r.params.toLocaleString("en-US")}`,
    `steps:                 ${r.steps.toLocaleString("en-US")} (${r.samples.toLocaleString("en-US")} samples, batch ${r.config.data.batch_size}, ${r.config.train.accum_freq} micro-batch(es) of ${r.memory.microBatch})`,
    `train FLOPs / sample:  ${r.trainFlopsPerSample.toExponential(3)}`,
    `train FLOPs total:     ${r.totalFlops.toExponential(3)}`,
    `memory (fp32):         weights+grads+AdamW ${fmtBytes(r.memory.paramBytes)}, activations ${fmtBytes(r.memory.activationBytes)} per micro-batch, loss ${fmtBytes(r.memory.lossBytes)}; total ~${fmtBytes(r.memory.totalBytes)}`,
    gpuTable(r),
  ].join("\n");
}

/** Options compared per GPU: the config's own first, then each memory technique added in turn. */
const GPU_OPTIONS: Array<[string, { bf16: boolean; gradCheckpointing: boolean; zero1: boolean }]> = [
  ["fp32", { bf16: false, gradCheckpointing: false, zero1: false }],
  ["bf16", { bf16: true, gradCheckpointing: false, zero1: false }],
  ["bf16+ckpt", { bf16: true, gradCheckpointing: true, zero1: false }],
  ["bf16+ckpt+ZeRO-1", { bf16: true, gradCheckpointing: true, zero1: true }],
];

/** Memory per GPU by GPU count and option (estimates: src/model/estimate.ts gpuMemory). */
function gpuTable(r: DryRunReport): string {
  const B = r.config.data.batch_size, k = r.config.train.accum_freq;
  const t = r.config.train as { precision: string; grad_checkpointing?: boolean; zero_stage?: number };
  const mine = `${t.precision === "bf16" ? "bf16" : "fp32"}${t.grad_checkpointing ? "+ckpt" : ""}${t.zero_stage === 1 ? "+ZeRO-1" : ""}`;
  const gpus = [1, 8, 64, 128, 256, 1024].filter((n) => B % (n * k) === 0 && B / (n * k) >= 1);
  const gib = (n: number) => `${(n / 2 ** 30).toFixed(1)}`;
  const head = ["GPUs", "batch/GPU", ...GPU_OPTIONS.map(([l]) => (l === mine ? `${l} (this config)` : l))];
  const rows = gpus.map((n) => [
    String(n), String(B / n),
    ...GPU_OPTIONS.map(([, o]) => {
      const m = gpuMemory(r.model, { globalBatch: B, worldSize: n, accumFreq: k, ...o });
      return `${gib(m.total)}${m.total <= 80e9 ? "" : "*"}`;
    }),
  ]);
  const w = head.map((h, i) => Math.max(h.length, ...rows.map((row) => row[i]!.length)));
  const line = (cells: string[]) => cells.map((c, i) => c.padStart(w[i]!)).join("  ");
  return [
    `memory per GPU, GiB (estimate; weights, gradients, AdamW moments, bf16 weight copies, activations of one micro-batch, local loss; * = over an 80 GB H100; train.precision / train.grad_checkpointing / train.zero_stage choose):`,
    line(head),
    ...rows.map(line),
  ].join("\n");
}
