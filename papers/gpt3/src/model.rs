//! The GPT-2 / GPT-3 decoder (GPT-3 §2.1: "the same model and architecture as GPT-2"), in burn.
//!
//! Read it next to GPT-2 §2.3 and GPT-3 §2.1: token + learned position embeddings, then N
//! pre-LN blocks (LayerNorm moved to each sub-block's input, GPT-2 §2.3) of causal multi-head
//! self-attention and a GELU feed-forward of 4·d, a final LayerNorm, and the output layer tied to
//! the token embeddings. Initialisation as GPT-2: N(0, 0.02²), the residual projections scaled by
//! 1/√(2N) ("we scale the weights of residual layers at initialization by a factor of 1/√N where
//! N is the number of residual layers"). GPT-3's alternating locally banded sparse attention is
//! not built: at context 128 a band would cover most of the window.
//!
//! Field names follow Hugging Face's GPT-2 checkpoints (`wte`, `h.{i}.attn.c_attn`, …) so that
//! [`crate::hf`] maps a downloaded GPT-2 onto this model name for name. GPT-2's `Conv1D` stores
//! its weight as (in, out), which is burn's `Linear` layout too: no weight is transposed.
//!
//! Shapes: `B` batch, `T` positions, `d` width (`n_embd`), `h` heads, `V` vocabulary.

use burn::module::{Module, Param};
use burn::nn::{
    Embedding, EmbeddingConfig, Initializer, LayerNorm, LayerNormConfig, Linear, LinearConfig,
};
use burn::tensor::{Bool, Device, Int, Tensor, TensorData};
use repro_core::determinism::Dropout;
use repro_kernels::{Hidden, attention, gelu, layer_norm, linear, matmul, packed_attention};
use serde::{Deserialize, Serialize};

/// Hyperparameters, named as Hugging Face's GPT-2 `config.json` (which parses into it); GPT-3
/// Table 2.1's symbols in brackets.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GptConfig {
    /// Byte-level BPE vocabulary (GPT-2/3: 50,257).
    pub vocab_size: usize,
    /// Context window [n_ctx] (GPT-3: 2048; GPT-2: 1024).
    pub n_positions: usize,
    /// Width [d_model] (GPT-3 Small: 768).
    pub n_embd: usize,
    /// Blocks [n_layers] (GPT-3 Small: 12).
    pub n_layer: usize,
    /// Heads [n_heads] (GPT-3 Small: 12).
    pub n_head: usize,
    /// Feed-forward width [d_ff = 4·d_model]; `None` is 4·`n_embd`, as Hugging Face.
    #[serde(default)]
    pub n_inner: Option<usize>,
    /// `gelu` (erf) or `gelu_new` (GPT-2's tanh approximation; `gelu_pytorch_tanh` is the same
    /// function under PyTorch's name).
    #[serde(default = "gelu_new")]
    pub activation_function: String,
    /// Dropout on every residual branch's output.
    #[serde(default = "point_one")]
    pub resid_pdrop: f64,
    /// Dropout on the embeddings' sum.
    #[serde(default = "point_one")]
    pub embd_pdrop: f64,
    /// Dropout on the attention weights.
    #[serde(default = "point_one")]
    pub attn_pdrop: f64,
    /// LayerNorm epsilon (GPT-2: 1e-5).
    #[serde(default = "layer_norm_epsilon")]
    pub layer_norm_epsilon: f64,
}

fn gelu_new() -> String {
    "gelu_new".into()
}
fn point_one() -> f64 {
    0.1
}
fn layer_norm_epsilon() -> f64 {
    1e-5
}

impl GptConfig {
    /// A model of `n_layer` blocks of width `n_embd` with `n_head` heads, d_ff = 4·d, as Table 2.1
    /// sizes them. Our own models use the erf GELU (one fused kernel; it differs from the tanh
    /// form by under 1e-3).
    pub fn sized(
        vocab_size: usize,
        n_positions: usize,
        n_layer: usize,
        n_embd: usize,
        n_head: usize,
        dropout: f64,
    ) -> Self {
        Self {
            vocab_size,
            n_positions,
            n_embd,
            n_layer,
            n_head,
            n_inner: None,
            activation_function: "gelu".into(),
            resid_pdrop: dropout,
            embd_pdrop: dropout,
            attn_pdrop: dropout,
            layer_norm_epsilon: 1e-5,
        }
    }

    /// The feed-forward width.
    pub fn d_ff(&self) -> usize {
        self.n_inner.unwrap_or(4 * self.n_embd)
    }

    /// Checks what the forward pass relies on, naming the field.
    pub fn validate(&self) -> anyhow::Result<()> {
        anyhow::ensure!(self.vocab_size > 0, "vocab_size must be positive");
        anyhow::ensure!(self.n_layer > 0, "n_layer must be positive");
        anyhow::ensure!(self.n_positions >= 2, "n_positions must be at least 2");
        anyhow::ensure!(
            self.n_head > 0 && self.n_embd.is_multiple_of(self.n_head),
            "n_embd ({}) must be a multiple of n_head ({})",
            self.n_embd,
            self.n_head
        );
        anyhow::ensure!(
            matches!(
                self.activation_function.as_str(),
                "gelu" | "gelu_new" | "gelu_pytorch_tanh"
            ),
            "activation_function `{}` is not implemented (only `gelu`, `gelu_new` and `gelu_pytorch_tanh`)",
            self.activation_function
        );
        Ok(())
    }

    /// Parameters outside the embeddings (GPT-3 Table 2.1 and scaling laws count these):
    /// 12·n_layer·d² + biases and LayerNorms.
    pub fn non_embedding_parameters(&self) -> usize {
        let d = self.n_embd;
        let f = self.d_ff();
        let block = (d * 3 * d + 3 * d) + (d * d + d) + (d * f + f) + (f * d + d) + 4 * d;
        self.n_layer * block + 2 * d
    }

    /// Builds the model on `device` (use [`repro_core::determinism::init_on_cpu`] for seeded
    /// weights).
    pub fn init(&self, device: &Device) -> Gpt {
        let d = self.n_embd;
        // GPT-2 §2.3: residual projections at 1/√(2·n_layer) of the base scale.
        let residual_std = INIT_STD / ((2 * self.n_layer) as f64).sqrt();
        Gpt {
            wte: embedding(self.vocab_size, d, device),
            wpe: embedding(self.n_positions, d, device),
            h: (0..self.n_layer)
                .map(|_| Block {
                    ln_1: new_layer_norm(self, device),
                    attn: Attention {
                        c_attn: linear_layer(d, 3 * d, INIT_STD, device),
                        c_proj: linear_layer(d, d, residual_std, device),
                        attn_dropout: Dropout::new(self.attn_pdrop),
                        resid_dropout: Dropout::new(self.resid_pdrop),
                        n_head: self.n_head,
                    },
                    ln_2: new_layer_norm(self, device),
                    mlp: Mlp {
                        c_fc: linear_layer(d, self.d_ff(), INIT_STD, device),
                        c_proj: linear_layer(self.d_ff(), d, residual_std, device),
                        dropout: Dropout::new(self.resid_pdrop),
                        tanh_gelu: self.activation_function != "gelu",
                    },
                    epsilon: self.layer_norm_epsilon,
                })
                .collect(),
            ln_f: new_layer_norm(self, device),
            epsilon: self.layer_norm_epsilon,
            drop: Dropout::new(self.embd_pdrop),
        }
    }
}

/// GPT-2's initialiser: N(0, 0.02²), biases zero.
const INIT_STD: f64 = 0.02;

fn linear_layer(d_input: usize, d_output: usize, std: f64, device: &Device) -> Linear {
    let mut layer = LinearConfig::new(d_input, d_output)
        .with_bias(false)
        .with_initializer(Initializer::Normal { mean: 0.0, std })
        .init(device);
    // Zeros built directly: a lazily initialised bias would draw from the global generator
    // outside `init_on_cpu`'s lock.
    layer.bias = Some(Param::from_tensor(Tensor::zeros([d_output], device)));
    layer
}

fn embedding(count: usize, width: usize, device: &Device) -> Embedding {
    EmbeddingConfig::new(count, width)
        .with_initializer(Initializer::Normal {
            mean: 0.0,
            std: INIT_STD,
        })
        .init(device)
}

fn new_layer_norm(config: &GptConfig, device: &Device) -> LayerNorm {
    LayerNormConfig::new(config.n_embd)
        .with_epsilon(config.layer_norm_epsilon)
        .init(device)
}

/// Causal multi-head self-attention with the Q, K, V projections fused into one (`c_attn`).
#[derive(Module, Debug)]
pub struct Attention {
    /// [W^Q W^K W^V] (d, 3d).
    pub c_attn: Linear,
    /// W^O (d, d), a residual projection.
    pub c_proj: Linear,
    attn_dropout: Dropout,
    resid_dropout: Dropout,
    n_head: usize,
}

impl Attention {
    /// Causal self-attention over the rows of `x` (B, T, d): training and scoring. The fused
    /// kernel reads Q, K and V in place from `c_attn`'s output (no split copies).
    fn forward(&self, x: Tensor<3>) -> Tensor<3> {
        let [_, _, width] = x.dims();
        let device = x.device();
        let d_head = width / self.n_head;
        let context = packed_attention(
            linear(x, &self.c_attn),
            self.n_head,
            (d_head as f64).sqrt(),
            true,
            self.attn_dropout.draw(&device),
        );
        self.resid_dropout.forward(linear(context, &self.c_proj))
    }

    /// The rows of `x` (B, T, d) attending over the keys and values of `past` (B, T_past, h,
    /// d_head; incremental decoding) and their own, except the keys `hidden` hides (the
    /// future, or a (B, 1, T, T_past + T) mask); returns the output and the keys and values of
    /// past and `x` together.
    fn attend(
        &self,
        x: Tensor<3>,
        past: Option<(Tensor<4>, Tensor<4>)>,
        hidden: Hidden,
    ) -> (Tensor<3>, (Tensor<4>, Tensor<4>)) {
        let [batch, length, width] = x.dims();
        let d_head = width / self.n_head;
        let device = x.device();
        let qkv = linear(x, &self.c_attn).reshape([batch, length, 3, self.n_head, d_head]);
        let part = |i: usize| -> Tensor<4> {
            qkv.clone()
                .narrow(2, i, 1)
                .reshape([batch, length, self.n_head, d_head]) // (B, T, h, d_head)
        };
        let (query, mut key, mut value) = (part(0), part(1), part(2));
        if let Some((past_key, past_value)) = past {
            key = Tensor::cat(vec![past_key, key], 1);
            value = Tensor::cat(vec![past_value, value], 1);
        }
        // §3.2.1 of "Attention Is All You Need": dropout(softmax(QKᵀ/√d_k))V over the past and
        // present keys, one fused kernel per head on the CPU.
        let context = attention(
            query,
            key.clone(),
            value.clone(),
            (d_head as f64).sqrt(),
            hidden,
            self.attn_dropout.draw(&device),
        )
        .reshape([batch, length, width]);
        let output = self.resid_dropout.forward(linear(context, &self.c_proj));
        (output, (key, value))
    }
}

/// The feed-forward sub-block: d → 4d, GELU, 4d → d.
#[derive(Module, Debug)]
pub struct Mlp {
    /// d → d_ff.
    pub c_fc: Linear,
    /// d_ff → d, a residual projection.
    pub c_proj: Linear,
    dropout: Dropout,
    tanh_gelu: bool,
}

impl Mlp {
    fn forward(&self, x: Tensor<3>) -> Tensor<3> {
        let inner = gelu(linear(x, &self.c_fc), self.tanh_gelu);
        self.dropout.forward(linear(inner, &self.c_proj))
    }
}

/// One pre-LN block (GPT-2 §2.3): `x + Attn(LN(x))`, then `x + MLP(LN(x))`.
#[derive(Module, Debug)]
pub struct Block {
    /// LayerNorm before attention.
    pub ln_1: LayerNorm,
    /// Causal self-attention.
    pub attn: Attention,
    /// LayerNorm before the feed-forward.
    pub ln_2: LayerNorm,
    /// Feed-forward.
    pub mlp: Mlp,
    /// The LayerNorms' ε.
    epsilon: f64,
}

impl Block {
    fn forward(&self, x: Tensor<3>) -> Tensor<3> {
        let x = x.clone() + self.attn.forward(layer_norm(x, &self.ln_1, self.epsilon));
        x.clone() + self.mlp.forward(layer_norm(x, &self.ln_2, self.epsilon))
    }

    /// [`Block::forward`] over cached keys and values ([`Attention::attend`]).
    fn forward_cached(
        &self,
        x: Tensor<3>,
        past: Option<(Tensor<4>, Tensor<4>)>,
        masked: Tensor<4, Bool>,
    ) -> (Tensor<3>, (Tensor<4>, Tensor<4>)) {
        let (attended, keys_values) = self.attn.attend(
            layer_norm(x.clone(), &self.ln_1, self.epsilon),
            past,
            Hidden::Where(masked),
        );
        let x = x + attended;
        (
            x.clone() + self.mlp.forward(layer_norm(x, &self.ln_2, self.epsilon)),
            keys_values,
        )
    }
}

/// What incremental decoding keeps between steps: every block's keys and values (B, T, h, d_head)
/// for the columns read so far, and how many padding columns open each row (rows are
/// left-padded, so that every row's next token is the same column).
pub struct KvCache {
    layers: Vec<(Tensor<4>, Tensor<4>)>,
    pad: Vec<usize>,
    columns: usize,
}

impl KvCache {
    /// An empty cache for rows that start with `pad[r]` padding columns each.
    pub fn new(pad: Vec<usize>) -> Self {
        Self {
            layers: Vec::new(),
            pad,
            columns: 0,
        }
    }

    /// Columns read so far (padding included).
    pub fn columns(&self) -> usize {
        self.columns
    }
}

/// The decoder. Rows may be right-padded freely: under causal attention a position never sees
/// the padding after it.
#[derive(Module, Debug)]
pub struct Gpt {
    /// Token embeddings (V, d), also the output layer (tied).
    pub wte: Embedding,
    /// Learned positions (n_ctx, d).
    pub wpe: Embedding,
    /// The blocks.
    pub h: Vec<Block>,
    /// The final LayerNorm (GPT-2 §2.3: "an additional layer normalization was added after the
    /// final self-attention block").
    pub ln_f: LayerNorm,
    /// `ln_f`'s ε.
    epsilon: f64,
    drop: Dropout,
}

impl Gpt {
    /// The context window.
    pub fn n_positions(&self) -> usize {
        self.wpe.weight.dims()[0]
    }

    /// The vocabulary size.
    pub fn vocab_size(&self) -> usize {
        self.wte.weight.dims()[0]
    }

    /// The final hidden states (B, T, d) of token ids (B, T).
    pub fn hidden(&self, input_ids: Tensor<2, Int>) -> Tensor<3> {
        let [_, length] = input_ids.dims();
        let positions = self.wpe.weight.val();
        let [n_ctx, width] = positions.dims();
        assert!(
            length <= n_ctx,
            "input of {length} tokens exceeds the context window of {n_ctx}"
        );
        let positions = positions.slice([0..length, 0..width]).unsqueeze::<3>();
        let mut x = self.drop.forward(self.wte.forward(input_ids) + positions);
        for block in &self.h {
            x = block.forward(x);
        }
        layer_norm(x, &self.ln_f, self.epsilon)
    }

    /// The final hidden states (B, T, d) of the next T columns of left-padded rows, after the
    /// columns `cache` holds, which it then holds too. Padding is never attended to and a row's
    /// positions count from its first real token, so each row computes what it would alone.
    pub fn hidden_cached(&self, input_ids: Tensor<2, Int>, cache: &mut KvCache) -> Tensor<3> {
        let [batch, length] = input_ids.dims();
        let device = input_ids.device();
        assert_eq!(batch, cache.pad.len(), "a padding count per row");
        let (start, total) = (cache.columns, cache.columns + length);
        let real = total - cache.pad.iter().copied().min().unwrap_or(0);
        assert!(
            real <= self.n_positions(),
            "{real} tokens exceed the context window of {}",
            self.n_positions()
        );
        let mut positions = Vec::with_capacity(batch * length);
        let mut masked = Vec::with_capacity(batch * length * total);
        for &pad in &cache.pad {
            for column in start..total {
                positions.push(column.saturating_sub(pad) as i64);
                masked.extend((0..total).map(|key| key > column || key < pad));
            }
        }
        let positions =
            Tensor::<2, Int>::from_data(TensorData::new(positions, [batch, length]), &device);
        let masked = Tensor::<4, Bool>::from_data(
            TensorData::new(masked, [batch, 1, length, total]),
            &device,
        );
        let mut x = self.wte.forward(input_ids) + self.wpe.forward(positions);
        let mut layers = Vec::with_capacity(self.h.len());
        for (i, block) in self.h.iter().enumerate() {
            let (y, keys_values) =
                block.forward_cached(x, cache.layers.get(i).cloned(), masked.clone());
            x = y;
            layers.push(keys_values);
        }
        cache.layers = layers;
        cache.columns = total;
        layer_norm(x, &self.ln_f, self.epsilon)
    }

    /// Next-token logits (B, T, V): the hidden states times the token embeddings transposed.
    pub fn forward(&self, input_ids: Tensor<2, Int>) -> Tensor<3> {
        let hidden = self.hidden(input_ids);
        let [batch, length, width] = hidden.dims();
        let vocab = self.wte.weight.dims()[0];
        self.logits(hidden.reshape([batch * length, width]))
            .reshape([batch, length, vocab])
    }

    /// Logits (N, V) of final hidden states (N, d): the tied output layer, `h · W_teᵀ`.
    pub fn logits(&self, hidden: Tensor<2>) -> Tensor<2> {
        matmul(hidden, self.wte.weight.val().transpose())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use repro_core::determinism::init_on_cpu;

    fn tiny() -> (Gpt, Device) {
        let device = Device::flex();
        let config = GptConfig::sized(50, 16, 2, 16, 2, 0.0);
        (init_on_cpu(3, &device, |d| config.init(d)), device)
    }

    fn ids(rows: Vec<Vec<i64>>, device: &Device) -> Tensor<2, Int> {
        let [b, t] = [rows.len(), rows[0].len()];
        Tensor::from_data(TensorData::new(rows.concat(), [b, t]), device)
    }

    #[test]
    fn a_position_never_sees_the_future() {
        let (model, device) = tiny();
        let a = model.forward(ids(vec![vec![1, 2, 3, 4, 5]], &device));
        let b = model.forward(ids(vec![vec![1, 2, 3, 9, 9]], &device));
        let prefix = |t: Tensor<3>| {
            t.slice([0..1, 0..3])
                .into_data()
                .try_to_vec::<f32>()
                .unwrap()
        };
        assert_eq!(prefix(a.clone()), prefix(b.clone()));
        let last = |t: Tensor<3>| {
            t.slice([0..1, 3..5])
                .into_data()
                .try_to_vec::<f32>()
                .unwrap()
        };
        assert_ne!(last(a), last(b));
    }

    #[test]
    fn cached_decoding_of_left_padded_rows_computes_each_row_alone() {
        let (model, device) = tiny();
        let rows = [vec![5i64, 6, 7, 8, 9], vec![3i64, 4]];
        let width = 5;
        let pad: Vec<usize> = rows.iter().map(|r| width - r.len()).collect();
        let padded: Vec<Vec<i64>> = rows
            .iter()
            .map(|r| [vec![0; width - r.len()], r.clone()].concat())
            .collect();
        let mut cache = KvCache::new(pad);
        let prompt = model.hidden_cached(ids(padded, &device), &mut cache);
        let step = model.hidden_cached(ids(vec![vec![11], vec![12]], &device), &mut cache);
        assert_eq!(cache.columns(), 6);
        let values = |t: Tensor<3>| t.into_data().try_to_vec::<f32>().unwrap();
        for (r, (row, next)) in rows.iter().zip([11, 12]).enumerate() {
            let alone =
                values(model.hidden(ids(vec![[row.clone(), vec![next]].concat()], &device)));
            let n = row.len();
            // The prompt's last real column and the decoded step, against the unpadded forward.
            let got_prompt = values(prompt.clone().slice([r..r + 1, width - 1..width]));
            let got_step = values(step.clone().slice([r..r + 1, 0..1]));
            for (got, want) in [
                (got_prompt, &alone[(n - 1) * 16..n * 16]),
                (got_step, &alone[n * 16..]),
            ] {
                for (g, w) in got.iter().zip(want) {
                    assert!((g - w).abs() < 1e-5, "row {r}: {g} vs {w}");
                }
            }
        }
    }

    #[test]
    fn the_output_layer_is_the_token_embedding_matrix() {
        let (model, device) = tiny();
        let logits = model.forward(ids(vec![vec![7, 8]], &device));
        let hidden = model.hidden(ids(vec![vec![7, 8]], &device));
        let by_hand = hidden
            .reshape([2, 16])
            .matmul(model.wte.weight.val().transpose());
        let got = logits
            .reshape([2, 50])
            .into_data()
            .try_to_vec::<f32>()
            .unwrap();
        assert_eq!(got, by_hand.into_data().try_to_vec::<f32>().unwrap());
    }

    #[test]
    fn residual_projections_start_smaller_than_the_others() {
        let (model, _) = tiny();
        let std = |t: Tensor<2>| {
            let v = t.into_data().try_to_vec::<f32>().unwrap();
            let n = v.len() as f32;
            let mean = v.iter().sum::<f32>() / n;
            (v.iter().map(|x| (x - mean).powi(2)).sum::<f32>() / n).sqrt()
        };
        let qkv = std(model.h[0].attn.c_attn.weight.val());
        let proj = std(model.h[0].mlp.c_proj.weight.val());
        // 0.02 against 0.02 / √4 = 0.01
        assert!((qkv - 0.02).abs() < 0.002, "{qkv}");
        assert!((proj - 0.01).abs() < 0.001, "{proj}");
    }

    #[test]
    fn non_embedding_parameters_follow_twelve_n_d_squared() {
        // GPT-3 Small: 12 layers × 768 → 12·12·768² ≈ 84.9 M, plus biases and LayerNorms.
        let small = GptConfig::sized(50257, 2048, 12, 768, 12, 0.0);
        let count = small.non_embedding_parameters();
        assert!((84_900_000..85_200_000).contains(&count), "{count}");
        let bad = GptConfig::sized(10, 8, 1, 10, 3, 0.0)
            .validate()
            .unwrap_err();
        assert!(bad.to_string().contains("n_head"), "{bad}");
    }
}
