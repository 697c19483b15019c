// tfjs kernels for the "torch" backend, each one (or a few) ATen calls in the
// addon. tfjs-core supplies the gradients; they are built from these kernels.
import * as tf from "@tensorflow/tfjs-core";
import { backend_util, slice_util, upcastType, util } from "@tensorflow/tfjs-core";
import type { DataType, KernelConfig, KernelFunc, NamedAttrMap, TensorInfo } from "@tensorflow/tfjs-core";
import { dtypeCode, type TorchBackend } from "./torch-backend.js";
import { opCode, opCodes } from "./torch-native.js";

export const TORCH_BACKEND_NAME = "torch";

interface Args {
  inputs: Record<string, TensorInfo> | TensorInfo[];
  backend: TorchBackend;
  attrs: Record<string, unknown>;
}

type Impl = (a: { x: Record<string, TensorInfo>; list: TensorInfo[]; b: TorchBackend; at: Record<string, any> }) =>
  | TensorInfo
  | TensorInfo[];

const kernels: Array<[string, Impl]> = [];
const def = (name: string, impl: Impl) => kernels.push([name, impl]);

function axesOf(axis: unknown, shape: number[]): number[] {
  return util.parseAxisParam(axis as number | number[], shape);
}

// ---------------------------------------------------------- elementwise ---
// One kernel per entry of the addon's unary and binary tables (their names
// are tfjs kernel names), made when the backend registers: the tables come
// from the addon itself (torch-native.ts).
function elementwiseKernels(): Array<[string, Impl]> {
  const out: Array<[string, Impl]> = [];
  const { unary, binary } = opCodes();
  for (const [name, code] of Object.entries(unary)) {
    if (name === "Clone") continue;
    // Unary ops keep the input dtype in tfjs (isnan & co. return bool); Relu
    // of int32 stays int32 in both; ZerosLike/OnesLike keep dtype in ATen.
    out.push([name, ({ x, b }) => b.out(b.native.unary(code, b.id(x.x)))]);
  }
  for (const [name, code] of Object.entries(binary)) {
    const kernelName = name === "Mul" ? tf.Multiply : name;
    out.push([kernelName, ({ x, b }) => {
      const [p, q] = name === "Prelu" ? [x.x, x.alpha] : name === "EluGrad" ? [x.dy, x.y] : [x.a, x.b];
      let dtype: DataType = boolResult.has(name) ? "bool" : upcastType(p.dtype, q.dtype);
      if (name === "RealDiv" || name === "Atan2") dtype = "float32";
      if (name === "FloorDiv") dtype = "int32"; // tfjs' FloorDiv always yields int32
      return b.out(b.native.binary(code, b.id(p), b.id(q), dtypeCode(dtype)));
    }]);
  }
  return out;
}
const boolResult = new Set(["Equal", "NotEqual", "Less", "LessEqual", "Greater", "GreaterEqual", "LogicalAnd", "LogicalOr"]);

def("AddN", ({ list, b }) => {
  let acc = b.native.unary(opCode("unary", "Clone"), b.id(list[0]));
  const add = opCode("binary", "Add");
  for (let i = 1; i < list.length; i++) {
    const next = b.native.binary(add, acc[0], b.id(list[i]), dtypeCode(list[0].dtype));
    b.native.free(acc[0]);
    acc = next;
  }
  return b.out(acc);
});

def("Cast", ({ x, b, at }) => b.out(b.native.cast(b.id(x.x), dtypeCode(at.dtype))));
def("LeakyRelu", ({ x, b, at }) => b.out(b.native.leakyRelu(b.id(x.x), at.alpha)));
def("Step", ({ x, b, at }) => b.out(b.native.step(b.id(x.x), at.alpha)));
def("ClipByValue", ({ x, b, at }) => b.out(b.native.clip(b.id(x.x), at.clipValueMin, at.clipValueMax)));
def("Select", ({ x, b }) => b.out(b.native.select(b.id(x.condition), b.id(x.t), b.id(x.e))));
def("Identity", ({ x, b }) => {
  b.incRef(x.x.dataId);
  return { dataId: x.x.dataId, shape: x.x.shape, dtype: x.x.dtype };
});

// --------------------------------------------------------------- matmul ---
def("BatchMatMul", ({ x, b, at }) =>
  b.out(b.native.matmul(b.id(x.a), b.id(x.b), at.transposeA, at.transposeB, -1, 0, -1, 0)),
);
def("_FusedMatMul", ({ x, b, at }) => {
  const act = opCodes().activation[at.activation ?? "linear"];
  if (act === undefined) throw new Error(`torch backend: _FusedMatMul activation ${at.activation} not supported`);
  return b.out(
    b.native.matmul(
      b.id(x.a), b.id(x.b), at.transposeA, at.transposeB,
      x.bias ? b.id(x.bias) : -1, act, x.preluActivationWeights ? b.id(x.preluActivationWeights) : -1,
      at.leakyreluAlpha ?? 0.2,
    ),
  );
});
def("Einsum", ({ list, b, at }) => b.out(b.native.einsum(at.equation, list.map((t) => b.id(t)))));

// ----------------------------------------------------------- reductions ---
const reductions: Array<[string, string, (d: DataType) => DataType]> = [
  ["Sum", "axis", (d) => upcastType(d, "int32")],
  ["Prod", "axis", (d) => upcastType(d, "int32")],
  ["Mean", "axis", () => "float32"],
  ["Max", "reductionIndices", (d) => d],
  ["Min", "axis", (d) => d],
  ["Any", "axis", () => "bool"],
  ["All", "axis", () => "bool"],
];
for (const [name, attr, outType] of reductions) {
  def(name, ({ x, b, at }) => {
    const code = opCode("reduce", name);
    const t = x.x;
    const axes = axesOf(at[attr], t.shape);
    const dtype = outType(t.dtype);
    return b.out(b.native.reduce(code, b.id(t), axes, !!at.keepDims, dtypeCode(dtype)));
  });
}
for (const [name, isMin] of [["ArgMax", false], ["ArgMin", true]] as const) {
  def(name, ({ x, b, at }) => {
    const axes = axesOf(at.axis, x.x.shape);
    if (axes.length !== 1) throw new Error(`torch backend: ${name} takes one axis`);
    return b.out(b.native.argReduce(isMin, b.id(x.x), axes[0]));
  });
}
def("Softmax", ({ x, b, at }) => b.out(b.native.softmax(b.id(x.logits), at.dim ?? -1, false)));
def("Cumsum", ({ x, b, at }) => b.out(b.native.cumsum(b.id(x.x), at.axis, !!at.exclusive, !!at.reverse, false)));
def("Cumprod", ({ x, b, at }) => b.out(b.native.cumsum(b.id(x.x), at.axis, !!at.exclusive, !!at.reverse, true)));

// ------------------------------------------------------------ shape ops ---
// Reshape shares the dataId like tfjs' cpu backend: no addon call until a
// kernel needs the new shape (then TorchBackend.id makes a cached view).
def("Reshape", ({ x, b, at }) => {
  const shape = util.inferFromImplicitShape(at.shape, util.sizeFromShape(x.x.shape));
  util.assert(util.sizeFromShape(shape) === util.sizeFromShape(x.x.shape), () => `Reshape: cannot reshape [${x.x.shape}] to [${shape}]`);
  b.incRef(x.x.dataId);
  return { dataId: x.x.dataId, shape, dtype: x.x.dtype };
});
def("ExpandDims", ({ x, b, at }) => {
  const rank = x.input.shape.length;
  const axis = at.dim < 0 ? at.dim + rank + 1 : at.dim;
  const shape = x.input.shape.slice();
  shape.splice(axis, 0, 1);
  return b.out(b.native.reshape(b.id(x.input), shape));
});
def("Transpose", ({ x, b, at }) => b.out(b.native.transpose(b.id(x.x), at.perm)));
def("BroadcastTo", ({ x, b, at }) => b.out(b.native.broadcastTo(b.id(x.x), at.shape)));
def("Tile", ({ x, b, at }) => b.out(b.native.tile(b.id(x.x), at.reps)));
def("Reverse", ({ x, b, at }) => b.out(b.native.reverse(b.id(x.x), axesOf(at.dims, x.x.shape))));
def("Concat", ({ list, b, at }) => {
  const axis = axesOf(at.axis, list[0].shape)[0];
  // tfjs lets empty inputs of any shape through; ATen requires matching ranks.
  const parts = list.filter((t) => util.sizeFromShape(t.shape) > 0);
  if (parts.length === 0) {
    const shape = backend_util.computeOutShape(list.map((t) => t.shape), axis);
    return b.out(b.native.fill(shape, 0, dtypeCode(list[0].dtype)));
  }
  return b.out(b.native.concat(parts.map((t) => b.id(t)), axis));
});
def("Pack", ({ list, b, at }) => b.out(b.native.stack(list.map((t) => b.id(t)), at.axis)));
def("Unpack", ({ x, b, at }) => {
  const axis = axesOf(at.axis, x.value.shape)[0];
  return b.native.unstack(b.id(x.value), axis).map((m) => b.out(m));
});
def("SplitV", ({ x, b, at }) => {
  const axis = axesOf(at.axis, x.x.shape)[0];
  const sizes = backend_util.prepareSplitSize(x.x, at.numOrSizeSplits, axis);
  return b.native.split(b.id(x.x), sizes, axis).map((m) => b.out(m));
});
def("Slice", ({ x, b, at }) => {
  const [begin, size] = slice_util.parseSliceParams(x.x, at.begin, at.size);
  slice_util.assertParamsValid(x.x, begin, size);
  return b.out(b.native.slice(b.id(x.x), begin, size));
});
def("StridedSlice", ({ x, b, at }) => {
  const info = slice_util.sliceInfo(
    x.x.shape, at.begin, at.end, at.strides, at.beginMask, at.endMask, at.ellipsisMask, at.newAxisMask,
    at.shrinkAxisMask,
  );
  // Elements per dim (shrunk axes count 1); end is exclusive in either direction.
  const counts = info.begin.map((bg, d) => Math.max(0, Math.ceil((info.end[d] - bg) / info.strides[d])));
  return b.out(b.native.stridedSlice(b.id(x.x), info.begin, info.strides, counts, info.finalShape));
});
def("PadV2", ({ x, b, at }) =>
  b.out(b.native.pad(b.id(x.x), (at.paddings as number[][]).flat(), at.constantValue ?? 0)),
);
def("Fill", ({ b, at }) => {
  const dtype: DataType = at.dtype ?? (typeof at.value === "number" ? "float32" : "bool");
  return b.out(b.native.fill(at.shape, Number(at.value), dtypeCode(dtype)));
});
def("Range", ({ b, at }) => {
  const { start, stop, step } = at as { start: number; stop: number; step: number };
  const empty = start === stop || (start < stop && step < 0) || (stop < start && step > 1);
  const n = empty ? 0 : Math.abs(Math.ceil((stop - start) / step));
  return b.out(b.native.range(start, step, n, dtypeCode(at.dtype ?? "float32")));
});

def("LinSpace", ({ b, at }) => {
  const { start, stop, num } = at as { start: number; stop: number; num: number };
  const step = num > 1 ? (stop - start) / (num - 1) : 0;
  return b.out(b.native.range(start, step, num, dtypeCode("float32")));
});

// ------------------------------------------------------- gather/scatter ---
def("GatherV2", ({ x, b, at }) => {
  const axis = axesOf(at.axis, x.x.shape)[0];
  if ((at.batchDims ?? 0) !== 0) throw new Error("torch backend: GatherV2 with batchDims is not supported");
  return b.out(b.native.gather(b.id(x.x), b.id(x.indices), axis));
});
def("GatherNd", ({ x, b }) => b.out(b.native.gatherNd(b.id(x.params), b.id(x.indices))));
def("ScatterNd", ({ x, b, at }) => b.out(b.native.scatterNd(b.id(x.indices), b.id(x.updates), at.shape)));
def("UnsortedSegmentSum", ({ x, b, at }) =>
  b.out(b.native.segmentSum(b.id(x.x), b.id(x.segmentIds), at.numSegments)),
);
def("OneHot", ({ x, b, at }) =>
  b.out(b.native.oneHot(b.id(x.indices), at.depth, at.onValue ?? 1, at.offValue ?? 0, dtypeCode(at.dtype ?? "int32"))),
);
def("Where", ({ x, b }) => b.out(b.native.where(b.id(x.condition))));
def("TopK", ({ x, b, at }) => b.native.topk(b.id(x.x), at.k, at.sorted ?? true).map((m) => b.out(m)));

// --------------------------------------------------------- convolution ---
type Shape4 = [number, number, number, number];
function convInfo(inShape: number[], fShape: number[], at: Record<string, any>) {
  if (at.dataFormat && at.dataFormat !== "NHWC" && at.dataFormat !== "channelsLast") {
    throw new Error(`torch backend: conv dataFormat ${at.dataFormat} not supported (NHWC only)`);
  }
  const c = backend_util.computeConv2DInfo(
    inShape as Shape4, fShape as Shape4, at.strides, at.dilations ?? 1, at.pad, at.dimRoundingMode,
  );
  const p = c.padInfo;
  return {
    strides: [c.strideHeight, c.strideWidth],
    pads: [p.top, p.bottom, p.left, p.right],
    dilations: [c.dilationHeight, c.dilationWidth],
  };
}
def("Conv2D", ({ x, b, at }) => {
  const c = convInfo(x.x.shape, x.filter.shape, at);
  return b.out(b.native.conv2d(b.id(x.x), b.id(x.filter), c.strides, c.pads, c.dilations));
});
def("Conv2DBackpropInput", ({ x, b, at }) => {
  const c = convInfo(at.inputShape, x.filter.shape, at);
  return b.out(
    b.native.conv2dBackprop(b.id(x.dy), -1, b.id(x.filter), at.inputShape, x.filter.shape, c.strides, c.pads, c.dilations, true),
  );
});
def("Conv2DBackpropFilter", ({ x, b, at }) => {
  const c = convInfo(x.x.shape, at.filterShape, at);
  return b.out(
    b.native.conv2dBackprop(b.id(x.dy), b.id(x.x), -1, x.x.shape, at.filterShape, c.strides, c.pads, c.dilations, false),
  );
});

/** Names of every kernel this backend implements (fused custom ops excluded). */
export function torchKernelNames(): string[] {
  return allKernels().map(([n]) => n);
}

function allKernels(): Array<[string, Impl]> {
  return [...elementwiseKernels(), ...kernels];
}

export function torchKernelConfigs(): KernelConfig[] {
  return allKernels().map(([kernelName, impl]) => ({
    kernelName,
    backendName: TORCH_BACKEND_NAME,
    kernelFunc: ((args: Args) => {
      const list = Array.isArray(args.inputs) ? args.inputs : Object.values(args.inputs);
      const x = (Array.isArray(args.inputs) ? {} : args.inputs) as Record<string, TensorInfo>;
      return impl({ x, list, b: args.backend, at: (args.attrs ?? {}) as NamedAttrMap as Record<string, any> });
    }) as unknown as KernelFunc,
  }));
}
