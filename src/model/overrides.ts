// A model config as training and ablation configs give it: a named
// architecture plus inline fields in open_clip's snake_case (`vision.patch_size`,
// `text.context_length`, `init_logit_bias`, ...) that override it field by
// field. Every ModelConfig field can be overridden: the snake_case key is the
// camelCase field's name, so a new field needs only its config schema entry.
import { getModelConfig, validateModelConfig } from "./configs.js";
import type { ModelConfig } from "./types.js";

/** Inline overrides, snake_case, as the config file has them. */
export interface ModelOverrides {
  name: string;
  vision?: Record<string, unknown>;
  text?: Record<string, unknown>;
  [field: string]: unknown;
}

/** `patch_size` -> `patchSize`. */
export function camelCase(key: string): string {
  return key.replace(/_([a-z0-9])/g, (_, c: string) => c.toUpperCase());
}

function assign(into: Record<string, unknown>, from: Record<string, unknown>): void {
  for (const [k, v] of Object.entries(from)) if (v !== undefined) into[camelCase(k)] = v;
}

/**
 * The named architecture with the overrides applied, validated. Keys that are
 * not model fields (e.g. `pretrained`) are left to the caller. SigLIP without
 * an initial logit bias gets SigLIP's -10.
 */
export function resolveModelConfig(m: ModelOverrides, notFields: readonly string[] = ["pretrained"]): ModelConfig {
  const mc = getModelConfig(m.name);
  const { name: _name, vision, text, ...top } = m;
  for (const k of notFields) delete top[k];
  assign(mc as unknown as Record<string, unknown>, top);
  if (vision) assign(mc.vision as unknown as Record<string, unknown>, vision);
  if (text) assign(mc.text as unknown as Record<string, unknown>, text);
  if (mc.loss === "siglip" && mc.initLogitBias === undefined) mc.initLogitBias = -10;
  validateModelConfig(mc);
  return mc;
}
