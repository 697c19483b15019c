// ZeRO stage 1 (Rajbhandari et al. 2020): AdamW's two moments, 8 bytes per
// parameter and twice the float32 weights, are split over the ranks. Each
// parameter tensor has one owner rank, which keeps its moments and updates it;
// gradients are still averaged over all ranks (stage 1 leaves them whole), and
// after the update every rank's owned weights are all-gathered so all ranks
// hold the same full weights again. Checkpoints hold the full moments
// (gathered at save time); a resume takes each rank's share of them, so it
// re-shards to any world size.
//
// Whole tensors are the unit (not a flat buffer cut at 1/W): the update stays
// one kernel per tensor. A rank's share is total/W, or the largest tensor where
// that is bigger: the token embedding (49408 x width) is 17% of ViT-B/16, so at
// W = 8 its owner holds 1.35x an even share; for bigG (63M of 2.5B) shares are
// even up to W = 39.
import type * as tf from "@tensorflow/tfjs-core";
import type { AdamW } from "./adamw.js";

/**
 * Owner rank of each parameter: largest first, each to the rank holding the
 * fewest elements so far (ties: lowest rank), names in sorted order for equal
 * sizes, so every rank computes the same table.
 */
export function shardOwners(shapes: Map<string, readonly number[]>, worldSize: number): Map<string, number> {
  const size = (s: readonly number[]) => s.reduce((a, b) => a * b, 1);
  const names = [...shapes.keys()].sort((a, b) => size(shapes.get(b)!) - size(shapes.get(a)!) || (a < b ? -1 : a > b ? 1 : 0));
  const load = new Array<number>(worldSize).fill(0);
  const owner = new Map<string, number>();
  for (const n of names) {
    let r = 0;
    for (let i = 1; i < worldSize; i++) if (load[i]! < load[r]!) r = i;
    owner.set(n, r);
    load[r]! += size(shapes.get(n)!);
  }
  return owner;
}

/** The names owned by `rank`. */
export function ownedBy(owners: Map<string, number>, rank: number): Set<string> {
  return new Set([...owners].filter(([, r]) => r === rank).map(([n]) => n));
}

/** What ZeRO-1 needs from the process group (ProcessGroup.gatherOwned). */
export interface OwnedGather {
  gatherOwned(owners: Map<string, number>, shapes: Map<string, readonly number[]>, mine: Map<string, tf.Tensor>): Map<string, tf.Tensor>;
}

/** The full optimizer state, as saveCheckpoint takes it. */
export interface FullOptimizer {
  step: number;
  expAvg: Map<string, tf.Tensor>;
  expAvgSq: Map<string, tf.Tensor>;
}

/** The loop's ZeRO-1 hooks over a rank's sharded AdamW. */
export function zeroHooks(pg: OwnedGather, params: Map<string, tf.Variable>, owners: Map<string, number>, optimizer: AdamW) {
  const shapes = new Map([...params].map(([n, p]) => [n, p.shape]));
  const owned = [...params.keys()].filter((n) => optimizer.owns(n));
  const pick = (m: Map<string, tf.Tensor>) => new Map(owned.map((n) => [n, m.get(n)!]));
  return {
    /** After the update: every owner's new weights to every rank (a collective). */
    syncWeights(): void {
      const all = pg.gatherOwned(owners, shapes, pick(params));
      for (const [n, t] of all) {
        if (!optimizer.owns(n)) params.get(n)!.assign(t);
        t.dispose();
      }
    },
    /** Every rank's moments, for a checkpoint (a collective: all ranks call it; dispose with disposeFull). */
    fullOptimizer(): FullOptimizer {
      return { step: optimizer.step, expAvg: pg.gatherOwned(owners, shapes, pick(optimizer.expAvg)), expAvgSq: pg.gatherOwned(owners, shapes, pick(optimizer.expAvgSq)) };
    },
  };
}

export function disposeFull(f: FullOptimizer): void {
  for (const t of [...f.expAvg.values(), ...f.expAvgSq.values()]) t.dispose();
}
