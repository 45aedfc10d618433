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

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <vector>

#include "xla/ffi/api/ffi.h"
#include "_kernels_lanes.h"

#if defined(__x86_64__) && defined(__GNUC__)
#include <immintrin.h>
#endif

namespace ffi = xla::ffi;

namespace {

using brainsim_kernels::LaneMap;
using brainsim_kernels::MakeLaneMap;

// Whether x[0..15] are all silent (x == 0, -0.0 included; NaN counts as an event, as in jnp),
// tested 16 at a time: the scan for the few active rows of a big population is most of the
// call otherwise.
inline bool Silent16(const float* x) {
  // four 128-bit ORs (GCC/Clang vector extensions, SSE2 or NEON): a plain loop over 16 words
  // compiled to scalar ORs through the stack, which cost as much as the test of each element
  typedef uint32_t V4 __attribute__((vector_size(16)));
  V4 v[4];
  std::memcpy(v, x, sizeof v);
  const V4 o = (v[0] | v[1] | v[2] | v[3]) & 0x7FFFFFFFu;
  uint64_t h[2];
  std::memcpy(h, &o, sizeof h);
  return (h[0] | h[1]) == 0;
}

inline bool Silent16(const bool* x) {
  uint64_t w[2];
  std::memcpy(w, x, sizeof w);
  return (w[0] | w[1]) == 0;
}

template <typename XT>
void ScatterRows(const XT* x, int64_t B, int64_t p, int64_t q, const float* data, bool shared,
                 const int32_t* ind, const int32_t* ptr, bool binary, float* out) {
  std::memset(out, 0, sizeof(float) * static_cast<size_t>(B * q));
  for (int64_t b = 0; b < B; ++b) {
    const XT* xb = x + b * p;
    float* ob = out + b * q;
    for (int64_t i = 0; i < p; ++i) {
      if ((i & 15) == 0 && i + 16 <= p && Silent16(xb + i)) {
        i += 15;
        continue;
      }
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


// --------------------------------------------------------------------------- csr_gather
// csr_gather:  out[b, i] = sum_{s in indptr[i]..indptr[i+1]} data[s] * v(b, indices[s]),
//              v = (x != 0) if binary else x;  data of length 1 = one shared weight.
// The all-synapse direction (CSR @ x, x @ CSC); sums run in ascending s.
template <typename XT>
void GatherRows(const XT* x, int64_t B, int64_t p, int64_t q, const float* data, bool shared,
                const int32_t* ind, const int32_t* ptr, bool binary, float* out) {
  for (int64_t b = 0; b < B; ++b) {
    const XT* xb = x + b * q;
    float* ob = out + b * p;
    for (int64_t i = 0; i < p; ++i) {
      const int32_t s0 = ptr[i], s1 = ptr[i + 1];
      float acc = 0.0f;
      if (binary) {
        for (int32_t s = s0; s < s1; ++s) {
          if (xb[ind[s]] != XT(0)) acc += shared ? data[0] : data[s];
        }
      } else if (shared) {
        for (int32_t s = s0; s < s1; ++s) acc += static_cast<float>(xb[ind[s]]);
        acc *= data[0];
      } else {
        for (int32_t s = s0; s < s1; ++s) acc += data[s] * static_cast<float>(xb[ind[s]]);
      }
      ob[i] = acc;
    }
  }
}

ffi::Error CsrGatherImpl(ffi::AnyBuffer x, ffi::Buffer<ffi::F32> data,
                         ffi::Buffer<ffi::S32> indices, ffi::Buffer<ffi::S32> indptr,
                         ffi::ResultBuffer<ffi::F32> out, int64_t binary) {
  const ffi::Span<const int64_t> dims[] = {x.dimensions(), data.dimensions(), indices.dimensions(),
                                           indptr.dimensions(), out->dimensions()};
  const size_t core[] = {2, 1, 1, 1, 2};
  LaneMap L;
  if (!MakeLaneMap(dims, core, 5, L)) {
    return ffi::Error::InvalidArgument(
        "csr_gather: x (..., B, q), data/indices/indptr (..., n), out (..., B, p) with matching lanes");
  }
  const size_t k = L.k;
  const int64_t B = dims[0][k], q = dims[0][k + 1], p = dims[4][k + 1];
  const int64_t nd = dims[1][k], nse = dims[2][k];
  if (dims[4][k] != B || dims[3][k] != p + 1 || (nd != 1 && nd != nse)) {
    return ffi::Error::InvalidArgument("csr_gather: inconsistent shapes (out, indptr or data)");
  }
  const auto type = x.element_type();
  if (type != ffi::DataType::PRED && type != ffi::DataType::F32) {
    return ffi::Error::InvalidArgument("csr_gather: x must be bool or float32");
  }
  int64_t off[5];
  for (int64_t l = 0; l < L.count; ++l) {
    L.Offsets(l, off);
    const float* w = data.typed_data() + off[1];
    const int32_t* ind = indices.typed_data() + off[2];
    const int32_t* ptr = indptr.typed_data() + off[3];
    float* o = out->typed_data() + off[4];
    if (type == ffi::DataType::PRED) {
      GatherRows(x.typed_data<bool>() + off[0], B, p, q, w, nd == 1, ind, ptr, true, o);
    } else {
      GatherRows(x.typed_data<float>() + off[0], B, p, q, w, nd == 1, ind, ptr, binary != 0, o);
    }
  }
  return ffi::Error::Success();
}

// --------------------------------------------------------------------------- JIT connectivity
// The procedural draw of brainsim/event/_jitc_draw.py, operation for operation: row i, slot t
// hashes (seed, i, t); a fixed-point -log2 of the uniform (integer table interpolation) times
// the float32 gap scale gives a geometric gap; columns are the running sums of the gaps minus 1,
// until one reaches q or L slots are drawn.  Integer arithmetic and single float32 roundings
// only, so this draws exactly the matrix of the pure-JAX path.
constexpr uint32_t kGolden = 0x9E3779B9u;
constexpr uint32_t kSlot = 0x85EBCA6Bu;
constexpr int kTableBits = 10, kFrac = 22, kRem = 23 - kTableBits;
constexpr int64_t kTableSize = (1 << kTableBits) + 1;
constexpr int64_t kGapCap = int64_t(1) << 30;
constexpr int kChunk = 32;

inline uint32_t Mix(uint32_t x) {
  x ^= x >> 16;
  x *= 0x7FEB352Du;
  x ^= x >> 15;
  x *= 0x846CA68Bu;
  return x ^ (x >> 16);
}

inline uint32_t RowKey(uint32_t seed, uint32_t stream, uint32_t row) {
  return Mix(Mix(seed ^ (kGolden * (stream + 1))) ^ row);
}

inline uint32_t SlotHash(uint32_t key, int64_t t) {
  return Mix(Mix(key + static_cast<uint32_t>(t) * kSlot));
}

inline float SlotUniform(uint32_t key, int64_t t) {
  const int32_t m = static_cast<int32_t>(SlotHash(key, t) >> 8) + 1;
  return static_cast<float>(m) * (1.0f / 16777216.0f);
}

// gaps of slots t0 .. t0 + kChunk - 1 of the row with structure key `key`: the reference
// (scalar) form, which the vector forms below compute lane for lane.
void FillGapsScalar(uint32_t key, int64_t t0, float scale, const int32_t* __restrict tab,
                    int32_t* __restrict g) {
  for (int j = 0; j < kChunk; ++j) {
    const int32_t m = static_cast<int32_t>(SlotHash(key, t0 + j) >> 8) + 1;  // [1, 2^24]
    // float(m) is exact: its exponent is floor(log2 m), its mantissa bits the fraction
    const float mf = static_cast<float>(m);
    uint32_t bits;
    std::memcpy(&bits, &mf, sizeof bits);
    const int32_t e = static_cast<int32_t>(bits >> 23) - 127;
    const int32_t frac = static_cast<int32_t>(bits & 0x7FFFFFu);
    const int32_t idx = frac >> kRem, rem = frac & ((1 << kRem) - 1);
    const int32_t lo = tab[idx], hi = tab[idx + 1];
    const int32_t y = ((24 - e) << kFrac) - (lo + (((hi - lo) * rem) >> kRem));
    // y * scale >= 0, so truncation is the floor; capping first keeps it exact and in range
    float f = static_cast<float>(y) * scale;
    f = f < static_cast<float>(kGapCap) ? f : static_cast<float>(kGapCap);
    g[j] = static_cast<int32_t>(f) + 1;
  }
}

#if defined(__x86_64__) && defined(__GNUC__)
// The same with 8 AVX2 lanes. Written with intrinsics because GCC's auto-vectorised form
// (target_clones, AVX-512 too) loaded the table entries one by one (perf: FillGaps was 65 %
// of a 1 %-active JITC product, most of it in those scalar inserts); a hardware gather reads
// 8. A 16-lane AVX-512 form of this was ~8 % slower than this one on an AVX-512 Xeon, so
// there is none. Every step is the scalar one's integer or single-rounding float32 operation.
#define BRAINSIM_JITC_SIMD 1
__attribute__((target("avx2"))) inline __m256i Mix256(__m256i x) {
  x = _mm256_xor_si256(x, _mm256_srli_epi32(x, 16));
  x = _mm256_mullo_epi32(x, _mm256_set1_epi32(0x7FEB352D));
  x = _mm256_xor_si256(x, _mm256_srli_epi32(x, 15));
  x = _mm256_mullo_epi32(x, _mm256_set1_epi32(static_cast<int32_t>(0x846CA68Bu)));
  return _mm256_xor_si256(x, _mm256_srli_epi32(x, 16));
}

__attribute__((target("avx2")))
void FillGaps256(uint32_t key, int64_t t0, float scale, const int32_t* __restrict tab,
                 int32_t* __restrict g) {
  const __m256i lane = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
  const __m256i one = _mm256_set1_epi32(1);
  for (int h = 0; h < kChunk; h += 8) {
    const __m256i t = _mm256_add_epi32(_mm256_set1_epi32(static_cast<int32_t>(t0 + h)), lane);
    __m256i x = _mm256_add_epi32(_mm256_set1_epi32(static_cast<int32_t>(key)),
                                 _mm256_mullo_epi32(t, _mm256_set1_epi32(static_cast<int32_t>(kSlot))));
    x = Mix256(Mix256(x));
    const __m256i m = _mm256_add_epi32(_mm256_srli_epi32(x, 8), one);
    const __m256i bits = _mm256_castps_si256(_mm256_cvtepi32_ps(m));
    const __m256i e = _mm256_sub_epi32(_mm256_srli_epi32(bits, 23), _mm256_set1_epi32(127));
    const __m256i frac = _mm256_and_si256(bits, _mm256_set1_epi32(0x7FFFFF));
    const __m256i idx = _mm256_srli_epi32(frac, kRem);
    const __m256i rem = _mm256_and_si256(frac, _mm256_set1_epi32((1 << kRem) - 1));
    const __m256i lo = _mm256_i32gather_epi32(tab, idx, 4);
    const __m256i hi = _mm256_i32gather_epi32(tab, _mm256_add_epi32(idx, one), 4);
    const __m256i in = _mm256_srai_epi32(_mm256_mullo_epi32(_mm256_sub_epi32(hi, lo), rem), kRem);
    const __m256i y = _mm256_sub_epi32(
        _mm256_slli_epi32(_mm256_sub_epi32(_mm256_set1_epi32(24), e), kFrac),
        _mm256_add_epi32(lo, in));
    __m256 f = _mm256_mul_ps(_mm256_cvtepi32_ps(y), _mm256_set1_ps(scale));
    f = _mm256_min_ps(f, _mm256_set1_ps(static_cast<float>(kGapCap)));
    _mm256_storeu_si256(reinterpret_cast<__m256i*>(g + h),
                        _mm256_add_epi32(_mm256_cvttps_epi32(f), one));
  }
}
#endif

using FillGapsFn = void (*)(uint32_t, int64_t, float, const int32_t*, int32_t*);

// The AVX2 form where the CPU has it, chosen once; BRAINSIM_JITC_ISA=scalar forces the
// scalar one (the tests run both against the pure-JAX draw; brainsim.event._backend refuses
// other values before this library loads).
FillGapsFn PickFillGaps() {
  const char* want = std::getenv("BRAINSIM_JITC_ISA");
  if (want != nullptr && std::strcmp(want, "scalar") == 0) return FillGapsScalar;
#ifdef BRAINSIM_JITC_SIMD
  __builtin_cpu_init();
  if (__builtin_cpu_supports("avx2")) return FillGaps256;
#endif
  return FillGapsScalar;
}

const FillGapsFn FillGaps = PickFillGaps();

struct JitcParams {
  int64_t kind, q, L;
  float scale;
  const int32_t* tab;
};

// Targets of row `row` into cols/vals; returns their count (at most L).
int64_t JitcRow(const JitcParams& P, uint32_t seed, const float* theta, uint32_t row,
                int32_t* cols, float* vals) {
  const uint32_t key = RowKey(seed, 0, row);
  const int64_t cap = std::min<int64_t>(P.q + 1, kGapCap);
  int64_t s = 0, c = 0;
  int32_t g[kChunk];
  for (int64_t t0 = 0; t0 < P.L; t0 += kChunk) {
    FillGaps(key, t0, P.scale, P.tab, g);
    const int64_t n = std::min<int64_t>(kChunk, P.L - t0);
    for (int64_t j = 0; j < n; ++j) {
      s += std::min<int64_t>(g[j], cap);
      if (s > P.q) goto done;
      cols[c++] = static_cast<int32_t>(s - 1);
    }
  }
done:
  if (P.kind == 0) {
    for (int64_t j = 0; j < c; ++j) vals[j] = theta[0];
  } else if (P.kind == 1) {
    const uint32_t k1 = RowKey(seed, 1, row), k2 = RowKey(seed, 2, row);
    for (int64_t j = 0; j < c; ++j) {
      const float u1 = SlotUniform(k1, j), u2 = SlotUniform(k2, j);
      const float z = std::sqrt(-2.0f * std::log(u1)) * std::cos(6.2831855f * u2);
      vals[j] = theta[0] + theta[1] * z;
    }
  } else {
    const uint32_t k1 = RowKey(seed, 1, row);
    for (int64_t j = 0; j < c; ++j) {
      const float v = 1.0f - SlotUniform(k1, j);
      vals[j] = theta[0] + (theta[1] - theta[0]) * v;
    }
  }
  return c;
}

// scatter: out[b, j] = sum_{i : x[b, i] != 0} v(b, i) A[i, j]  (x (B, p), out (B, q))
// gather:  out[b, i] = sum_j A[i, j] v(b, j)                   (x (B, q), out (B, p))
template <typename XT>
void JitcLane(const JitcParams& P, bool gather, const XT* x, int64_t B, int64_t p, uint32_t seed,
              const float* theta, bool binary, float* out, int32_t* cols, float* vals) {
  const int64_t q = P.q;
  if (!gather) std::memset(out, 0, sizeof(float) * static_cast<size_t>(B * q));
  for (int64_t i = 0; i < p; ++i) {
    if (!gather && B == 1 && (i & 15) == 0 && i + 16 <= p && Silent16(x + i)) {
      i += 15;
      continue;
    }
    if (!gather) {
      bool any = false;
      for (int64_t b = 0; b < B && !any; ++b) any = x[b * p + i] != XT(0);
      if (!any) continue;
    }
    const int64_t c = JitcRow(P, seed, theta, static_cast<uint32_t>(i), cols, vals);
    for (int64_t b = 0; b < B; ++b) {
      if (gather) {
        const XT* xb = x + b * q;
        float acc = 0.0f;
        if (binary) {
          for (int64_t j = 0; j < c; ++j) acc += xb[cols[j]] != XT(0) ? vals[j] : 0.0f;
        } else {
          for (int64_t j = 0; j < c; ++j) acc += vals[j] * static_cast<float>(xb[cols[j]]);
        }
        out[b * p + i] = acc;
      } else {
        const XT xv = x[b * p + i];
        if (xv == XT(0)) continue;
        float* ob = out + b * q;
        if (binary) {
          for (int64_t j = 0; j < c; ++j) ob[cols[j]] += vals[j];
        } else {
          const float f = static_cast<float>(xv);
          for (int64_t j = 0; j < c; ++j) ob[cols[j]] += f * vals[j];
        }
      }
    }
  }
}

ffi::Error JitcImpl(ffi::AnyBuffer x, ffi::Buffer<ffi::F32> theta, ffi::Buffer<ffi::U32> seed,
                    ffi::Buffer<ffi::S32> table, ffi::ResultBuffer<ffi::F32> out, int64_t kind,
                    int64_t q, int64_t L, float scale, int64_t binary, int64_t gather) {
  const ffi::Span<const int64_t> dims[] = {x.dimensions(), theta.dimensions(), seed.dimensions(),
                                           table.dimensions(), out->dimensions()};
  const size_t core[] = {2, 1, 1, 1, 2};
  LaneMap Lm;
  if (!MakeLaneMap(dims, core, 5, Lm)) {
    return ffi::Error::InvalidArgument(
        "jitc: x (..., B, n), theta (..., 2), seed (..., 1), table (..., 1025), out (..., B, m) "
        "with matching lanes");
  }
  const size_t k = Lm.k;
  const int64_t B = dims[0][k];
  // rows of A: p; x holds p (scatter) or q (gather) entries per batch row, out the other
  const int64_t p = gather ? dims[4][k + 1] : dims[0][k + 1];
  const int64_t xq = gather ? dims[0][k + 1] : dims[4][k + 1];
  if (dims[4][k] != B || xq != q || dims[1][k] != 2 || dims[2][k] != 1 ||
      dims[3][k] != kTableSize || kind < 0 || kind > 2 || L < 0 || q < 0 || q >= (int64_t(1) << 31) - 1) {
    return ffi::Error::InvalidArgument("jitc: inconsistent shapes or attributes");
  }
  const auto type = x.element_type();
  if (type != ffi::DataType::PRED && type != ffi::DataType::F32) {
    return ffi::Error::InvalidArgument("jitc: x must be bool or float32");
  }
  std::vector<int32_t> cols(static_cast<size_t>(std::max<int64_t>(L, 1)));
  std::vector<float> vals(cols.size());
  int64_t off[5];
  for (int64_t l = 0; l < Lm.count; ++l) {
    Lm.Offsets(l, off);
    const JitcParams P{kind, q, L, scale, table.typed_data() + off[3]};
    const uint32_t sd = seed.typed_data()[off[2]];
    const float* th = theta.typed_data() + off[1];
    float* o = out->typed_data() + off[4];
    if (type == ffi::DataType::PRED) {
      JitcLane(P, gather != 0, x.typed_data<bool>() + off[0], B, p, sd, th, true, o, cols.data(),
               vals.data());
    } else {
      JitcLane(P, gather != 0, x.typed_data<float>() + off[0], B, p, sd, th, binary != 0, o,
               cols.data(), vals.data());
    }
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

XLA_FFI_DEFINE_HANDLER_SYMBOL(BrainsimCsrGather, CsrGatherImpl,
                              ffi::Ffi::Bind()
                                  .Arg<ffi::AnyBuffer>()         // x (B, q)
                                  .Arg<ffi::Buffer<ffi::F32>>()  // data (1,) or (nse,)
                                  .Arg<ffi::Buffer<ffi::S32>>()  // indices (nse,)
                                  .Arg<ffi::Buffer<ffi::S32>>()  // indptr (p + 1,)
                                  .Ret<ffi::Buffer<ffi::F32>>()  // out (B, p)
                                  .Attr<int64_t>("binary"));

XLA_FFI_DEFINE_HANDLER_SYMBOL(BrainsimJitc, JitcImpl,
                              ffi::Ffi::Bind()
                                  .Arg<ffi::AnyBuffer>()         // x (B, p) or (B, q)
                                  .Arg<ffi::Buffer<ffi::F32>>()  // theta (2,)
                                  .Arg<ffi::Buffer<ffi::U32>>()  // seed (1,)
                                  .Arg<ffi::Buffer<ffi::S32>>()  // log2 table (1025,)
                                  .Ret<ffi::Buffer<ffi::F32>>()  // out (B, q) or (B, p)
                                  .Attr<int64_t>("kind")
                                  .Attr<int64_t>("q")
                                  .Attr<int64_t>("L")
                                  .Attr<float>("scale")
                                  .Attr<int64_t>("binary")
                                  .Attr<int64_t>("gather"));

// --------------------------------------------------------------------------- Python module
// The dense-weight event product lives in _kernels_dense.cc.
extern "C" XLA_FFI_Error* BrainsimDenseEvents(XLA_FFI_CallFrame* call_frame);
const char* BrainsimDenseEventsForm();

static PyObject* Registrations(PyObject*, PyObject*) {
  const struct {
    const char* name;
    void* handler;
  } kTargets[] = {
      {"brainsim_csr_scatter", reinterpret_cast<void*>(&BrainsimCsrScatter)},
      {"brainsim_csr_gather", reinterpret_cast<void*>(&BrainsimCsrGather)},
      {"brainsim_jitc", reinterpret_cast<void*>(&BrainsimJitc)},
      {"brainsim_dense_events", reinterpret_cast<void*>(&BrainsimDenseEvents)},
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

// Which form of the JITC gap draw this process runs (tests check the override took effect).
static PyObject* JitcGapForm(PyObject*, PyObject*) {
  return PyUnicode_FromString(FillGaps == FillGapsScalar ? "scalar" : "avx2");
}

// Which form of the dense-weight kernel this process runs: 'avx512', 'avx2' or 'portable'.
static PyObject* DenseEventsForm(PyObject*, PyObject*) {
  return PyUnicode_FromString(BrainsimDenseEventsForm());
}

static PyMethodDef kMethods[] = {
    {"registrations", Registrations, METH_NOARGS,
     "Map of XLA FFI target name -> PyCapsule holding the handler."},
    {"jitc_gap_form", JitcGapForm, METH_NOARGS,
     "'avx2' or 'scalar': the form of the JITC gap draw chosen at load time."},
    {"dense_events_form", DenseEventsForm, METH_NOARGS,
     "'avx512', 'avx2' or 'portable': the form of the dense-weight kernel chosen at load time."},
    {nullptr, nullptr, 0, nullptr}};

static struct PyModuleDef kModule = {PyModuleDef_HEAD_INIT, "_kernels_cpu",
                                     "XLA:CPU FFI kernels for brainsim.event", -1, kMethods};

PyMODINIT_FUNC PyInit__kernels_cpu(void) { return PyModule_Create(&kModule); }
