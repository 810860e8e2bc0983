// Comparison of a run's tensors with expected ones (PyTorch reference outputs): norm-wise
// relative error per tensor, exact equality for integer tensors, and a report of the worst
// mismatches when something differs.
#pragma once

#include <gtest/gtest.h>

#include <cmath>
#include <string>

#include "io/host_tensor.h"
#include "io/safetensors.h"

namespace ponder::test {

struct ParityTolerance {
  double outputs = 1e-4;  // logits, q, loss, carry, gradients: relative, norm-wise
  double params = 1e-5;   // param.* and ema.* after optimizer steps
  double pred_agreement = 1.0;  // fraction of `preds` cells that must agree
};

inline HostTensor read_any(const SafetensorsReader& in, const TensorInfo& t) {
  HostTensor h;
  if (t.dtype == DType::F32 || t.dtype == DType::F64 || t.dtype == DType::BF16) {
    Array<float> v = in.read_f32(t.name, t.shape);
    return HostTensor::f32(t.shape, v.data());
  }
  h.dtype = t.dtype;
  h.shape = t.shape;
  h.bytes.resize(t.end - t.begin);
  in.read_raw(t, h.bytes.data());
  return h;
}

inline void expect_parity(const std::string& label, const TensorMap& got,
                          const SafetensorsReader& expected, const ParityTolerance& tol) {
  for (const auto& [name, t] : got)
    EXPECT_TRUE(expected.has(name)) << label << ": ponder wrote '" << name
                                    << "' which the reference did not";
  for (const TensorInfo& info : expected.tensors()) {
    auto it = got.find(info.name);
    if (it == got.end()) {
      ADD_FAILURE() << label << ": ponder did not write '" << info.name << "'";
      continue;
    }
    const HostTensor& g = it->second;
    const HostTensor e = read_any(expected, info);
    if (g.shape != e.shape) {
      ADD_FAILURE() << label << ": '" << info.name << "' has shape " << shape_str(g.shape)
                    << ", reference " << shape_str(e.shape);
      continue;
    }
    const int64_t n = e.numel();
    if (e.dtype != DType::F32) {
      ASSERT_EQ(g.dtype, e.dtype) << label << ": " << info.name;
      const size_t w = dtype_size(e.dtype);
      int64_t differ = 0, first = -1;
      for (int64_t i = 0; i < n; ++i)
        if (std::memcmp(g.bytes.data() + i * w, e.bytes.data() + i * w, w) != 0) {
          ++differ;
          if (first < 0) first = i;
        }
      const double agree = n ? 1.0 - double(differ) / double(n) : 1.0;
      const double need = info.name == "preds" ? tol.pred_agreement : 1.0;
      EXPECT_GE(agree, need) << label << ": '" << info.name << "' differs in " << differ << " of "
                             << n << " cells (first at flat index " << first << ")";
      continue;
    }
    ASSERT_EQ(g.dtype, DType::F32) << label << ": " << info.name;
    const float* a = g.as<float>();
    const float* b = e.as<float>();
    double diff = 0, ref = 0, worst = 0;
    int64_t worst_i = 0;
    for (int64_t i = 0; i < n; ++i) {
      const double d = double(a[i]) - double(b[i]);
      diff += d * d;
      ref += double(b[i]) * b[i];
      if (std::fabs(d) > worst || std::isnan(d)) {
        worst = std::fabs(d);
        worst_i = i;
      }
    }
    const bool is_param = info.name.rfind("param.", 0) == 0 || info.name.rfind("ema.", 0) == 0;
    const double limit = is_param ? tol.params : tol.outputs;
    const double rel = std::sqrt(diff) / std::max(std::sqrt(ref), 1e-30);
    const bool ok = ref == 0 ? std::sqrt(diff) <= 1e-7 : rel <= limit;
    EXPECT_TRUE(ok) << label << ": '" << info.name << "' relative error " << rel << " > " << limit
                    << "; worst element " << worst_i << ": ponder " << (n ? a[worst_i] : 0)
                    << ", reference " << (n ? b[worst_i] : 0);
  }
}

}  // namespace ponder::test
