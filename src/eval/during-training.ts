// Evaluation during training: the trainer calls this every `eval.every` steps
// (RunOptions.evaluate) and logs the returned scalars under `eval/`. The suite
// is loaded when the evaluator is made, so a bad suite fails before training.
import type { ClipModel } from "../model/types.js";
import { loadTokenizer, tokenizerSpec } from "../text/index.js";
import type { TrainConfig } from "../train/config.js";
import { loadSuite, runEvalSuite } from "./suite.js";

export type TrainingEvaluator = (model: ClipModel, step: number) => Promise<Record<string, number>>;

export async function trainingEvaluator(suiteFile: string, cfg: TrainConfig, contextLength: number): Promise<TrainingEvaluator> {
  const suite = await loadSuite(suiteFile);
  const tokenizer = await loadTokenizer(tokenizerSpec(cfg.data.tokenizer, contextLength));
  return async (model) => {
    // No classifier cache: the weights change between evaluations.
    const r = await runEvalSuite(model, tokenizer, suite, { image: { mean: cfg.data.mean, std: cfg.data.std, workers: cfg.data.workers }, quiet: true });
    return r.scalars;
  };
}
