// SigLIP's pairwise sigmoid loss (open_clip normalization: sum over all
// pairs divided by the batch size).
//   L = −(1/B) Σ_ij log σ(z_ij · (s · I_i·T_jᵀ + b)),  z = +1 on the diagonal, −1 elsewhere
// log σ(u) = −softplus(−u), so L = (1/B) Σ softplus(−z·logits).
import * as tf from "@tensorflow/tfjs-core";
import "../model/tf-gradients.js";

function pairSum(img: tf.Tensor2D, txt: tf.Tensor2D, scale: tf.Scalar | number, bias: tf.Scalar | number, diagOffset: number): tf.Scalar {
  const [bi] = img.shape;
  const bt = txt.shape[0];
  const logits = tf.add(tf.mul(tf.matMul(img, txt, false, true), scale), bias);
  const z = signs(bi, bt, diagOffset);
  return tf.sum(tf.softplus(tf.neg(tf.mul(z, logits))));
}

/** z [rows, cols]: +1 where image row i pairs with text column j (i == j + diagOffset), −1 elsewhere. */
function signs(rows: number, cols: number, diagOffset: number): tf.Tensor2D {
  const i = tf.reshape(tf.range(0, rows, 1, "int32"), [rows, 1]);
  const j = tf.reshape(tf.range(diagOffset, diagOffset + cols, 1, "int32"), [1, cols]);
  return tf.sub(tf.mul(tf.cast(tf.equal(i, j), "float32"), 2), 1) as tf.Tensor2D;
}

function check(name: string, img: tf.Tensor2D, txt: tf.Tensor2D): number {
  const n = img.shape[0];
  if (txt.shape[0] !== n) throw new Error(`${name}: ${n} image features but ${txt.shape[0]} text features`);
  return n;
}

/** SigLIP loss on L2-normalized features; `logitScale` already exp'd. */
export function sigLipLoss(imageFeatures: tf.Tensor2D, textFeatures: tf.Tensor2D, logitScale: tf.Scalar | number, logitBias: tf.Scalar | number): tf.Scalar {
  return tf.tidy(() => {
    const n = check("sigLipLoss", imageFeatures, textFeatures);
    return tf.div(pairSum(imageFeatures, textFeatures, logitScale, logitBias, 0), n) as tf.Scalar;
  });
}

/**
 * The same value as `sigLipLoss`, computed over blocks of `chunk` texts so the
 * live logits are [B, chunk] instead of [B, B].
 *
 * Across ranks (open_clip's SigLipLoss with world_size > 1): `imageFeatures`
 * are this rank's n rows, starting at global row `offset`, `textFeatures` all
 * N gathered texts; the pairs are summed block by block and divided by n, so
 * the mean over ranks is the global batch's loss. Each block is wrapped in
 * tf.customGrad with a backward that recomputes its logits, so the backward
 * pass also holds one block at a time:
 *   with u = z·ℓ, dL/dℓ = −z·σ(−u)/B, dI = s·(dℓ·T), dT = s·(dℓᵀ·I), ds = Σ dℓ·(I·Tᵀ), db = Σ dℓ.
 */
export function sigLipLossChunked(imageFeatures: tf.Tensor2D, textFeatures: tf.Tensor2D, logitScale: tf.Scalar | number, logitBias: tf.Scalar | number, chunk: number, offset = 0): tf.Scalar {
  if (!Number.isInteger(chunk) || chunk < 1) throw new Error(`sigLipLossChunked: chunk must be a positive integer, got ${chunk}`);
  return tf.tidy(() => {
    const n = imageFeatures.shape[0];
    const total = textFeatures.shape[0];
    if (!Number.isInteger(offset) || offset < 0 || offset + n > total) throw new Error(`sigLipLossChunked: image rows ${offset}..${offset + n} are outside the ${total} texts`);
    const s = typeof logitScale === "number" ? tf.scalar(logitScale) : logitScale;
    const b = typeof logitBias === "number" ? tf.scalar(logitBias) : logitBias;
    let sum: tf.Tensor = tf.scalar(0);
    for (let start = 0; start < total; start += chunk) {
      const len = Math.min(chunk, total - start);
      // Positives: image row i (global offset + i) with text start + j.
      const diag = start - offset;
      // The inputs reach the backward through save(): the caller's tidy (e.g.
      // modelLoss's) disposes them before the backward runs.
      const block = tf.customGrad(((img: tf.Tensor2D, txt: tf.Tensor2D, ss: tf.Scalar, bb: tf.Scalar, save: tf.GradSaveFunc) => {
        save([img, txt, ss, bb]);
        return {
          value: pairSum(img, tf.slice(txt, [start, 0], [len, -1]), ss, bb, diag),
          // tfjs calls a customGrad's gradFunc outside any per-node tidy, so
          // without this tidy every block's [n, len] temporaries would live
          // until the whole backward ends (the full [B, B] again).
          gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) => tf.tidy(() => {
            const [img, txt, ss, bb] = saved as [tf.Tensor2D, tf.Tensor2D, tf.Scalar, tf.Scalar];
            const t = tf.slice(txt, [start, 0], [len, -1]);
            const sim = tf.matMul(img, t, false, true); // [n, len]
            const logits = tf.add(tf.mul(sim, ss), bb);
            const z = signs(n, len, diag);
            // d softplus(−z·ℓ)/dℓ = −z·σ(−z·ℓ)
            const dl = tf.mul(tf.neg(tf.mul(z, tf.sigmoid(tf.neg(tf.mul(z, logits))))), dy);
            const dImg = tf.mul(tf.matMul(dl, t), ss);
            const dTblock = tf.mul(tf.matMul(dl, img, true, false), ss);
            const dTxt = tf.pad(dTblock, [[start, total - start - len], [0, 0]]);
            return [dImg, dTxt, tf.sum(tf.mul(dl, sim)), tf.sum(dl)];
          }),
        };
      }) as unknown as Parameters<typeof tf.customGrad>[0]);
      sum = tf.add(sum, block(imageFeatures, textFeatures, s, b));
    }
    return tf.div(sum, n) as tf.Scalar;
  });
}
