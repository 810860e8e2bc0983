// safetensors reading and writing: round trips of every dtype, and a clear error naming the file
// and the problem for each kind of malformed, truncated or oversized file.
#include <gtest/gtest.h>

#include <cstring>
#include <filesystem>

#include "core/error.h"
#include "io/host_tensor.h"
#include "io/safetensors.h"
#include "test_util.h"

namespace ponder {
namespace {

std::string le64(uint64_t v) {
  std::string s(8, '\0');
  for (int i = 0; i < 8; ++i) s[size_t(i)] = char(v >> (8 * i));
  return s;
}
std::string file_with(const std::string& header, const std::string& data) {
  return le64(header.size()) + header + data;
}

void expect_error(const std::string& path, const std::string& needle) {
  try {
    SafetensorsReader r(path);
    FAIL() << "no error for " << path << " (expected '" << needle << "')";
  } catch (const Error& e) {
    const std::string msg = e.what();
    EXPECT_NE(msg.find(path), std::string::npos) << msg;
    EXPECT_NE(msg.find(needle), std::string::npos) << msg;
  }
}

TEST(Safetensors, round_trip_keeps_every_dtype_shape_and_metadata) {
  const std::string dir = test::temp_dir(), path = dir + "/t.safetensors";
  float f[6] = {1.5f, -2.0f, 3.25f, 0.0f, 1e-20f, -7.0f};
  double d[2] = {1.0 / 3.0, -2.5};
  int32_t i[3] = {-100, 0, 7};
  int64_t l[2] = {int64_t(1) << 40, -3};
  uint8_t u[4] = {0, 1, 255, 9};
  SafetensorsWriter w;
  w.add("f", DType::F32, {2, 3}, f);
  w.add("d", DType::F64, {2}, d);
  w.add("i", DType::I32, {3}, i);
  w.add("l", DType::I64, {2}, l);
  w.add("u", DType::U8, {2, 2}, u);
  w.add("scalar", DType::F32, {}, f);
  w.add_f32_as("b", DType::BF16, {2, 3}, f);
  w.set_metadata("config", "{\"x\": 1}");
  w.write(path);
  SafetensorsReader r(path);
  EXPECT_EQ(r.metadata().at("config"), "{\"x\": 1}");
  EXPECT_EQ(r.info("f").shape, (Shape{2, 3}));
  EXPECT_EQ(r.info("scalar").shape, Shape{});
  Array<float> fr = r.read_f32("f", {2, 3});
  for (int k = 0; k < 6; ++k) EXPECT_EQ(fr[size_t(k)], f[k]);
  Array<float> br = r.read_f32("b", {2, 3});  // bf16: exact for these values but 1e-20
  EXPECT_EQ(br[0], 1.5f);
  EXPECT_EQ(br[2], 3.25f);
  EXPECT_NEAR(br[4], 1e-20f, 1e-22f);
  Array<float> dr = r.read_f32("d", {2});
  EXPECT_EQ(dr[0], float(1.0 / 3.0));
  Array<int32_t> ir = r.read_i32("i", {3});
  EXPECT_EQ(ir[0], -100);
  Array<uint8_t> ur = r.read_u8("u", {2, 2});
  EXPECT_EQ(ur[2], 255);
  // Written atomically: no temporary file left behind.
  size_t files = 0;
  for (const auto& e : std::filesystem::directory_iterator(dir)) files += e.is_regular_file();
  EXPECT_EQ(files, 1u);
  std::filesystem::remove_all(dir);
}

TEST(Safetensors, bf16_rounds_to_nearest_even) {
  EXPECT_EQ(float_to_bf16(1.0f), 0x3f80);
  // 1 + 2^-8 is halfway between two bf16 values: ties go to the even one (1.0).
  EXPECT_EQ(float_to_bf16(1.00390625f), 0x3f80);
  EXPECT_EQ(float_to_bf16(1.01171875f), 0x3f82);  // 1 + 3·2^-8: tie, rounds up to even
  EXPECT_TRUE(std::isnan(bf16_to_float(float_to_bf16(NAN))));
}

TEST(Safetensors, malformed_files_are_refused_with_the_file_and_problem) {
  const std::string dir = test::temp_dir();
  auto make = [&](const std::string& name, const std::string& bytes) {
    const std::string p = dir + "/" + name;
    test::write_bytes(p, bytes);
    return p;
  };
  const std::string ok_header = R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}})";
  expect_error(make("short", "abc"), "8-byte header length");
  expect_error(make("trunc_header", le64(1000) + "{}"), "truncated");
  expect_error(make("huge_header", le64(uint64_t(1) << 40) + "{}"), "exceeds");
  expect_error(make("not_json", file_with("{nope", "")), "not valid JSON");
  expect_error(make("array", file_with("[1,2]", "")), "must be a JSON object");
  expect_error(make("dtype", file_with(R"({"a":{"dtype":"F16","shape":[1],"data_offsets":[0,2]}})", "xx")),
               "unsupported dtype 'F16'");
  expect_error(make("neg_shape", file_with(R"({"a":{"dtype":"F32","shape":[-1],"data_offsets":[0,4]}})", "xxxx")),
               "shape entries");
  expect_error(make("mismatch", file_with(R"({"a":{"dtype":"F32","shape":[3],"data_offsets":[0,8]}})", std::string(8, 'x'))),
               "needs 12");
  expect_error(make("trunc_data", file_with(ok_header, "1234")), "truncated");
  expect_error(make("overlap", file_with(R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"b":{"dtype":"F32","shape":[2],"data_offsets":[4,12]}})", std::string(12, 'x'))),
               "overlap");
  expect_error(make("meta", file_with(R"({"__metadata__":{"k":1}})", "")), "must map to a string");
  expect_error(make("extra_field", file_with(R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8],"x":1}})", std::string(8, 'x'))),
               "unknown field 'x'");
  expect_error(dir + "/does-not-exist", "cannot open");

  SafetensorsReader r(make("good", file_with(ok_header, std::string(8, '\0'))));
  try {
    r.read_f32("a", {3});
    FAIL();
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("has shape [2], expected [3]"), std::string::npos) << e.what();
  }
  try {
    r.read_i32("a", {2});
    FAIL();
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("has dtype F32, expected I32"), std::string::npos) << e.what();
  }
  try {
    r.info("missing");
    FAIL();
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("missing tensor 'missing'"), std::string::npos) << e.what();
  }
  std::filesystem::remove_all(dir);
}

TEST(Safetensors, failed_write_leaves_nothing_behind) {
  const std::string dir = test::temp_dir();
  float x = 1.0f;
  SafetensorsWriter w;
  w.add("x", DType::F32, {1}, &x);
  EXPECT_THROW(w.write(dir + "/no/such/dir/out.safetensors"), Error);
  EXPECT_TRUE(std::filesystem::is_empty(dir));
  std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace ponder
