// The learned temperature. open_clip stores t' = log(scale) and clamps it to
// [0, ln 100] after each optimizer step.
import * as tf from "@tensorflow/tfjs-core";
import type { ClipModel } from "../model/types.js";

export const MAX_LOGIT_SCALE_PARAM = Math.log(100);

/** scale = exp(min(t', ln 100)): differentiable below the clamp, never above 100. */
export function logitScaleFromParam(param: tf.Tensor): tf.Scalar {
  return tf.tidy(() => tf.exp(tf.minimum(tf.reshape(param, []), MAX_LOGIT_SCALE_PARAM)) as tf.Scalar);
}

/** Clamp the model's `logit_scale` parameter to [0, ln 100] in place (call after each step). */
export function clampLogitScale(model: ClipModel): void {
  const v = model.params.get("logit_scale");
  if (!v) throw new Error(`model "${model.config.name}" has no logit_scale parameter`);
  tf.tidy(() => v.assign(tf.clipByValue(v, 0, MAX_LOGIT_SCALE_PARAM)));
}
