#include "model/model.h"

#include <cmath>

#include "core/dtype.h"
#include "core/error.h"
#include "core/rng.h"

namespace ponder {

Schedule make_schedule(const ModelConfig& c) {
  Schedule s;
  const int T = c.H_cycles, n = c.L_cycles;
  if (c.kind == ModelKind::TRM) {
    for (int i = 0; i < T - 1; ++i) {
      for (int j = 0; j < n; ++j) s.no_grad.push_back({0, true});
      s.no_grad.push_back({0, false});
    }
    for (int j = 0; j < n; ++j) s.grad.push_back({0, true});
    s.grad.push_back({0, false});
  } else {
    // One-step gradient: every update but the last L and the last H runs without gradient.
    for (int i = 0; i < T; ++i) {
      for (int j = 0; j < n; ++j)
        if (!(i == T - 1 && j == n - 1)) s.no_grad.push_back({0, true});
      if (i != T - 1) s.no_grad.push_back({1, false});
    }
    s.grad = {{0, true}, {1, false}};
  }
  return s;
}

struct Model::Workspace {
  Ops& ops;
  std::vector<DeviceArray<float>> owned;
  float* take(size_t n) {
    owned.emplace_back(ops, n);
    return owned.back().data();
  }
  explicit Workspace(Ops& o) : ops(o) {}

  int64_t B = 0;
  float* x = nullptr;       // (B·S, D) input embedding
  float* prefix = nullptr;  // (B, ndim)
  float* logits = nullptr;  // (B, L, V)
  float* q = nullptr;       // (B, 2)
  float* tmp = nullptr;     // (B·S, D)
  CallActs scratch;         // no-grad calls: one set of buffers, reused by every block
  int64_t chunk_rows = 0;   // rows per pass in the no-grad calls, what `scratch` is sized for
  // gradient cycle, allocated on the first forward(grad)
  bool has_grad = false;
  std::vector<CallActs> saved;
  BackwardScratch bs;
  float *dzH = nullptr, *dzL = nullptr, *dx = nullptr, *dA = nullptr, *dB = nullptr;

  BlockActs block_acts(const Dims& d) {
    const size_t T = size_t(d.T()), D = size_t(d.D);
    BlockActs a;
    if (d.mlp_t) {
      a.gt = take(size_t(d.pass_items() * 2 * d.It * d.D));
      a.at = take(size_t(d.pass_items() * d.It * d.D));
      a.r1 = take(size_t(d.B * d.D));
    } else {
      a.qkv = take(T * 3 * D);
      a.lse = take(size_t(d.B * d.H * d.S));
      a.attn = take(T * D);
      a.r1 = take(T);
    }
    a.h1 = take(T * D);
    a.gu = take(size_t(d.pass_rows() * 2 * d.I));
    a.act = take(size_t(d.pass_rows() * d.I));
    a.h2 = take(T * D);
    a.r2 = take(T);
    return a;
  }
};

Model::Model(Ops& ops, const ModelConfig& c)
    : ops_(ops), cfg_(c), layout_(c), schedule_(make_schedule(c)) {
  validate(cfg_, "config");
  params_ = DeviceArray<float>(ops_, layout_.total());
  table_ = DeviceArray<float>(
      ops_, size_t(cfg_.num_puzzle_identifiers) * size_t(std::max(cfg_.puzzle_emb_ndim, 0)));
  H_init_ = DeviceArray<float>(ops_, size_t(cfg_.hidden_size));
  L_init_ = DeviceArray<float>(ops_, size_t(cfg_.hidden_size));
  w_ = bind_params(cfg_, layout_, params_.data());
  if (cfg_.pos_encodings == PosEncoding::Rope && !cfg_.mlp_t) {
    // Tables as the reference builds them, in fp32: inv_freq = 1/θ^(2k/hd), angle = p·inv_freq,
    // and dimension j uses frequency j mod hd/2 (rotate-half layout).
    const int S = cfg_.seq_total(), hd = cfg_.head_dim();
    Array<float> cs(size_t(S * hd)), sn(size_t(S * hd));
    for (int k = 0; k < hd / 2; ++k) {
      const float inv = 1.0f / std::pow(float(cfg_.rope_theta), float(2 * k) / float(hd));
      for (int p = 0; p < S; ++p) {
        const float angle = float(p) * inv;
        cs[size_t(p * hd + k)] = cs[size_t(p * hd + k + hd / 2)] = std::cos(angle);
        sn[size_t(p * hd + k)] = sn[size_t(p * hd + k + hd / 2)] = std::sin(angle);
      }
    }
    rope_cos_ = DeviceArray<float>(ops_, cs.size());
    rope_sin_ = DeviceArray<float>(ops_, sn.size());
    rope_cos_.upload(cs.data(), cs.size());
    rope_sin_.upload(sn.data(), sn.size());
  }
}

Model::~Model() = default;

Dims Model::dims(int64_t B) const {
  Dims d;
  d.B = B;
  d.S = cfg_.seq_total();
  d.D = cfg_.hidden_size;
  d.H = cfg_.num_heads;
  d.hd = cfg_.head_dim();
  d.I = cfg_.mlp_inter();
  d.It = cfg_.mlp_t ? cfg_.mlp_t_inter() : 0;
  d.L = cfg_.seq_len;
  d.P = cfg_.prefix_len();
  d.V = cfg_.vocab_size;
  d.ndim = std::max(cfg_.puzzle_emb_ndim, 0);
  d.eps = float(cfg_.rms_norm_eps);
  d.mlp_t = cfg_.mlp_t;
  return d;
}

void Model::init_weights(uint64_t seed) {
  Array<float> host(layout_.total());
  const auto& ps = layout_.params();
  for (size_t i = 0; i < ps.size(); ++i) {
    const ParamInfo& p = ps[i];
    float* dst = host.data() + p.offset;
    if (p.init_std > 0) {
      fill_truncated_normal(dst, p.numel, p.init_std, RandomStream(seed, 0x100 + i));
    } else {
      for (size_t j = 0; j < p.numel; ++j) dst[j] = p.init_value;
    }
  }
  params_.upload(host.data(), host.size());
  ops_.fill(table_.data(), 0.0f, table_.size());
  Array<float> init(size_t(cfg_.hidden_size));
  for (int which = 0; which < 2; ++which) {
    fill_truncated_normal(init.data(), init.size(), 1.0, RandomStream(seed, 1 + which));
    if (cfg_.forward_bf16())
      for (float& v : init) v = round_to_bf16(v);
    (which == 0 ? H_init_ : L_init_).upload(init.data(), init.size());
  }
  params_changed();
}

Model::Workspace& Model::workspace(int64_t B, bool grad) {
  auto& slot = workspaces_[B];
  const Dims d = dims(B);
  const size_t T = size_t(d.T()), D = size_t(d.D);
  if (!slot) {
    slot = std::make_unique<Workspace>(ops_);
    Workspace& ws = *slot;
    ws.B = B;
    ws.x = ws.take(T * D);
    ws.prefix = d.ndim ? ws.take(size_t(B * d.ndim)) : nullptr;
    ws.logits = ws.take(size_t(B * d.L * d.V));
    ws.q = ws.take(size_t(B * 2));
    ws.tmp = ws.take(T * D);
    ws.scratch.h0 = ws.take(T * D);
    ws.chunk_rows = ops_.no_grad_chunk_rows();
    Dims no_grad = d;
    no_grad.chunk_rows = ws.chunk_rows;
    ws.scratch.blocks.push_back(ws.block_acts(no_grad));
  }
  Workspace& ws = *slot;
  if (grad && !ws.has_grad) {
    ws.has_grad = true;
    for (const NetCall& call : schedule_.grad) {
      CallActs c;
      c.h0 = ws.take(T * D);
      const int layers = call.net == 0 ? cfg_.L_layers : cfg_.H_layers;
      for (int l = 0; l < layers; ++l) c.blocks.push_back(ws.block_acts(d));
      ws.saved.push_back(std::move(c));
    }
    ws.bs.d1 = ws.take(T * D);
    ws.bs.dmix = ws.take(T * D);
    ws.bs.dqkv = d.mlp_t ? nullptr : ws.take(T * 3 * D);
    ws.bs.dgu = ws.take(std::max(T * 2 * size_t(d.I), size_t(d.B * 2 * d.It * d.D)));
    ws.bs.dact = ws.take(std::max(T * size_t(d.I), size_t(d.B * d.It * d.D)));
    ws.dzH = ws.take(T * D);
    ws.dzL = ws.take(T * D);
    ws.dx = ws.take(T * D);
    ws.dA = ws.take(T * D);
    ws.dB = ws.take(T * D);
  }
  return ws;
}

void Model::run_call(const NetCall& call, const Dims& d, Workspace& ws, float* zH, float* zL,
                     CallActs* saved) {
  const size_t n = size_t(d.T() * d.D);
  CallActs& c = saved ? *saved : ws.scratch;
  Dims dc = d;  // the no-grad scratch holds one pass of the wide intermediates (block_acts)
  if (!saved) dc.chunk_rows = ws.chunk_rows;
  if (call.latent) {
    ops_.add(c.h0, zH, ws.x, n);  // the reference adds (z_H + x) first, then z_L
    ops_.add(c.h0, zL, c.h0, n);
  } else {
    ops_.add(c.h0, zH, zL, n);
  }
  const auto& blocks = call.net == 0 ? w_.L_blocks : w_.H_blocks;
  const Rope rope{rope_cos_.data(), rope_sin_.data()};
  const float* in = c.h0;
  for (size_t l = 0; l < blocks.size(); ++l) {
    BlockActs& a = saved ? c.blocks[l] : c.blocks[0];
    block_forward(ops_, dc, blocks[l], rope, in, a, ws.tmp);
    in = a.h2;
  }
  ops_.copy(call.latent ? zL : zH, in, n * sizeof(float));
}

void Model::forward(float* zH, float* zL, const int32_t* tokens, const int32_t* puzzle_ids,
                    int64_t B, bool grad) {
  Workspace& ws = workspace(B, grad);
  const Dims d = dims(B);
  if (d.ndim) ops_.gather_rows(ws.prefix, table_.data(), puzzle_ids, B, d.ndim);
  embedding_forward(ops_, d, w_, ws.prefix, tokens, ws.x);
  for (const NetCall& call : schedule_.no_grad) run_call(call, d, ws, zH, zL, nullptr);
  for (size_t i = 0; i < schedule_.grad.size(); ++i)
    run_call(schedule_.grad[i], d, ws, zH, zL, grad ? &ws.saved[i] : nullptr);
  heads_forward(ops_, d, w_, zH, ws.logits, ws.q);
  if (grad) {
    last_grad_ = &ws;
    last_tokens_ = tokens;
  }
}

const float* Model::logits(int64_t B) { return workspace(B, false).logits; }
const float* Model::q(int64_t B) { return workspace(B, false).q; }

const float* Model::net_backward(const NetCall& call, const Dims& d, Workspace& ws, CallActs& c,
                                 const float* dout, ModelParams& g) {
  const auto& blocks = call.net == 0 ? w_.L_blocks : w_.H_blocks;
  auto& gblocks = call.net == 0 ? g.L_blocks : g.H_blocks;
  const Rope rope{rope_cos_.data(), rope_sin_.data()};
  const float* cur = dout;
  for (size_t l = blocks.size(); l-- > 0;) {
    const float* in = l == 0 ? c.h0 : c.blocks[l - 1].h2;
    float* dst = cur == ws.dA ? ws.dB : ws.dA;
    block_backward(ops_, d, blocks[l], gblocks[l], rope, in, c.blocks[l], cur, dst, ws.bs);
    cur = dst;
  }
  return cur;
}

void Model::backward(const float* dlogits, const float* dq, float* grads, float* dprefix) {
  PONDER_CHECK(last_grad_, "internal: Model::backward without a forward(grad = true)");
  Workspace& ws = *last_grad_;
  const Dims d = dims(ws.B);
  const size_t n = size_t(d.T() * d.D);
  ModelParams g = bind_params(cfg_, layout_, grads);
  // Both schedules end with the answer update, whose output is the z_H the heads read.
  const float* zH = ws.saved.back().blocks.back().h2;
  heads_backward(ops_, d, w_, g, zH, dlogits, dq, ws.dzH);
  ops_.fill(ws.dzL, 0.0f, n);
  ops_.fill(ws.dx, 0.0f, n);
  // Walking the calls backwards, dz_L and dz_H hold the gradient of the current value of each
  // state; a call's input gradient flows to its own state and to every injected term.
  for (size_t i = schedule_.grad.size(); i-- > 0;) {
    const NetCall& call = schedule_.grad[i];
    const float* dh0 = net_backward(call, d, ws, ws.saved[i], call.latent ? ws.dzL : ws.dzH, g);
    if (call.latent) {
      ops_.copy(ws.dzL, dh0, n * sizeof(float));
      ops_.add_inplace(ws.dzH, dh0, n);
      ops_.add_inplace(ws.dx, dh0, n);
    } else {
      ops_.copy(ws.dzH, dh0, n * sizeof(float));
      ops_.add_inplace(ws.dzL, dh0, n);
    }
  }
  embedding_backward(ops_, d, g, last_tokens_, ws.dx, dprefix);
  last_grad_ = nullptr;
}

}  // namespace ponder
