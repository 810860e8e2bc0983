// Shared test helpers: random tensors, projections, and the finite-difference gradient check.
#pragma once

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <fstream>
#include <functional>
#include <iterator>
#include <string>
#include <vector>

#include "core/dtype.h"
#include "core/error.h"
#include "core/rng.h"

namespace ponder::test {

// The message of the ponder::Error that f throws, or "" when it throws none.
inline std::string error_of(const std::function<void()>& f) {
  try {
    f();
  } catch (const Error& e) {
    return e.what();
  }
  return "";
}

inline std::string source_path(const std::string& rel) {
  return std::string(PONDER_SOURCE_DIR) + "/" + rel;
}

// Fills with N(0, std²)-like values (a truncated normal, deterministic per seed).
inline void randn(float* x, size_t n, double std, uint64_t seed) {
  fill_truncated_normal(x, n, std, RandomStream(seed, 99));
}
inline std::vector<float> randn(size_t n, double std, uint64_t seed) {
  std::vector<float> v(n);
  randn(v.data(), n, std, seed);
  return v;
}

// A buffer as an op that writes bf16 GEMM operands leaves it (Ops::bf16_operands): x's values
// rounded to bf16, 2 bytes apart, in a buffer still sized for fp32; and, back, the values the first
// n slots of such a buffer hold.
inline std::vector<float> bf16_operand(const std::vector<float>& x) {
  std::vector<float> out(x.size());
  auto* p = reinterpret_cast<uint16_t*>(out.data());
  for (size_t i = 0; i < x.size(); ++i) p[i] = float_to_bf16(x[i]);
  return out;
}
inline std::vector<float> bf16_operand_values(const std::vector<float>& buf, size_t n) {
  const auto* p = reinterpret_cast<const uint16_t*>(buf.data());
  std::vector<float> out(n);
  for (size_t i = 0; i < n; ++i) out[i] = bf16_to_float(p[i]);
  return out;
}

// ‖a − b‖ / ‖b‖ over n values, in double.
inline double relative_difference(const float* a, const float* b, size_t n) {
  double num = 0, den = 0;
  for (size_t i = 0; i < n; ++i) {
    num += (double(a[i]) - b[i]) * (double(a[i]) - b[i]);
    den += double(b[i]) * b[i];
  }
  return std::sqrt(num / std::max(den, 1e-300));
}
inline double relative_difference(const std::vector<float>& a, const std::vector<float>& b) {
  EXPECT_EQ(a.size(), b.size());
  return relative_difference(a.data(), b.data(), std::min(a.size(), b.size()));
}

// Σ r·y in double: a scalar loss whose gradient with respect to y is r.
inline double dot(const float* r, const float* y, size_t n) {
  double s = 0;
  for (size_t i = 0; i < n; ++i) s += double(r[i]) * y[i];
  return s;
}

// Central differences of `loss` with respect to x (host-addressable), against the analytic
// gradient `grad`: along a random direction (all coordinates at once) and at `samples` single
// coordinates. x is restored afterwards.
inline void expect_gradient_matches(const std::string& what, float* x, size_t n, const float* grad,
                                    const std::function<double()>& loss, double h = 1e-2,
                                    double rtol = 2e-2, int samples = 12) {
  double gsq = 0;
  for (size_t i = 0; i < n; ++i) gsq += double(grad[i]) * grad[i];
  const double grms = std::sqrt(gsq / double(n));
  ASSERT_GT(grms, 0.0) << what << ": the analytic gradient is all zeros";
  std::vector<float> saved(x, x + n);
  // Direction check: d/dt L(x + t·v) at 0 equals grad·v, with v scaled like x so that the step
  // stays small relative to every coordinate.
  double xsq = 0;
  for (size_t i = 0; i < n; ++i) xsq += double(x[i]) * x[i];
  std::vector<float> v = randn(n, std::max(std::sqrt(xsq / double(n)), 1e-2), 4242 + n);
  double gv = 0;
  for (size_t i = 0; i < n; ++i) gv += double(grad[i]) * v[i];
  auto at = [&](double t) {
    for (size_t i = 0; i < n; ++i) x[i] = float(saved[i] + t * v[i]);
    return loss();
  };
  const double t = h / 10;
  const double fd_dir = (at(t) - at(-t)) / (2 * t);
  std::copy(saved.begin(), saved.end(), x);
  EXPECT_NEAR(fd_dir, gv, rtol * std::fabs(gv) + 1e-3 * std::sqrt(gsq * xsq) / std::sqrt(double(n)))
      << what << ": directional derivative";
  // Coordinate checks on the largest-gradient coordinates and a few random ones.
  std::vector<size_t> idx;
  size_t best = 0;
  for (size_t i = 1; i < n; ++i)
    if (std::fabs(grad[i]) > std::fabs(grad[best])) best = i;
  idx.push_back(best);
  RandomStream rng(77, n);
  for (int s = 0; s < samples; ++s)
    idx.push_back(size_t(rng.integer(uint64_t(s), 0, int64_t(n) - 1)));
  for (size_t i : idx) {
    const float x0 = saved[i];
    const float step = float(h * std::max(1.0, std::fabs(double(x0))));
    x[i] = x0 + step;
    const float up = x[i];
    const double lp = loss();
    x[i] = x0 - step;
    const float down = x[i];
    const double lm = loss();
    x[i] = x0;
    const double fd = (lp - lm) / (double(up) - double(down));
    EXPECT_NEAR(fd, grad[i], rtol * std::fabs(grad[i]) + 2e-3 * grms)
        << what << ": coordinate " << i;
  }
}

}  // namespace ponder::test

#include <sys/wait.h>
#include <unistd.h>

#include <array>
#include <cstdio>
#include <cstdlib>
#include <fstream>

namespace ponder::test {

// A fresh directory under /tmp for one test.
// The whole file as bytes ("" when it cannot be read).
inline std::string read_file(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  return {std::istreambuf_iterator<char>(f), std::istreambuf_iterator<char>()};
}

inline std::string temp_dir() {
  std::string pattern = "/tmp/ponder-test-XXXXXX";
  char* made = mkdtemp(pattern.data());
  if (!made) throw std::runtime_error("mkdtemp failed");
  return pattern;
}

inline void write_bytes(const std::string& path, const std::string& bytes) {
  std::ofstream(path, std::ios::binary) << bytes;
}

struct RunResult {
  int status = -1;     // exit status
  std::string output;  // stdout and stderr together
};

// Runs the ponder binary with a shell-quoted argument string, under `launcher` (e.g. mpirun …)
// when given.
inline RunResult run_ponder(const std::string& args, const std::string& launcher = "") {
  RunResult r;
  const std::string cmd = launcher + " " + std::string(PONDER_BINARY) + " " + args + " 2>&1";
  FILE* p = popen(cmd.c_str(), "r");
  if (!p) return r;
  std::array<char, 4096> buf;
  size_t n;
  while ((n = fread(buf.data(), 1, buf.size(), p)) > 0) r.output.append(buf.data(), n);
  const int st = pclose(p);
  r.status = WIFEXITED(st) ? WEXITSTATUS(st) : -1;
  return r;
}

}  // namespace ponder::test
