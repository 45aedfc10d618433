// XLA:CPU kernel of the event-driven product of spikes with a dense weight matrix
// (brainsim/event/_dense.py), both directions of one layer's training step:
//
// dense_events, transpose = 0:  out[b, :] = sum_{i : x[b, i] != 0} w[i, :]
//     x (B, m) events, w (m, n), out (B, n): the forward pass, x @ w with x read as 0/1;
// dense_events, transpose = 1:  out[i, :] = sum_{b : x[b, i] != 0} w[b, :]
//     x (B, m) events, w (B, n), out (m, n): its weight gradient, x^T @ g.
//
// Why: at the ~30 % input density of rate-coded images, summing the active rows reads 30 % of
// what a GEMM multiplies, and beats XLA's GEMM if the rows come from L1. Both directions do it
// the same way: the sources (rows of w) in blocks of 64, each block's events as one 64-bit mask
// per output row, and for every output row its block's active rows summed into registers
// (up to 128 columns at a time). Sums run in ascending source order.
#include <algorithm>
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

// Vectors of floats at any alignment (GCC/Clang vector extensions), one per form: a vector as
// wide as the form's registers. A 64-byte vector under AVX2 went through the stack (6x slower).
typedef float V16 __attribute__((vector_size(64), aligned(4)));  // zmm
typedef float V8 __attribute__((vector_size(32), aligned(4)));   // ymm
typedef float V4 __attribute__((vector_size(16), aligned(4)));   // xmm (SSE2, NEON)
// 8 accumulators per register tile: 8 of the 16 (or 32) vector registers, the rest for loads.
constexpr int kNV = 8;

#define BRAINSIM_INLINE inline __attribute__((always_inline))

// o[0 .. NV lanes) += the rows of S (row stride ld) at the set bits of mask.
template <typename VT, int NV>
BRAINSIM_INLINE void AccVec(float* __restrict o, const float* __restrict S, int64_t ld,
                            uint64_t mask) {
  constexpr int L = sizeof(VT) / sizeof(float);
  VT a[NV];
#pragma GCC unroll 8
  for (int v = 0; v < NV; ++v) std::memcpy(&a[v], o + L * v, sizeof(VT));
  while (mask) {
    const float* s = S + static_cast<int64_t>(__builtin_ctzll(mask)) * ld;
    mask &= mask - 1;
#pragma GCC unroll 8
    for (int v = 0; v < NV; ++v) {
      VT t;
      std::memcpy(&t, s + L * v, sizeof(VT));
      a[v] += t;
    }
  }
#pragma GCC unroll 8
  for (int v = 0; v < NV; ++v) std::memcpy(o + L * v, &a[v], sizeof(VT));
}

// The same over a tile of `width` <= kNV lanes columns: whole vectors, then the rest one by one.
template <typename VT>
BRAINSIM_INLINE void AccTile(float* __restrict o, const float* __restrict S, int64_t ld,
                             uint64_t mask, int64_t width) {
  constexpr int64_t L = sizeof(VT) / sizeof(float);
  switch (width / L) {
    case 8: AccVec<VT, 8>(o, S, ld, mask); break;
    case 7: AccVec<VT, 7>(o, S, ld, mask); break;
    case 6: AccVec<VT, 6>(o, S, ld, mask); break;
    case 5: AccVec<VT, 5>(o, S, ld, mask); break;
    case 4: AccVec<VT, 4>(o, S, ld, mask); break;
    case 3: AccVec<VT, 3>(o, S, ld, mask); break;
    case 2: AccVec<VT, 2>(o, S, ld, mask); break;
    case 1: AccVec<VT, 1>(o, S, ld, mask); break;
    default: break;
  }
  const int64_t c0 = width - width % L;
  if (c0 == width) return;
  for (uint64_t b = mask; b; b &= b - 1) {
    const float* s = S + static_cast<int64_t>(__builtin_ctzll(b)) * ld;
    for (int64_t c = c0; c < width; ++c) o[c] += s[c];
  }
}

// Bit j of the result: x[j] != 0, for j < len <= 64 (NaN is an event, -0.0 is not, as in jnp).
template <typename XT>
BRAINSIM_INLINE uint64_t Mask64(const XT* x, int64_t len) {
  uint64_t b = 0;
  for (int64_t j = 0; j < len; ++j) b |= static_cast<uint64_t>(x[j] != XT(0)) << j;
  return b;
}

// col[i] (i < m), bit r: x[r, i] != 0, for the rb <= 64 rows of x (row stride m).
template <typename XT>
BRAINSIM_INLINE void ColMasks(const XT* x, int64_t rb, int64_t m, uint64_t* col) {
  std::fill(col, col + m, uint64_t(0));
  for (int64_t r = 0; r < rb; ++r) {
    const XT* xr = x + r * m;
    for (int64_t i0 = 0; i0 < m; i0 += 64) {
      for (uint64_t b = Mask64(xr + i0, std::min<int64_t>(64, m - i0)); b; b &= b - 1) {
        col[i0 + __builtin_ctzll(b)] |= uint64_t(1) << r;
      }
    }
  }
}

#if defined(__x86_64__) && defined(__GNUC__)
// the AVX2 and AVX-512 forms exist on x86-64 with GCC/Clang only
#define BRAINSIM_DENSE_X86 1
#define BRAINSIM_AVX512 __attribute__((target("avx512f,avx512bw,avx512vl,bmi,bmi2,popcnt")))
// The masks with AVX-512 compares; the column masks by transposing 64 rows x 16 columns of bits
// with 16 word tests (the scalar form above sets one bit per event, half of the product's time).
BRAINSIM_AVX512 inline uint32_t Mask16(const float* x, __mmask16 lim) {
  return _mm512_mask_cmp_ps_mask(lim, _mm512_maskz_loadu_ps(lim, x), _mm512_setzero_ps(),
                                 _CMP_NEQ_UQ);
}
BRAINSIM_AVX512 inline uint32_t Mask16(const bool* x, __mmask16 lim) {
  const __m128i v = _mm_maskz_loadu_epi8(lim, x);
  return _mm_test_epi8_mask(v, v);
}

template <typename XT>
BRAINSIM_AVX512 inline uint64_t Mask64Avx512(const XT* x, int64_t len) {
  uint64_t b = 0;
  for (int64_t j = 0; j < len; j += 16) {
    const int64_t k = std::min<int64_t>(16, len - j);
    const __mmask16 lim = static_cast<__mmask16>(k == 16 ? 0xFFFFu : (1u << k) - 1);
    b |= static_cast<uint64_t>(Mask16(x + j, lim)) << j;
  }
  return b;
}

template <typename XT>
BRAINSIM_AVX512 inline void ColMasksAvx512(const XT* x, int64_t rb, int64_t m, uint64_t* col) {
  alignas(64) uint16_t mk[64];
  for (int64_t i = 0; i < m; i += 16) {
    const int64_t k = std::min<int64_t>(16, m - i);
    const __mmask16 lim = static_cast<__mmask16>(k == 16 ? 0xFFFFu : (1u << k) - 1);
    for (int64_t r = 0; r < 64; ++r) {
      mk[r] = r < rb ? static_cast<uint16_t>(Mask16(x + r * m + i, lim)) : 0;
    }
    const __m512i lo = _mm512_load_si512(mk), hi = _mm512_load_si512(mk + 32);
    for (int64_t j = 0; j < k; ++j) {
      const __m512i t = _mm512_set1_epi16(static_cast<int16_t>(1u << j));
      col[i + j] = static_cast<uint64_t>(_mm512_test_epi16_mask(lo, t)) |
                   (static_cast<uint64_t>(_mm512_test_epi16_mask(hi, t)) << 32);
    }
  }
}

// The same with AVX2: 8 columns a chunk, the 64 rows' bytes transposed by 8 shifts and byte
// movemasks (2.6 -> ~0.5 ms of the gradient's 3.9 at 30 % on [3200, 784]).
#define BRAINSIM_AVX2 __attribute__((target("avx2,fma,bmi,bmi2,popcnt")))
BRAINSIM_AVX2 inline uint32_t Mask8(const float* x) {
  return static_cast<uint32_t>(_mm256_movemask_ps(
      _mm256_cmp_ps(_mm256_loadu_ps(x), _mm256_setzero_ps(), _CMP_NEQ_UQ)));
}
BRAINSIM_AVX2 inline uint32_t Mask8(const bool* x) {
  const __m128i v = _mm_loadl_epi64(reinterpret_cast<const __m128i*>(x));
  return static_cast<uint32_t>(_mm_movemask_epi8(_mm_cmpgt_epi8(v, _mm_setzero_si128()))) & 0xFFu;
}

template <typename XT>
BRAINSIM_AVX2 inline uint64_t Mask64Avx2(const XT* x, int64_t len) {
  uint64_t b = 0;
  int64_t j = 0;
  for (; j + 8 <= len; j += 8) b |= static_cast<uint64_t>(Mask8(x + j)) << j;
  return j < len ? b | (Mask64(x + j, len - j) << j) : b;
}

template <typename XT>
BRAINSIM_AVX2 inline void ColMasksAvx2(const XT* x, int64_t rb, int64_t m, uint64_t* col) {
  alignas(32) uint8_t mk[64];
  for (int64_t i = 0; i < m; i += 8) {
    const int64_t k = std::min<int64_t>(8, m - i);
    for (int64_t r = 0; r < 64; ++r) {
      const XT* xr = x + r * m + i;
      mk[r] = r >= rb ? 0 : static_cast<uint8_t>(k == 8 ? Mask8(xr) : Mask64(xr, k));
    }
    const __m256i lo = _mm256_load_si256(reinterpret_cast<const __m256i*>(mk));
    const __m256i hi = _mm256_load_si256(reinterpret_cast<const __m256i*>(mk + 32));
    for (int64_t j = 0; j < k; ++j) {
      // bit j of every byte to its bit 7 (a 16-bit shift: each byte's bit 7 comes from itself)
      const __m128i s = _mm_cvtsi32_si128(static_cast<int>(7 - j));
      const uint32_t a = static_cast<uint32_t>(_mm256_movemask_epi8(_mm256_sll_epi16(lo, s)));
      const uint32_t c = static_cast<uint32_t>(_mm256_movemask_epi8(_mm256_sll_epi16(hi, s)));
      col[i + j] = static_cast<uint64_t>(a) | (static_cast<uint64_t>(c) << 32);
    }
  }
}
#endif

// Which mask code a form runs: the widest it may use.
enum Isa { kPortable = 0, kAvx2 = 1, kAvx512 = 2 };

template <int kIsa, typename XT>
BRAINSIM_INLINE uint64_t RowMask(const XT* x, int64_t len) {
#ifdef BRAINSIM_DENSE_X86
  if constexpr (kIsa == kAvx512) return Mask64Avx512(x, len);
  if constexpr (kIsa == kAvx2) return Mask64Avx2(x, len);
#endif
  return Mask64(x, len);
}

template <int kIsa, typename XT>
BRAINSIM_INLINE void ColumnMasks(const XT* x, int64_t rb, int64_t m, uint64_t* col) {
#ifdef BRAINSIM_DENSE_X86
  if constexpr (kIsa == kAvx512) return ColMasksAvx512(x, rb, m, col);
  if constexpr (kIsa == kAvx2) return ColMasksAvx2(x, rb, m, col);
#endif
  ColMasks(x, rb, m, col);
}

// One lane of transpose = 0. bits: 64 * ceil(m / 64) words of scratch.
template <typename XT, typename VT, int kIsa>
BRAINSIM_INLINE void ForwardBody(const XT* x, int64_t B, int64_t m, const float* w, int64_t n,
                                 float* out, uint64_t* bits) {
  const int64_t nw = (m + 63) / 64;
  std::fill(out, out + B * n, 0.0f);
  for (int64_t b0 = 0; b0 < B; b0 += 64) {
    const int64_t rb = std::min<int64_t>(64, B - b0);
    for (int64_t r = 0; r < rb; ++r) {
      for (int64_t k = 0; k < nw; ++k) {
        const XT* xr = x + (b0 + r) * m + 64 * k;
        const int64_t len = std::min<int64_t>(64, m - 64 * k);
        bits[r * nw + k] = RowMask<kIsa>(xr, len);
      }
    }
    // one 64-row block of w (a tile of it: <= 32 KB) serves the block's rb output rows
    constexpr int64_t tile = kNV * sizeof(VT) / sizeof(float);
    for (int64_t c0 = 0; c0 < n; c0 += tile) {
      const int64_t width = std::min<int64_t>(tile, n - c0);
      for (int64_t k = 0; k < nw; ++k) {
        const float* S = w + 64 * k * n + c0;
        for (int64_t r = 0; r < rb; ++r) {
          const uint64_t mask = bits[r * nw + k];
          if (mask) AccTile<VT>(out + (b0 + r) * n + c0, S, n, mask, width);
        }
      }
    }
  }
}

// One lane of transpose = 1. col: m words of scratch.
template <typename XT, typename VT, int kIsa>
BRAINSIM_INLINE void TransposedBody(const XT* x, int64_t B, int64_t m, const float* g, int64_t n,
                                    float* out, uint64_t* col) {
  std::fill(out, out + m * n, 0.0f);
  for (int64_t b0 = 0; b0 < B; b0 += 64) {
    const int64_t rb = std::min<int64_t>(64, B - b0);
    ColumnMasks<kIsa>(x + b0 * m, rb, m, col);
    constexpr int64_t tile = kNV * sizeof(VT) / sizeof(float);
    for (int64_t c0 = 0; c0 < n; c0 += tile) {
      const int64_t width = std::min<int64_t>(tile, n - c0);
      const float* S = g + b0 * n + c0;
      for (int64_t i = 0; i < m; ++i) {
        if (col[i]) AccTile<VT>(out + i * n + c0, S, n, col[i], width);
      }
    }
  }
}

template <typename XT, typename VT, int kIsa>
BRAINSIM_INLINE void LaneBody(bool transpose, const XT* x, int64_t B, int64_t m, const float* w,
                              int64_t n, float* out, uint64_t* scratch) {
  if (transpose) {
    TransposedBody<XT, VT, kIsa>(x, B, m, w, n, out, scratch);
  } else {
    ForwardBody<XT, VT, kIsa>(x, B, m, w, n, out, scratch);
  }
}

// The same source compiled three times; the loader picks the widest the CPU has. The AVX2 and
// baseline forms differ from the AVX-512 one only in instruction width and the mask code: the
// sums are the same additions in the same order.
template <typename XT>
void LanePortable(bool t, const XT* x, int64_t B, int64_t m, const float* w, int64_t n, float* o,
                  uint64_t* s) {
  LaneBody<XT, V4, kPortable>(t, x, B, m, w, n, o, s);
}
#ifdef BRAINSIM_DENSE_X86
template <typename XT>
BRAINSIM_AVX2 void LaneAvx2(
    bool t, const XT* x, int64_t B, int64_t m, const float* w, int64_t n, float* o, uint64_t* s) {
  LaneBody<XT, V8, kAvx2>(t, x, B, m, w, n, o, s);
}
template <typename XT>
BRAINSIM_AVX512 void LaneAvx512(bool t, const XT* x, int64_t B, int64_t m, const float* w,
                                int64_t n, float* o, uint64_t* s) {
  LaneBody<XT, V16, kAvx512>(t, x, B, m, w, n, o, s);
}
#endif

template <typename XT>
using LaneFn = void (*)(bool, const XT*, int64_t, int64_t, const float*, int64_t, float*,
                        uint64_t*);

// BRAINSIM_DENSE_ISA=avx2 or =portable caps the form (tests compare the forms bit for bit;
// brainsim.event refuses other values before this library loads).
template <typename XT>
LaneFn<XT> ChooseLane() {
  const char* cap = std::getenv("BRAINSIM_DENSE_ISA");
  if (cap != nullptr && std::strcmp(cap, "portable") == 0) return LanePortable<XT>;
#ifdef BRAINSIM_DENSE_X86
  __builtin_cpu_init();
  const bool only_avx2 = cap != nullptr && std::strcmp(cap, "avx2") == 0;
  // both wide forms are compiled with BMI1/2 and POPCNT too (blsr, shlx): a VM may hide them
  const bool bits = __builtin_cpu_supports("bmi") && __builtin_cpu_supports("bmi2") &&
                    __builtin_cpu_supports("popcnt");
  if (!only_avx2 && bits && __builtin_cpu_supports("avx512f") &&
      __builtin_cpu_supports("avx512bw") && __builtin_cpu_supports("avx512vl")) {
    return LaneAvx512<XT>;
  }
  if (bits && __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) return LaneAvx2<XT>;
#endif
  return LanePortable<XT>;
}

const LaneFn<float> kLaneF32 = ChooseLane<float>();
const LaneFn<bool> kLanePred = ChooseLane<bool>();

ffi::Error DenseEventsImpl(ffi::AnyBuffer x, ffi::Buffer<ffi::F32> w,
                           ffi::ResultBuffer<ffi::F32> out, int64_t transpose) {
  const ffi::Span<const int64_t> dims[] = {x.dimensions(), w.dimensions(), out->dimensions()};
  const size_t core[] = {2, 2, 2};
  LaneMap L;
  if (!MakeLaneMap(dims, core, 3, L)) {
    return ffi::Error::InvalidArgument(
        "dense_events: x (..., B, m), w (..., m, n) or (..., B, n), out (..., B, n) or "
        "(..., m, n) with matching lanes");
  }
  const size_t k = L.k;
  const int64_t B = dims[0][k], m = dims[0][k + 1], n = dims[1][k + 1];
  const bool t = transpose != 0;
  if (dims[1][k] != (t ? B : m) || dims[2][k] != (t ? m : B) || dims[2][k + 1] != n) {
    return ffi::Error::InvalidArgument("dense_events: inconsistent shapes");
  }
  const auto type = x.element_type();
  if (type != ffi::DataType::PRED && type != ffi::DataType::F32) {
    return ffi::Error::InvalidArgument("dense_events: x must be bool or float32");
  }
  std::vector<uint64_t> scratch(static_cast<size_t>(std::max<int64_t>(t ? m : 64 * ((m + 63) / 64), 1)));
  int64_t off[3];
  for (int64_t l = 0; l < L.count; ++l) {
    L.Offsets(l, off);
    const float* wl = w.typed_data() + off[1];
    float* ol = out->typed_data() + off[2];
    if (type == ffi::DataType::PRED) {
      kLanePred(t, x.typed_data<bool>() + off[0], B, m, wl, n, ol, scratch.data());
    } else {
      kLaneF32(t, x.typed_data<float>() + off[0], B, m, wl, n, ol, scratch.data());
    }
  }
  return ffi::Error::Success();
}

}  // namespace

XLA_FFI_DEFINE_HANDLER_SYMBOL(BrainsimDenseEvents, DenseEventsImpl,
                              ffi::Ffi::Bind()
                                  .Arg<ffi::AnyBuffer>()         // x (B, m) events
                                  .Arg<ffi::Buffer<ffi::F32>>()  // w (m, n) or g (B, n)
                                  .Ret<ffi::Buffer<ffi::F32>>()  // out (B, n) or (m, n)
                                  .Attr<int64_t>("transpose"));

// Which form the loader chose (tests check it; the RESULTS figures name it).
const char* BrainsimDenseEventsForm() {
#ifdef BRAINSIM_DENSE_X86
  if (kLaneF32 == LaneAvx512<float>) return "avx512";
  if (kLaneF32 == LaneAvx2<float>) return "avx2";
#endif
  return "portable";
}
