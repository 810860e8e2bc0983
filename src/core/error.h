// Errors: one exception type, caught once in the CLI. Messages name the file, field or line and
// what was expected.
#pragma once

#include <sstream>
#include <stdexcept>
#include <string>

namespace ponder {

struct Error : std::runtime_error {
  using std::runtime_error::runtime_error;
};

// fail("file ", path, ": expected ", n) — concatenates its arguments with operator<<.
template <class... Parts>
[[noreturn]] void fail(const Parts&... parts) {
  std::ostringstream os;
  (os << ... << parts);
  throw Error(os.str());
}

}  // namespace ponder

#define PONDER_CHECK(cond, ...)              \
  do {                                       \
    if (!(cond)) ::ponder::fail(__VA_ARGS__); \
  } while (0)
