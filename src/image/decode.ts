// Image decoding for evaluation: the loader's eval transform (resize the
// shortest side to the model's size, center crop, normalize), run by the
// loader's decode worker pool. There is one transform implementation in the
// project (src/image/transforms.ts); evaluation only picks its parameters.
import { DecodePool } from "./decode-worker-pool.js";
import { CLIP_MEAN, CLIP_STD, DEFAULT_TRANSFORM, normalizeInto, SIGLIP_MEAN, SIGLIP_STD, type TransformSpec, type Triple } from "./transforms.js";
import type { ModelConfig } from "../model/types.js";
import type { DecodeFn } from "../model/embed.js";

export interface EvalImageOptions {
  /** Output side; default the model's image size. */
  size?: number;
  /** Normalization; default CLIP's, or SigLIP's (0.5) for SigLIP models. */
  mean?: Triple;
  std?: Triple;
  /** Decode worker threads (0 = sharp on the main thread's libuv pool). Default 1. */
  workers?: number;
}

/** The eval TransformSpec for a model. */
export function evalTransformSpec(config: ModelConfig, o: EvalImageOptions = {}): TransformSpec {
  const siglip = config.loss === "siglip";
  return {
    ...DEFAULT_TRANSFORM,
    mode: "eval",
    size: o.size ?? config.vision.imageSize,
    mean: o.mean ?? (siglip ? SIGLIP_MEAN : CLIP_MEAN),
    std: o.std ?? (siglip ? SIGLIP_STD : CLIP_STD),
  };
}

export interface EvalDecoder {
  decode: DecodeFn;
  spec: TransformSpec;
  close(): Promise<void>;
}

/** A decoder for eval images; call close() when done to stop its workers. */
export function createEvalDecoder(config: ModelConfig, o: EvalImageOptions = {}): EvalDecoder {
  const spec = evalTransformSpec(config, o);
  const pool = new DecodePool(spec, o.workers ?? 1);
  return {
    spec,
    // Eval crops are deterministic; the seed is unused. Workers return uint8
    // pixels; normalization is the loader's normalizeInto.
    decode: async (bytes) => {
      const r = await pool.decode(bytes, 0);
      if (!r.ok) return r;
      const data = new Float32Array(r.rgb.length);
      normalizeInto(r.rgb, data, 0, spec.mean, spec.std);
      return { ok: true, data };
    },
    close: () => pool.close(),
  };
}
