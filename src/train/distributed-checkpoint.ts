// Checkpoints of data-parallel runs. Only rank 0 writes checkpoints, but each
// rank reads its own rows (splitBy "row"), so an exact resume needs every
// rank's loader position. The checkpoint state holds `worldSize` and
// `loaderStates` (indexed by rank) beside `loader` (the writing process's own
// state, as in a single-process checkpoint, where `worldSize` may be absent: 1).
//
// The loop's save() runs on rank 0 only, where a collective cannot be started
// (it needs every rank). So every rank all-gathers its loader state at the
// loop's save points instead: after a step that checkpoint.every divides or
// the last step (onStep runs on every rank just before the save), and when
// the ranks agree to stop (anyStop; the loop then breaks and saves). At save
// time rank 0 checks that the gathered states are from the current batch, so
// a save point added to the loop without a gather here fails loudly instead of
// writing stale positions.
import type { LoaderState } from "../data/loader.js";
import { InputError } from "../util/errors.js";
import type { LoadedCheckpoint } from "./checkpoint.js";
import type { ProcessGroup } from "./distributed.js";
import type { BatchSource } from "./loop.js";

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

/** Collects every rank's loader state at the loop's save points (see the top of this file). */
export class LoaderStateGather {
  /** Calls of source.next() so far, and that count when the states were last gathered. */
  private delivered = 0;
  private gatheredAt = -1;

  /**
   * @param checkpointState the loop's extraState: it is spread into every
   *   checkpoint when saved, so rank 0 puts the gathered states there.
   */
  constructor(
    private readonly pg: ProcessGroup,
    private readonly localState: () => LoaderState,
    private readonly checkpointState: Record<string, unknown>,
    private readonly saves: { every: number; total: number },
  ) {
    checkpointState.worldSize = pg.worldSize;
  }

  private gather(): void {
    const states = this.pg.allGatherJson(this.localState());
    this.gatheredAt = this.delivered;
    if (this.pg.isMain) this.checkpointState.loaderStates = states;
  }

  /** The loop's batch source, counting batches; its state() (called by rank 0's save) checks the gathered states are current. */
  source(inner: BatchSource): BatchSource {
    return {
      next: async () => {
        const b = await inner.next();
        this.delivered++;
        return b;
      },
      state: () => {
        if (this.gatheredAt !== this.delivered) {
          throw new Error(
            `loader states were gathered after batch ${this.gatheredAt}, the checkpoint is at batch ${this.delivered}: ` +
              "the loop saved at a point LoaderStateGather does not know (src/train/distributed-checkpoint.ts)",
          );
        }
        return inner.state();
      },
      close: async () => void (await inner.close?.()),
    };
  }

  /** Call from onStep (every rank, after each step, before the loop's periodic or final save). */
  afterStep(step: number): void {
    if (step === this.saves.total || (this.saves.every > 0 && step % this.saves.every === 0)) this.gather();
  }

  /** The ranks' stop agreement; when they stop, the loop saves next, so gather first. */
  anyStop(local: boolean): boolean {
    const stop = this.pg.sum(local ? 1 : 0) > 0;
    if (stop) this.gather();
    return stop;
  }
}
