// Model weights as users hold them, for every stage that loads a model
// (training's `model.pretrained`, evaluation, DFN scoring): a safetensors file
// (clipts checkpoints included), a PyTorch state-dict archive
// (open_clip_pytorch_model.bin), or an open_clip model folder / `hf-hub:`
// cache entry, which also carries its model config and normalization.
import * as tf from "@tensorflow/tfjs-core";
import { InputError } from "../util/errors.js";
import { isOpenClipRef, openClipFolder } from "./open-clip-hub.js";
import { isPytorchArchive, readPytorchStateDict } from "./pytorch-archive.js";
import { readSafetensors, writeSafetensors, type STTensor } from "./safetensors.js";
import type { ModelConfig } from "./types.js";

export interface ModelFile {
  /** The weights file read. */
  file: string;
  tensors: Map<string, STTensor>;
  /** safetensors metadata (a clipts checkpoint's format and state); {} otherwise. */
  metadata: Record<string, string>;
  /** The model config an open_clip folder names. */
  config?: ModelConfig;
  mean?: [number, number, number];
  std?: [number, number, number];
}

/** Reads `ref`: a weights file, or an open_clip folder / `hf-hub:ORG/NAME` (see open-clip-hub.ts). */
export async function readModelFile(ref: string): Promise<ModelFile> {
  if (isOpenClipRef(ref)) {
    const hub = openClipFolder(ref);
    return { ...(await readWeightsFile(hub.weights)), config: hub.config, mean: hub.mean, std: hub.std };
  }
  return readWeightsFile(ref);
}

async function readWeightsFile(file: string): Promise<ModelFile> {
  if (!isPytorchArchive(file)) return { file, ...(await readSafetensors(file)) };
  const tensors = new Map([...readPytorchStateDict(file)].map(([n, t]) => [n, { dtype: "F32" as const, shape: t.shape, data: t.values }]));
  return { file, tensors, metadata: {} };
}

/**
 * Assigns `source` to `target` by name; every target needs a tensor of its
 * shape and every source tensor a target, else the first mismatch is named
 * with both shapes. `what` names the kind ("weight", "optimizer moment").
 */
export function assignWeights(file: string, what: string, target: Map<string, tf.Variable>, source: Map<string, STTensor>): void {
  for (const [name, v] of target) {
    const t = source.get(name);
    if (!t) throw new InputError(`${file}: ${what} ${name} missing`);
    if (t.shape.join(",") !== v.shape.join(",")) {
      throw new InputError(`${file}: ${what} ${name} has shape [${t.shape}], the model needs [${v.shape}]`);
    }
    tf.tidy(() => v.assign(tf.tensor(t.data as Float32Array, t.shape, "float32")));
  }
  for (const name of source.keys()) {
    if (!target.has(name)) throw new InputError(`${file}: unexpected ${what} ${name} (different architecture?)`);
  }
}

/** Loads a model's weights from `ref` (any form readModelFile takes); optimizer tensors of a checkpoint are ignored. */
export async function loadWeightsInto(params: Map<string, tf.Variable>, ref: string): Promise<void> {
  const { file, tensors } = await readModelFile(ref);
  assignWeights(file, "weight", params, new Map([...tensors].filter(([n]) => !n.startsWith("optimizer."))));
}

/**
 * Writes the weights of `ref` (any form readModelFile takes; a checkpoint's
 * optimizer moments are dropped) as safetensors under open_clip's names, in
 * float32 or bfloat16 (half the size, as published open_clip weights often
 * are). Metadata is kept, so a clipts export still names its model config.
 */
export async function exportWeights(ref: string, out: string, dtype: "F32" | "BF16" = "F32"): Promise<{ tensors: number; file: string }> {
  const { file, tensors, metadata } = await readModelFile(ref);
  const weights = [...tensors].filter(([n]) => !n.startsWith("optimizer."));
  await writeSafetensors(
    out,
    weights.map(([name, t]) => ({
      name,
      shape: t.shape,
      dtype: t.data instanceof Float32Array ? dtype : t.dtype,
      data: () => t.data,
    })),
    { ...metadata, exported_from: file, exported_dtype: dtype },
  );
  return { tensors: weights.length, file: out };
}
