//! The Transformer of "Attention Is All You Need" (Vaswani et al., 2017), §3, in burn.
//!
//! Read it next to the paper: config first, then the leaf modules (attention §3.2, feed-forward
//! §3.3, positional encoding §3.5), then the encoder and decoder layers (§3.1), then the model with
//! its shared embeddings (§3.4). Post-layer-norm residual blocks exactly as the paper draws them:
//! `LayerNorm(x + Dropout(Sublayer(x)))` (§3.1, §5.4). What it leaves out: attention dropout and
//! checkpoint averaging (neither is in the paper's text for the base model's Table 3 rows).
//!
//! Shapes: `B` batch, `S` source length, `T` target length, `h` heads, `d_k = d_model / h`.

use burn::config::Config;
use burn::module::Module;
use burn::nn::{
    Embedding, EmbeddingConfig, Initializer, LayerNorm, LayerNormConfig, Linear, LinearConfig,
};
use burn::tensor::activation::relu;
use burn::tensor::{Bool, Device, Int, Tensor, TensorData};
use repro_core::data::batch::causal_mask;
pub use repro_core::data::batch::padding_mask;
use repro_core::determinism::Dropout;
use repro_kernels::{Hidden, attention, linear, matmul};

/// How positions enter the model (§3.5 and Table 3 row (E)).
#[derive(Config, Debug, Copy, PartialEq, Eq)]
pub enum PositionalEncoding {
    /// Fixed sines and cosines of geometrically spaced frequencies (§3.5).
    Sinusoidal,
    /// A learned embedding per position (Table 3 (E), citing Gehring et al. 2017).
    Learned,
}

/// Hyperparameters, named by the paper's symbols (Table 3's columns).
#[derive(Config, Debug, PartialEq)]
pub struct TransformerConfig {
    /// Shared source/target BPE vocabulary size (§3.4, §5.1).
    pub vocab_size: usize,
    /// `d_model`: width of every sub-layer output and embedding. Base: 512.
    #[config(default = 512)]
    pub d_model: usize,
    /// `h`: parallel attention heads; `d_k = d_v = d_model / h` (§3.2.2). Base: 8.
    #[config(default = 8)]
    pub n_heads: usize,
    /// `d_ff`: inner width of the position-wise feed-forward network (§3.3). Base: 2048.
    #[config(default = 2048)]
    pub d_ff: usize,
    /// `N`: identical layers in the encoder and in the decoder (§3.1). Base: 6.
    #[config(default = 6)]
    pub n_layers: usize,
    /// `P_drop`: residual and embedding dropout (§5.4). Base: 0.1.
    #[config(default = 0.1)]
    pub dropout: f64,
    /// Longest sequence the positional encoding covers.
    #[config(default = 256)]
    pub max_len: usize,
    /// Sinusoidal (the paper's choice) or learned positions.
    #[config(default = "PositionalEncoding::Sinusoidal")]
    pub positional: PositionalEncoding,
    /// Id of the padding token, never attended to.
    #[config(default = 0)]
    pub pad_id: usize,
}

/// burn's default LayerNorm ε, which the reference tensor2tensor code uses too.
const LAYER_NORM_EPSILON: f64 = 1e-5;

fn layer_norm_module(d_model: usize, device: &Device) -> LayerNorm {
    LayerNormConfig::new(d_model)
        .with_epsilon(LAYER_NORM_EPSILON)
        .init(device)
}

/// Linear layers use Glorot/Xavier uniform initialisation, as the reference tensor2tensor code.
fn linear_layer(d_input: usize, d_output: usize, device: &Device) -> Linear {
    LinearConfig::new(d_input, d_output)
        .with_initializer(Initializer::XavierUniform { gain: 1.0 })
        .init(device)
}

/// Multi-head attention (§3.2.2, Figure 2 right):
/// `MultiHead(Q, K, V) = Concat(head_1, …, head_h) W^O`, `head_i = Attention(Q W_i^Q, K W_i^K, V W_i^V)`.
#[derive(Module, Debug)]
pub struct MultiHeadAttention {
    query: Linear,
    key: Linear,
    value: Linear,
    output: Linear,
    n_heads: usize,
    d_k: usize,
}

impl MultiHeadAttention {
    /// A layer of width `d_model` with `n_heads` heads.
    pub fn new(d_model: usize, n_heads: usize, device: &Device) -> Self {
        assert!(
            d_model.is_multiple_of(n_heads),
            "d_model ({d_model}) must be divisible by h ({n_heads})"
        );
        Self {
            query: linear_layer(d_model, d_model, device),
            key: linear_layer(d_model, d_model, device),
            value: linear_layer(d_model, d_model, device),
            output: linear_layer(d_model, d_model, device),
            n_heads,
            d_k: d_model / n_heads,
        }
    }

    /// Splits the last dimension into heads: (B, L, d_model) → (B, L, h, d_k), without moving
    /// data.
    fn split_heads(&self, x: Tensor<3>) -> Tensor<4> {
        let [batch, length, _] = x.dims();
        x.reshape([batch, length, self.n_heads, self.d_k])
    }

    /// Projects keys and values once, so that incremental decoding can cache them.
    fn project_kv(&self, keys: Tensor<3>, values: Tensor<3>) -> (Tensor<4>, Tensor<4>) {
        (
            self.split_heads(linear(keys, &self.key)),
            self.split_heads(linear(values, &self.value)),
        )
    }

    /// Attention of `queries` (B, T, d_model) over already projected keys/values (B, S, h, d_k).
    /// `mask` (B, 1 or T, S) is true where a query may NOT look.
    fn attend(
        &self,
        queries: Tensor<3>,
        key: Tensor<4>,
        value: Tensor<4>,
        mask: Option<Tensor<3, Bool>>,
    ) -> Tensor<3> {
        let [batch, length, d_model] = queries.dims();
        let query = self.split_heads(linear(queries, &self.query)); // (B, T, h, d_k)
        let hidden = match mask {
            Some(mask) => {
                let [_, rows, keys] = mask.dims();
                Hidden::Where(mask.reshape([batch, 1, rows, keys]))
            }
            None => Hidden::Nothing,
        };
        // Eq. 1, softmax(QKᵀ/√d_k)V per head; dividing by √d_k keeps the dot products from
        // growing with d_k and pushing the softmax into regions of tiny gradients (§3.2.1). On
        // the CPU one fused kernel per head computes it, with a hand-written backward pass.
        let context = attention(query, key, value, (self.d_k as f64).sqrt(), hidden, None)
            .reshape([batch, length, d_model]); // Concat(head_1, …, head_h)
        linear(context, &self.output) // · W^O
    }

    /// Full attention: queries from one sequence over keys/values from another (or the same).
    pub fn forward(
        &self,
        queries: Tensor<3>,
        keys_values: Tensor<3>,
        mask: Option<Tensor<3, Bool>>,
    ) -> Tensor<3> {
        let (key, value) = self.project_kv(keys_values.clone(), keys_values);
        self.attend(queries, key, value, mask)
    }
}

/// `LayerNorm(x)` of a residual sub-layer (§3.1), fused forward and backward on the CPU.
fn norm(x: Tensor<3>, layer_norm: &LayerNorm) -> Tensor<3> {
    repro_kernels::layer_norm(x, layer_norm, LAYER_NORM_EPSILON)
}

/// Position-wise feed-forward network (§3.3, Eq. 2): `FFN(x) = max(0, x W_1 + b_1) W_2 + b_2`.
#[derive(Module, Debug)]
pub struct PositionWiseFeedForward {
    inner: Linear,
    outer: Linear,
}

impl PositionWiseFeedForward {
    fn new(d_model: usize, d_ff: usize, device: &Device) -> Self {
        Self {
            inner: linear_layer(d_model, d_ff, device),
            outer: linear_layer(d_ff, d_model, device),
        }
    }

    fn forward(&self, x: Tensor<3>) -> Tensor<3> {
        linear(relu(linear(x, &self.inner)), &self.outer)
    }
}

/// The sinusoidal table of §3.5: `PE(pos, 2i) = sin(pos / 10000^(2i/d_model))`,
/// `PE(pos, 2i+1) = cos(pos / 10000^(2i/d_model))`. Shape (max_len, d_model).
pub fn sinusoidal_table(max_len: usize, d_model: usize) -> Vec<f32> {
    let mut table = vec![0.0f32; max_len * d_model];
    for position in 0..max_len {
        for i in 0..d_model.div_ceil(2) {
            let angle = position as f64 / 10000f64.powf(2.0 * i as f64 / d_model as f64);
            table[position * d_model + 2 * i] = angle.sin() as f32;
            if 2 * i + 1 < d_model {
                table[position * d_model + 2 * i + 1] = angle.cos() as f32;
            }
        }
    }
    table
}

/// Adds position information to embeddings (§3.5): fixed sinusoids or a learned table.
#[derive(Module, Debug)]
pub struct Positions {
    /// Learned positions (Table 3 (E)); `None` for sinusoids.
    learned: Option<Embedding>,
    /// The fixed table, a constant (not a parameter) of shape (max_len, d_model).
    sinusoids: Option<Tensor<2>>,
}

impl Positions {
    fn new(config: &TransformerConfig, device: &Device) -> Self {
        match config.positional {
            PositionalEncoding::Learned => Self {
                learned: Some(
                    EmbeddingConfig::new(config.max_len, config.d_model)
                        .with_initializer(Initializer::Normal {
                            mean: 0.0,
                            std: (config.d_model as f64).powf(-0.5),
                        })
                        .init(device),
                ),
                sinusoids: None,
            },
            PositionalEncoding::Sinusoidal => {
                let table = sinusoidal_table(config.max_len, config.d_model);
                let data = TensorData::new(table, [config.max_len, config.d_model]);
                Self {
                    learned: None,
                    sinusoids: Some(Tensor::from_data(data, device)),
                }
            }
        }
    }

    /// Position vectors for positions `start..start + length`, shape (1, length, d_model).
    fn forward(&self, start: usize, length: usize, device: &Device) -> Tensor<3> {
        let table = match (&self.learned, &self.sinusoids) {
            (Some(embedding), _) => embedding.weight.val(),
            (None, Some(table)) => table.clone(),
            (None, None) => unreachable!("Positions is built with one of the two"),
        };
        let [max_len, d_model] = table.dims();
        assert!(
            start + length <= max_len,
            "sequence of {} tokens exceeds max_len {max_len}",
            start + length
        );
        table
            .to_device(device)
            .slice([start..start + length, 0..d_model])
            .unsqueeze::<3>()
    }
}

/// Encoder layer (§3.1): self-attention, then feed-forward, each wrapped as
/// `LayerNorm(x + Dropout(Sublayer(x)))`.
#[derive(Module, Debug)]
pub struct EncoderLayer {
    self_attention: MultiHeadAttention,
    feed_forward: PositionWiseFeedForward,
    norm_attention: LayerNorm,
    norm_feed_forward: LayerNorm,
    dropout: Dropout,
}

impl EncoderLayer {
    fn new(config: &TransformerConfig, device: &Device) -> Self {
        Self {
            self_attention: MultiHeadAttention::new(config.d_model, config.n_heads, device),
            feed_forward: PositionWiseFeedForward::new(config.d_model, config.d_ff, device),
            norm_attention: layer_norm_module(config.d_model, device),
            norm_feed_forward: layer_norm_module(config.d_model, device),
            dropout: Dropout::new(config.dropout),
        }
    }

    fn forward(&self, x: Tensor<3>, source_mask: Tensor<3, Bool>) -> Tensor<3> {
        let attended = self
            .self_attention
            .forward(x.clone(), x.clone(), Some(source_mask));
        let x = norm(x + self.dropout.forward(attended), &self.norm_attention);
        let fed = self.feed_forward.forward(x.clone());
        norm(x + self.dropout.forward(fed), &self.norm_feed_forward)
    }
}

/// Decoder layer (§3.1): masked self-attention, encoder-decoder attention, feed-forward.
#[derive(Module, Debug)]
pub struct DecoderLayer {
    self_attention: MultiHeadAttention,
    cross_attention: MultiHeadAttention,
    feed_forward: PositionWiseFeedForward,
    norm_self: LayerNorm,
    norm_cross: LayerNorm,
    norm_feed_forward: LayerNorm,
    dropout: Dropout,
}

/// Cached keys/values of one decoder layer for incremental decoding.
#[derive(Clone, Debug)]
pub struct LayerCache {
    /// Self-attention keys and values of the positions decoded so far, (B, t, h, d_k).
    self_kv: Option<(Tensor<4>, Tensor<4>)>,
    /// Encoder-decoder keys and values of the source, (B, S, h, d_k), computed once.
    cross_kv: (Tensor<4>, Tensor<4>),
}

impl DecoderLayer {
    fn new(config: &TransformerConfig, device: &Device) -> Self {
        Self {
            self_attention: MultiHeadAttention::new(config.d_model, config.n_heads, device),
            cross_attention: MultiHeadAttention::new(config.d_model, config.n_heads, device),
            feed_forward: PositionWiseFeedForward::new(config.d_model, config.d_ff, device),
            norm_self: layer_norm_module(config.d_model, device),
            norm_cross: layer_norm_module(config.d_model, device),
            norm_feed_forward: layer_norm_module(config.d_model, device),
            dropout: Dropout::new(config.dropout),
        }
    }

    /// Sub-layers 2 and 3, shared by the full and the incremental pass.
    fn cross_and_feed_forward(
        &self,
        x: Tensor<3>,
        cross_kv: (Tensor<4>, Tensor<4>),
        memory_mask: Tensor<3, Bool>,
    ) -> Tensor<3> {
        let (key, value) = cross_kv;
        let attended = self
            .cross_attention
            .attend(x.clone(), key, value, Some(memory_mask));
        let x = norm(x + self.dropout.forward(attended), &self.norm_cross);
        let fed = self.feed_forward.forward(x.clone());
        norm(x + self.dropout.forward(fed), &self.norm_feed_forward)
    }

    fn forward(
        &self,
        x: Tensor<3>,
        memory: Tensor<3>,
        target_mask: Tensor<3, Bool>,
        memory_mask: Tensor<3, Bool>,
    ) -> Tensor<3> {
        let attended = self
            .self_attention
            .forward(x.clone(), x.clone(), Some(target_mask));
        let x = norm(x + self.dropout.forward(attended), &self.norm_self);
        let cross_kv = self.cross_attention.project_kv(memory.clone(), memory);
        self.cross_and_feed_forward(x, cross_kv, memory_mask)
    }

    /// One new position `x` (B, 1, d_model) attending to the cached prefix and itself.
    fn forward_step(
        &self,
        x: Tensor<3>,
        cache: &mut LayerCache,
        memory_mask: Tensor<3, Bool>,
    ) -> Tensor<3> {
        let (key, value) = self.self_attention.project_kv(x.clone(), x.clone());
        let (key, value) = match cache.self_kv.take() {
            Some((past_key, past_value)) => (
                Tensor::cat(vec![past_key, key], 1),
                Tensor::cat(vec![past_value, value], 1),
            ),
            None => (key, value),
        };
        cache.self_kv = Some((key.clone(), value.clone()));
        // The new position sees every cached one: causality holds by construction.
        let attended = self.self_attention.attend(x.clone(), key, value, None);
        let x = norm(x + self.dropout.forward(attended), &self.norm_self);
        self.cross_and_feed_forward(x, cache.cross_kv.clone(), memory_mask)
    }
}

/// The encoder-decoder Transformer (§3, Figure 1).
#[derive(Module, Debug)]
pub struct Transformer {
    /// One embedding matrix shared by source, target and the pre-softmax projection (§3.4).
    embedding: Embedding,
    positions: Positions,
    encoder: Vec<EncoderLayer>,
    decoder: Vec<DecoderLayer>,
    dropout: Dropout,
    d_model: usize,
    pad_id: usize,
}

impl TransformerConfig {
    /// Builds the model on `device` (call `device.seed(…)` first for reproducible weights).
    pub fn init(&self, device: &Device) -> Transformer {
        Transformer {
            // Scaled by √d_model in the forward pass (§3.4), so initialised with std d_model^-½ to
            // give unit-variance inputs.
            embedding: EmbeddingConfig::new(self.vocab_size, self.d_model)
                .with_initializer(Initializer::Normal {
                    mean: 0.0,
                    std: (self.d_model as f64).powf(-0.5),
                })
                .init(device),
            positions: Positions::new(self, device),
            encoder: (0..self.n_layers)
                .map(|_| EncoderLayer::new(self, device))
                .collect(),
            decoder: (0..self.n_layers)
                .map(|_| DecoderLayer::new(self, device))
                .collect(),
            dropout: Dropout::new(self.dropout),
            d_model: self.d_model,
            pad_id: self.pad_id,
        }
    }
}

impl Transformer {
    /// Token embeddings times √d_model plus positions, then dropout (§3.4, §3.5, §5.4).
    fn embed(&self, tokens: Tensor<2, Int>, start: usize) -> Tensor<3> {
        let [_, length] = tokens.dims();
        let device = tokens.device();
        let embedded = self.embedding.forward(tokens) * (self.d_model as f64).sqrt();
        self.dropout
            .forward(embedded + self.positions.forward(start, length, &device))
    }

    /// Encoder stack: source tokens (B, S) → memory (B, S, d_model).
    pub fn encode(&self, source: Tensor<2, Int>) -> Tensor<3> {
        let mask = padding_mask(&source, self.pad_id);
        let mut x = self.embed(source, 0);
        for layer in &self.encoder {
            x = layer.forward(x, mask.clone());
        }
        x
    }

    /// Pre-softmax projection with the transposed embedding matrix (§3.4): (B, T, d) → (B, T, V).
    fn project(&self, x: Tensor<3>) -> Tensor<3> {
        let [batch, length, d_model] = x.dims();
        let weight = self.embedding.weight.val(); // (V, d_model)
        let vocab = weight.dims()[0];
        matmul(x.reshape([batch * length, d_model]), weight.transpose())
            .reshape([batch, length, vocab])
    }

    /// Teacher-forced decoder: target inputs (B, T) (shifted right, starting with BOS) attend to
    /// the memory; returns logits (B, T, V).
    pub fn decode(
        &self,
        memory: Tensor<3>,
        source: &Tensor<2, Int>,
        target_input: Tensor<2, Int>,
    ) -> Tensor<3> {
        let [batch, length] = target_input.dims();
        let device = target_input.device();
        // A target position may look neither at later positions nor at padding.
        let target_mask = causal_mask(batch, length, &device)
            .bool_or(padding_mask(&target_input, self.pad_id).expand([batch, length, length]));
        let memory_mask = padding_mask(source, self.pad_id);
        let mut x = self.embed(target_input, 0);
        for layer in &self.decoder {
            x = layer.forward(x, memory.clone(), target_mask.clone(), memory_mask.clone());
        }
        self.project(x)
    }

    /// Full forward pass for training: logits (B, T, V).
    pub fn forward(&self, source: Tensor<2, Int>, target_input: Tensor<2, Int>) -> Tensor<3> {
        let memory = self.encode(source.clone());
        self.decode(memory, &source, target_input)
    }

    /// Starts incremental decoding: projects the memory's keys/values once per layer.
    pub fn start_decoding(&self, memory: Tensor<3>) -> Vec<LayerCache> {
        self.decoder
            .iter()
            .map(|layer| LayerCache {
                self_kv: None,
                cross_kv: layer
                    .cross_attention
                    .project_kv(memory.clone(), memory.clone()),
            })
            .collect()
    }

    /// One decoding step: the last tokens (B, 1) at position `position` → logits (B, V).
    /// Equivalent to [`Transformer::decode`]'s last row (tested), at a fraction of the cost.
    pub fn decode_step(
        &self,
        token: Tensor<2, Int>,
        position: usize,
        caches: &mut [LayerCache],
        memory_mask: Tensor<3, Bool>,
    ) -> Tensor<2> {
        let mut x = self.embed(token, position);
        for (layer, cache) in self.decoder.iter().zip(caches.iter_mut()) {
            x = layer.forward_step(x, cache, memory_mask.clone());
        }
        let logits = self.project(x); // (B, 1, V)
        let [batch, _, vocab] = logits.dims();
        logits.reshape([batch, vocab])
    }

    /// Keeps rows `indices` of every cache (beam search reorders hypotheses).
    pub fn reorder_caches(caches: &mut [LayerCache], indices: Tensor<1, Int>) {
        for cache in caches.iter_mut() {
            if let Some((key, value)) = cache.self_kv.take() {
                cache.self_kv = Some((
                    key.select(0, indices.clone()),
                    value.select(0, indices.clone()),
                ));
            }
            let (key, value) = cache.cross_kv.clone();
            cache.cross_kv = (
                key.select(0, indices.clone()),
                value.select(0, indices.clone()),
            );
        }
    }

    /// Padding id.
    pub fn pad_id(&self) -> usize {
        self.pad_id
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tiny_model(positional: PositionalEncoding) -> (Transformer, Device) {
        let device = Device::flex();
        device.seed(7);
        let model = TransformerConfig::new(11)
            .with_d_model(16)
            .with_n_heads(4)
            .with_d_ff(32)
            .with_n_layers(2)
            .with_max_len(32)
            .with_positional(positional)
            .init(&device);
        (model, device)
    }

    fn ids(rows: Vec<Vec<i64>>, device: &Device) -> Tensor<2, Int> {
        let width = rows[0].len();
        let count = rows.len();
        Tensor::from_data(TensorData::new(rows.concat(), [count, width]), device)
    }

    fn values<const D: usize>(tensor: Tensor<D>) -> Vec<f32> {
        tensor.into_data().try_to_vec::<f32>().unwrap()
    }

    fn assert_close(a: &[f32], b: &[f32], tolerance: f32) {
        assert_eq!(a.len(), b.len());
        for (i, (x, y)) in a.iter().zip(b).enumerate() {
            assert!((x - y).abs() <= tolerance, "element {i}: {x} vs {y}");
        }
    }

    #[test]
    fn sinusoids_follow_section_3_5() {
        let d_model = 6;
        let table = sinusoidal_table(4, d_model);
        // Position 0: sin(0) = 0 on even dimensions, cos(0) = 1 on odd ones.
        assert_eq!(&table[..6], &[0.0, 1.0, 0.0, 1.0, 0.0, 1.0]);
        // PE(pos=3, 2i=2) = sin(3 / 10000^(2/6)); PE(3, 3) = cos(the same angle).
        let angle = 3.0f64 / 10000f64.powf(2.0 / 6.0);
        assert!((f64::from(table[3 * d_model + 2]) - angle.sin()).abs() < 1e-6);
        assert!((f64::from(table[3 * d_model + 3]) - angle.cos()).abs() < 1e-6);
        // An odd width keeps its last (sine) column.
        assert_eq!(sinusoidal_table(2, 5).len(), 10);
    }

    #[test]
    fn masked_keys_get_zero_attention_weight() {
        let device = Device::flex();
        // Equal scores; one-hot values, so that each output row is the query's weights.
        let query = Tensor::<4>::ones([1, 2, 1, 4], &device);
        let key = Tensor::<4>::ones([1, 3, 1, 4], &device);
        let value = Tensor::<4>::from_data(
            TensorData::new(
                vec![
                    1.0f32, 0.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 0.0, 1.0, 0.0,
                ],
                [1, 3, 1, 4],
            ),
            &device,
        );
        let mask = ids(vec![vec![5, 5, 0]], &device)
            .equal_elem(0)
            .reshape([1, 1, 1, 3]); // key 2 is padding
        let weights = attention(query, key, value, 2.0, Hidden::Where(mask), None);
        assert_close(
            &values(weights),
            &[0.5, 0.5, 0.0, 0.0, 0.5, 0.5, 0.0, 0.0],
            1e-6,
        );
    }

    #[test]
    fn decoder_never_looks_ahead() {
        let (model, device) = tiny_model(PositionalEncoding::Sinusoidal);
        let source = ids(vec![vec![5, 6, 7, 2]], &device);
        let early = model.forward(source.clone(), ids(vec![vec![1, 4, 5, 6]], &device));
        let changed = model.forward(source, ids(vec![vec![1, 4, 9, 9]], &device));
        // Positions 0 and 1 saw only BOS and token 4, which are the same in both.
        let [_, _, vocab] = early.dims();
        let first_two = |logits: Tensor<3>| values(logits.slice([0..1, 0..2, 0..vocab]));
        assert_close(&first_two(early.clone()), &first_two(changed.clone()), 1e-5);
        assert_ne!(values(early), values(changed));
    }

    #[test]
    fn padding_a_sentence_in_a_batch_changes_nothing() {
        let (model, device) = tiny_model(PositionalEncoding::Learned);
        let alone = model.forward(
            ids(vec![vec![5, 6, 2]], &device),
            ids(vec![vec![1, 7]], &device),
        );
        let batched = model.forward(
            ids(vec![vec![5, 6, 2, 0, 0], vec![8, 9, 10, 6, 2]], &device),
            ids(vec![vec![1, 7, 0], vec![1, 4, 5]], &device),
        );
        let [_, _, vocab] = alone.dims();
        assert_close(
            &values(alone),
            &values(batched.slice([0..1, 0..2, 0..vocab])),
            1e-5,
        );
    }

    #[test]
    fn incremental_decoding_equals_the_full_causal_pass() {
        let (model, device) = tiny_model(PositionalEncoding::Sinusoidal);
        let source = ids(vec![vec![5, 6, 7, 2], vec![8, 2, 0, 0]], &device);
        let target = ids(vec![vec![1, 4, 5, 6], vec![1, 9, 3, 3]], &device);
        let full = model.forward(source.clone(), target.clone());
        let [batch, length, vocab] = full.dims();

        let memory = model.encode(source.clone());
        let memory_mask = padding_mask(&source, model.pad_id());
        let mut caches = model.start_decoding(memory);
        for position in 0..length {
            let token = target.clone().slice([0..batch, position..position + 1]);
            let step = model.decode_step(token, position, &mut caches, memory_mask.clone());
            let expected = full
                .clone()
                .slice([0..batch, position..position + 1, 0..vocab])
                .reshape([batch, vocab]);
            assert_close(&values(step), &values(expected), 1e-4);
        }
    }

    #[test]
    fn output_projection_is_the_shared_embedding() {
        let (model, _) = tiny_model(PositionalEncoding::Sinusoidal);
        // One parameter matrix serves source, target and pre-softmax (§3.4): no separate
        // projection weights exist, so the parameter count is exactly the sum of the parts.
        let d = 16;
        let (vocab, ff, layers) = (11, 32, 2);
        let attention = 4 * (d * d + d);
        let feed_forward = d * ff + ff + ff * d + d;
        let norm = 2 * d;
        let encoder = layers * (attention + feed_forward + 2 * norm);
        let decoder = layers * (2 * attention + feed_forward + 3 * norm);
        assert_eq!(model.num_params(), vocab * d + encoder + decoder);
    }
}
