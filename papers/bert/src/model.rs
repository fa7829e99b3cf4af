//! BERT (Devlin et al., 2018), §3 and Appendix A, in burn.
//!
//! Read it next to the paper: the input representation (§3, Figure 2: token + segment + learned
//! position embeddings, then LayerNorm), the post-LN Transformer encoder of Vaswani et al. with
//! GELU (§3 "Model Architecture", citing the Transformer; Appendix A.2 for GELU), the pooler on
//! [CLS], and the pre-training heads (§3.1): the masked-LM head (a transform with GELU and
//! LayerNorm, then the input embedding matrix transposed plus a bias) and the next-sentence head
//! on the pooled [CLS] vector. Field names follow Google's and Hugging Face's checkpoints, so that
//! [`crate::hf`] maps a downloaded BERT onto this model name for name.
//!
//! One addition: `causal` attention, for the paper's "LTR & No NSP" ablation (Table 5), a
//! left-to-right model of the same architecture ("the left-only constraint was also applied at
//! fine-tuning").
//!
//! Shapes: `B` batch, `T` sequence length, `H` hidden size, `h` heads, `d = H / h`, `V` vocabulary.

use burn::module::{Module, Param};
use burn::nn::{
    Embedding, EmbeddingConfig, Initializer, LayerNorm, LayerNormConfig, Linear, LinearConfig,
};
use burn::tensor::activation::tanh;
use burn::tensor::{Bool, Device, Int, Tensor};
use repro_core::data::batch::{causal_mask, padding_mask};
use repro_core::determinism::Dropout;
use repro_kernels::{Hidden, attention, gelu, layer_norm, linear, matmul};
use serde::{Deserialize, Serialize};

/// Hyperparameters, named as in Hugging Face's `config.json` (so a downloaded `config.json`
/// parses into it); the paper's symbols in brackets.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BertConfig {
    /// WordPiece vocabulary size (BERT: 30,522).
    pub vocab_size: usize,
    /// Hidden size [H] (BERT-base: 768).
    pub hidden_size: usize,
    /// Encoder layers [L] (BERT-base: 12).
    pub num_hidden_layers: usize,
    /// Attention heads [A] (BERT-base: 12).
    pub num_attention_heads: usize,
    /// Feed-forward inner size [4H] (BERT-base: 3072).
    pub intermediate_size: usize,
    /// Longest input (BERT: 512).
    pub max_position_embeddings: usize,
    /// Segment embeddings: A and B (BERT: 2).
    #[serde(default = "two")]
    pub type_vocab_size: usize,
    /// Dropout on every sub-layer output and on the embeddings (BERT: 0.1).
    #[serde(default = "point_one")]
    pub hidden_dropout_prob: f64,
    /// Dropout on the attention weights (BERT: 0.1).
    #[serde(default = "point_one")]
    pub attention_probs_dropout_prob: f64,
    /// LayerNorm epsilon (BERT: 1e-12).
    #[serde(default = "layer_norm_eps")]
    pub layer_norm_eps: f64,
    /// Id of [PAD], never attended to.
    #[serde(default)]
    pub pad_token_id: usize,
    /// The activation (`gelu`, the erf form; the only one this model implements).
    #[serde(default = "gelu_name")]
    pub hidden_act: String,
    /// `absolute` (learned positions, BERT's; the only kind this model implements). Hugging
    /// Face's `relative_key` variants are refused on load rather than silently run as absolute.
    #[serde(default = "absolute_name", skip_serializing_if = "is_absolute")]
    pub position_embedding_type: String,
    /// Left-to-right attention (the LTR ablation of Table 5); BERT itself is bidirectional.
    #[serde(default)]
    pub causal: bool,
}

fn two() -> usize {
    2
}
fn point_one() -> f64 {
    0.1
}
fn layer_norm_eps() -> f64 {
    1e-12
}
fn gelu_name() -> String {
    "gelu".to_string()
}
fn absolute_name() -> String {
    "absolute".to_string()
}
fn is_absolute(kind: &str) -> bool {
    kind == "absolute"
}

impl BertConfig {
    /// A configuration of `L` layers of width `H` with `A` heads, `4H` feed-forward, as Table 6
    /// varies them; dropout 0.1 as the paper.
    pub fn sized(
        vocab_size: usize,
        layers: usize,
        hidden: usize,
        heads: usize,
        max_len: usize,
    ) -> Self {
        Self {
            vocab_size,
            hidden_size: hidden,
            num_hidden_layers: layers,
            num_attention_heads: heads,
            intermediate_size: 4 * hidden,
            max_position_embeddings: max_len,
            type_vocab_size: 2,
            hidden_dropout_prob: 0.1,
            attention_probs_dropout_prob: 0.1,
            layer_norm_eps: 1e-12,
            pad_token_id: 0,
            hidden_act: gelu_name(),
            position_embedding_type: absolute_name(),
            causal: false,
        }
    }

    /// Checks what the forward pass relies on, naming the field.
    pub fn validate(&self) -> anyhow::Result<()> {
        anyhow::ensure!(self.vocab_size > 0, "vocab_size must be positive");
        anyhow::ensure!(
            self.num_attention_heads > 0
                && self.hidden_size.is_multiple_of(self.num_attention_heads),
            "hidden_size ({}) must be a multiple of num_attention_heads ({})",
            self.hidden_size,
            self.num_attention_heads
        );
        anyhow::ensure!(
            self.num_hidden_layers > 0,
            "num_hidden_layers must be positive"
        );
        anyhow::ensure!(
            self.max_position_embeddings >= 2,
            "max_position_embeddings must be at least 2"
        );
        anyhow::ensure!(
            self.hidden_act == "gelu",
            "hidden_act `{}` is not implemented (only `gelu`, BERT's erf form)",
            self.hidden_act
        );
        anyhow::ensure!(
            self.position_embedding_type == "absolute",
            "position_embedding_type `{}` is not implemented (only `absolute`, BERT's learned positions)",
            self.position_embedding_type
        );
        Ok(())
    }

    /// Parameters outside the embeddings (what Table 6 and scaling laws count).
    pub fn non_embedding_parameters(&self) -> usize {
        let h = self.hidden_size;
        let i = self.intermediate_size;
        let layer = 4 * (h * h + h) + 2 * h + (h * i + i) + (i * h + h) + 2 * h;
        self.num_hidden_layers * layer
    }

    /// Builds the encoder on `device` (use [`repro_core::determinism::init_on_cpu`] for seeded weights).
    pub fn init(&self, device: &Device) -> Bert {
        Bert {
            embeddings: Embeddings {
                word_embeddings: embedding(self.vocab_size, self.hidden_size, device),
                position_embeddings: embedding(
                    self.max_position_embeddings,
                    self.hidden_size,
                    device,
                ),
                token_type_embeddings: embedding(self.type_vocab_size, self.hidden_size, device),
                layer_norm: new_layer_norm(self, device),
                epsilon: self.layer_norm_eps,
                dropout: Dropout::new(self.hidden_dropout_prob),
            },
            layers: (0..self.num_hidden_layers)
                .map(|_| EncoderLayer::new(self, device))
                .collect(),
            pooler: linear_layer(self.hidden_size, self.hidden_size, device),
            pad_id: self.pad_token_id,
            causal: self.causal,
        }
    }
}

/// BERT initialises every weight from N(0, 0.02²) (`initializer_range`), biases at zero.
const INIT_STD: f64 = 0.02;

fn linear_layer(d_input: usize, d_output: usize, device: &Device) -> Linear {
    let mut layer = LinearConfig::new(d_input, d_output)
        .with_bias(false)
        .with_initializer(Initializer::Normal {
            mean: 0.0,
            std: INIT_STD,
        })
        .init(device);
    // Zeros, built directly: touching a lazily initialised bias here would draw from the
    // backend's global generator outside `init_on_cpu`'s lock and perturb a concurrent run.
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

fn new_layer_norm(config: &BertConfig, device: &Device) -> LayerNorm {
    LayerNormConfig::new(config.hidden_size)
        .with_epsilon(config.layer_norm_eps)
        .init(device)
}

/// The input representation (§3, Figure 2): token + segment + position embeddings, LayerNorm,
/// dropout.
#[derive(Module, Debug)]
pub struct Embeddings {
    /// WordPiece embeddings (V, H), also the masked-LM output matrix.
    pub word_embeddings: Embedding,
    /// Learned absolute positions (max_len, H).
    pub position_embeddings: Embedding,
    /// Segment A / B (2, H).
    pub token_type_embeddings: Embedding,
    /// LayerNorm over the sum.
    pub layer_norm: LayerNorm,
    /// Every LayerNorm's ε (`layer_norm_eps`).
    epsilon: f64,
    dropout: Dropout,
}

impl Embeddings {
    fn forward(&self, input_ids: Tensor<2, Int>, token_type_ids: Tensor<2, Int>) -> Tensor<3> {
        let [_, length] = input_ids.dims();
        let positions = self.position_embeddings.weight.val();
        let [max_len, hidden] = positions.dims();
        assert!(
            length <= max_len,
            "input of {length} tokens exceeds max_position_embeddings {max_len}"
        );
        let positions = positions.slice([0..length, 0..hidden]).unsqueeze::<3>();
        let summed = self.word_embeddings.forward(input_ids)
            + self.token_type_embeddings.forward(token_type_ids)
            + positions;
        self.dropout
            .forward(layer_norm(summed, &self.layer_norm, self.epsilon))
    }
}

/// Multi-head self-attention with its output projection and residual LayerNorm
/// (`LayerNorm(x + Dropout(MultiHead(x) W^O))`, the Transformer's sub-layer 1).
#[derive(Module, Debug)]
pub struct SelfAttention {
    /// W^Q (H, H).
    pub query: Linear,
    /// W^K (H, H).
    pub key: Linear,
    /// W^V (H, H).
    pub value: Linear,
    /// W^O (H, H).
    pub output: Linear,
    /// The residual LayerNorm.
    pub output_norm: LayerNorm,
    epsilon: f64,
    dropout: Dropout,
    attention_dropout: Dropout,
    n_heads: usize,
}

impl SelfAttention {
    /// (B, T, H) → (B, T, h, H / h): the heads, without moving data.
    fn heads(&self, x: Tensor<3>) -> Tensor<4> {
        let [batch, length, hidden] = x.dims();
        x.reshape([batch, length, self.n_heads, hidden / self.n_heads])
    }

    /// `mask` (B, 1 or T, T) is true where a query may not look.
    fn forward(&self, x: Tensor<3>, mask: Tensor<3, Bool>) -> Tensor<3> {
        let [batch, length, hidden] = x.dims();
        let d_head = hidden / self.n_heads;
        let query = self.heads(linear(x.clone(), &self.query));
        let key = self.heads(linear(x.clone(), &self.key));
        let value = self.heads(linear(x.clone(), &self.value));
        let [_, rows, keys] = mask.dims();
        // dropout(softmax(QKᵀ/√d_k))V over the visible keys: one fused kernel per head on the CPU.
        let context = attention(
            query,
            key,
            value,
            (d_head as f64).sqrt(),
            Hidden::Where(mask.reshape([batch, 1, rows, keys])),
            self.attention_dropout.draw(&x.device()),
        )
        .reshape([batch, length, hidden]);
        let attended = self.dropout.forward(linear(context, &self.output));
        layer_norm(x + attended, &self.output_norm, self.epsilon)
    }
}

/// The position-wise feed-forward sub-layer with GELU (Appendix A.2) and its residual LayerNorm.
#[derive(Module, Debug)]
pub struct FeedForward {
    /// H → 4H.
    pub intermediate: Linear,
    /// 4H → H.
    pub output: Linear,
    /// The residual LayerNorm.
    pub output_norm: LayerNorm,
    epsilon: f64,
    dropout: Dropout,
}

impl FeedForward {
    fn forward(&self, x: Tensor<3>) -> Tensor<3> {
        let fed = self
            .output
            .forward(gelu(linear(x.clone(), &self.intermediate), false));
        layer_norm(
            x + self.dropout.forward(fed),
            &self.output_norm,
            self.epsilon,
        )
    }
}

/// One encoder layer: self-attention, then feed-forward, each post-LN.
#[derive(Module, Debug)]
pub struct EncoderLayer {
    /// Sub-layer 1.
    pub attention: SelfAttention,
    /// Sub-layer 2.
    pub feed_forward: FeedForward,
}

impl EncoderLayer {
    fn new(config: &BertConfig, device: &Device) -> Self {
        let h = config.hidden_size;
        Self {
            attention: SelfAttention {
                query: linear_layer(h, h, device),
                key: linear_layer(h, h, device),
                value: linear_layer(h, h, device),
                output: linear_layer(h, h, device),
                output_norm: new_layer_norm(config, device),
                epsilon: config.layer_norm_eps,
                dropout: Dropout::new(config.hidden_dropout_prob),
                attention_dropout: Dropout::new(config.attention_probs_dropout_prob),
                n_heads: config.num_attention_heads,
            },
            feed_forward: FeedForward {
                intermediate: linear_layer(h, config.intermediate_size, device),
                output: linear_layer(config.intermediate_size, h, device),
                output_norm: new_layer_norm(config, device),
                epsilon: config.layer_norm_eps,
                dropout: Dropout::new(config.hidden_dropout_prob),
            },
        }
    }

    /// The layer's output for input `x` (B, T, H) under attention mask `mask`.
    fn forward(&self, x: Tensor<3>, mask: Tensor<3, Bool>) -> Tensor<3> {
        self.feed_forward.forward(self.attention.forward(x, mask))
    }
}

/// The encoder: embeddings, L layers, and the pooler on [CLS].
#[derive(Module, Debug)]
pub struct Bert {
    /// Input representation.
    pub embeddings: Embeddings,
    /// The L encoder layers.
    pub layers: Vec<EncoderLayer>,
    /// `tanh(W h + b)` on the pooled position (BERT's `pooler.dense`).
    pub pooler: Linear,
    pad_id: usize,
    causal: bool,
}

impl Bert {
    /// Final hidden states (B, T, H) of token ids and segment ids (both (B, T)).
    pub fn forward(&self, input_ids: Tensor<2, Int>, token_type_ids: Tensor<2, Int>) -> Tensor<3> {
        let mask = self.attention_mask(&input_ids);
        let mut x = self.embeddings.forward(input_ids, token_type_ids);
        for layer in &self.layers {
            x = layer.forward(x, mask.clone());
        }
        x
    }

    /// The embeddings' output and every layer's, L + 1 tensors (B, T, H): the activations
    /// Table 7's feature-based rows read (§5.3). [`Bert::forward`] keeps only the last.
    pub fn forward_layers(
        &self,
        input_ids: Tensor<2, Int>,
        token_type_ids: Tensor<2, Int>,
    ) -> Vec<Tensor<3>> {
        let mask = self.attention_mask(&input_ids);
        let mut outputs = vec![self.embeddings.forward(input_ids, token_type_ids)];
        for layer in &self.layers {
            let below = outputs[outputs.len() - 1].clone();
            outputs.push(layer.forward(below, mask.clone()));
        }
        outputs
    }

    /// Positions each query may not attend to: padding, and the future for a causal encoder.
    fn attention_mask(&self, input_ids: &Tensor<2, Int>) -> Tensor<3, Bool> {
        let [batch, length] = input_ids.dims();
        let mask = padding_mask(input_ids, self.pad_id); // (B, 1, T)
        if self.causal {
            causal_mask(batch, length, &input_ids.device())
                .bool_or(mask.expand([batch, length, length]))
        } else {
            mask
        }
    }

    /// The pooled vector `tanh(W h_p + b)` of position `positions[b]` of each row (B, H): [CLS]
    /// (position 0) for the bidirectional model, the last real token for a left-to-right one,
    /// which alone has seen the whole input.
    pub fn pool(&self, hidden: Tensor<3>, positions: Tensor<1, Int>) -> Tensor<2> {
        let [batch, length, width] = hidden.dims();
        let device = hidden.device();
        let rows = Tensor::<1, Int>::arange(0..batch as i64, &device) * length as i64 + positions;
        let picked = hidden.reshape([batch * length, width]).select(0, rows);
        tanh(linear(picked, &self.pooler))
    }

    /// Whether attention is left-to-right.
    pub fn causal(&self) -> bool {
        self.causal
    }

    /// Id of [PAD].
    pub fn pad_id(&self) -> usize {
        self.pad_id
    }
}

/// The masked-LM head (§3.1 Task #1): `LayerNorm(GELU(W h + b))`, then the input embedding matrix
/// transposed plus an output bias.
#[derive(Module, Debug)]
pub struct MaskedLmHead {
    /// `cls.predictions.transform.dense`.
    pub transform: Linear,
    /// `cls.predictions.transform.LayerNorm`.
    pub transform_norm: LayerNorm,
    /// `cls.predictions.bias` (V).
    pub bias: Param<Tensor<1>>,
    epsilon: f64,
}

impl MaskedLmHead {
    /// Logits (N, V) of hidden states (N, H), with the tied `word_embeddings` (V, H).
    pub fn forward(&self, hidden: Tensor<2>, word_embeddings: Tensor<2>) -> Tensor<2> {
        let transformed = layer_norm(
            gelu(linear(hidden, &self.transform), false),
            &self.transform_norm,
            self.epsilon,
        );
        matmul(transformed, word_embeddings.transpose()) + self.bias.val().unsqueeze::<2>()
    }
}

/// BERT with its two pre-training heads (§3.1).
#[derive(Module, Debug)]
pub struct BertForPreTraining {
    /// The encoder.
    pub bert: Bert,
    /// Task #1, masked LM (also the LTR model's next-token head).
    pub mlm: MaskedLmHead,
    /// Task #2, next sentence prediction: IsNext / NotNext from the pooled [CLS] (`C` in Figure 1).
    pub nsp: Linear,
}

impl BertConfig {
    /// The encoder with both pre-training heads.
    pub fn init_pretraining(&self, device: &Device) -> BertForPreTraining {
        BertForPreTraining {
            bert: self.init(device),
            mlm: MaskedLmHead {
                transform: linear_layer(self.hidden_size, self.hidden_size, device),
                transform_norm: new_layer_norm(self, device),
                bias: Param::from_tensor(Tensor::zeros([self.vocab_size], device)),
                epsilon: self.layer_norm_eps,
            },
            nsp: linear_layer(self.hidden_size, 2, device),
        }
    }

    /// The encoder with a fresh classification layer of `labels` outputs (§4).
    pub fn init_classifier(&self, labels: usize, device: &Device) -> BertClassifier {
        BertClassifier {
            bert: self.init(device),
            dropout: Dropout::new(self.hidden_dropout_prob),
            classifier: linear_layer(self.hidden_size, labels, device),
        }
    }
}

impl BertForPreTraining {
    /// Masked-LM logits (N, V) at the flattened positions `rows` (indices into B·T) of `hidden`.
    pub fn mlm_logits(&self, hidden: Tensor<3>, rows: Tensor<1, Int>) -> Tensor<2> {
        let [batch, length, width] = hidden.dims();
        let picked = hidden.reshape([batch * length, width]).select(0, rows);
        self.mlm
            .forward(picked, self.bert.embeddings.word_embeddings.weight.val())
    }

    /// Next-sentence logits (B, 2) from the pooled [CLS] vector.
    pub fn nsp_logits(&self, hidden: Tensor<3>) -> Tensor<2> {
        let [batch, _, _] = hidden.dims();
        let device = hidden.device();
        let cls = Tensor::<1, Int>::zeros([batch], &device);
        linear(self.bert.pool(hidden, cls), &self.nsp)
    }
}

/// Fine-tuning (§4, Figure 4 (a)/(b)): the pooled vector, dropout, one linear layer over the
/// labels; every weight is trained.
#[derive(Module, Debug)]
pub struct BertClassifier {
    /// The (pre-trained or freshly initialised) encoder.
    pub bert: Bert,
    dropout: Dropout,
    /// `W ∈ R^{K×H}` of §4.1.
    pub classifier: Linear,
}

impl BertClassifier {
    /// Id of [PAD] (what batches are padded with).
    pub fn pad_id(&self) -> u32 {
        self.bert.pad_id() as u32
    }

    /// Label logits (B, K). `last` (B) holds each row's last real position (used by a
    /// left-to-right encoder, whose [CLS] has seen nothing).
    pub fn forward(
        &self,
        input_ids: Tensor<2, Int>,
        token_type_ids: Tensor<2, Int>,
        last: Tensor<1, Int>,
    ) -> Tensor<2> {
        let [batch, _] = input_ids.dims();
        let device = input_ids.device();
        let positions = if self.bert.causal() {
            last
        } else {
            Tensor::<1, Int>::zeros([batch], &device)
        };
        let hidden = self.bert.forward(input_ids, token_type_ids);
        let pooled = self.bert.pool(hidden, positions);
        linear(self.dropout.forward(pooled), &self.classifier)
    }

    /// Replaces the encoder with `pretrained`'s weights (fine-tuning starts from them).
    pub fn with_encoder(mut self, pretrained: &Bert) -> Self {
        self.bert = self.bert.load_record(pretrained.clone().into_record());
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use burn::tensor::TensorData;

    fn ids(rows: Vec<Vec<i64>>, device: &Device) -> Tensor<2, Int> {
        let width = rows[0].len();
        let count = rows.len();
        Tensor::from_data(TensorData::new(rows.concat(), [count, width]), device)
    }

    fn values<const D: usize>(tensor: Tensor<D>) -> Vec<f32> {
        tensor.into_data().try_to_vec::<f32>().unwrap()
    }

    fn tiny(causal: bool) -> (Bert, Device) {
        let device = Device::flex();
        device.seed(3);
        let mut config = BertConfig::sized(20, 2, 16, 4, 12);
        config.causal = causal;
        (config.init(&device), device)
    }

    fn close(a: &[f32], b: &[f32]) -> bool {
        a.len() == b.len() && a.iter().zip(b).all(|(x, y)| (x - y).abs() < 1e-5)
    }

    #[test]
    fn padding_changes_nothing_for_the_real_tokens() {
        let (bert, device) = tiny(false);
        let alone = bert.forward(
            ids(vec![vec![5, 6, 7]], &device),
            ids(vec![vec![0, 0, 1]], &device),
        );
        let padded = bert.forward(
            ids(vec![vec![5, 6, 7, 0, 0]], &device),
            ids(vec![vec![0, 0, 1, 0, 0]], &device),
        );
        assert!(close(
            &values(alone),
            &values(padded.slice([0..1, 0..3, 0..16]))
        ));
    }

    #[test]
    fn bidirectional_positions_see_the_future_and_causal_ones_do_not() {
        for causal in [false, true] {
            let (bert, device) = tiny(causal);
            let segments = ids(vec![vec![0, 0, 0, 0]], &device);
            let a = bert.forward(ids(vec![vec![5, 6, 7, 8]], &device), segments.clone());
            let b = bert.forward(ids(vec![vec![5, 6, 9, 9]], &device), segments);
            let first_two = |x: Tensor<3>| values(x.slice([0..1, 0..2, 0..16]));
            assert_eq!(
                close(&first_two(a), &first_two(b)),
                causal,
                "causal = {causal}"
            );
        }
    }

    #[test]
    fn segment_embeddings_matter() {
        let (bert, device) = tiny(false);
        let tokens = ids(vec![vec![5, 6, 7]], &device);
        let a = bert.forward(tokens.clone(), ids(vec![vec![0, 0, 0]], &device));
        let b = bert.forward(tokens, ids(vec![vec![0, 1, 1]], &device));
        assert!(!close(&values(a), &values(b)));
    }

    #[test]
    fn fine_tuning_starts_from_the_pre_trained_encoder() {
        let device = Device::flex();
        let config = BertConfig::sized(20, 1, 16, 2, 8);
        device.seed(1);
        let pretrained = config.init_pretraining(&device);
        device.seed(2);
        let classifier = config
            .init_classifier(2, &device.clone().autodiff())
            .with_encoder(&pretrained.bert);
        let weights = |bert: &Bert| values(bert.embeddings.word_embeddings.weight.val());
        assert_eq!(weights(&classifier.bert), weights(&pretrained.bert));
        let query = |bert: &Bert| values(bert.layers[0].attention.query.weight.val());
        assert_eq!(query(&classifier.bert), query(&pretrained.bert));
    }

    #[test]
    fn a_left_to_right_classifier_pools_the_last_real_token() {
        let device = Device::flex();
        device.seed(4);
        let mut config = BertConfig::sized(20, 1, 16, 2, 8);
        config.causal = true;
        let classifier = config.init_classifier(2, &device);
        let segments = ids(vec![vec![0, 0, 0, 0, 0]], &device);
        let last = Tensor::<1, Int>::from_data(TensorData::new(vec![2i64], [1]), &device);
        // Tokens after the pooled position change nothing; the pooled one does.
        let a = classifier.forward(
            ids(vec![vec![2, 7, 3, 0, 0]], &device),
            segments.clone(),
            last.clone(),
        );
        let b = classifier.forward(
            ids(vec![vec![2, 7, 3, 9, 9]], &device),
            segments.clone(),
            last.clone(),
        );
        let c = classifier.forward(ids(vec![vec![2, 8, 3, 0, 0]], &device), segments, last);
        assert!(close(&values(a.clone()), &values(b)));
        // The freshly initialised head's logits move by less than `close`'s 1e-5 here (they did
        // not before gemm's AVX-512 kernels): any difference shows the pooled token read "8".
        assert_ne!(values(a), values(c));
    }

    #[test]
    fn the_masked_lm_decoder_is_the_input_embedding_matrix() {
        let device = Device::flex();
        let config = BertConfig::sized(20, 1, 16, 2, 8);
        let model = config.init_pretraining(&device);
        // Parameters: the heads add a transform, its LayerNorm, a V-sized bias and NSP — no
        // second V×H matrix.
        let h = 16;
        let heads = (h * h + h) + 2 * h + 20 + (2 * h + 2);
        assert_eq!(model.num_params(), model.bert.num_params() + heads);
        let embeddings = (20 + 8 + 2) * h + 2 * h;
        assert_eq!(
            model.bert.num_params(),
            embeddings + config.non_embedding_parameters() + h * h + h
        );
    }
}
