// Data-parallel collectives for clipts through libtorch's c10d: a TCPStore
// rendezvous at MASTER_ADDR:MASTER_PORT and a ProcessGroupGloo. Two ways in:
// - Float32Arrays (distAllReduce, distAllGather), so the collectives work
//   under any tfjs backend;
// - the torch backend's own tensors by handle id (distAllReduceTensors,
//   distAllGatherTensor), which stay on their device: no copy through JS,
//   and on a GPU no round trip through host memory in JS (Gloo stages CUDA
//   tensors itself).
// On CUDA, when the addon is built with NCCL (CLIPTS_NCCL: scripts/build-native.js
// finds nccl.h and CUDA's runtime headers beside a PyTorch 2 with
// ProcessGroupNCCL), distInit(..., "nccl") adds a ProcessGroupNCCL that the
// tensor collectives use for CUDA tensors; Gloo stays for host arrays.
// Calls block the JS thread: training is synchronous anyway.
//
// Compiled out (distributed reported unavailable) when CLIPTS_NO_DIST is set,
// which scripts/build-native.js does when c10d or gloo headers are missing or
// the first build with them fails.
#include <napi.h>

#include <chrono>
#include <cstring>
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

#if !defined(CLIPTS_NO_DIST)
#ifndef USE_C10D_GLOO
#define USE_C10D_GLOO
#endif
#include <ATen/ATen.h>
#include <torch/csrc/distributed/c10d/ProcessGroupGloo.hpp>
#include <torch/csrc/distributed/c10d/PrefixStore.hpp>
#include <torch/csrc/distributed/c10d/TCPStore.hpp>
#include <torch/version.h>
#if defined(CLIPTS_NCCL) && TORCH_VERSION_MAJOR >= 2
#ifndef USE_C10D_NCCL
#define USE_C10D_NCCL
#endif
#include <torch/csrc/distributed/c10d/ProcessGroupNCCL.hpp>
#define CLIPTS_HAS_NCCL 1
#endif
#endif

#if !defined(CLIPTS_NO_DIST)
// The torch backend's handle table (native/torch_addon.cc).
at::Tensor cliptsTensor(const Napi::Value& id);
Napi::Array cliptsPut(Napi::Env env, at::Tensor t);
#endif

namespace {

#if !defined(CLIPTS_NO_DIST)
// PyTorch 2 split the process group into a front (ProcessGroup) and
// per-device backends; ProcessGroupGloo is now a c10d::Backend with the same
// collectives, used here directly.
#if TORCH_VERSION_MAJOR >= 2
using Group = c10d::Backend;
#else
using Group = c10d::ProcessGroup;
#endif

struct DistState {
  c10::intrusive_ptr<c10d::Store> store;
  c10::intrusive_ptr<Group> pg;
  c10::intrusive_ptr<Group> nccl;  // for CUDA tensors, when asked for and built in
  int rank = 0;
  int world = 1;
};
DistState D;

Group& group() {
  if (!D.pg) throw std::runtime_error("distributed: not initialized (call distInit first)");
  return *D.pg;
}

// The group for a tensor's device: NCCL for CUDA tensors when there is one.
Group& groupFor(const at::Tensor& t) {
  Group& g = group();
  return t.is_cuda() && D.nccl ? *D.nccl : g;
}

// A float32 CPU tensor over the typed array's memory (no copy).
at::Tensor wrap(Napi::Float32Array a) {
  return at::from_blob(a.Data(), {int64_t(a.ElementLength())}, at::TensorOptions().dtype(at::kFloat));
}

// distInit(rank, worldSize, addr, port, timeoutMs, ifname, prefix, backend)
// prefix non-empty: torchrun's agent already serves the store at addr:port
// (TORCHELASTIC_USE_AGENT_STORE), so every rank is a client and keys live
// under the prefix, as torch.distributed's env:// rendezvous does.
Napi::Value Init(const Napi::CallbackInfo& info) {
  if (D.pg) throw std::runtime_error("distributed: already initialized");
  int rank = info[0].As<Napi::Number>().Int32Value();
  int world = info[1].As<Napi::Number>().Int32Value();
  std::string addr = info[2].As<Napi::String>().Utf8Value();
  int port = info[3].As<Napi::Number>().Int32Value();
  auto timeout = std::chrono::milliseconds(int64_t(info[4].As<Napi::Number>().DoubleValue()));
  std::string ifname = info.Length() > 5 && info[5].IsString() ? info[5].As<Napi::String>().Utf8Value() : "";
  std::string prefix = info.Length() > 6 && info[6].IsString() ? info[6].As<Napi::String>().Utf8Value() : "";
  std::string backend = info.Length() > 7 && info[7].IsString() ? info[7].As<Napi::String>().Utf8Value() : "gloo";
  if (backend != "gloo" && backend != "nccl") throw std::runtime_error("distributed: unknown backend " + backend);
#if !defined(CLIPTS_HAS_NCCL)
  if (backend == "nccl") throw std::runtime_error("distributed: this addon was built without NCCL");
#endif
  c10d::TCPStoreOptions so;
  so.port = uint16_t(port);
  so.isServer = prefix.empty() && rank == 0;
  so.numWorkers = size_t(world);
  // Every rank must wait: that is when a client counts itself in, which the
  // server's wait (rank 0) is waiting for.
  so.waitWorkers = true;
  so.timeout = timeout;
  c10::intrusive_ptr<c10d::Store> store = c10::make_intrusive<c10d::TCPStore>(addr, so);
  if (!prefix.empty()) store = c10::make_intrusive<c10d::PrefixStore>(prefix, store);
  auto opts = c10d::ProcessGroupGloo::Options::create(timeout);
  // The transport must bind an address the peers can reach: the interface
  // named by GLOO_SOCKET_IFNAME if given, else the master address's own
  // family for loopback runs, else the host's default.
  if (!ifname.empty())
    opts->devices.push_back(c10d::ProcessGroupGloo::createDeviceForInterface(ifname));
  else if (addr == "127.0.0.1" || addr == "localhost")
    opts->devices.push_back(c10d::ProcessGroupGloo::createDeviceForHostname("127.0.0.1"));
  else
    opts->devices.push_back(c10d::ProcessGroupGloo::createDefaultDevice());
  opts->threads = 2;
  D.pg = c10::make_intrusive<c10d::ProcessGroupGloo>(store, rank, world, opts);
#if defined(CLIPTS_HAS_NCCL)
  if (backend == "nccl") {
    auto nopts = c10d::ProcessGroupNCCL::Options::create();
    nopts->timeout = timeout;
    D.nccl = c10::make_intrusive<c10d::ProcessGroupNCCL>(c10::make_intrusive<c10d::PrefixStore>("nccl", store), rank,
                                                         world, nopts);
  }
#endif
  D.store = store;
  D.rank = rank;
  D.world = world;
  return info.Env().Undefined();
}

// distAllReduce(f32): in place, sum over ranks.
Napi::Value AllReduce(const Napi::CallbackInfo& info) {
  auto a = info[0].As<Napi::Float32Array>();
  std::vector<at::Tensor> ts{wrap(a)};
  group().allreduce(ts, c10d::AllreduceOptions())->wait();
  return info.Env().Undefined();
}

// distAllGather(f32) -> Float32Array(world * n), rank r's values at [r*n, (r+1)*n).
Napi::Value AllGather(const Napi::CallbackInfo& info) {
  auto a = info[0].As<Napi::Float32Array>();
  size_t n = a.ElementLength();
  auto out = Napi::Float32Array::New(info.Env(), n * size_t(D.world));
  std::vector<at::Tensor> in{wrap(a)};
  std::vector<std::vector<at::Tensor>> outs(1);
  for (int r = 0; r < D.world; r++) {
    outs[0].push_back(at::from_blob(out.Data() + size_t(r) * n, {int64_t(n)}, at::TensorOptions().dtype(at::kFloat)));
  }
  group().allgather(outs, in, c10d::AllgatherOptions())->wait();
  return out;
}

// distAllReduceTensors(ids[], scale) -> metas: every tensor summed over ranks
// and scaled, in one collective over their float32 concatenation. The results
// are views of that one buffer.
Napi::Value AllReduceTensors(const Napi::CallbackInfo& info) {
  auto env = info.Env();
  auto ids = info[0].As<Napi::Array>();
  double scale = info[1].As<Napi::Number>().DoubleValue();
  std::vector<at::Tensor> parts;
  std::vector<std::vector<int64_t>> shapes;
  for (uint32_t i = 0; i < ids.Length(); i++) {
    auto t = cliptsTensor(ids.Get(i));
    shapes.push_back(t.sizes().vec());
    parts.push_back(t.to(at::kFloat).reshape({-1}));
  }
  std::vector<at::Tensor> buf{at::cat(parts)};
  groupFor(buf[0]).allreduce(buf, c10d::AllreduceOptions())->wait();
  if (scale != 1) buf[0].mul_(scale);
  auto out = Napi::Array::New(env, shapes.size());
  int64_t off = 0;
  for (uint32_t i = 0; i < shapes.size(); i++) {
    int64_t n = parts[i].numel();
    out.Set(i, cliptsPut(env, buf[0].narrow(0, off, n).view(shapes[i])));
    off += n;
  }
  return out;
}

// distAllGatherTensor(id) -> meta: every rank's tensor concatenated along
// axis 0, in rank order (all ranks pass the same shape).
Napi::Value AllGatherTensor(const Napi::CallbackInfo& info) {
  auto t = cliptsTensor(info[0]).to(at::kFloat).contiguous();
  std::vector<at::Tensor> in{t};
  std::vector<std::vector<at::Tensor>> outs(1);
  for (int r = 0; r < D.world; r++) outs[0].push_back(at::empty_like(t));
  groupFor(t).allgather(outs, in, c10d::AllgatherOptions())->wait();
  return cliptsPut(info.Env(), at::cat(outs[0], 0));
}

Napi::Value Barrier(const Napi::CallbackInfo& info) {
  group().barrier()->wait();
  return info.Env().Undefined();
}

Napi::Value Destroy(const Napi::CallbackInfo& info) {
  D.nccl.reset();
  D.pg.reset();
  D.store.reset();
  D.rank = 0;
  D.world = 1;
  return info.Env().Undefined();
}
#endif

Napi::Value Info(const Napi::CallbackInfo& info) {
  auto env = info.Env();
  auto o = Napi::Object::New(env);
#if defined(CLIPTS_NO_DIST)
  o.Set("available", false);
  o.Set("backends", Napi::Array::New(env));
  o.Set("initialized", false);
#else
  o.Set("available", true);
  auto b = Napi::Array::New(env);
  b.Set(uint32_t(0), "gloo");
#if defined(CLIPTS_HAS_NCCL)
  b.Set(uint32_t(1), "nccl");
#endif
  o.Set("backends", b);
  o.Set("nccl", bool(D.nccl));
  o.Set("initialized", bool(D.pg));
  o.Set("rank", D.rank);
  o.Set("worldSize", D.world);
#endif
  return o;
}

template <Napi::Value (*F)(const Napi::CallbackInfo&)>
Napi::Value guardedDist(const Napi::CallbackInfo& info) {
  try {
    return F(info);
  } catch (const Napi::Error&) {
    throw;
  } catch (const std::exception& e) {
    throw Napi::Error::New(info.Env(), std::string("torch addon (distributed): ") + e.what());
  }
}

}  // namespace

// Called from torch_addon.cc's module Init.
void RegisterDist(Napi::Env env, Napi::Object exports) {
  exports.Set("distInfo", Napi::Function::New(env, guardedDist<Info>, "distInfo"));
#if !defined(CLIPTS_NO_DIST)
  exports.Set("distInit", Napi::Function::New(env, guardedDist<Init>, "distInit"));
  exports.Set("distAllReduce", Napi::Function::New(env, guardedDist<AllReduce>, "distAllReduce"));
  exports.Set("distAllGather", Napi::Function::New(env, guardedDist<AllGather>, "distAllGather"));
  exports.Set("distAllReduceTensors", Napi::Function::New(env, guardedDist<AllReduceTensors>, "distAllReduceTensors"));
  exports.Set("distAllGatherTensor", Napi::Function::New(env, guardedDist<AllGatherTensor>, "distAllGatherTensor"));
  exports.Set("distBarrier", Napi::Function::New(env, guardedDist<Barrier>, "distBarrier"));
  exports.Set("distDestroy", Napi::Function::New(env, guardedDist<Destroy>, "distDestroy"));
#endif
}
