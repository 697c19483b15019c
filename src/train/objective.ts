// The training objective of a run: the loss stage's one loss-on-features
// entry point with the run's options (SigLIP chunk, data-parallel ranks).
import { featureLoss, type ModelLossOptions } from "../loss/index.js";
import type { Objective } from "./step.js";

export function objectiveWith(options: ModelLossOptions): Objective {
  return (model, imageFeatures, textFeatures) => featureLoss(model, imageFeatures, textFeatures, options);
}

/** One process, no chunking. */
export const modelObjective: Objective = objectiveWith({});
