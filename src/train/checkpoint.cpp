#include "train/checkpoint.h"

#include <cstdio>
#include <nlohmann/json.hpp>

#include "core/error.h"
#include "model/weights_io.h"
#include "train/model_file.h"

namespace ponder {

namespace {

constexpr const char* kFormat = "ponder-checkpoint-1";

std::string crc_hex(uint32_t crc) {
  char buf[16];
  std::snprintf(buf, sizeof buf, "%08x", crc);
  return buf;
}

bool is_checkpoint_extra(const std::string& name) {
  return name.rfind("optimizer.", 0) == 0 || name.rfind("carry.", 0) == 0 || name == "ema";
}

}  // namespace

void save_checkpoint(const std::string& path, Model& m, const RunConfig& config, Optimizer& opt,
                     const HostCarry& carry, const TrainProgress& p) {
  Ops& ops = m.ops();
  const size_t n = m.layout().total();
  HostWeights w = download_weights(m);
  Array<float> adam_m(n), adam_v(n), ema(config.train.ema ? n : 0);
  ops.download(adam_m.data(), opt.adam_m(), n * sizeof(float));
  ops.download(adam_v.data(), opt.adam_v(), n * sizeof(float));
  if (config.train.ema) ops.download(ema.data(), opt.ema(), n * sizeof(float));
  const ModelConfig& c = m.config();
  const int64_t B = carry.B, S = c.seq_total(), D = c.hidden_size, L = c.seq_len;
  SafetensorsWriter out;
  add_weights(m, w, out);
  out.add("optimizer.adam_m", DType::F32, {int64_t(n)}, adam_m.data());
  out.add("optimizer.adam_v", DType::F32, {int64_t(n)}, adam_v.data());
  if (config.train.ema) out.add("ema", DType::F32, {int64_t(n)}, ema.data());
  out.add("carry.z_H", DType::F32, {B, S, D}, carry.zH.data());
  out.add("carry.z_L", DType::F32, {B, S, D}, carry.zL.data());
  out.add("carry.steps", DType::I32, {B}, carry.steps.data());
  out.add("carry.halted", DType::U8, {B}, carry.halted.data());
  out.add("carry.inputs", DType::I32, {B, L}, carry.data.inputs.data());
  out.add("carry.labels", DType::I32, {B, L}, carry.data.labels.data());
  out.add("carry.puzzle_identifiers", DType::I32, {B}, carry.data.puzzle_ids.data());
  nlohmann::json state = {{"step", p.step},
                          {"total_steps", p.total_steps},
                          {"adam_step", double(opt.adam_step())},
                          {"chunk", p.batcher.chunk},
                          {"position", p.batcher.position},
                          {"draws", p.batcher.draws},
                          {"elapsed_seconds", p.elapsed_seconds},
                          {"finished", p.finished},
                          {"batch", B}};
  out.set_metadata("config", run_config_json(config));
  out.set_metadata("format", kFormat);
  out.set_metadata("train_state", state.dump());
  out.set_metadata("checksum", crc_hex(out.data_crc32()));
  out.write(path);
}

RunConfig read_checkpoint_config(const std::string& path) {
  SafetensorsReader in(path);
  auto f = in.metadata().find("format");
  PONDER_CHECK(f != in.metadata().end() && f->second == kFormat, path,
               ": not a ponder training checkpoint (metadata format is not ", kFormat, ")");
  return read_config_metadata(in);
}

TrainProgress load_checkpoint(const std::string& path, Model& m, Optimizer& opt, int64_t batch,
                              HostCarry* carry) {
  SafetensorsReader in(path);
  auto f = in.metadata().find("format");
  PONDER_CHECK(f != in.metadata().end() && f->second == kFormat, path,
               ": not a ponder training checkpoint");
  auto sum = in.metadata().find("checksum");
  PONDER_CHECK(sum != in.metadata().end(), path, ": has no checksum");
  const std::string actual = crc_hex(in.data_crc32());
  PONDER_CHECK(actual == sum->second, path, ": checksum mismatch (stored ", sum->second,
               ", data has ", actual, "): the file is corrupted; refusing to resume from it");
  nlohmann::json s;
  try {
    s = nlohmann::json::parse(in.metadata().at("train_state"));
  } catch (const std::exception& e) {
    fail(path, ": train_state metadata is missing or not valid JSON");
  }
  const ModelConfig& c = m.config();
  const int64_t B = s.at("batch").get<int64_t>(), S = c.seq_total(), D = c.hidden_size,
                L = c.seq_len;
  PONDER_CHECK(B == batch, path, ": was written for batch ", B, ", this run uses ", batch);

  load_weights(m, in, is_checkpoint_extra);
  Ops& ops = m.ops();
  const int64_t n = int64_t(m.layout().total());
  Array<float> adam_m = in.read_f32("optimizer.adam_m", {n});
  Array<float> adam_v = in.read_f32("optimizer.adam_v", {n});
  ops.upload(opt.adam_m(), adam_m.data(), size_t(n) * sizeof(float));
  ops.upload(opt.adam_v(), adam_v.data(), size_t(n) * sizeof(float));
  if (opt.ema()) {
    Array<float> ema = in.read_f32("ema", {n});
    ops.upload(opt.ema(), ema.data(), size_t(n) * sizeof(float));
  }
  opt.set_adam_step(float(s.at("adam_step").get<double>()));
  Array<float> zH = in.read_f32("carry.z_H", {B, S, D}), zL = in.read_f32("carry.z_L", {B, S, D});
  Array<int32_t> steps = in.read_i32("carry.steps", {B});
  Array<uint8_t> halted = in.read_u8("carry.halted", {B});
  Array<int32_t> inputs = in.read_i32("carry.inputs", {B, L});
  Array<int32_t> labels = in.read_i32("carry.labels", {B, L});
  Array<int32_t> ids = in.read_i32("carry.puzzle_identifiers", {B});
  carry->B = B;
  carry->zH.assign(zH.begin(), zH.end());
  carry->zL.assign(zL.begin(), zL.end());
  carry->steps.assign(steps.begin(), steps.end());
  carry->halted.assign(halted.begin(), halted.end());
  carry->data.B = B;
  carry->data.L = L;
  carry->data.inputs.assign(inputs.begin(), inputs.end());
  carry->data.labels.assign(labels.begin(), labels.end());
  carry->data.puzzle_ids.assign(ids.begin(), ids.end());

  TrainProgress p;
  p.step = s.at("step").get<int64_t>();
  p.total_steps = s.at("total_steps").get<int64_t>();
  p.batcher.chunk = s.at("chunk").get<int64_t>();
  p.batcher.position = s.at("position").get<int64_t>();
  p.batcher.draws = s.at("draws").get<int64_t>();
  p.elapsed_seconds = s.at("elapsed_seconds").get<double>();
  p.finished = s.at("finished").get<bool>();
  return p;
}

}  // namespace ponder
