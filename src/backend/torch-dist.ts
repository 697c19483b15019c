// The c10d collectives of the libtorch addon (native/dist.cc): a TCPStore
// rendezvous plus a Gloo process group over Float32Arrays. Kept apart from
// torch-native.ts because the addon may be built without them (no gloo
// headers), in which case only distInfo() exists.
import { loadTorchAddon } from "./torch-native.js";

export interface DistInfo {
  available: boolean;
  /** Process-group backends compiled in ("gloo"). */
  backends: string[];
  initialized: boolean;
  rank?: number;
  worldSize?: number;
}

export interface DistAddon {
  distInfo(): DistInfo;
  /**
   * Rendezvous at addr:port and create the Gloo group; blocks until all ranks joined.
   * Without `prefix` rank 0 serves the store; with it (torchrun's agent store) all ranks are clients under the prefix.
   */
  distInit(rank: number, worldSize: number, addr: string, port: number, timeoutMs: number, ifname?: string, prefix?: string): void;
  /** In place: every rank's array becomes the element-wise sum over ranks. */
  distAllReduce(values: Float32Array): void;
  /** Rank r's n values at [r*n, (r+1)*n) of the result. */
  distAllGather(values: Float32Array): Float32Array;
  distBarrier(): void;
  distDestroy(): void;
}

/** The addon's collectives, or null with the reason they are unavailable. Never throws. */
export function loadDistAddon(): { dist: DistAddon | null; reason: string } {
  const { addon, reason } = loadTorchAddon();
  if (!addon) return { dist: null, reason };
  const a = addon as unknown as Partial<DistAddon>;
  if (typeof a.distInfo !== "function") {
    return { dist: null, reason: "the torch addon predates distributed support; rebuild it (node scripts/build-native.js)" };
  }
  if (!a.distInfo().available) {
    return {
      dist: null,
      reason: "the torch addon was built without c10d/gloo (install libgloo-dev, then node scripts/build-native.js)",
    };
  }
  return { dist: a as DistAddon, reason: "" };
}
