// XLA:CPU kernels for event-driven sparse products (typed XLA FFI, api_version 1).
//
// Why: on XLA:CPU an event-driven product written with jnp ops costs tens of microseconds per
// call in op overheads; this loop does the same work in a few.  Only the primal forward pass uses
// it; derivatives stay in the pure-JAX reference (brainsim/event/_engine.py).
//
// csr_scatter:  out[b, j] = sum_{i : x[b, i] != 0} v(b, i) * data[s],  s in indptr[i]..indptr[i+1],
//               j = indices[s];  v = 1 if binary else x[b, i];  data of length 1 = one shared weight.
// The rows of an ELL table (FixedNumPerPre) are the CSR rows with indptr[i] = i * k.
//
// latency_scatter / latency_gather (below): the first-spike input current of brainsim.train and
// its weight gradient, the forward and backward of a custom_vjp (brainsim/train/_latency.py).
#include <Python.h>

#include <cstdint>
#include <cstring>

#include "xla/ffi/api/ffi.h"

namespace ffi = xla::ffi;

namespace {

template <typename XT>
void ScatterRows(const XT* x, int64_t B, int64_t p, int64_t q, const float* data, bool shared,
                 const int32_t* ind, const int32_t* ptr, bool binary, float* out) {
  std::memset(out, 0, sizeof(float) * static_cast<size_t>(B * q));
  for (int64_t b = 0; b < B; ++b) {
    const XT* xb = x + b * p;
    float* ob = out + b * q;
    for (int64_t i = 0; i < p; ++i) {
      if (xb[i] == XT(0)) continue;  // -0.0 counts as silent, NaN as an event (as in jnp: x != 0)
      const float xv = binary ? 1.0f : static_cast<float>(xb[i]);
      const int32_t s0 = ptr[i], s1 = ptr[i + 1];
      if (shared) {
        const float w = xv * data[0];
        for (int32_t s = s0; s < s1; ++s) ob[ind[s]] += w;
      } else if (binary) {
        for (int32_t s = s0; s < s1; ++s) ob[ind[s]] += data[s];
      } else {
        for (int32_t s = s0; s < s1; ++s) ob[ind[s]] += xv * data[s];
      }
    }
  }
}

// Under jax.vmap the batching rule of brainsim/event/_ffi.py prepends, per vmapped level, one lane
// dimension to every operand and to the result, of size 1 where that operand is shared by the
// lanes.  So one call covers the whole batch: each lane reads its own or the shared operands,
// without copies, and a vmap over the events never becomes a loop of calls.
ffi::Error CsrScatterImpl(ffi::AnyBuffer x, ffi::Buffer<ffi::F32> data,
                          ffi::Buffer<ffi::S32> indices, ffi::Buffer<ffi::S32> indptr,
                          ffi::ResultBuffer<ffi::F32> out, int64_t binary) {
  auto xd = x.dimensions();
  auto dd = data.dimensions();
  auto id = indices.dimensions();
  auto pd = indptr.dimensions();
  auto od = out->dimensions();
  if (xd.size() < 2 || od.size() != xd.size()) {
    return ffi::Error::InvalidArgument("csr_scatter: x must be (..., B, p) and out (..., B, q)");
  }
  const size_t k = xd.size() - 2;  // lane dimensions added by vmap
  if (dd.size() != k + 1 || id.size() != k + 1 || pd.size() != k + 1) {
    return ffi::Error::InvalidArgument("csr_scatter: data, indices, indptr need one lane dim per vmap");
  }
  const int64_t B = xd[k], p = xd[k + 1], q = od[k + 1];
  const int64_t nd = dd[k], nse = id[k];
  if (od[k] != B || pd[k] != p + 1 || (nd != 1 && nd != nse)) {
    return ffi::Error::InvalidArgument("csr_scatter: inconsistent shapes (out, indptr or data)");
  }
  // Per operand and lane dimension: the step between lanes (0 for a shared operand).
  int64_t lanes = 1;
  int64_t sx[8] = {0}, sd[8] = {0}, si[8] = {0}, sp[8] = {0}, so[8] = {0}, n[8] = {0};
  if (k > 8) return ffi::Error::InvalidArgument("csr_scatter: more than 8 nested vmaps");
  int64_t bx = B * p, bd = nd, bi = nse, bp = p + 1, bo = B * q;
  for (size_t d = k; d-- > 0;) {
    n[d] = od[d];
    auto step = [&](int64_t size, int64_t& base, int64_t* st) -> bool {
      if (size != 1 && size != n[d]) return false;
      st[d] = size == 1 ? 0 : base;
      base *= size;
      return true;
    };
    if (!step(xd[d], bx, sx) || !step(dd[d], bd, sd) || !step(id[d], bi, si) ||
        !step(pd[d], bp, sp)) {
      return ffi::Error::InvalidArgument("csr_scatter: a lane dimension is neither 1 nor the batch");
    }
    so[d] = bo;
    bo *= n[d];
    lanes *= n[d];
  }
  const bool shared = nd == 1;
  const float* w = data.typed_data();
  const int32_t* ind = indices.typed_data();
  const int32_t* ptr = indptr.typed_data();
  float* o = out->typed_data();
  const auto type = x.element_type();
  if (type != ffi::DataType::PRED && type != ffi::DataType::F32) {
    return ffi::Error::InvalidArgument("csr_scatter: x must be bool or float32");
  }
  for (int64_t l = 0; l < lanes; ++l) {
    int64_t ox = 0, od_ = 0, oi = 0, op = 0, oo = 0, rest = l;
    for (size_t d = k; d-- > 0;) {
      const int64_t j = rest % n[d];
      rest /= n[d];
      ox += j * sx[d]; od_ += j * sd[d]; oi += j * si[d]; op += j * sp[d]; oo += j * so[d];
    }
    if (type == ffi::DataType::PRED) {
      ScatterRows(x.typed_data<bool>() + ox, B, p, q, w + od_, shared, ind + oi, ptr + op, true,
                  o + oo);
    } else {
      ScatterRows(x.typed_data<float>() + ox, B, p, q, w + od_, shared, ind + oi, ptr + op,
                  binary != 0, o + oo);
    }
  }
  return ffi::Error::Success();
}

// --------------------------------------------------------------------------- latency kernels
// First-spike (latency) input current and its weight gradient (brainsim/train/_latency.py):
//   latency_scatter:  out[t, b, h] = sum_{i : steps[b, i] = t} w[i, h],         0 <= t < T
//   latency_gather:   dw[i, h]     = sum_{b : 0 <= steps[b, i] < T} g[steps[b, i], b, h]
// A step outside [0, T) is no spike.  Sums run in ascending i (scatter) and b (gather) order.
// Lanes as for csr_scatter: every vmap level prepends one lane dimension to every operand and
// to the result, of size 1 where that operand is shared by the lanes.

template <typename T>
void LatencyScatterLane(const int32_t* steps, const T* w, int64_t B, int64_t N, int64_t H,
                        int64_t Tn, T* out) {
  std::memset(out, 0, sizeof(T) * static_cast<size_t>(Tn * B * H));
  for (int64_t b = 0; b < B; ++b) {
    const int32_t* sb = steps + b * N;
    for (int64_t i = 0; i < N; ++i) {
      const int64_t t = sb[i];
      if (t < 0 || t >= Tn) continue;
      T* o = out + (t * B + b) * H;
      const T* wi = w + i * H;
      for (int64_t h = 0; h < H; ++h) o[h] += wi[h];
    }
  }
}

template <typename T>
void LatencyGatherLane(const int32_t* steps, const T* g, int64_t B, int64_t N, int64_t H,
                       int64_t Tn, T* dw) {
  std::memset(dw, 0, sizeof(T) * static_cast<size_t>(N * H));
  for (int64_t b = 0; b < B; ++b) {
    const int32_t* sb = steps + b * N;
    for (int64_t i = 0; i < N; ++i) {
      const int64_t t = sb[i];
      if (t < 0 || t >= Tn) continue;
      const T* gi = g + (t * B + b) * H;
      T* d = dw + i * H;
      for (int64_t h = 0; h < H; ++h) d[h] += gi[h];
    }
  }
}

// Strides of the lane dimensions of two operands and the result.  `a` and `b` are the operand
// dimensions, `o` the result's; the last `core` dimensions of each are the unbatched ones.
struct Lanes {
  int64_t count = 1;
  size_t k = 0;
  int64_t n[8] = {0}, sa[8] = {0}, sb[8] = {0}, so[8] = {0};
  void Offsets(int64_t l, int64_t& oa, int64_t& ob, int64_t& oo) const {
    oa = ob = oo = 0;
    for (size_t d = k; d-- > 0;) {
      const int64_t j = l % n[d];
      l /= n[d];
      oa += j * sa[d]; ob += j * sb[d]; oo += j * so[d];
    }
  }
};

bool MakeLanes(ffi::Span<const int64_t> a, ffi::Span<const int64_t> b, ffi::Span<const int64_t> o,
               size_t core_a, size_t core_b, size_t core_o, Lanes& L) {
  if (a.size() < core_a || b.size() < core_b || o.size() < core_o) return false;
  L.k = a.size() - core_a;
  if (L.k > 8 || b.size() - core_b != L.k || o.size() - core_o != L.k) return false;
  int64_t ba = 1, bb = 1, bo = 1;
  for (size_t d = L.k; d < a.size(); ++d) ba *= a[d];
  for (size_t d = L.k; d < b.size(); ++d) bb *= b[d];
  for (size_t d = L.k; d < o.size(); ++d) bo *= o[d];
  for (size_t d = L.k; d-- > 0;) {
    L.n[d] = o[d];
    if ((a[d] != 1 && a[d] != o[d]) || (b[d] != 1 && b[d] != o[d])) return false;
    L.sa[d] = a[d] == 1 ? 0 : ba;
    L.sb[d] = b[d] == 1 ? 0 : bb;
    L.so[d] = bo;
    ba *= a[d]; bb *= b[d]; bo *= o[d];
    L.count *= o[d];
  }
  return true;
}

template <ffi::DataType DT>
ffi::Error LatencyScatterImpl(ffi::Buffer<ffi::S32> steps, ffi::Buffer<DT> w,
                              ffi::ResultBuffer<DT> out) {
  auto sd = steps.dimensions();
  auto wd = w.dimensions();
  auto od = out->dimensions();
  Lanes L;
  if (!MakeLanes(sd, wd, od, 2, 2, 3, L)) {
    return ffi::Error::InvalidArgument(
        "latency_scatter: steps (..., B, N), w (..., N, H), out (..., T, B, H) with matching lanes");
  }
  const size_t k = L.k;
  const int64_t B = sd[k], N = sd[k + 1], H = wd[k + 1], Tn = od[k];
  if (wd[k] != N || od[k + 1] != B || od[k + 2] != H) {
    return ffi::Error::InvalidArgument("latency_scatter: inconsistent shapes");
  }
  for (int64_t l = 0; l < L.count; ++l) {
    int64_t os, ow, oo;
    L.Offsets(l, os, ow, oo);
    LatencyScatterLane(steps.typed_data() + os, w.typed_data() + ow, B, N, H, Tn,
                       out->typed_data() + oo);
  }
  return ffi::Error::Success();
}

template <ffi::DataType DT>
ffi::Error LatencyGatherImpl(ffi::Buffer<ffi::S32> steps, ffi::Buffer<DT> g,
                             ffi::ResultBuffer<DT> dw) {
  auto sd = steps.dimensions();
  auto gd = g.dimensions();
  auto od = dw->dimensions();
  Lanes L;
  if (!MakeLanes(sd, gd, od, 2, 3, 2, L)) {
    return ffi::Error::InvalidArgument(
        "latency_gather: steps (..., B, N), g (..., T, B, H), dw (..., N, H) with matching lanes");
  }
  const size_t k = L.k;
  const int64_t B = sd[k], N = sd[k + 1], Tn = gd[k], H = gd[k + 2];
  if (gd[k + 1] != B || od[k] != N || od[k + 1] != H) {
    return ffi::Error::InvalidArgument("latency_gather: inconsistent shapes");
  }
  for (int64_t l = 0; l < L.count; ++l) {
    int64_t os, og, oo;
    L.Offsets(l, os, og, oo);
    LatencyGatherLane(steps.typed_data() + os, g.typed_data() + og, B, N, H, Tn,
                      dw->typed_data() + oo);
  }
  return ffi::Error::Success();
}

}  // namespace

#define BRAINSIM_LATENCY_HANDLERS(SUFFIX, DT)                                                    \
  XLA_FFI_DEFINE_HANDLER_SYMBOL(BrainsimLatencyScatter##SUFFIX, LatencyScatterImpl<DT>,          \
                                ffi::Ffi::Bind()                                                 \
                                    .Arg<ffi::Buffer<ffi::S32>>() /* steps (B, N) */             \
                                    .Arg<ffi::Buffer<DT>>()       /* w (N, H) */                 \
                                    .Ret<ffi::Buffer<DT>>());     /* out (T, B, H) */            \
  XLA_FFI_DEFINE_HANDLER_SYMBOL(BrainsimLatencyGather##SUFFIX, LatencyGatherImpl<DT>,            \
                                ffi::Ffi::Bind()                                                 \
                                    .Arg<ffi::Buffer<ffi::S32>>() /* steps (B, N) */             \
                                    .Arg<ffi::Buffer<DT>>()       /* g (T, B, H) */              \
                                    .Ret<ffi::Buffer<DT>>());     /* dw (N, H) */

BRAINSIM_LATENCY_HANDLERS(F32, ffi::F32)
BRAINSIM_LATENCY_HANDLERS(F64, ffi::F64)

XLA_FFI_DEFINE_HANDLER_SYMBOL(BrainsimCsrScatter, CsrScatterImpl,
                              ffi::Ffi::Bind()
                                  .Arg<ffi::AnyBuffer>()         // x (B, p)
                                  .Arg<ffi::Buffer<ffi::F32>>()  // data (1,) or (nse,)
                                  .Arg<ffi::Buffer<ffi::S32>>()  // indices (nse,)
                                  .Arg<ffi::Buffer<ffi::S32>>()  // indptr (p + 1,)
                                  .Ret<ffi::Buffer<ffi::F32>>()  // out (B, q)
                                  .Attr<int64_t>("binary"));

// --------------------------------------------------------------------------- Python module
static PyObject* Registrations(PyObject*, PyObject*) {
  const struct {
    const char* name;
    void* handler;
  } kTargets[] = {
      {"brainsim_csr_scatter", reinterpret_cast<void*>(&BrainsimCsrScatter)},
      {"brainsim_latency_scatter_f32", reinterpret_cast<void*>(&BrainsimLatencyScatterF32)},
      {"brainsim_latency_scatter_f64", reinterpret_cast<void*>(&BrainsimLatencyScatterF64)},
      {"brainsim_latency_gather_f32", reinterpret_cast<void*>(&BrainsimLatencyGatherF32)},
      {"brainsim_latency_gather_f64", reinterpret_cast<void*>(&BrainsimLatencyGatherF64)},
  };
  PyObject* d = PyDict_New();
  if (d == nullptr) return nullptr;
  for (const auto& t : kTargets) {
    PyObject* cap = PyCapsule_New(t.handler, nullptr, nullptr);
    if (cap == nullptr || PyDict_SetItemString(d, t.name, cap) != 0) {
      Py_XDECREF(cap);
      Py_DECREF(d);
      return nullptr;
    }
    Py_DECREF(cap);
  }
  return d;
}

static PyMethodDef kMethods[] = {
    {"registrations", Registrations, METH_NOARGS,
     "Map of XLA FFI target name -> PyCapsule holding the handler."},
    {nullptr, nullptr, 0, nullptr}};

static struct PyModuleDef kModule = {PyModuleDef_HEAD_INIT, "_kernels_cpu",
                                     "XLA:CPU FFI kernels for brainsim.event", -1, kMethods};

PyMODINIT_FUNC PyInit__kernels_cpu(void) { return PyModule_Create(&kModule); }
