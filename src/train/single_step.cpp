#include "train/single_step.h"

#include <cmath>
#include <set>

#include "core/error.h"
#include "train/optimizer.h"

namespace ponder {

StepInput read_step_input(const std::string& path, const ModelConfig& c) {
  SafetensorsReader in(path);
  static const std::set<std::string> kNames = {"inputs", "labels", "puzzle_identifiers",
                                               "z_H",    "z_L",    "steps",
                                               "halted"};
  for (const TensorInfo& t : in.tensors())
    PONDER_CHECK(kNames.count(t.name), path, ": unknown tensor '", t.name,
                 "' (a batch holds inputs, labels, puzzle_identifiers and optionally the carry "
                 "z_H, z_L, steps, halted)");
  in.expect("inputs", {DType::I32}, {});
  const Shape& shape = in.info("inputs").shape;
  PONDER_CHECK(shape.size() == 2 && shape[0] >= 1 && shape[1] == c.seq_len, path,
               ": tensor 'inputs' has shape ", shape_str(shape), ", expected [B, ", c.seq_len,
               "] (seq_len of the model)");
  const int64_t B = shape[0], L = c.seq_len;
  StepInput s;
  s.batch.B = B;
  s.batch.L = L;
  Array<int32_t> inputs = in.read_i32("inputs", {B, L});
  Array<int32_t> labels = in.read_i32("labels", {B, L});
  Array<int32_t> ids = in.read_i32("puzzle_identifiers", {B});
  for (int64_t i = 0; i < B * L; ++i) {
    PONDER_CHECK(inputs[size_t(i)] >= 0 && inputs[size_t(i)] < c.vocab_size, path, ": inputs[",
                 i / L, ", ", i % L, "] = ", inputs[size_t(i)], " is outside the vocabulary [0, ",
                 c.vocab_size, ")");
    const int32_t y = labels[size_t(i)];
    PONDER_CHECK(y == -100 || (y >= 0 && y < c.vocab_size), path, ": labels[", i / L, ", ",
                 i % L, "] = ", y, " is neither -100 (ignored) nor in [0, ", c.vocab_size, ")");
  }
  for (int64_t b = 0; b < B; ++b)
    PONDER_CHECK(ids[size_t(b)] >= 0 && ids[size_t(b)] < c.num_puzzle_identifiers, path,
                 ": puzzle_identifiers[", b, "] = ", ids[size_t(b)], " is outside [0, ",
                 c.num_puzzle_identifiers, ")");
  s.batch.inputs.assign(inputs.begin(), inputs.end());
  s.batch.labels.assign(labels.begin(), labels.end());
  s.batch.puzzle_ids.assign(ids.begin(), ids.end());

  const char* carry_names[] = {"z_H", "z_L", "steps", "halted"};
  int present = 0;
  for (const char* n : carry_names) present += in.has(n);
  if (present == 0) return s;
  for (const char* n : carry_names)
    PONDER_CHECK(in.has(n), path, ": the carry tensors z_H, z_L, steps and halted come together; '",
                 n, "' is missing");
  const int64_t S = c.seq_total(), D = c.hidden_size;
  s.has_carry = true;
  s.zH = in.read_f32("z_H", {B, S, D});
  s.zL = in.read_f32("z_L", {B, S, D});
  for (const Array<float>* z : {&s.zH, &s.zL})
    for (float v : *z) PONDER_CHECK(std::isfinite(v), path, ": the carry holds non-finite values");
  Array<int32_t> steps = in.read_i32("steps", {B});
  Array<uint8_t> halted = in.read_u8("halted", {B});
  for (int64_t b = 0; b < B; ++b) {
    PONDER_CHECK(steps[size_t(b)] >= 0, path, ": steps[", b, "] = ", steps[size_t(b)], " is negative");
    PONDER_CHECK(halted[size_t(b)] <= 1, path, ": halted[", b, "] = ", int(halted[size_t(b)]),
                 " is not 0 or 1");
  }
  s.steps.assign(steps.begin(), steps.end());
  s.halted.assign(halted.begin(), halted.end());
  return s;
}

namespace {

void put_step_outputs(TensorMap& out, Model& m, const Carry& carry, const StepResult& r,
                      double grad_scale) {
  const ModelConfig& c = m.config();
  const int64_t B = carry.B, L = c.seq_len, V = c.vocab_size, S = c.seq_total(),
                D = c.hidden_size;
  out["logits"] = HostTensor::f32({B, L, V}, r.logits.data());
  out["q_halt"] = HostTensor::f32({B}, r.q_halt.data());
  out["q_continue"] = HostTensor::f32({B}, r.q_continue.data());
  if (!r.target_q_continue.empty())
    out["target_q_continue"] = HostTensor::f32({B}, r.target_q_continue.data());
  out["loss"] = HostTensor::scalar(float(r.loss.total * grad_scale));
  out["preds"] = HostTensor::i32({B, L}, r.loss.preds.data());
  Array<float> z(carry.zH.size());
  carry.zH.download(z.data(), z.size());
  out["z_H"] = HostTensor::f32({B, S, D}, z.data());
  carry.zL.download(z.data(), z.size());
  out["z_L"] = HostTensor::f32({B, S, D}, z.data());
  out["steps"] = HostTensor::i32({B}, carry.steps.data());
  out["halted"] = HostTensor::u8({B}, carry.halted.data());
  const LossMetrics& mt = r.loss.metrics;
  const std::pair<const char*, double> metrics[] = {
      {"count", mt.count},       {"accuracy", mt.accuracy}, {"exact_accuracy", mt.exact_accuracy},
      {"q_halt_accuracy", mt.q_halt_accuracy}, {"steps", mt.steps}, {"lm_loss", mt.lm_loss},
      {"q_halt_loss", mt.q_halt_loss}};
  for (const auto& [name, v] : metrics) out[std::string("metrics.") + name] = HostTensor::scalar(float(v));
  if (!r.target_q_continue.empty())
    out["metrics.q_continue_loss"] = HostTensor::scalar(float(mt.q_continue_loss));
}

void put_params(TensorMap& out, const std::string& prefix, const Model& m, const float* device,
                Ops& ops) {
  Array<float> host(m.layout().total());
  ops.download(host.data(), device, host.size() * sizeof(float));
  for (const ParamInfo& p : m.layout().params())
    out[prefix + p.name] = HostTensor::f32(p.shape, host.data() + p.offset);
}

}  // namespace

TensorMap run_single_step(Model& m, const TrainConfig& t, const StepInput& in,
                          const SingleStepOptions& o) {
  const ModelConfig& c = m.config();
  Ops& ops = m.ops();
  const int64_t B = in.batch.B;
  PONDER_CHECK(!(o.eval && o.optimizer_steps > 0), "--eval and --optimizer-steps exclude each other");
  PONDER_CHECK(o.chain >= 1, "--chain must be at least 1");
  PONDER_CHECK(o.eval || o.chain == 1, "--chain applies to --eval only");
  PONDER_CHECK(o.optimizer_steps >= 0, "--optimizer-steps must not be negative");

  Carry carry = make_carry(m, B);
  if (in.has_carry) {
    carry.zH.upload(in.zH.data(), in.zH.size());
    carry.zL.upload(in.zL.data(), in.zL.size());
    carry.steps = in.steps;
    carry.halted = in.halted;
    carry.data = in.batch;
  }
  const double grad_scale = 1.0 / double(t.global_batch_size.value_or(int(B)));
  TensorMap out;

  if (o.eval) {
    StepOptions so;
    so.train = false;
    so.backward = false;
    so.grad_scale = grad_scale;
    StepResult r;
    for (int i = 0; i < o.chain; ++i) r = supervision_step(m, carry, in.batch, so, nullptr);
    put_step_outputs(out, m, carry, r, grad_scale);
    return out;
  }

  Optimizer opt(m, t);
  StepOptions so;
  so.train = true;
  so.explore = false;
  so.backward = true;
  so.grad_scale = grad_scale;
  const int iterations = std::max(1, o.optimizer_steps);
  for (int k = 1; k <= iterations; ++k) {
    opt.zero_grad();
    StepResult r = supervision_step(m, carry, in.batch, so, opt.grads());
    if (k == 1) {
      put_step_outputs(out, m, carry, r, grad_scale);
      put_params(out, "grad.", m, opt.grads(), ops);
      if (c.puzzle_emb_ndim > 0)
        out["grad.puzzle_emb.rows"] = HostTensor::f32({B, c.puzzle_emb_ndim}, r.dprefix.data());
    }
    if (o.optimizer_steps > 0) opt.update(k, o.optimizer_steps, carry.data.puzzle_ids, r.dprefix.data());
  }
  if (o.optimizer_steps > 0) {
    put_params(out, "param.", m, m.params(), ops);
    if (c.puzzle_emb_ndim > 0) {
      Array<float> table(m.puzzle_table_size());
      ops.download(table.data(), m.puzzle_table(), table.size() * sizeof(float));
      out["param.puzzle_emb.weights"] =
          HostTensor::f32({c.num_puzzle_identifiers, c.puzzle_emb_ndim}, table.data());
    }
    if (t.ema) put_params(out, "ema.", m, opt.ema(), ops);
  }
  return out;
}

}  // namespace ponder
