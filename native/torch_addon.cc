// N-API addon behind clipts' "torch" tfjs backend.
//
// Tensors live here, in a handle table (id -> at::Tensor); JavaScript only
// holds numeric ids. Every op returns a "meta" array [id, dtype, ...shape] so
// the TypeScript side can build a TensorInfo without a second call.
// One translation unit on purpose: ATen headers dominate compile time and the
// build machines have two cores.
#include <ATen/ATen.h>
#include <ATen/Parallel.h>
#include <ATen/Version.h>
#include <c10/core/impl/DeviceGuardImplInterface.h>
#include <napi.h>
#include <torch/version.h>
#include <c10/core/CPUAllocator.h>
#include <c10/core/GradMode.h>
#include <torch/csrc/autograd/autograd.h>
// Attention through SDPA needs its scale argument, new in PyTorch 2.1.
#if TORCH_VERSION_MAJOR > 2 || (TORCH_VERSION_MAJOR == 2 && TORCH_VERSION_MINOR >= 1)
#define CLIPTS_SDPA 1
#endif

// The CUDA caching allocator's statistics need CUDA's runtime headers, which
// a CUDA build of PyTorch does not ship, and a CUDA build's generated c10
// macros (CPU-only packages such as Debian's lack them); without them only
// the handle table's bytes are reported.
#if TORCH_VERSION_MAJOR >= 2 && !defined(CLIPTS_NO_CUDA_STATS) && __has_include(<c10/cuda/CUDACachingAllocator.h>) && \
    __has_include(<c10/cuda/impl/cuda_cmake_macros.h>) && __has_include(<cuda_runtime_api.h>)
#include <c10/cuda/CUDACachingAllocator.h>
#define CLIPTS_CUDA_STATS 1
#endif

#include <cmath>
#include <cstdlib>
#include <cstring>
#include <string>
#include <unordered_map>
#include <unordered_set>
#include <vector>

namespace {

// c10::optional became an alias of std::optional in PyTorch 2.x (and may be
// dropped later); Debian's 1.13 has its own class.
#if TORCH_VERSION_MAJOR >= 2
template <class T>
using Opt = std::optional<T>;
constexpr auto kNone = std::nullopt;
#else
template <class T>
using Opt = c10::optional<T>;
constexpr auto kNone = c10::nullopt;
#endif

// Op and dtype codes. Each *_CODES list is the one definition of its codes:
// the enum takes them in order, and OpCodes() exports them as {name: code},
// from which src/backend/torch-native.ts builds its tables when the addon
// loads, so the two sides cannot drift apart. The names are tfjs' (kernel
// names, dtypes, fused activations).
#define ENUM_ENTRY(code, name) code,
#define DTYPE_CODES(X) X(kF32, "float32") X(kI32, "int32") X(kBool, "bool")
enum DType { DTYPE_CODES(ENUM_ENTRY) };

// Bytes the handle table holds, counted once per storage (views share one):
// what `clipts train` reports as peak tensor memory on every device. It does
// not see temporaries inside kernels, nor what the SDPA graphs below keep for
// their backward; on CUDA the caching allocator's own peak, which sees
// everything, is reported beside it when the build has the CUDA headers.
struct StorageUse {
  int64_t handles;
  double bytes;
};

struct State {
  std::unordered_map<int64_t, at::Tensor> table;
  std::unordered_map<const void*, StorageUse> storages;
  double liveBytes = 0, peakBytes = 0;
  int64_t nextId = 1;
  at::Device device = at::Device(at::kCPU);
  // Autocast (torch.autocast's CUDA rules, with bfloat16): matmul, linear,
  // conv and attention run in bf16 and return bf16 activations; layer norm,
  // softmax, cross-entropy, reductions and exp/log-type ops widen bf16 inputs
  // to float32; everything else follows ATen's type promotion, so the
  // residual stream (fp32 + bf16) stays float32. The JS side sees float32
  // either way: only the storage is narrower. Weights stay float32 and each
  // backward returns a gradient in its input's dtype, as autograd does.
  bool bf16 = false;
};
State S;

// Residual blocks recorded by BlockForward for their backward, keyed by the
// id of the handle tensor JS holds; freeing that id frees the graph.
struct BlockGraph {
  std::vector<at::Tensor> leaves;  // x, then the block's 12 parameters
  at::Tensor out;
  // Bytes of the block's intermediate activations, which autograd keeps for
  // the backward (nearly all of them are saved by the op that reads them);
  // counted in the live/peak bytes while the graph lives, since the handle
  // table cannot see inside it.
  double bytes = 0;
};
std::unordered_map<int64_t, BlockGraph> blockGraphs;

void eraseBlockGraph(int64_t id) {
  auto it = blockGraphs.find(id);
  if (it == blockGraphs.end()) return;
  S.liveBytes -= it->second.bytes;
  blockGraphs.erase(it);
}

#ifdef CLIPTS_SDPA
// Attention graphs recorded by SdpaForward, keyed by the id of the
// handle tensor JS holds in place of the attention probabilities.
struct SdpaGraph {
  at::Tensor q, k, v, out;
};
std::unordered_map<int64_t, SdpaGraph> sdpaGraphs;
#endif

at::ScalarType scalarType(int code) {
  switch (code) {
    case kF32: return at::kFloat;
    case kI32: return at::kInt;
    case kBool: return at::kBool;
  }
  throw std::runtime_error("torch addon: unknown dtype code " + std::to_string(code));
}

int dtypeCode(at::ScalarType t) {
  switch (t) {
    case at::kFloat: case at::kBFloat16: case at::kHalf: case at::kDouble: return kF32;
    case at::kInt: case at::kLong: case at::kShort: case at::kByte: case at::kChar: return kI32;
    case at::kBool: return kBool;
    default: throw std::runtime_error("torch addon: unsupported result dtype");
  }
}

// Results are normalised to the three tfjs dtypes so reads and later ops see
// exactly what tfjs expects (e.g. ATen's sum of int32 is int64). bf16 stays:
// only autocast produces it, and tfjs sees it as float32.
at::Tensor normalise(at::Tensor t) {
  switch (t.scalar_type()) {
    case at::kFloat: case at::kInt: case at::kBool: case at::kBFloat16: return t;
    case at::kHalf: case at::kDouble: return t.to(at::kFloat);
    default: return t.to(at::kInt);
  }
}

// Autocast's float32 ops widen bf16 activations first.
at::Tensor f32(const at::Tensor& t) { return t.scalar_type() == at::kBFloat16 ? t.to(at::kFloat) : t; }
// Operands of autocast's lower-precision ops (matmul, linear, conv,
// attention, einsum): narrowed to bf16 in bf16 mode, else widened, so a bf16
// tensor still alive after the mode is switched off mixes with float32 ones.
at::Tensor lowp(const at::Tensor& t) { return S.bf16 && t.is_floating_point() ? t.to(at::kBFloat16) : f32(t); }

Napi::Array meta(Napi::Env env, int64_t id, const at::Tensor& t) {
  auto arr = Napi::Array::New(env, 2 + t.dim());
  arr.Set(uint32_t(0), Napi::Number::New(env, double(id)));
  arr.Set(uint32_t(1), Napi::Number::New(env, dtypeCode(t.scalar_type())));
  for (int64_t d = 0; d < t.dim(); ++d) arr.Set(uint32_t(2 + d), Napi::Number::New(env, double(t.size(d))));
  return arr;
}

void track(const at::Tensor& t, int delta) {
  if (!t.has_storage()) return;
  const void* key = t.storage().unsafeGetStorageImpl();
  if (delta > 0) {
    auto& u = S.storages[key];
    if (u.handles++ == 0) {
      u.bytes = double(t.storage().nbytes());
      S.liveBytes += u.bytes;
      if (S.liveBytes > S.peakBytes) S.peakBytes = S.liveBytes;
    }
    return;
  }
  auto it = S.storages.find(key);
  if (it == S.storages.end() || --it->second.handles > 0) return;
  S.liveBytes -= it->second.bytes;
  S.storages.erase(it);
}

Napi::Array put(Napi::Env env, at::Tensor t) {
  t = normalise(std::move(t));
  int64_t id = S.nextId++;
  auto m = meta(env, id, t);
  track(t, +1);
  S.table.emplace(id, std::move(t));
  return m;
}

Napi::Array putMany(Napi::Env env, const std::vector<at::Tensor>& ts) {
  auto arr = Napi::Array::New(env, ts.size());
  for (size_t i = 0; i < ts.size(); ++i) arr.Set(uint32_t(i), put(env, ts[i]));
  return arr;
}

const at::Tensor& get(const Napi::Value& v) {
  int64_t id = int64_t(v.As<Napi::Number>().DoubleValue());
  auto it = S.table.find(id);
  if (it == S.table.end()) throw std::runtime_error("torch addon: unknown or freed tensor id " + std::to_string(id));
  return it->second;
}

// Optional tensor argument: a negative id means "absent".
Opt<at::Tensor> opt(const Napi::Value& v) {
  if (v.IsUndefined() || v.IsNull() || v.As<Napi::Number>().DoubleValue() < 0) return kNone;
  return get(v);
}

std::vector<int64_t> ints(const Napi::Value& v) {
  auto a = v.As<Napi::Array>();
  std::vector<int64_t> out(a.Length());
  for (uint32_t i = 0; i < a.Length(); ++i) out[i] = int64_t(a.Get(i).As<Napi::Number>().DoubleValue());
  return out;
}

std::vector<at::Tensor> tensors(const Napi::Value& v) {
  auto a = v.As<Napi::Array>();
  std::vector<at::Tensor> out;
  out.reserve(a.Length());
  for (uint32_t i = 0; i < a.Length(); ++i) out.push_back(get(a.Get(i)));
  return out;
}

double num(const Napi::Value& v) { return v.As<Napi::Number>().DoubleValue(); }
int64_t i64(const Napi::Value& v) { return int64_t(v.As<Napi::Number>().DoubleValue()); }
bool flag(const Napi::Value& v) { return v.ToBoolean().Value(); }

at::TensorOptions opts(at::ScalarType t) { return at::TensorOptions().dtype(t).device(S.device); }

// Translate C++ exceptions (c10::Error carries a long backtrace) into JS errors.
using Fn = Napi::Value (*)(const Napi::CallbackInfo&);
template <Fn F>
Napi::Value guarded(const Napi::CallbackInfo& info) {
  try {
    return F(info);
  } catch (const c10::Error& e) {
    throw Napi::Error::New(info.Env(), std::string("torch: ") + e.what_without_backtrace());
  } catch (const Napi::Error&) {
    throw;
  } catch (const std::exception& e) {
    throw Napi::Error::New(info.Env(), std::string("torch: ") + e.what());
  }
}

// ---------------------------------------------------------------- data ----

Napi::Value FromArray(const Napi::CallbackInfo& info) {
  auto shape = ints(info[1]);
  int code = int(num(info[2]));
  auto st = scalarType(code);
  // The element pointer comes from napi_get_typedarray_info itself, which
  // also works for views of a SharedArrayBuffer (the loader's decode ring);
  // Napi::ArrayBuffer refuses those.
  napi_typedarray_type type;
  size_t length;
  void* data;
  if (napi_get_typedarray_info(info.Env(), info[0], &type, &length, &data, nullptr, nullptr) != napi_ok) {
    throw std::runtime_error("torch addon: fromArray expects a typed array");
  }
  size_t bytes = info[0].As<Napi::TypedArray>().ByteLength();
  // For a GPU the staging copy goes to pinned memory (libtorch caches those
  // blocks) and the upload is queued without waiting: a copy from pageable
  // memory would wait for every kernel queued before it.
  const bool gpu = S.device.is_cuda();
  auto host = at::empty(shape, at::TensorOptions().dtype(st).pinned_memory(gpu));
  if (size_t(host.nbytes()) != bytes) throw std::runtime_error("torch addon: data size does not match shape");
  if (bytes) std::memcpy(host.data_ptr(), data, bytes);
  return put(info.Env(), gpu ? host.to(S.device, /*non_blocking=*/true) : host);
}

// A CPU tensor over a typed array the caller rewrites later (the loader's
// decode ring, or its packing buffer), without a copy: the pixels the decode
// workers wrote are the batch tensor. Returns [lease, meta]. Before the caller
// rewrites those bytes it ends the lease (ReleaseView): a tensor still alive
// then (the consumer kept the batch, or a view derived from it) gets a private
// copy swapped in under its storage, so every alias keeps its values. The
// lease holds a reference to the buffer, so it outlives every tensor over it.
struct ViewLease {
  c10::weak_intrusive_ptr<c10::StorageImpl> storage;
  napi_ref buffer;
};
std::unordered_map<int64_t, ViewLease> viewLeases;
int64_t nextLease = 1;

Napi::Value ViewArray(const Napi::CallbackInfo& info) {
  auto env = info.Env();
  if (!S.device.is_cpu()) throw std::runtime_error("torch addon: viewArray is for the CPU device (a GPU upload copies)");
  auto shape = ints(info[1]);
  napi_typedarray_type type;
  size_t length;
  void* data;
  napi_value buffer;
  if (napi_get_typedarray_info(env, info[0], &type, &length, &data, &buffer, nullptr) != napi_ok || type != napi_float32_array) {
    throw std::runtime_error("torch addon: viewArray expects a Float32Array");
  }
  int64_t numel = 1;
  for (auto d : shape) numel *= d;
  if (size_t(numel) != length) throw std::runtime_error("torch addon: data size does not match shape");
  auto t = at::from_blob(data, shape, [](void*) {}, at::TensorOptions().dtype(at::kFloat));
  ViewLease lease{t.storage().getWeakStorageImpl(), nullptr};
  if (napi_create_reference(env, buffer, 1, &lease.buffer) != napi_ok) throw std::runtime_error("torch addon: viewArray cannot hold its buffer");
  const int64_t id = nextLease++;
  viewLeases.emplace(id, std::move(lease));
  auto out = Napi::Array::New(env, 2);
  out.Set(uint32_t(0), Napi::Number::New(env, double(id)));
  out.Set(uint32_t(1), put(env, t));
  return out;
}

// (lease) -> whether a tensor over the view was still alive and got its own copy.
Napi::Value ReleaseView(const Napi::CallbackInfo& info) {
  auto env = info.Env();
  auto it = viewLeases.find(i64(info[0]));
  if (it == viewLeases.end()) return Napi::Boolean::New(env, false);
  bool copied = false;
  if (auto impl = it->second.storage.lock()) {
    const size_t n = impl->nbytes();
    at::DataPtr fresh = c10::GetCPUAllocator()->allocate(n);
    if (n) std::memcpy(fresh.get(), impl->data_ptr().get(), n);
    impl->set_data_ptr_noswap(std::move(fresh));
    copied = true;
  }
  napi_delete_reference(env, it->second.buffer);
  viewLeases.erase(it);
  return Napi::Boolean::New(env, copied);
}

Napi::Value ToArray(const Napi::CallbackInfo& info) {
  auto env = info.Env();
  auto t = f32(get(info[0]).to(at::kCPU)).contiguous();
  size_t n = size_t(t.numel());
  switch (t.scalar_type()) {
    case at::kFloat: {
      auto out = Napi::Float32Array::New(env, n);
      if (n) std::memcpy(out.Data(), t.data_ptr(), n * 4);
      return out;
    }
    case at::kInt: {
      auto out = Napi::Int32Array::New(env, n);
      if (n) std::memcpy(out.Data(), t.data_ptr(), n * 4);
      return out;
    }
    case at::kBool: {
      auto out = Napi::Uint8Array::New(env, n);
      if (n) std::memcpy(out.Data(), t.data_ptr(), n);
      return out;
    }
    default: throw std::runtime_error("torch addon: cannot read this dtype");
  }
}

Napi::Value Free(const Napi::CallbackInfo& info) {
#ifdef CLIPTS_SDPA
  sdpaGraphs.erase(i64(info[0]));
#endif
  eraseBlockGraph(i64(info[0]));
  auto it = S.table.find(i64(info[0]));
  if (it == S.table.end()) return Napi::Boolean::New(info.Env(), false);
  track(it->second, -1);
  S.table.erase(it);
  return Napi::Boolean::New(info.Env(), true);
}

// (resetPeak?) -> {live, bytes, peakBytes, cudaPeakBytes?};
// resetPeak starts a new peak window at the current live bytes.
Napi::Value Memory(const Napi::CallbackInfo& info) {
  auto env = info.Env();
  bool reset = info.Length() > 0 && flag(info[0]);
  auto o = Napi::Object::New(env);
  o.Set("live", Napi::Number::New(env, double(S.table.size())));
  o.Set("bytes", Napi::Number::New(env, S.liveBytes));
  o.Set("peakBytes", Napi::Number::New(env, S.peakBytes));
#ifdef CLIPTS_CUDA_STATS
  if (S.device.is_cuda()) {
    auto st = c10::cuda::CUDACachingAllocator::getDeviceStats(S.device.index() < 0 ? 0 : S.device.index());
    o.Set("cudaPeakBytes", Napi::Number::New(env, double(st.allocated_bytes[0].peak)));
    if (reset) c10::cuda::CUDACachingAllocator::resetPeakStats(S.device.index() < 0 ? 0 : S.device.index());
  }
#endif
  if (reset) S.peakBytes = S.liveBytes;
  return o;
}

Napi::Value Configure(const Napi::CallbackInfo& info) {
  auto o = info[0].As<Napi::Object>();
  if (o.Has("device")) {
    std::string d = o.Get("device").As<Napi::String>();
    at::Device dev(d);
    if (dev.is_cuda() && !at::hasCUDA())
      throw std::runtime_error("torch addon: device " + d + " requested but this libtorch has no CUDA or no GPU is visible");
    if (!S.table.empty() && dev != S.device)
      throw std::runtime_error("torch addon: cannot change device while tensors are live");
    if (dev.is_cuda()) {
      // Make it the current device too: libtorch creates a CUDA context on
      // the current device for pinned staging memory and NCCL, and each rank
      // of a data-parallel run must stay on its own GPU.
      auto* guard = c10::impl::getDeviceGuardImpl(at::kCUDA);
      auto n = guard->deviceCount();
      if (dev.index() >= n)
        throw std::runtime_error("torch addon: device " + d + " requested but " + std::to_string(n) + " GPU(s) are visible");
      if (dev.has_index()) guard->setDevice(dev);
    }
    S.device = dev;
  }
  if (o.Has("threads") && o.Get("threads").IsNumber()) at::set_num_threads(int(num(o.Get("threads"))));
  if (o.Has("tf32")) {
    bool on = flag(o.Get("tf32"));
    at::globalContext().setAllowTF32CuBLAS(on);
    at::globalContext().setAllowTF32CuDNN(on);
  }
  if (o.Has("bf16")) S.bf16 = flag(o.Get("bf16"));
  return info.Env().Undefined();
}

Napi::Value Info(const Napi::CallbackInfo& info) {
  auto env = info.Env();
  auto o = Napi::Object::New(env);
  o.Set("cuda", Napi::Boolean::New(env, at::hasCUDA()));
  o.Set("device", Napi::String::New(env, S.device.str()));
  o.Set("threads", Napi::Number::New(env, at::get_num_threads()));
  o.Set("bf16", Napi::Boolean::New(env, S.bf16));
  // For `clipts doctor`: the libtorch this addon was built against, its build
  // settings (BLAS, CUDA, ...) and its thread pools, as PyTorch reports them.
  o.Set("torchVersion", Napi::String::New(env, TORCH_VERSION));
  o.Set("buildConfig", Napi::String::New(env, at::show_config()));
  o.Set("parallelInfo", Napi::String::New(env, at::get_parallel_info()));
  if (at::hasCUDA()) {
    auto* guard = c10::impl::getDeviceGuardImpl(at::kCUDA);
    o.Set("cudaDevices", Napi::Number::New(env, guard->deviceCount()));
  }
  return o;
}

// Waits for queued device work; used only by benchmarks (reads sync anyway).
Napi::Value Sync(const Napi::CallbackInfo& info) {
  if (S.device.is_cuda()) {
    // A 1-element device-to-host copy orders after all queued kernels on the
    // current stream without needing CUDA headers here.
    at::zeros({1}, opts(at::kFloat)).to(at::kCPU);
  }
  return info.Env().Undefined();
}

// ----------------------------------------------------------- elementwise ---

#define UNARY_CODES(X)                                                                              \
  X(U_NEG, "Neg") X(U_EXP, "Exp") X(U_LOG, "Log") X(U_LOG1P, "Log1p") X(U_SQRT, "Sqrt")             \
  X(U_RSQRT, "Rsqrt") X(U_SQUARE, "Square") X(U_ABS, "Abs") X(U_SIGN, "Sign") X(U_TANH, "Tanh")     \
  X(U_SIGMOID, "Sigmoid") X(U_ERF, "Erf") X(U_RELU, "Relu") X(U_SOFTPLUS, "Softplus")               \
  X(U_RECIPROCAL, "Reciprocal") X(U_NOT, "LogicalNot") X(U_FLOOR, "Floor") X(U_CEIL, "Ceil")        \
  X(U_ROUND, "Round") X(U_SIN, "Sin") X(U_COS, "Cos") X(U_EXPM1, "Expm1") X(U_ISNAN, "IsNan")       \
  X(U_ISINF, "IsInf") X(U_ISFINITE, "IsFinite") X(U_RELU6, "Relu6") X(U_ELU, "Elu") X(U_SELU, "Selu") \
  X(U_ZEROS_LIKE, "ZerosLike") X(U_ONES_LIKE, "OnesLike") X(U_CLONE, "Clone") X(U_TAN, "Tan")       \
  X(U_ASIN, "Asin") X(U_ACOS, "Acos") X(U_ATAN, "Atan") X(U_SINH, "Sinh") X(U_COSH, "Cosh")         \
  X(U_ASINH, "Asinh") X(U_ACOSH, "Acosh") X(U_ATANH, "Atanh")
enum Unary { UNARY_CODES(ENUM_ENTRY) };

// Ops on autocast's float32 list (range or precision matters).
bool widens(int code) {
  switch (code) {
    case U_EXP: case U_LOG: case U_LOG1P: case U_RSQRT: case U_SOFTPLUS: case U_RECIPROCAL: case U_EXPM1:
    case U_TAN: case U_ASIN: case U_ACOS: case U_SINH: case U_COSH:
      return true;
  }
  return false;
}

Napi::Value UnaryOp(const Napi::CallbackInfo& info) {
  int code = int(num(info[0]));
  const auto x = widens(code) ? f32(get(info[1])) : get(info[1]);
  at::Tensor y;
  switch (code) {
    case U_NEG: y = at::neg(x); break;
    case U_EXP: y = at::exp(x); break;
    case U_LOG: y = at::log(x); break;
    case U_LOG1P: y = at::log1p(x); break;
    case U_SQRT: y = at::sqrt(x); break;
    case U_RSQRT: y = at::rsqrt(x); break;
    case U_SQUARE: y = at::mul(x, x); break;
    case U_ABS: y = at::abs(x); break;
    case U_SIGN: y = at::sign(x); break;
    case U_TANH: y = at::tanh(x); break;
    case U_SIGMOID: y = at::sigmoid(x); break;
    case U_ERF: y = at::erf(x); break;
    case U_RELU: y = at::relu(x); break;
    case U_SOFTPLUS: y = at::softplus(x); break;
    case U_RECIPROCAL: y = at::reciprocal(x); break;
    case U_NOT: y = at::logical_not(x); break;
    case U_FLOOR: y = at::floor(x); break;
    case U_CEIL: y = at::ceil(x); break;
    case U_ROUND: y = at::round(x); break;  // half to even, as tfjs
    case U_SIN: y = at::sin(x); break;
    case U_COS: y = at::cos(x); break;
    case U_EXPM1: y = at::expm1(x); break;
    case U_ISNAN: y = at::isnan(x); break;
    case U_ISINF: y = at::isinf(x); break;
    case U_ISFINITE: y = at::isfinite(x); break;
    case U_RELU6: y = at::clamp(x, 0, 6); break;
    case U_ELU: y = at::elu(x); break;
    case U_SELU: y = at::selu(x); break;
    case U_ZEROS_LIKE: y = at::zeros_like(x); break;
    case U_ONES_LIKE: y = at::ones_like(x); break;
    case U_CLONE: y = x.clone(); break;
    case U_TAN: y = at::tan(x); break;
    case U_ASIN: y = at::asin(x); break;
    case U_ACOS: y = at::acos(x); break;
    case U_ATAN: y = at::atan(x); break;
    case U_SINH: y = at::sinh(x); break;
    case U_COSH: y = at::cosh(x); break;
    case U_ASINH: y = at::asinh(x); break;
    case U_ACOSH: y = at::acosh(x); break;
    case U_ATANH: y = at::atanh(x); break;
    default: throw std::runtime_error("torch addon: unknown unary op");
  }
  return put(info.Env(), y);
}

#define BINARY_CODES(X)                                                                               \
  X(B_ADD, "Add") X(B_SUB, "Sub") X(B_MUL, "Mul") X(B_DIV, "RealDiv") X(B_MAX, "Maximum")             \
  X(B_MIN, "Minimum") X(B_POW, "Pow") X(B_SQDIFF, "SquaredDifference") X(B_EQ, "Equal")               \
  X(B_NE, "NotEqual") X(B_LT, "Less") X(B_LE, "LessEqual") X(B_GT, "Greater") X(B_GE, "GreaterEqual") \
  X(B_AND, "LogicalAnd") X(B_OR, "LogicalOr") X(B_FLOORDIV, "FloorDiv") X(B_MOD, "Mod")               \
  X(B_ATAN2, "Atan2") X(B_PRELU, "Prelu") X(B_ELUGRAD, "EluGrad")
enum Binary { BINARY_CODES(ENUM_ENTRY) };

// (code, a, b, outDtype): tfjs decides the result dtype; ATen's promotion
// differs in corner cases (int/int division, bool arithmetic).
Napi::Value BinaryOp(const Napi::CallbackInfo& info) {
  int code = int(num(info[0]));
  const auto a = code == B_POW ? f32(get(info[1])) : get(info[1]);
  const auto& b = get(info[2]);
  auto out = scalarType(int(num(info[3])));
  at::Tensor y;
  switch (code) {
    case B_ADD: y = at::add(a, b); break;
    case B_SUB: y = at::sub(a, b); break;
    case B_MUL: y = at::mul(a, b); break;
    case B_DIV: y = at::div(a, b); break;
    case B_MAX: y = at::maximum(a, b); break;
    case B_MIN: y = at::minimum(a, b); break;
    case B_POW: y = at::pow(a, b); break;
    case B_SQDIFF: { auto d = at::sub(a, b); y = d * d; break; }
    case B_EQ: y = at::eq(a, b); break;
    case B_NE: y = at::ne(a, b); break;
    case B_LT: y = at::lt(a, b); break;
    case B_LE: y = at::le(a, b); break;
    case B_GT: y = at::gt(a, b); break;
    case B_GE: y = at::ge(a, b); break;
    case B_AND: y = at::logical_and(a, b); break;
    case B_OR: y = at::logical_or(a, b); break;
    case B_FLOORDIV: y = at::div(a, b, "floor"); break;
    case B_MOD: y = at::remainder(a, b); break;  // sign of divisor, as tfjs
    case B_ATAN2: y = at::atan2(a, b); break;
    case B_PRELU: y = at::where(a > 0, a, a * b); break;
    case B_ELUGRAD: y = at::where(b >= 0, a, a * (b + 1)); break;  // (dy, y)
    default: throw std::runtime_error("torch addon: unknown binary op");
  }
  if (y.scalar_type() != out && !(out == at::kFloat && y.scalar_type() == at::kBFloat16)) y = y.to(out);
  return put(info.Env(), y);
}

Napi::Value Cast(const Napi::CallbackInfo& info) {
  return put(info.Env(), get(info[0]).to(scalarType(int(num(info[1])))));
}

// (x, alpha): leakyRelu; (x, alpha) step: x > 0 ? 1 : alpha.
Napi::Value LeakyRelu(const Napi::CallbackInfo& info) {
  const auto& x = get(info[0]);
  return put(info.Env(), at::where(x >= 0, x, x * num(info[1])));
}
Napi::Value Step(const Napi::CallbackInfo& info) {
  const auto& x = get(info[0]);
  auto y = at::where(x > 0, at::ones_like(x), at::full_like(x, num(info[1])));
  return put(info.Env(), at::where(at::isnan(x), x, y));
}

Napi::Value Clip(const Napi::CallbackInfo& info) {
  return put(info.Env(), at::clamp(get(info[0]), num(info[1]), num(info[2])));
}

Napi::Value Select(const Napi::CallbackInfo& info) {
  auto c = get(info[0]);
  const auto& a = get(info[1]);
  const auto& b = get(info[2]);
  // tfjs allows a rank-1 condition that picks whole rows of higher-rank a/b.
  if (c.dim() == 1 && a.dim() > 1) {
    std::vector<int64_t> s(a.dim(), 1);
    s[0] = c.size(0);
    c = c.reshape(s);
  }
  return put(info.Env(), at::where(c.to(at::kBool), a, b));
}

// ---------------------------------------------------------------- matmul ---

#define ACT_CODES(X)                                                                          \
  X(A_LINEAR, "linear") X(A_RELU, "relu") X(A_RELU6, "relu6") X(A_ELU, "elu") X(A_PRELU, "prelu") \
  X(A_LEAKY, "leakyrelu") X(A_SIGMOID, "sigmoid")
enum Act { ACT_CODES(ENUM_ENTRY) };

at::Tensor applyAct(at::Tensor y, int act, const Opt<at::Tensor>& alpha, double leaky) {
  switch (act) {
    case A_LINEAR: return y;
    case A_RELU: return at::relu(y);
    case A_RELU6: return at::clamp(y, 0, 6);
    case A_ELU: return at::elu(y);
    case A_PRELU: return at::where(y > 0, y, y * *alpha);
    case A_LEAKY: return at::where(y >= 0, y, y * leaky);
    case A_SIGMOID: return at::sigmoid(y);
  }
  throw std::runtime_error("torch addon: unknown activation");
}

at::Tensor mm(at::Tensor a, at::Tensor b, bool ta, bool tb) {
  if (ta) a = a.transpose(-1, -2);
  if (tb) b = b.transpose(-1, -2);
  // CPU batched matmul on strided (e.g. transposed) operands can fall into a
  // slow non-BLAS loop (measured ~30x on libtorch 1.13 without MKL); a copy
  // is cheap next to the product. 2-D gemm takes transposes natively, and
  // CUDA's batched gemm does too.
  if (a.device().is_cpu()) {
    if (a.dim() >= 3 && !a.is_contiguous()) a = a.contiguous();
    if (b.dim() >= 3 && !b.is_contiguous()) b = b.contiguous();
  }
  return at::matmul(lowp(a), lowp(b));
}

// (a, b, transposeA, transposeB, bias|-1, act, preluAlpha|-1, leakyAlpha)
Napi::Value MatMul(const Napi::CallbackInfo& info) {
  auto y = mm(get(info[0]), get(info[1]), flag(info[2]), flag(info[3]));
  auto bias = opt(info[4]);
  if (bias) y = y + bias->to(y.scalar_type());
  y = applyAct(y, info.Length() > 5 ? int(num(info[5])) : 0, info.Length() > 6 ? opt(info[6]) : kNone,
               info.Length() > 7 ? num(info[7]) : 0.2);
  return put(info.Env(), y);
}

Napi::Value Einsum(const Napi::CallbackInfo& info) {
  std::string eq = info[0].As<Napi::String>();
  auto ts = tensors(info[1]);
  for (auto& t : ts) t = lowp(t);
  return put(info.Env(), at::einsum(eq, ts));
}

// ------------------------------------------------------------ reductions ---

#define REDUCE_CODES(X)                                                                    \
  X(R_SUM, "Sum") X(R_MEAN, "Mean") X(R_MAX, "Max") X(R_MIN, "Min") X(R_PROD, "Prod") X(R_ANY, "Any") \
  X(R_ALL, "All") X(R_LOGSUMEXP, "LogSumExp")
enum Reduce { REDUCE_CODES(ENUM_ENTRY) };

// (code, x, axes, keepDims, outDtype)
Napi::Value ReduceOp(const Napi::CallbackInfo& info) {
  auto axes = ints(info[2]);
  bool keep = flag(info[3]);
  auto out = scalarType(int(num(info[4])));
  int code = int(num(info[0]));
  // Sums, means, products and logsumexp are on autocast's float32 list.
  auto x = code == R_MAX || code == R_MIN ? get(info[1]) : f32(get(info[1]));
  at::Tensor y;
  if (axes.empty()) {
    y = keep ? x.clone() : x;
  } else if (code == R_SUM) {
    y = at::sum(x, axes, keep);
  } else if (code == R_MEAN) {
    y = at::mean(x.is_floating_point() ? x : x.to(at::kFloat), axes, keep);
  } else if (code == R_LOGSUMEXP) {
    y = at::logsumexp(x, axes, keep);
  } else {
    // max/min/prod/any/all reduce one dim at a time (highest first so the
    // remaining axis numbers stay valid when keepDims is false).
    std::sort(axes.begin(), axes.end(), std::greater<int64_t>());
    y = x;
    for (auto ax : axes) {
      switch (code) {
        case R_MAX: y = std::get<0>(at::max(y, ax, keep)); break;
        case R_MIN: y = std::get<0>(at::min(y, ax, keep)); break;
        case R_PROD: y = at::prod(y, ax, keep); break;
        case R_ANY: y = at::any(y, ax, keep); break;
        case R_ALL: y = at::all(y, ax, keep); break;
        default: throw std::runtime_error("torch addon: unknown reduction");
      }
    }
  }
  if (y.scalar_type() != out && !(out == at::kFloat && y.scalar_type() == at::kBFloat16)) y = y.to(out);
  return put(info.Env(), y);
}

// (isMin, x, axis) -> int32 indices. Ties: first index, as tfjs.
Napi::Value ArgReduce(const Napi::CallbackInfo& info) {
  auto x = get(info[1]);
  int64_t ax = i64(info[2]);
  // at::argmax gives no tie guarantee; compare against the max and take the
  // first matching position instead.
  auto m = flag(info[0]) ? std::get<0>(at::min(x, ax, true)) : std::get<0>(at::max(x, ax, true));
  auto hit = at::eq(x, m).to(at::kInt);
  auto n = x.size(ax);
  std::vector<int64_t> shape(x.dim(), 1);
  shape[ax] = n;
  auto pos = at::arange(n, 0, -1, opts(at::kInt)).reshape(shape);  // n..1, larger = earlier
  auto first = std::get<1>(at::max(hit * pos, ax, false));
  return put(info.Env(), first.to(at::kInt));
}

// (x, dim, log)
Napi::Value Softmax(const Napi::CallbackInfo& info) {
  const auto x = f32(get(info[0]));
  int64_t d = i64(info[1]);
  return put(info.Env(), flag(info[2]) ? at::log_softmax(x, d) : at::softmax(x, d));
}

// (x, axis, exclusive, reverse, product)
Napi::Value Cumsum(const Napi::CallbackInfo& info) {
  auto x = f32(get(info[0]));
  int64_t ax = i64(info[1]);
  bool exclusive = flag(info[2]), reverse = flag(info[3]), product = flag(info[4]);
  if (reverse) x = x.flip({ax});
  if (exclusive) {
    // Shift by one along the axis, filling with the identity (0 or 1).
    std::vector<int64_t> pad(2 * (x.dim() - ax), 0);
    pad[pad.size() - 2] = 1;
    x = at::constant_pad_nd(x, pad, product ? 1 : 0).narrow(ax, 0, x.size(ax));
  }
  auto y = product ? at::cumprod(x, ax) : at::cumsum(x, ax);
  if (reverse) y = y.flip({ax});
  return put(info.Env(), y);
}

// -------------------------------------------------------------- shape ops ---

Napi::Value Reshape(const Napi::CallbackInfo& info) { return put(info.Env(), get(info[0]).reshape(ints(info[1]))); }
Napi::Value Transpose(const Napi::CallbackInfo& info) { return put(info.Env(), get(info[0]).permute(ints(info[1]))); }
Napi::Value BroadcastTo(const Napi::CallbackInfo& info) { return put(info.Env(), get(info[0]).expand(ints(info[1]))); }
Napi::Value Tile(const Napi::CallbackInfo& info) { return put(info.Env(), get(info[0]).repeat(ints(info[1]))); }
Napi::Value Reverse(const Napi::CallbackInfo& info) { return put(info.Env(), get(info[0]).flip(ints(info[1]))); }
Napi::Value Concat(const Napi::CallbackInfo& info) { return put(info.Env(), at::cat(tensors(info[0]), i64(info[1]))); }
Napi::Value Stack(const Napi::CallbackInfo& info) { return put(info.Env(), at::stack(tensors(info[0]), i64(info[1]))); }

Napi::Value Unstack(const Napi::CallbackInfo& info) {
  return putMany(info.Env(), at::unbind(get(info[0]), i64(info[1])));
}

Napi::Value Split(const Napi::CallbackInfo& info) {
  return putMany(info.Env(), at::split_with_sizes(get(info[0]), ints(info[1]), i64(info[2])));
}

// (x, begin[], size[])
Napi::Value Slice(const Napi::CallbackInfo& info) {
  auto y = get(info[0]);
  auto begin = ints(info[1]), size = ints(info[2]);
  for (size_t d = 0; d < begin.size(); ++d) y = y.narrow(int64_t(d), begin[d], size[d]);
  return put(info.Env(), y);
}

// (x, begin[], strides[], counts[], finalShape[]): tfjs' slice_util has
// already resolved masks into per-dimension start/stride/count.
Napi::Value StridedSlice(const Napi::CallbackInfo& info) {
  auto y = get(info[0]);
  auto begin = ints(info[1]), strides = ints(info[2]), counts = ints(info[3]), finalShape = ints(info[4]);
  for (int64_t d = 0; d < int64_t(begin.size()); ++d) {
    int64_t s = strides[d], c = counts[d], b = begin[d];
    if (c <= 0) { y = y.narrow(d, 0, 0); continue; }
    if (s < 0) {  // walk the flipped axis forwards
      y = y.flip({d});
      b = y.size(d) - 1 - b;
      s = -s;
    }
    y = y.slice(d, b, b + (c - 1) * s + 1, s);
  }
  return put(info.Env(), y.reshape(finalShape));
}

// (x, paddings flat [before0, after0, ...], value)
Napi::Value Pad(const Napi::CallbackInfo& info) {
  const auto& x = get(info[0]);
  auto p = ints(info[1]);
  // constant_pad_nd takes pairs from the last dim backwards.
  std::vector<int64_t> rev;
  for (int64_t d = x.dim() - 1; d >= 0; --d) { rev.push_back(p[2 * d]); rev.push_back(p[2 * d + 1]); }
  return put(info.Env(), at::constant_pad_nd(x, rev, num(info[2])));
}

// (shape, value, dtype)
Napi::Value Fill(const Napi::CallbackInfo& info) {
  return put(info.Env(), at::full(ints(info[0]), num(info[1]), opts(scalarType(int(num(info[2]))))));
}

// (start, step, n, dtype)
Napi::Value Range(const Napi::CallbackInfo& info) {
  double start = num(info[0]), step = num(info[1]);
  int64_t n = i64(info[2]);
  auto st = scalarType(int(num(info[3])));
  auto y = at::arange(n, opts(at::kDouble)) * step + start;
  return put(info.Env(), y.to(st));
}

// -------------------------------------------------------- gather/scatter ---

// (x, indices, axis): output = x.shape[:axis] + indices.shape + x.shape[axis+1:]
Napi::Value Gather(const Napi::CallbackInfo& info) {
  const auto& x = get(info[0]);
  const auto& idx = get(info[1]);
  int64_t ax = i64(info[2]);
  auto flat = at::index_select(x, ax, idx.reshape({-1}).to(at::kLong));
  std::vector<int64_t> shape(x.sizes().begin(), x.sizes().begin() + ax);
  for (auto s : idx.sizes()) shape.push_back(s);
  for (int64_t d = ax + 1; d < x.dim(); ++d) shape.push_back(x.size(d));
  return put(info.Env(), flat.reshape(shape));
}

// Row index into x viewed as [prod(shape[:K]), rest] from indices [..., K].
at::Tensor flatIndex(const at::Tensor& idx, at::IntArrayRef shape) {
  int64_t k = idx.size(-1);
  std::vector<int64_t> strides(k, 1);
  for (int64_t d = k - 2; d >= 0; --d) strides[d] = strides[d + 1] * shape[d + 1];
  auto st = at::tensor(strides, at::TensorOptions().dtype(at::kLong)).to(idx.device());
  return (idx.to(at::kLong) * st).sum(-1).reshape({-1});
}

Napi::Value GatherNd(const Napi::CallbackInfo& info) {
  const auto& x = get(info[0]);
  const auto& idx = get(info[1]);
  int64_t k = idx.size(-1);
  std::vector<int64_t> rest(x.sizes().begin() + k, x.sizes().end());
  std::vector<int64_t> rowShape{1};
  for (int64_t d = 0; d < k; ++d) rowShape[0] *= x.size(d);
  rowShape.insert(rowShape.end(), rest.begin(), rest.end());
  auto rows = x.reshape(rowShape);
  auto picked = at::index_select(rows, 0, flatIndex(idx, x.sizes()));
  std::vector<int64_t> shape(idx.sizes().begin(), idx.sizes().end() - 1);
  shape.insert(shape.end(), rest.begin(), rest.end());
  return put(info.Env(), picked.reshape(shape));
}

// (indices, updates, shape): duplicates accumulate, as tfjs.
Napi::Value ScatterNd(const Napi::CallbackInfo& info) {
  const auto& idx = get(info[0]);
  const auto& upd = get(info[1]);
  auto shape = ints(info[2]);
  int64_t k = idx.size(-1);
  std::vector<int64_t> rows{1};
  for (int64_t d = 0; d < k; ++d) rows[0] *= shape[d];
  rows.insert(rows.end(), shape.begin() + k, shape.end());
  auto out = at::zeros(rows, upd.options());
  std::vector<int64_t> us{-1};
  us.insert(us.end(), shape.begin() + k, shape.end());
  out.index_add_(0, flatIndex(idx, shape), upd.reshape(us));
  return put(info.Env(), out.reshape(shape));
}

// (x, segmentIds, numSegments): ids outside [0, n) are dropped, as tfjs.
Napi::Value SegmentSum(const Napi::CallbackInfo& info) {
  const auto& x = get(info[0]);
  auto ids = get(info[1]).reshape({-1}).to(at::kLong);
  int64_t n = i64(info[2]);
  int64_t segDims = get(info[1]).dim();
  std::vector<int64_t> rest(x.sizes().begin() + segDims, x.sizes().end());
  std::vector<int64_t> outShape{n};
  outShape.insert(outShape.end(), rest.begin(), rest.end());
  std::vector<int64_t> rowShape{-1};
  rowShape.insert(rowShape.end(), rest.begin(), rest.end());
  auto rows = x.reshape(rowShape);
  // Route out-of-range ids to a spare row that is dropped afterwards; this
  // avoids a data-dependent host sync (checking ids on the host).
  ids = at::where((ids >= 0).logical_and(ids < n), ids, at::full({}, n, ids.options()));
  outShape[0] = n + 1;
  auto out = at::zeros(outShape, x.options());
  out.index_add_(0, ids, rows);
  return put(info.Env(), out.narrow(0, 0, n));
}

// (indices, depth, on, off, dtype): out-of-range indices give an all-off row.
Napi::Value OneHot(const Napi::CallbackInfo& info) {
  const auto& idx = get(info[0]);
  int64_t depth = i64(info[1]);
  auto st = scalarType(int(num(info[4])));
  auto hit = at::eq(idx.to(at::kLong).unsqueeze(-1), at::arange(depth, opts(at::kLong)));
  auto on = at::full({}, num(info[2]), opts(st)), off = at::full({}, num(info[3]), opts(st));
  return put(info.Env(), at::where(hit, on, off));
}

// (cond) -> int32 [n, rank] coordinates of true elements.
Napi::Value Where(const Napi::CallbackInfo& info) {
  return put(info.Env(), at::nonzero(get(info[0]).to(at::kBool)).to(at::kInt));
}

// (x, k, sorted) -> [values, indices int32]
Napi::Value TopK(const Napi::CallbackInfo& info) {
  auto r = at::topk(get(info[0]), i64(info[1]), -1, true, true);
  return putMany(info.Env(), {std::get<0>(r), std::get<1>(r).to(at::kInt)});
}

// ------------------------------------------------------------ convolution ---
// tfjs is NHWC with HWIO filters; ATen is NCHW with OIHW.

at::Tensor nchw(const at::Tensor& x) { return x.permute({0, 3, 1, 2}); }
at::Tensor nhwc(const at::Tensor& x) { return x.permute({0, 2, 3, 1}); }
at::Tensor oihw(const at::Tensor& f) { return f.permute({3, 2, 0, 1}); }
at::Tensor hwio(const at::Tensor& f) { return f.permute({2, 3, 1, 0}); }

// (x, filter, strides[2], pads[4] top,bottom,left,right, dilations[2])
Napi::Value Conv2D(const Napi::CallbackInfo& info) {
  auto x = nchw(get(info[0]));
  auto f = oihw(get(info[1]));
  auto st = ints(info[2]), p = ints(info[3]), dil = ints(info[4]);
  if (p[0] != p[1] || p[2] != p[3]) x = at::constant_pad_nd(x, {p[2], p[3], p[0], p[1]}, 0), p = {0, 0, 0, 0};
  auto y = at::conv2d(lowp(x), lowp(f), {}, st, {p[0], p[2]}, dil);
  return put(info.Env(), nhwc(y));
}

// (dy, x|-1, filter|-1, inputShape[], filterShape[], strides, pads, dilations, wantInput)
Napi::Value Conv2DBackprop(const Napi::CallbackInfo& info) {
  auto dy = nchw(get(info[0]));
  auto xo = opt(info[1]);
  auto fo = opt(info[2]);
  auto inShape = ints(info[3]), fShape = ints(info[4]);
  auto st = ints(info[5]), p = ints(info[6]), dil = ints(info[7]);
  bool wantInput = flag(info[8]);
  if (p[0] != p[1] || p[2] != p[3]) throw std::runtime_error("torch addon: asymmetric conv padding in backprop is not supported");
  // Under autocast the product ran in bf16, so does its backward; the
  // gradient returns in the dtype of the input it belongs to.
  auto ct = S.bf16 ? at::kBFloat16 : dy.scalar_type();
  auto wantType = wantInput ? (xo ? xo->scalar_type() : at::kFloat) : (fo ? fo->scalar_type() : at::kFloat);
  auto x = xo ? nchw(*xo).to(ct) : at::empty({inShape[0], inShape[3], inShape[1], inShape[2]}, dy.options().dtype(ct));
  auto f = fo ? oihw(*fo).to(ct) : at::empty({fShape[3], fShape[2], fShape[0], fShape[1]}, dy.options().dtype(ct));
  auto r = at::convolution_backward(dy.to(ct), x, f, kNone, st, {p[0], p[2]}, dil, false, {0, 0}, 1,
                                    {wantInput, !wantInput, false});
  auto g = wantInput ? nhwc(std::get<0>(r)) : hwio(std::get<1>(r));
  return put(info.Env(), g.to(wantType));
}

// ------------------------------------------------------------- fused ops ---

// (x, gamma, beta, eps) over the last dim -> [y, mean, rstd]
Napi::Value LayerNorm(const Napi::CallbackInfo& info) {
  const auto x = f32(get(info[0]));  // autocast: layer norm in float32
  auto r = at::native_layer_norm(x, {x.size(-1)}, opt(info[1]), opt(info[2]), num(info[3]));
  return putMany(info.Env(), {std::get<0>(r), std::get<1>(r), std::get<2>(r)});
}

// (dy, x, mean, rstd, gamma, beta) -> [dx, dgamma, dbeta]
Napi::Value LayerNormBackward(const Napi::CallbackInfo& info) {
  const auto& x = get(info[1]);
  auto g = opt(info[4]), b = opt(info[5]);
  auto r = at::native_layer_norm_backward(f32(get(info[0])), f32(x), {x.size(-1)}, get(info[2]), get(info[3]), g, b,
                                          {true, g.has_value(), b.has_value()});
  std::vector<at::Tensor> out{std::get<0>(r).to(x.scalar_type())};
  if (g) out.push_back(std::get<1>(r));
  if (b) out.push_back(std::get<2>(r));
  return putMany(info.Env(), out);
}

// (x, tanhApprox)
Napi::Value Gelu(const Napi::CallbackInfo& info) {
  return put(info.Env(), at::gelu(get(info[0]), flag(info[1]) ? "tanh" : "none"));
}
// (dy, x, tanhApprox)
Napi::Value GeluBackward(const Napi::CallbackInfo& info) {
  const auto& x = get(info[1]);
  return put(info.Env(), at::gelu_backward(get(info[0]).to(x.scalar_type()), x, flag(info[2]) ? "tanh" : "none"));
}

// QuickGELU x·σ(1.702x): (x) and (dy, x)
Napi::Value QuickGelu(const Napi::CallbackInfo& info) {
  const auto& x = get(info[0]);
  return put(info.Env(), x * at::sigmoid(x * 1.702));
}
Napi::Value QuickGeluBackward(const Napi::CallbackInfo& info) {
  const auto& x = get(info[1]);
  const auto dy = get(info[0]).to(x.scalar_type());
  auto s = at::sigmoid(x * 1.702);
  return put(info.Env(), dy * (s + x * 1.702 * s * (1 - s)));
}

// y = x·Wᵀ + b with W [out, in] (PyTorch layout): (x, w, b|-1)
Napi::Value Linear(const Napi::CallbackInfo& info) {
  const auto& x = get(info[0]);
  const auto& w = get(info[1]);
  auto b = opt(info[2]);
  return put(info.Env(), at::linear(lowp(x), lowp(w), b ? Opt<at::Tensor>(lowp(*b)) : kNone));
}

// (dy, x, w, hasBias) -> [dx, dw, db?]
Napi::Value LinearBackward(const Napi::CallbackInfo& info) {
  const auto& dy = get(info[0]);
  const auto& x = get(info[1]);
  const auto& w = get(info[2]);
  auto dy2 = dy.reshape({-1, dy.size(-1)});
  auto x2 = x.reshape({-1, x.size(-1)});
  // Under autocast both products run in bf16 (mm narrows); each gradient
  // returns in its input's dtype, the weight's float32 included.
  std::vector<at::Tensor> out{mm(dy, w, false, false).to(x.scalar_type()), mm(dy2, x2, true, false).to(w.scalar_type())};
  if (flag(info[3])) out.push_back(dy2.sum(0, false, at::kFloat));
  return putMany(info.Env(), out);
}

#ifdef CLIPTS_SDPA
// With PyTorch 2.1+, attention runs through at::scaled_dot_product_attention,
// which picks the flash or memory-efficient kernel (CUDA) or the fused CPU
// kernel, recorded by libtorch's autograd so that the backward is those
// kernels' own. JS then holds, in place of probs, a one-element tensor whose
// id keys the recorded graph; freeing that id frees the graph. (The math path
// below stays for PyTorch 1.13, which has no SDPA, for causal masks with
// Lq != Lk, which SDPA aligns top-left where the math path aligns
// bottom-right, and for causal plus an explicit mask, which SDPA refuses.)

Napi::Value SdpaForward(Napi::Env env, const at::Tensor& q, const at::Tensor& k, const at::Tensor& v, bool causal,
                        const Opt<at::Tensor>& mask, double scale) {
  c10::AutoGradMode grad(true);
  SdpaGraph g{q.detach().requires_grad_(true), k.detach().requires_grad_(true), v.detach().requires_grad_(true), {}};
  Opt<at::Tensor> m = kNone;
  if (mask) m = mask->scalar_type() == at::kBool ? *mask : lowp(*mask);
  // Grads come back in q/k/v's own dtypes: the casts are in the graph.
  g.out = at::scaled_dot_product_attention(lowp(g.q), lowp(g.k), lowp(g.v), m, 0.0, causal, scale);
  auto out = put(env, g.out.detach());
  auto handle = put(env, at::zeros({1}, q.options().dtype(at::kFloat)));
  sdpaGraphs.emplace(int64_t(handle.Get(uint32_t(0)).As<Napi::Number>().DoubleValue()), std::move(g));
  auto arr = Napi::Array::New(env, 2);
  arr.Set(uint32_t(0), out);
  arr.Set(uint32_t(1), handle);
  return arr;
}
#endif

// Attention on [B, H, L, D] tensors: (q, k, v, causal, mask|-1, scale)
// -> [out, probs]. Math formulation; probs are kept for the backward.
Napi::Value Attention(const Napi::CallbackInfo& info) {
  auto q = get(info[0]), k = get(info[1]), v = get(info[2]);
  bool causal = flag(info[3]);
  auto mask = opt(info[4]);
  double scale = num(info[5]);
#ifdef CLIPTS_SDPA
  // SDPA refuses a mask together with is_causal; that case stays on the math
  // path. CLIPTS_TORCH_SDPA=0 keeps everything there (to compare the two).
  static const bool sdpaOff = [] {
    const char* v = std::getenv("CLIPTS_TORCH_SDPA");
    return v != nullptr && std::string(v) == "0";
  }();
  if (!sdpaOff && (!causal || (!mask && q.size(-2) == k.size(-2)))) {
    return SdpaForward(info.Env(), q, k, v, causal, mask, scale);
  }
#endif
  // Autocast: the products in bf16, the softmax (and so probs) in float32.
  auto s = f32(mm(q, k, false, true)) * scale;
  if (mask) s = mask->scalar_type() == at::kBool ? s.masked_fill(mask->logical_not(), -INFINITY) : s + *mask;
  if (causal) {
    auto L = s.size(-2), M = s.size(-1);
    auto upper = at::ones({L, M}, s.options().dtype(at::kBool)).triu(1 + M - L);
    s = s.masked_fill(upper, -INFINITY);
  }
  auto p = at::softmax(s, -1);
  // A row whose keys are all masked gives 0 (and no gradient), as SDPA does,
  // rather than softmax's NaN; NaN scores are not -inf and still propagate.
  if (mask || causal) p = p.masked_fill(s.isneginf().all(-1, true), 0);
  return putMany(info.Env(), {mm(p, v, false, false), p});
}

// (dOut, q, k, v, probs, scale) -> [dq, dk, dv]
Napi::Value AttentionBackward(const Napi::CallbackInfo& info) {
#ifdef CLIPTS_SDPA
  auto it = sdpaGraphs.find(i64(info[4]));
  if (it != sdpaGraphs.end()) {
    const SdpaGraph& g = it->second;
    // retain_graph: tfjs may run a gradient twice (e.g. a second grads() call);
    // the graph goes when JS frees the handle.
    auto grads = torch::autograd::grad({g.out}, {g.q, g.k, g.v}, {get(info[0])}, /*retain_graph=*/true);
    return putMany(info.Env(), {grads[0], grads[1], grads[2]});
  }
#endif
  auto dO = get(info[0]), q = get(info[1]), k = get(info[2]), v = get(info[3]), p = get(info[4]);
  double scale = num(info[5]);
  auto dv = mm(p, dO, true, false).to(v.scalar_type());
  auto dp = f32(mm(dO, v, false, true));
  auto ds = at::_softmax_backward_data(dp, p, -1, p.scalar_type()) * scale;
  return putMany(info.Env(), {mm(ds, k, false, false).to(q.scalar_type()), mm(ds, q, true, false).to(k.scalar_type()), dv});
}

// ------------------------------------------------------- residual block ---

// A whole pre-LN residual block, x + attn(ln_1(x)) then x + mlp(ln_2(x)), as
// one call each way: on a GPU the host's cost per step is tfjs' per-kernel
// dispatch (~20 kernels forward and ~70 backward per block through the fused
// ops above), and this makes it two. The forward runs under libtorch's
// autograd (with autocast's rules: layer norm in float32; linear and
// attention in bf16 when the mode is on), so the backward is libtorch's own.
// Parameters, in order: ln_1 w, b; qkv w [3W, W], b; out w, b; ln_2 w, b;
// fc w, b; proj w, b (open_clip's names and layouts).
// `acts` (when given) collects what autograd saves for the backward: each
// linear's input and (under autocast) its bf16 weight copy, the qkv and fc
// outputs (read by attention and GELU), attention's output (and on the math
// path its probabilities), and x1 (read by ln_2); not the outputs that only a
// residual add reads, nor layer norm's per-row statistics.
at::Tensor blockForward(const std::vector<at::Tensor>& t, int64_t heads, bool causal, bool quickGelu, double eps,
                        std::vector<at::Tensor>* acts = nullptr) {
  auto keep = [&](at::Tensor a) {
    if (acts) acts->push_back(a);
    return a;
  };
  const auto& x = t[0];
  const int64_t B = x.size(0), T = x.size(1), W = x.size(2), D = W / heads;
  auto ln = [&](const at::Tensor& v, int i) { return at::layer_norm(f32(v), {W}, t[i], t[i + 1], eps); };
  auto lin = [&](const at::Tensor& v, int i) {
    auto w = lowp(t[i]);
    if (!w.is_same(t[i])) keep(w);  // a bf16 copy of the weight, saved for the input's gradient
    return at::linear(keep(lowp(v)), w, lowp(t[i + 1]));
  };
  auto qkv = keep(lin(ln(x, 1), 3)).view({B, T, 3, heads, D}).permute({2, 0, 3, 1, 4});  // [3, B, H, T, D]
  auto q = qkv[0], k = qkv[1], v = qkv[2];
  const double scale = 1.0 / std::sqrt(double(D));
  at::Tensor o;
#ifdef CLIPTS_SDPA
  o = keep(at::scaled_dot_product_attention(q, k, v, kNone, 0.0, causal, scale));
#else
  auto s = f32(at::matmul(q, k.transpose(-1, -2))) * scale;
  if (causal) s = s.masked_fill(at::ones({T, T}, s.options().dtype(at::kBool)).triu(1), -INFINITY);
  auto p = keep(at::softmax(s, -1));
  o = keep(at::matmul(keep(lowp(p)), v));
#endif
  auto x1 = keep(x + lin(o.transpose(1, 2).reshape({B, T, W}), 5));
  auto h = keep(lin(ln(x1, 7), 9));
  h = quickGelu ? h * at::sigmoid(h * 1.702) : at::gelu(h);
  return x1 + lin(h, 11);
}

// (x [B, T, W], params[12], heads, causal, quickGelu, eps, needGrad)
// -> [out] or, with needGrad, [out, handle] (the handle keys the graph).
Napi::Value BlockForward(const Napi::CallbackInfo& info) {
  auto env = info.Env();
  auto ps = tensors(info[1]);
  if (ps.size() != 12) throw std::runtime_error("torch addon: blockForward needs 12 parameters");
  const int64_t heads = i64(info[2]);
  const bool causal = flag(info[3]), quick = flag(info[4]), needGrad = flag(info[6]);
  const double eps = num(info[5]);
  std::vector<at::Tensor> t{get(info[0])};
  t.insert(t.end(), ps.begin(), ps.end());
  if (t[0].dim() != 3 || t[0].size(2) % heads != 0) throw std::runtime_error("torch addon: blockForward needs x [B, T, W] with W divisible by heads");
  if (!needGrad) {
    c10::AutoGradMode off(false);
    auto arr = Napi::Array::New(env, 1);
    arr.Set(uint32_t(0), put(env, blockForward(t, heads, causal, quick, eps)));
    return arr;
  }
  c10::AutoGradMode on(true);
  BlockGraph g;
  for (auto& v : t) g.leaves.push_back(v.detach().requires_grad_(true));
  std::vector<at::Tensor> acts;
  g.out = blockForward(g.leaves, heads, causal, quick, eps, &acts);
  std::unordered_set<const void*> seen;  // views share a storage: count it once
  for (const auto& a : acts) {
    if (a.has_storage() && seen.insert(a.storage().unsafeGetStorageImpl()).second) g.bytes += double(a.storage().nbytes());
  }
  S.liveBytes += g.bytes;
  if (S.liveBytes > S.peakBytes) S.peakBytes = S.liveBytes;
  auto arr = Napi::Array::New(env, 2);
  arr.Set(uint32_t(0), put(env, g.out.detach()));
  auto handle = put(env, at::zeros({1}, t[0].options().dtype(at::kFloat)));
  blockGraphs.emplace(i64(handle.Get(uint32_t(0))), std::move(g));
  arr.Set(uint32_t(1), handle);
  return arr;
}

// (handle, dOut) -> [dx, then one gradient per parameter, in order]
Napi::Value BlockBackward(const Napi::CallbackInfo& info) {
  auto it = blockGraphs.find(i64(info[0]));
  if (it == blockGraphs.end()) throw std::runtime_error("torch addon: blockBackward: no recorded block (freed, or run without needGrad)");
  const auto& g = it->second;
  // retain_graph: tfjs may run a gradient twice; the graph goes with the handle.
  auto grads = torch::autograd::grad({g.out}, g.leaves, {get(info[1]).to(g.out.scalar_type())}, /*retain_graph=*/true);
  return putMany(info.Env(), grads);
}

// (logits [N, C], labels [N] int32 | [N, C] float) -> [loss per row, logProbs]
Napi::Value SoftmaxCrossEntropy(const Napi::CallbackInfo& info) {
  const auto z = f32(get(info[0]));  // autocast: cross-entropy in float32
  const auto& y = get(info[1]);
  auto lp = at::log_softmax(z, -1);
  at::Tensor loss;
  if (y.is_floating_point()) loss = -(lp * y).sum(-1);
  else loss = -lp.gather(-1, y.to(at::kLong).unsqueeze(-1)).squeeze(-1);
  return putMany(info.Env(), {loss, lp});
}

// (dLoss [N], logProbs, labels) -> dLogits
Napi::Value SoftmaxCrossEntropyBackward(const Napi::CallbackInfo& info) {
  const auto dl = f32(get(info[0]));
  const auto& lp = get(info[1]);
  const auto& y = get(info[2]);
  auto target = y.is_floating_point() ? y : at::one_hot(y.to(at::kLong), lp.size(-1)).to(lp.scalar_type());
  // d(-sum y*logp)/dlogp = -y, then through log_softmax.
  auto gradLp = -target * dl.unsqueeze(-1);
  return put(info.Env(), at::_log_softmax_backward_data(gradLp, lp, -1, lp.scalar_type()));
}

// Every parameter's AdamW step (PyTorch's semantics, decoupled weight decay)
// in one call, as PyTorch's foreach AdamW (its default on CUDA): each stage
// is one _foreach_ op over all tensors, so a GPU runs a few multi-tensor
// kernels per stage instead of one kernel per parameter and stage:
// (params[], grads[], expAvgs[], expAvgSqs[], weightDecays[], inPlace[], lr, b1, b2, eps, step)
// -> per parameter undefined (updated in place) or [p, m, v] (copies).
// In place only where the caller allows it and nobody else holds the
// storage (a tensor may be a view into another's: slice, transpose, expand
// outputs); the others are updated on copies.
Napi::Value AdamW(const Napi::CallbackInfo& info) {
  auto env = info.Env();
  auto ps = info[0].As<Napi::Array>(), gs = info[1].As<Napi::Array>(), ms = info[2].As<Napi::Array>(),
       vs = info[3].As<Napi::Array>(), wds = info[4].As<Napi::Array>(), ins = info[5].As<Napi::Array>();
  const uint32_t n = ps.Length();
  if (gs.Length() != n || ms.Length() != n || vs.Length() != n || wds.Length() != n || ins.Length() != n) {
    throw std::runtime_error("torch addon: adamw needs equally long lists");
  }
  const double lr = num(info[6]), b1 = num(info[7]), b2 = num(info[8]), eps = num(info[9]), step = num(info[10]);
  auto owned = [](const at::Tensor& t) { return t.is_contiguous() && t.storage().use_count() == 1; };
  std::vector<at::Tensor> P, G, M, V;
  std::vector<at::Scalar> decay;
  std::vector<bool> inPlace(n);
  for (uint32_t i = 0; i < n; ++i) {
    at::Tensor p = get(ps.Get(i)), m = get(ms.Get(i)), v = get(vs.Get(i));
    inPlace[i] = flag(ins.Get(i)) && owned(p) && owned(m) && owned(v);
    if (!inPlace[i]) p = p.clone(), m = m.clone(), v = v.clone();
    P.push_back(p), M.push_back(m), V.push_back(v);
    G.push_back(f32(get(gs.Get(i))));  // a gradient may still be bf16 (autocast)
    decay.push_back(1 - lr * wds.Get(i).As<Napi::Number>().DoubleValue());
  }
  if (n) {
    at::_foreach_mul_(P, decay);  // x 1 where the weight decay is 0
    at::_foreach_mul_(M, b1);
    at::_foreach_add_(M, G, 1 - b1);
    at::_foreach_mul_(V, b2);
    at::_foreach_addcmul_(V, G, G, 1 - b2);
    auto denom = at::_foreach_sqrt(V);
    at::_foreach_div_(denom, std::sqrt(1 - std::pow(b2, step)));
    at::_foreach_add_(denom, eps);
    at::_foreach_addcdiv_(P, M, denom, -lr / (1 - std::pow(b1, step)));
  }
  auto out = Napi::Array::New(env, n);
  for (uint32_t i = 0; i < n; ++i) {
    if (inPlace[i]) out.Set(i, env.Undefined());
    else out.Set(i, putMany(env, {P[i], M[i], V[i]}));
  }
  return out;
}

}  // namespace

// For native/dist.cc, whose collectives work on the handle table's tensors.
at::Tensor cliptsTensor(const Napi::Value& id) { return get(id); }
Napi::Array cliptsPut(Napi::Env env, at::Tensor t) { return put(env, std::move(t)); }

// native/dist.cc: c10d collectives (or just distInfo when compiled out).
void RegisterDist(Napi::Env env, Napi::Object exports);

namespace {

// () -> {dtype, unary, binary, reduce, activation}: each a {name: code} table
// made from the *_CODES lists above.
Napi::Value OpCodes(const Napi::CallbackInfo& info) {
  auto env = info.Env();
  auto codes = Napi::Object::New(env);
#define NAME_ENTRY(code, name) table.Set(name, Napi::Number::New(env, code));
#define TABLE(key, LIST)                  \
  {                                       \
    auto table = Napi::Object::New(env);  \
    LIST(NAME_ENTRY)                      \
    codes.Set(key, table);                \
  }
  TABLE("dtype", DTYPE_CODES)
  TABLE("unary", UNARY_CODES)
  TABLE("binary", BINARY_CODES)
  TABLE("reduce", REDUCE_CODES)
  TABLE("activation", ACT_CODES)
#undef TABLE
#undef NAME_ENTRY
  return codes;
}

#define EXPORT(name, fn) exports.Set(name, Napi::Function::New(env, guarded<fn>, name))

Napi::Object Init(Napi::Env env, Napi::Object exports) {
  EXPORT("fromArray", FromArray);
  EXPORT("viewArray", ViewArray);
  EXPORT("releaseView", ReleaseView);
  EXPORT("toArray", ToArray);
  EXPORT("free", Free);
  EXPORT("memory", Memory);
  EXPORT("configure", Configure);
  EXPORT("info", Info);
  EXPORT("opCodes", OpCodes);
  EXPORT("sync", Sync);
  EXPORT("unary", UnaryOp);
  EXPORT("binary", BinaryOp);
  EXPORT("cast", Cast);
  EXPORT("leakyRelu", LeakyRelu);
  EXPORT("step", Step);
  EXPORT("clip", Clip);
  EXPORT("select", Select);
  EXPORT("matmul", MatMul);
  EXPORT("einsum", Einsum);
  EXPORT("reduce", ReduceOp);
  EXPORT("argReduce", ArgReduce);
  EXPORT("softmax", Softmax);
  EXPORT("cumsum", Cumsum);
  EXPORT("reshape", Reshape);
  EXPORT("transpose", Transpose);
  EXPORT("broadcastTo", BroadcastTo);
  EXPORT("tile", Tile);
  EXPORT("reverse", Reverse);
  EXPORT("concat", Concat);
  EXPORT("stack", Stack);
  EXPORT("unstack", Unstack);
  EXPORT("split", Split);
  EXPORT("slice", Slice);
  EXPORT("stridedSlice", StridedSlice);
  EXPORT("pad", Pad);
  EXPORT("fill", Fill);
  EXPORT("range", Range);
  EXPORT("gather", Gather);
  EXPORT("gatherNd", GatherNd);
  EXPORT("scatterNd", ScatterNd);
  EXPORT("segmentSum", SegmentSum);
  EXPORT("oneHot", OneHot);
  EXPORT("where", Where);
  EXPORT("topk", TopK);
  EXPORT("conv2d", Conv2D);
  EXPORT("conv2dBackprop", Conv2DBackprop);
  EXPORT("layerNorm", LayerNorm);
  EXPORT("layerNormBackward", LayerNormBackward);
  EXPORT("gelu", Gelu);
  EXPORT("geluBackward", GeluBackward);
  EXPORT("quickGelu", QuickGelu);
  EXPORT("quickGeluBackward", QuickGeluBackward);
  EXPORT("linear", Linear);
  EXPORT("linearBackward", LinearBackward);
  EXPORT("attention", Attention);
  EXPORT("attentionBackward", AttentionBackward);
  EXPORT("softmaxCrossEntropy", SoftmaxCrossEntropy);
  EXPORT("blockForward", BlockForward);
  EXPORT("blockBackward", BlockBackward);
  EXPORT("adamw", AdamW);
  EXPORT("softmaxCrossEntropyBackward", SoftmaxCrossEntropyBackward);
  RegisterDist(env, exports);
  return exports;
}

}  // namespace

NODE_API_MODULE(clipts_torch, Init)
