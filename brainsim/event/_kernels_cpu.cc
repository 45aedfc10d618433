// XLA:CPU kernels for event-driven sparse products (typed XLA FFI, api_version 1).
//
// Why: on XLA:CPU an event-driven product written with jnp ops costs tens of microseconds per
// call in op overheads; this loop does the same work in a few.  Only the primal forward pass uses
// it; derivatives stay in the pure-JAX reference (brainsim/event/_engine.py).
//
// csr_scatter:  out[b, j] = sum_{i : x[b, i] != 0} v(b, i) * data[s],  s in indptr[i]..indptr[i+1],
//               j = indices[s];  v = 1 if binary else x[b, i];  data of length 1 = one shared weight.
// The rows of an ELL table (FixedNumPerPre) are the CSR rows with indptr[i] = i * k.
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

ffi::Error CsrScatterImpl(ffi::AnyBuffer x, ffi::Buffer<ffi::F32> data,
                          ffi::Buffer<ffi::S32> indices, ffi::Buffer<ffi::S32> indptr,
                          ffi::ResultBuffer<ffi::F32> out, int64_t binary) {
  auto xd = x.dimensions();
  auto od = out->dimensions();
  if (xd.size() != 2 || od.size() != 2 || xd[0] != od[0]) {
    return ffi::Error::InvalidArgument("csr_scatter: x must be (B, p) and out (B, q)");
  }
  const int64_t B = xd[0], p = xd[1], q = od[1];
  const int64_t nse = static_cast<int64_t>(indices.element_count());
  const int64_t nd = static_cast<int64_t>(data.element_count());
  if (static_cast<int64_t>(indptr.element_count()) != p + 1) {
    return ffi::Error::InvalidArgument("csr_scatter: indptr must have p + 1 entries");
  }
  if (nd != 1 && nd != nse) {
    return ffi::Error::InvalidArgument("csr_scatter: data must have 1 or nse entries");
  }
  // nse == 1 with one weight reads data[0] either way, so `shared` needs no extra attribute
  const bool shared = nd == 1;
  const float* w = data.typed_data();
  const int32_t* ind = indices.typed_data();
  const int32_t* ptr = indptr.typed_data();
  float* o = out->typed_data();
  switch (x.element_type()) {
    case ffi::DataType::PRED:
      ScatterRows(x.typed_data<bool>(), B, p, q, w, shared, ind, ptr, true, o);
      break;
    case ffi::DataType::F32:
      ScatterRows(x.typed_data<float>(), B, p, q, w, shared, ind, ptr, binary != 0, o);
      break;
    default:
      return ffi::Error::InvalidArgument("csr_scatter: x must be bool or float32");
  }
  return ffi::Error::Success();
}

}  // namespace

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
  PyObject* d = PyDict_New();
  if (d == nullptr) return nullptr;
  PyObject* cap = PyCapsule_New(reinterpret_cast<void*>(&BrainsimCsrScatter), nullptr, nullptr);
  if (cap == nullptr || PyDict_SetItemString(d, "brainsim_csr_scatter", cap) != 0) {
    Py_XDECREF(cap);
    Py_DECREF(d);
    return nullptr;
  }
  Py_DECREF(cap);
  return d;
}

static PyMethodDef kMethods[] = {
    {"registrations", Registrations, METH_NOARGS,
     "Map of XLA FFI target name -> PyCapsule holding the handler."},
    {nullptr, nullptr, 0, nullptr}};

static struct PyModuleDef kModule = {PyModuleDef_HEAD_INIT, "_kernels_cpu",
                                     "XLA:CPU FFI kernels for brainsim.event", -1, kMethods};

PyMODINIT_FUNC PyInit__kernels_cpu(void) { return PyModule_Create(&kModule); }
