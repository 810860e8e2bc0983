#include "model/weights_io.h"

#include <set>

#include "core/error.h"

namespace ponder {

HostWeights download_weights(Model& m) {
  HostWeights w;
  w.params = Array<float>(m.layout().total());
  m.ops().download(w.params.data(), m.params(), w.params.size() * sizeof(float));
  w.table = Array<float>(m.puzzle_table_size());
  m.ops().download(w.table.data(), m.puzzle_table(), w.table.size() * sizeof(float));
  const size_t D = size_t(m.config().hidden_size);
  w.H_init = Array<float>(D);
  w.L_init = Array<float>(D);
  m.ops().download(w.H_init.data(), m.H_init(), D * sizeof(float));
  m.ops().download(w.L_init.data(), m.L_init(), D * sizeof(float));
  return w;
}

void add_weights(const Model& m, const HostWeights& w, SafetensorsWriter& out,
                 const std::string& prefix) {
  const ModelConfig& c = m.config();
  for (const ParamInfo& p : m.layout().params())
    out.add(prefix + p.name, DType::F32, p.shape, w.params.data() + p.offset);
  if (c.puzzle_emb_ndim > 0)
    out.add("puzzle_emb.weights", DType::F32,
            {c.num_puzzle_identifiers, c.puzzle_emb_ndim}, w.table.data());
  const DType init_dtype = c.forward_bf16() ? DType::BF16 : DType::F32;
  out.add_f32_as("H_init", init_dtype, {c.hidden_size}, w.H_init.data());
  out.add_f32_as("L_init", init_dtype, {c.hidden_size}, w.L_init.data());
}

Array<float> read_param_buffer(const Model& m, const SafetensorsReader& in,
                               const std::string& prefix) {
  Array<float> buf(m.layout().total());
  for (const ParamInfo& p : m.layout().params()) {
    Array<float> t = in.read_f32(prefix + p.name, p.shape);
    std::copy(t.begin(), t.end(), buf.data() + p.offset);
  }
  return buf;
}

void load_weights(Model& m, const SafetensorsReader& in,
                  const std::function<bool(const std::string&)>& is_extra) {
  const ModelConfig& c = m.config();
  std::set<std::string> known;
  for (const ParamInfo& p : m.layout().params()) known.insert(p.name);
  known.insert("H_init");
  known.insert("L_init");
  if (c.puzzle_emb_ndim > 0) known.insert("puzzle_emb.weights");
  for (const TensorInfo& t : in.tensors())
    PONDER_CHECK(known.count(t.name) || (is_extra && is_extra(t.name)), in.path(),
                 ": unknown tensor '", t.name, "' for a ", to_string(c.kind), " model with this config");

  Array<float> params = read_param_buffer(m, in, "");
  m.ops().upload(m.params(), params.data(), params.size() * sizeof(float));
  if (c.puzzle_emb_ndim > 0) {
    Array<float> table =
        in.read_f32("puzzle_emb.weights", {c.num_puzzle_identifiers, c.puzzle_emb_ndim});
    m.ops().upload(m.puzzle_table(), table.data(), table.size() * sizeof(float));
  }
  Array<float> h = in.read_f32("H_init", {c.hidden_size});
  Array<float> l = in.read_f32("L_init", {c.hidden_size});
  m.ops().upload(m.H_init(), h.data(), h.size() * sizeof(float));
  m.ops().upload(m.L_init(), l.data(), l.size() * sizeof(float));
  m.params_changed();
}

}  // namespace ponder
