// Lane strides of the XLA:CPU kernels of brainsim.event (shared by _kernels_cpu.cc and
// _kernels_dense.cc). Every vmap level gives each operand one leading lane dimension, of size 1
// where the operand is shared by the lanes (brainsim/event/_ffi.py); a kernel walks the lanes
// with stride 0 for those.
#ifndef BRAINSIM_KERNELS_LANES_H_
#define BRAINSIM_KERNELS_LANES_H_

#include <cstddef>
#include <cstdint>

#include "xla/ffi/api/ffi.h"

namespace brainsim_kernels {

namespace ffi = xla::ffi;

// Lane strides for any number of operands.
struct LaneMap {
  static constexpr int kMaxOps = 8;
  size_t k = 0;
  int64_t count = 1;
  int nops = 0;
  int64_t n[8] = {0};
  int64_t st[kMaxOps][8] = {{0}};
  // off[j] for operand j; the result is operand `nops - 1`.
  void Offsets(int64_t l, int64_t* off) const {
    for (int j = 0; j < nops; ++j) off[j] = 0;
    for (size_t d = k; d-- > 0;) {
      const int64_t i = l % n[d];
      l /= n[d];
      for (int j = 0; j < nops; ++j) off[j] += i * st[j][d];
    }
  }
};

// dims[j] / core[j]: the dimensions of operand j and how many of them are unbatched; the
// last entry is the result, whose lane dimensions give the lane counts.
inline bool MakeLaneMap(const ffi::Span<const int64_t>* dims, const size_t* core, int nops, LaneMap& L) {
  if (nops > LaneMap::kMaxOps) return false;
  L.nops = nops;
  const auto& od = dims[nops - 1];
  if (od.size() < core[nops - 1]) return false;
  L.k = od.size() - core[nops - 1];
  if (L.k > 8) return false;
  for (int j = 0; j < nops; ++j) {
    if (dims[j].size() != core[j] + L.k) return false;
  }
  for (int j = 0; j < nops; ++j) {
    int64_t base = 1;
    for (size_t d = L.k; d < dims[j].size(); ++d) base *= dims[j][d];
    for (size_t d = L.k; d-- > 0;) {
      const int64_t size = dims[j][d];
      if (size != 1 && size != od[d]) return false;
      L.st[j][d] = size == 1 ? 0 : base;
      base *= size;
    }
  }
  L.count = 1;
  for (size_t d = 0; d < L.k; ++d) {
    L.n[d] = od[d];
    L.count *= od[d];
  }
  return true;
}

}  // namespace brainsim_kernels

#endif  // BRAINSIM_KERNELS_LANES_H_
