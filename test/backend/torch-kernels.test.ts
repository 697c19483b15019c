// Every torch kernel against the cpu backend on random inputs.
import * as tf from "@tensorflow/tfjs-core";
import { beforeAll, describe, expect, it } from "vitest";
import { registerTorchBackend, torchAvailable, torchKernelNames } from "../../src/backend/torch.js";
import { opCode, opCodes } from "../../src/backend/torch-native.js";
import { check, type Inputs } from "./torch-helpers.js";

const { available, reason } = torchAvailable();
const title = available ? "torch kernels vs cpu" : `torch kernels vs cpu (SKIPPED: ${reason})`;

type Case = [string, (m: Inputs) => tf.Tensor | tf.Tensor[], number?];

const pos = (m: Inputs, s: number[]) => m.rand(s, 0.1, 3);

const unary: Case[] = [
  ["neg", (m) => tf.neg(m.rand([3, 4]))],
  ["neg int32", (m) => tf.neg(m.int([5], -9, 9))],
  ["exp", (m) => tf.exp(m.rand([3, 4], -3, 3))],
  ["log", (m) => tf.log(pos(m, [3, 4]))],
  ["log1p", (m) => tf.log1p(pos(m, [7]))],
  ["sqrt", (m) => tf.sqrt(pos(m, [7]))],
  ["rsqrt", (m) => tf.rsqrt(pos(m, [7]))],
  ["square", (m) => tf.square(m.rand([2, 3]))],
  ["abs", (m) => tf.abs(m.rand([9]))],
  ["abs int32", (m) => tf.abs(m.int([9], -5, 5))],
  ["sign", (m) => tf.sign(tf.concat([m.rand([6]), tf.zeros([2])]))],
  ["tanh", (m) => tf.tanh(m.rand([9], -4, 4))],
  ["sigmoid", (m) => tf.sigmoid(m.rand([9], -8, 8))],
  ["erf", (m) => tf.erf(m.rand([9], -3, 3))],
  ["relu", (m) => tf.relu(m.rand([9]))],
  ["relu6", (m) => tf.relu6(m.rand([9], -3, 9))],
  ["elu", (m) => tf.elu(m.rand([9], -3, 3))],
  ["selu", (m) => tf.selu(m.rand([9], -3, 3))],
  ["leakyRelu", (m) => tf.leakyRelu(m.rand([9]), 0.1)],
  ["prelu", (m) => tf.prelu(m.rand([3, 4]), m.rand([4]))],
  ["step", (m) => tf.step(m.rand([9]), 0.3)],
  ["softplus", (m) => tf.softplus(m.rand([9], -30, 30))],
  ["reciprocal", (m) => tf.reciprocal(pos(m, [9]))],
  ["floor/ceil/round", (m) => { const x = m.rand([12], -5, 5); return [tf.floor(x), tf.ceil(x), tf.round(x), tf.round(tf.tensor1d([0.5, 1.5, 2.5, -0.5]))]; }],
  ["sin/cos/expm1", (m) => { const x = m.rand([12], -3, 3); return [tf.sin(x), tf.cos(x), tf.expm1(x)]; }],
  ["trig and hyperbolic", (m) => { const x = m.rand([8], -0.9, 0.9); return [tf.tan(x), tf.asin(x), tf.acos(x), tf.atan(x), tf.sinh(x), tf.cosh(x), tf.asinh(x), tf.atanh(x), tf.acosh(tf.add(pos(m, [4]), 1))]; }],
  ["isNaN/isInf/isFinite", () => { const x = tf.tensor1d([1, NaN, Infinity, -Infinity, 0]); return [tf.isNaN(x), tf.isInf(x), tf.isFinite(x)]; }],
  ["logicalNot", (m) => tf.logicalNot(m.bool([7]))],
  ["zerosLike/onesLike", (m) => [tf.zerosLike(m.rand([2, 3])), tf.onesLike(m.int([4], 0, 3))]],
  ["clipByValue", (m) => tf.clipByValue(m.rand([9], -3, 3), -1, 0.5)],
  ["cast", (m) => { const x = m.rand([9], -3, 3); return [tf.cast(x, "int32"), tf.cast(x, "bool"), tf.cast(m.int([4], 0, 3), "float32"), tf.cast(m.bool([4]), "float32")]; }],
];

const binary: Case[] = [
  ["add broadcast", (m) => tf.add(m.rand([3, 1, 4]), m.rand([5, 1]))],
  ["add int32", (m) => tf.add(m.int([3, 4], -9, 9), m.int([4], -9, 9))],
  ["sub", (m) => tf.sub(m.rand([3, 4]), m.rand([1, 4]))],
  ["mul scalar", (m) => tf.mul(m.rand([3, 4]), 2.5)],
  ["div", (m) => tf.div(m.rand([3, 4]), pos(m, [3, 1]))],
  ["div int32 (floorDiv)", (m) => tf.div(m.int([8], -20, 20), m.int([8], 1, 6))],
  ["floorDiv float", (m) => tf.floorDiv(m.rand([8], -5, 5), pos(m, [8]))],
  ["mod", (m) => [tf.mod(m.rand([8], -5, 5), pos(m, [8])), tf.mod(m.int([8], -20, 20), m.int([8], 1, 6))]],
  ["maximum/minimum", (m) => { const a = m.rand([2, 3, 4]), b = m.rand([3, 1]); return [tf.maximum(a, b), tf.minimum(a, b)]; }],
  ["pow", (m) => [tf.pow(pos(m, [6]), m.rand([6], -2, 2)), tf.pow(m.int([5], -3, 3), tf.tensor1d([0, 1, 2, 3, 2], "int32"))]],
  ["squaredDifference", (m) => tf.squaredDifference(m.rand([3, 4]), m.rand([4]))],
  ["atan2", (m) => tf.atan2(m.rand([8]), m.rand([8]))],
  ["comparisons", (m) => {
    const a = tf.round(m.rand([4, 5], -2, 2)), b = tf.round(m.rand([5], -2, 2));
    return [tf.equal(a, b), tf.notEqual(a, b), tf.less(a, b), tf.lessEqual(a, b), tf.greater(a, b), tf.greaterEqual(a, b)];
  }],
  ["logical and/or", (m) => { const a = m.bool([3, 4]), b = m.bool([4]); return [tf.logicalAnd(a, b), tf.logicalOr(a, b)]; }],
  ["addN", (m) => tf.addN([m.rand([3, 4]), m.rand([3, 4]), m.rand([3, 4])])],
  ["where (select)", (m) => [tf.where(m.bool([3, 4]), m.rand([3, 4]), m.rand([3, 4])), tf.where(m.bool([4]), m.rand([3, 4]), m.rand([3, 4]))]],
];

const matmul: Case[] = [
  ["matMul", (m) => tf.matMul(m.rand([5, 7]), m.rand([7, 3]))],
  ["matMul transposeA", (m) => tf.matMul(m.rand([7, 5]), m.rand([7, 3]), true, false)],
  ["matMul transposeB", (m) => tf.matMul(m.rand([5, 7]), m.rand([3, 7]), false, true)],
  ["matMul both transposed", (m) => tf.matMul(m.rand([7, 5]), m.rand([3, 7]), true, true)],
  ["batchMatMul", (m) => tf.matMul(m.rand([2, 3, 4, 5]), m.rand([2, 3, 5, 6]))],
  // tfjs-cpu 4.22 returns a buffer of the wrong size for broadcast batch
  // dims, so the reference broadcasts explicitly first.
  ["batchMatMul broadcast batch", (m) => {
    const a = m.rand([2, 1, 4, 5]), b = m.rand([1, 3, 6, 5]);
    if (tf.getBackend() === "cpu") return tf.matMul(tf.broadcastTo(a, [2, 3, 4, 5]), tf.broadcastTo(b, [2, 3, 6, 5]), false, true);
    return tf.matMul(a, b, false, true);
  }],
  ["fused matMul bias+relu", (m) => tf.fused.matMul({ a: m.rand([4, 6]), b: m.rand([6, 5]), bias: m.rand([5]), activation: "relu" })],
  ["fused matMul transposed bias", (m) => tf.fused.matMul({ a: m.rand([6, 4]), b: m.rand([5, 6]), transposeA: true, transposeB: true, bias: m.rand([5]) })],
  ["einsum", (m) => tf.einsum("bij,bjk->bik", m.rand([2, 3, 4]), m.rand([2, 4, 5]))],
];

const reductions: Case[] = [
  ["sum all/axis/keepDims", (m) => { const x = m.rand([3, 4, 5]); return [tf.sum(x), tf.sum(x, 1), tf.sum(x, [0, 2], true), tf.sum(x, -1)]; }],
  ["sum int32 + bool", (m) => [tf.sum(m.int([3, 4], -5, 5), 0), tf.sum(m.bool([3, 4]), 1)]],
  ["mean", (m) => { const x = m.rand([3, 4, 5]); return [tf.mean(x), tf.mean(x, [1, 2]), tf.mean(x, 0, true)]; }],
  ["max/min", (m) => { const x = m.rand([3, 4, 5]); return [tf.max(x), tf.max(x, [0, 2]), tf.min(x, 1, true), tf.min(m.int([4, 3], -9, 9), 0)]; }],
  ["prod", (m) => tf.prod(m.rand([3, 4], 0.5, 1.5), 1)],
  ["any/all", (m) => { const x = m.bool([4, 3]); return [tf.any(x, 1), tf.all(x, 0), tf.any(x)]; }],
  ["argMax/argMin with ties", (m) => { const x = m.int([6, 5], 0, 3); return [tf.argMax(x, 1), tf.argMin(x, 0), tf.argMax(m.rand([4, 7]), -1)]; }],
  ["softmax/logSoftmax", (m) => { const x = m.rand([3, 7], -5, 5); return [tf.softmax(x), tf.logSoftmax(x)]; }],
  ["cumprod variants", (m) => { const x = m.rand([3, 5], 0.5, 1.5); return [tf.cumprod(x, 1), tf.cumprod(x, 1, true), tf.cumprod(x, 1, false, true), tf.cumprod(x, 1, true, true)]; }],
  ["cumsum variants", (m) => { const x = m.rand([3, 5]); return [tf.cumsum(x, 1), tf.cumsum(x, 1, true), tf.cumsum(x, 1, false, true), tf.cumsum(x, 0, true, true)]; }],
];

const shapes: Case[] = [
  ["expandDims/squeeze", (m) => [tf.expandDims(m.rand([3, 4]), 1), tf.expandDims(m.rand([3, 4]), -1), tf.squeeze(m.rand([3, 1, 4, 1]))]],
  ["linspace", () => [tf.linspace(0, 1, 7), tf.linspace(3, -2, 4)]],
  ["reshape", (m) => tf.reshape(m.rand([3, 4]), [2, -1, 3])],
  ["transpose", (m) => [tf.transpose(m.rand([2, 3, 4]), [2, 0, 1]), tf.transpose(m.rand([3, 4]))]],
  ["transposed then elementwise", (m) => tf.add(tf.transpose(m.rand([3, 4])), m.rand([4, 3]))],
  ["broadcastTo", (m) => tf.broadcastTo(m.rand([3, 1]), [2, 3, 4])],
  ["tile", (m) => tf.tile(m.rand([2, 3]), [2, 3])],
  ["reverse", (m) => tf.reverse(m.rand([2, 3, 4]), [0, 2])],
  ["concat", (m) => [tf.concat([m.rand([2, 3]), m.rand([2, 1]), m.rand([2, 4])], 1), tf.concat([m.int([2], 0, 5), m.int([3], 0, 5)])]],
  ["stack/unstack", (m) => [tf.stack([m.rand([2, 3]), m.rand([2, 3])], 1), ...tf.unstack(m.rand([3, 2, 2]), 1)]],
  ["split", (m) => [...tf.split(m.rand([4, 6]), [1, 2, 3], 1), ...tf.split(m.rand([4, 6]), 2, 0)]],
  ["slice", (m) => [tf.slice(m.rand([4, 5, 6]), [1, 0, 2], [2, -1, 3]), tf.slice(m.rand([5]), 1, 3)]],
  ["stridedSlice", (m) => {
    const x = m.rand([5, 6, 4]);
    return [
      tf.stridedSlice(x, [1, 0, 0], [4, 6, 4], [1, 2, 1]),
      tf.stridedSlice(x, [4, 5, 3], [0, 0, 0], [-1, -2, -1]),
      tf.stridedSlice(x, [0, 2, 0], [0, 3, 0], [1, 1, 1], 5, 5, 0, 0, 2),
      tf.stridedSlice(x, [1], [3], [1], 0, 0, 0, 1),
    ];
  }],
  ["pad", (m) => [tf.pad(m.rand([2, 3]), [[1, 0], [2, 3]], 0.5), tf.pad(m.int([3], 0, 4), [[2, 1]])]],
  ["fill/range", () => [tf.fill([2, 3], 4.5), tf.fill([2], 3, "int32"), tf.range(0, 10, 3), tf.range(5, -1, -2, "int32"), tf.range(2, 2)]],
  ["gather", (m) => { const x = m.rand([5, 4, 3]); return [tf.gather(x, m.int([6], 0, 5)), tf.gather(x, m.int([2, 3], 0, 4), 1), tf.gather(x, m.int([4], 0, 3), 2)]; }],
  ["gatherND", (m) => [tf.gatherND(m.rand([4, 5, 3]), m.int([6, 2], 0, 4)), tf.gatherND(m.rand([4, 5]), tf.tensor2d([[0, 1], [3, 4], [2, 2]], undefined, "int32"))]],
  ["scatterND with duplicates", (m) => tf.scatterND(tf.tensor2d([[1], [3], [1]], undefined, "int32"), m.rand([3, 4]), [5, 4])],
  ["unsortedSegmentSum", (m) => tf.unsortedSegmentSum(m.rand([6, 3]), m.int([6], 0, 4), 4)],
  ["oneHot", (m) => [tf.oneHot(m.int([5], 0, 4), 4), tf.oneHot(tf.tensor1d([-1, 2, 7], "int32"), 4, 2, -1)]],
  ["topk", (m) => { const r = tf.topk(m.rand([3, 8]), 3); return [r.values, r.indices]; }],
  ["conv2d patchify (valid, stride=kernel)", (m) => tf.conv2d(m.rand([2, 8, 8, 3]) as tf.Tensor4D, m.rand([4, 4, 3, 5]) as tf.Tensor4D, 4, "valid")],
  ["conv2d same padding", (m) => tf.conv2d(m.rand([1, 7, 7, 2]) as tf.Tensor4D, m.rand([3, 3, 2, 4]) as tf.Tensor4D, 2, "same")],
];

describe.skipIf(!available)(title, () => {
  beforeAll(() => {
    registerTorchBackend();
  });
  for (const [group, cases] of [["unary", unary], ["binary", binary], ["matmul", matmul], ["reductions", reductions], ["shape/index", shapes]] as const) {
    describe(group, () => {
      for (const [name, f, rtol] of cases) it(name, () => check(f, rtol ?? 1e-4));
    });
  }

  it("whereAsync (coordinates of true)", async () => {
    const mask = [true, false, true, true, false, false];
    await tf.setBackend("torch");
    const x = tf.tensor2d(mask, [2, 3], "bool");
    const got = await tf.whereAsync(x);
    await tf.setBackend("cpu");
    const xc = tf.tensor2d(mask, [2, 3], "bool");
    const ref = await tf.whereAsync(xc);
    expect(got.arraySync()).toEqual(ref.arraySync());
    expect(got.dtype).toBe("int32");
    tf.dispose([x, xc, got, ref]);
  });

  it("takes its op codes from the addon's tables", () => {
    
    const codes = opCodes();
    // Codes are the enum order in native/torch_addon.cc: distinct, 0..n-1.
    for (const table of Object.values(codes)) {
      expect(Object.values(table).sort((a, b) => a - b)).toEqual([...Object.keys(table).keys()]);
    }
    const names = new Set(torchKernelNames());
    for (const name of Object.keys(codes.unary)) if (name !== "Clone") expect(names.has(name)).toBe(true);
    expect(names.has(tf.Multiply)).toBe(true);
    expect(() => opCode("reduce", "Median")).toThrow(/no reduce op "Median"/);
  });
});
