// The tfjs KernelBackend for libtorch: a DataStorage of dataId -> addon
// tensor id, with tfjs' refCount semantics (variables and Identity share a
// dataId). All arithmetic happens in the addon (torch-kernels.ts).
import * as tf from "@tensorflow/tfjs-core";
import { DataStorage, KernelBackend } from "@tensorflow/tfjs-core";
import type { BackendValues, DataId, DataType, TensorInfo } from "@tensorflow/tfjs-core";
import { dtypeName, opCodes, type Meta, type TorchAddon } from "./torch-native.js";

interface Entry {
  id: number;
  refCount: number;
  /** Shape of the addon tensor `id`. */
  shape: number[];
  /**
   * Reshaped views keyed by shape. Reshape shares the dataId (as tfjs' cpu
   * backend does, and as some tfjs code relies on), so a TensorInfo may carry
   * a different shape than the stored tensor.
   */
  views?: Map<string, number>;
}

function sameShape(a: number[], b: number[]): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

export type TorchDevice = "cpu" | `cuda:${number}` | "cuda";

export function dtypeCode(dtype: DataType): number {
  const code = opCodes().dtype[dtype];
  if (code === undefined) throw new Error(`torch backend: dtype ${dtype} is not supported (float32, int32, bool only)`);
  return code;
}

export class TorchBackend extends KernelBackend {
  private readonly data: DataStorage<Entry>;

  constructor(
    readonly native: TorchAddon,
    readonly device: string,
  ) {
    super();
    this.data = new DataStorage<Entry>(this, tf.engine());
  }

  /** The addon id behind a TensorInfo; throws if it was disposed. */
  id(t: TensorInfo): number {
    const e = this.data.get(t.dataId);
    if (!e) throw new Error("torch backend: tensor data not found (disposed, or created on another backend)");
    if (sameShape(e.shape, t.shape)) return e.id;
    const key = t.shape.join(",");
    let v = e.views?.get(key);
    if (v === undefined) {
      v = this.native.reshape(e.id, t.shape)[0];
      (e.views ??= new Map()).set(key, v);
    }
    return v;
  }

  /** Wraps an addon result as a TensorInfo owned by this backend. */
  out(m: Meta): TensorInfo {
    const dataId = {};
    const shape = m.slice(2);
    this.data.set(dataId, { id: m[0], refCount: 1, shape });
    return { dataId, dtype: dtypeName(m[1]) as DataType, shape };
  }

  /** Like out(), but reports `dtype` (the addon only knows float32/int32/bool). */
  outAs(m: Meta, dtype: DataType): TensorInfo {
    return { ...this.out(m), dtype };
  }

  /** Whether this tensor's data is shared with no other tfjs tensor (safe to update in place). */
  exclusive(t: TensorInfo): boolean {
    const e = this.data.get(t.dataId);
    if (e === undefined || e.refCount !== 1 || !sameShape(e.shape, t.shape)) return false;
    // Cached reshaped views share the storage; drop them (recreated on demand)
    // so the addon's storage-ownership check can pass.
    if (e.views) {
      for (const v of e.views.values()) this.native.free(v);
      e.views = undefined;
    }
    return true;
  }

  override write(values: BackendValues, shape: number[], dtype: DataType): DataId {
    const dataId = {};
    this.data.set(dataId, { id: this.upload(values, shape, dtype), refCount: 1, shape: shape.slice() });
    return dataId;
  }

  override move(dataId: DataId, values: BackendValues, shape: number[], dtype: DataType, refCount: number): void {
    this.data.set(dataId, { id: this.upload(values, shape, dtype), refCount, shape: shape.slice() });
  }

  /**
   * A float32 tensor over `values`, a buffer the caller rewrites later (the
   * loader's decode ring): on the CPU device the tensor is the buffer itself,
   * and `release` must run before the bytes are rewritten (a tensor still
   * alive then gets its own copy); on a GPU it is copied now (to pinned memory,
   * then to the device without waiting).
   */
  writeView(values: Float32Array, shape: number[]): { dataId: DataId; release: () => void } {
    if (this.device !== "cpu") return { dataId: this.write(values, shape, "float32"), release: () => {} };
    const [lease, m] = this.native.viewArray(values, shape);
    const dataId = {};
    this.data.set(dataId, { id: m[0], refCount: 1, shape: shape.slice() });
    return { dataId, release: () => void this.native.releaseView(lease) };
  }

  private upload(values: BackendValues, shape: number[], dtype: DataType): number {
    const code = dtypeCode(dtype);
    let v = values as Float32Array | Int32Array | Uint8Array;
    // The engine normally hands over the dtype's own array type; convert the
    // rare mismatch instead of reinterpreting bytes.
    if (dtype === "float32" && !(v instanceof Float32Array)) v = Float32Array.from(v as ArrayLike<number>);
    if (dtype === "int32" && !(v instanceof Int32Array)) v = Int32Array.from(v as ArrayLike<number>);
    if (dtype === "bool" && !(v instanceof Uint8Array)) v = Uint8Array.from(v as ArrayLike<number>);
    return this.native.fromArray(v, shape, code)[0];
  }

  override readSync(dataId: DataId): BackendValues {
    const e = this.data.get(dataId);
    if (!e) throw new Error("torch backend: reading disposed tensor data");
    return this.native.toArray(e.id);
  }

  override async read(dataId: DataId): Promise<BackendValues> {
    return this.readSync(dataId);
  }

  override refCount(dataId: DataId): number {
    return this.data.has(dataId) ? this.data.get(dataId).refCount : 0;
  }

  override incRef(dataId: DataId): void {
    this.data.get(dataId).refCount++;
  }

  override disposeData(dataId: DataId, force = false): boolean {
    if (this.data.has(dataId)) {
      const e = this.data.get(dataId);
      e.refCount--;
      if (!force && e.refCount > 0) return false;
      this.native.free(e.id);
      if (e.views) for (const v of e.views.values()) this.native.free(v);
      this.data.delete(dataId);
    }
    return true;
  }

  override numDataIds(): number {
    return this.data.numDataIds();
  }

  override memory(): { unreliable: boolean; reasons?: string[]; nativeLive: number; nativeBytes: number } {
    const m = this.native.memory();
    return { unreliable: false, nativeLive: m.live, nativeBytes: m.bytes };
  }

  override timerAvailable(): boolean {
    return true;
  }

  override async time(f: () => void): Promise<tf.BackendTimingInfo> {
    const t0 = performance.now();
    f();
    this.native.sync();
    return { kernelMs: performance.now() - t0 };
  }

  override floatPrecision(): 32 {
    return 32;
  }

  override epsilon(): number {
    return 1e-7;
  }

  override dispose(): void {
    // Tensors are freed through disposeData; nothing global to release.
  }
}
