// Checkpoints of data-parallel runs. Only rank 0 writes checkpoints, but each
// rank reads its own rows (splitBy "row"), so an exact resume needs every
// rank's loader position. The checkpoint state holds `worldSize` and
// `loaderStates` (indexed by rank) beside `loader` (the writing process's own
// state, as in a single-process checkpoint, where `worldSize` may be absent: 1).
//
// The loop's save() gathers them (src/train/loop.ts); this file reads them back.
import type { LoaderState } from "../data/loader.js";
import { InputError } from "../util/errors.js";
import type { LoadedCheckpoint } from "../model/checkpoint.js";

/** The loader state this rank resumes from; fails before any work when the world size differs from the checkpoint's. */
export function resumeLoaderState(ck: LoadedCheckpoint, rank: number, worldSize: number): LoaderState {
  const saved = ck.state.worldSize ?? 1;
  if (typeof saved !== "number" || !Number.isInteger(saved) || saved < 1) {
    throw new InputError(`--resume ${ck.file}: worldSize ${JSON.stringify(saved)} in the checkpoint state is not a positive integer`);
  }
  if (saved !== worldSize) {
    throw new InputError(
      `--resume ${ck.file}: the checkpoint was written with WORLD_SIZE=${saved}, this run has WORLD_SIZE=${worldSize}; ` +
        `resume with ${saved} process(es) (each rank continues its own rows)`,
    );
  }
  const all = ck.state.loaderStates;
  if (worldSize > 1 && (!Array.isArray(all) || all.length !== worldSize)) {
    throw new InputError(`--resume ${ck.file}: loaderStates must hold one loader state per rank (${worldSize})`);
  }
  const state: unknown = worldSize === 1 ? ck.state.loader : (all as unknown[])[rank];
  if (!state || typeof state !== "object") throw new InputError(`--resume ${ck.file}: no loader state for rank ${rank}`);
  return state as LoaderState;
}
