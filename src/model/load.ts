// Checkpoint -> model, tokenizer and image normalization for evaluation.
// A clipts training checkpoint carries its model config and data config
// (mean/std, tokenizer) in its metadata; any other safetensors file keyed by
// open_clip's names (e.g. converted pretrained weights) needs `--model NAME`.
import { existsSync, statSync } from "node:fs";
import type { Triple } from "../image/transforms.js";
import { createModel, disposeModel, getModelConfig, validateModelConfig } from "./index.js";
import type { ClipModel, ModelConfig } from "./types.js";
import { loadTokenizer, tokenizerSpec, type TextTokenizer } from "../text/index.js";
import { CHECKPOINT_FORMAT, resolveCheckpoint, restoreCheckpoint } from "./checkpoint.js";
import { readModelFile } from "./weights-file.js";
import { isOpenClipRef } from "./open-clip-hub.js";
import { InputError } from "../util/errors.js";
import { sha256File } from "../util/sha256.js";

export interface EvalModelOptions {
  /** Named model config, required for safetensors files that are not clipts checkpoints; overrides nothing otherwise. */
  model?: string;
  /** "clip" or a tokenizer.json path; default the checkpoint's, else "clip". */
  tokenizer?: string;
}

export interface LoadedEvalModel {
  file: string;
  model: ClipModel;
  tokenizer: TextTokenizer;
  /** Normalization the model was trained with (undefined: use the loss's default). */
  mean?: Triple;
  std?: Triple;
  /** sha256 of the checkpoint file. */
  weightsHash: string;
  /** Identity for the classifier cache: weights hash + architecture + tokenizer. */
  cacheId: string;
  /** Training step, when a clipts checkpoint. */
  step: number | null;
  dispose(): void;
}

/** A checkpoint file, or a checkpoint folder's `latest`. */
export function resolveCheckpointFile(ref: string): string {
  if (!existsSync(ref)) throw new InputError(`--checkpoint ${ref}: no such file or folder`);
  return statSync(ref).isDirectory() ? resolveCheckpoint(ref, ref, "--checkpoint") : ref;
}

interface TrainState {
  model?: ModelConfig;
  config?: { data?: { mean?: Triple; std?: Triple; tokenizer?: string } };
}

/** Load a checkpoint for evaluation (weights only; optimizer moments are ignored). A tfjs backend must be active. */
export async function loadEvalModel(ref: string, opts: EvalModelOptions = {}): Promise<LoadedEvalModel> {
  // An open_clip model folder or hf-hub: cache entry carries its own config and normalization.
  const { file, tensors, metadata, config: hubConfig, mean, std } = await readModelFile(isOpenClipRef(ref) ? ref : resolveCheckpointFile(ref));
  const weightsHash = await sha256File(file); // the checkpoint's identity: its content, not its name or mtime
  const clipts = metadata.format === CHECKPOINT_FORMAT;
  let state: TrainState = hubConfig ? { model: hubConfig, config: { data: { mean, std } } } : {};
  if (clipts) {
    try {
      state = JSON.parse(metadata.state ?? "{}") as TrainState;
    } catch {
      throw new InputError(`${file}: checkpoint metadata "state" is not valid JSON`);
    }
  }
  let config: ModelConfig;
  if (opts.model) config = getModelConfig(opts.model);
  else if (state.model) config = state.model;
  else throw new InputError(`${file}: not a clipts checkpoint with a model config; name the architecture with --model`);
  validateModelConfig(config);

  const weights = new Map([...tensors].filter(([n]) => !n.startsWith("optimizer.")));
  const model = createModel(config, { seed: 0 });
  try {
    restoreCheckpoint(
      { file, step: 0, optimizerStep: 0, state: {}, weights, expAvg: new Map(), expAvgSq: new Map() },
      model.params,
      null,
    );
  } catch (err) {
    disposeModel(model);
    throw err;
  }
  const tok = opts.tokenizer ?? state.config?.data?.tokenizer ?? "clip";
  const ctx = config.text.contextLength;
  const tokenizer = await loadTokenizer(tokenizerSpec(tok, ctx));
  return {
    file,
    model,
    tokenizer,
    mean: state.config?.data?.mean,
    std: state.config?.data?.std,
    weightsHash,
    cacheId: `${weightsHash}/${config.name}/${tok}`,
    step: clipts && metadata.step !== undefined ? Number(metadata.step) : null,
    dispose: () => disposeModel(model),
  };
}
