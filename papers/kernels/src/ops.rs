//! The fused operations as a burn backend extension: implemented for the flex CPU backend
//! ([`crate::flex`]) and, with hand-written backward passes, for the autodiff decorator over it
//! ([`crate::autodiff`]). Other backends never reach these ops: the tensor functions in the crate
//! root take burn's decomposed path there.
//!
//! Each differentiable op has a `…_stats` form returning what its backward needs and a
//! `…_backward` op; the autodiff implementation calls them on the inner backend.

use burn::backend::tensor::{BoolTensor, FloatTensor, IntTensor};
use burn::backend::{Backend, backend_extension};

/// `ignore` value meaning "no label is ignored".
pub const NO_IGNORE: i64 = i64::MIN;

/// Fused CPU kernels with hand-written backward passes.
#[backend_extension(Flex, Autodiff)]
pub trait FusedOps: Backend {
    /// Layer norm over the last dimension: `(x − μ) / √(σ² + ε) · γ + β`.
    fn fused_layer_norm(
        x: FloatTensor<Self>,
        gamma: FloatTensor<Self>,
        beta: FloatTensor<Self>,
        epsilon: f64,
    ) -> FloatTensor<Self>;

    /// [`FusedOps::fused_layer_norm`] with each row's mean and rstd (shape: the rows).
    fn fused_layer_norm_stats(
        x: FloatTensor<Self>,
        gamma: FloatTensor<Self>,
        beta: FloatTensor<Self>,
        epsilon: f64,
    ) -> (FloatTensor<Self>, FloatTensor<Self>, FloatTensor<Self>);

    /// Gradients of layer norm: `(dx, dγ, dβ)`.
    fn fused_layer_norm_backward(
        grad: FloatTensor<Self>,
        x: FloatTensor<Self>,
        mean: FloatTensor<Self>,
        rstd: FloatTensor<Self>,
        gamma: FloatTensor<Self>,
    ) -> (FloatTensor<Self>, FloatTensor<Self>, FloatTensor<Self>);

    /// Attention weights `softmax(scale · scores)` over the last dimension of (…, T, S) scores,
    /// keys after each query's position hidden when `causal`.
    fn fused_attention_softmax(
        scores: FloatTensor<Self>,
        scale: f64,
        causal: bool,
    ) -> FloatTensor<Self>;

    /// Gradient of [`FusedOps::fused_attention_softmax`] from its output.
    fn fused_attention_softmax_backward(
        grad: FloatTensor<Self>,
        probs: FloatTensor<Self>,
        scale: f64,
        causal: bool,
    ) -> FloatTensor<Self>;

    /// Attention weights of (B, h, T, S) scores with keys hidden where `hidden` (B, 1 or T, S)
    /// is true, for every head.
    fn fused_masked_attention_softmax(
        scores: FloatTensor<Self>,
        hidden: BoolTensor<Self>,
        scale: f64,
    ) -> FloatTensor<Self>;

    /// Gradient of [`FusedOps::fused_masked_attention_softmax`] from its output.
    fn fused_masked_attention_softmax_backward(
        grad: FloatTensor<Self>,
        probs: FloatTensor<Self>,
        hidden: BoolTensor<Self>,
        scale: f64,
    ) -> FloatTensor<Self>;

    /// The attention core `dropout(softmax(scale · Q Kᵀ)) V` of q (B, T, h, d_k), k and v
    /// (B, S, h, d_k), keys after each query's position hidden when `causal`; output
    /// (B, T, h, d_k). Dropout of the weights with probability `dropout` (0: none) and the hash
    /// mask of `seed`.
    fn fused_attention(
        q: FloatTensor<Self>,
        k: FloatTensor<Self>,
        v: FloatTensor<Self>,
        scale: f64,
        causal: bool,
        dropout: f64,
        seed: u64,
    ) -> FloatTensor<Self>;

    /// [`FusedOps::fused_attention`] with the attention weights (B, h, T, S) before dropout.
    #[allow(clippy::too_many_arguments)]
    fn fused_attention_stats(
        q: FloatTensor<Self>,
        k: FloatTensor<Self>,
        v: FloatTensor<Self>,
        scale: f64,
        causal: bool,
        dropout: f64,
        seed: u64,
    ) -> (FloatTensor<Self>, FloatTensor<Self>);

    /// Gradients of [`FusedOps::fused_attention`]: `(dq, dk, dv)`.
    #[allow(clippy::too_many_arguments)]
    fn fused_attention_backward(
        grad: FloatTensor<Self>,
        q: FloatTensor<Self>,
        k: FloatTensor<Self>,
        v: FloatTensor<Self>,
        probs: FloatTensor<Self>,
        scale: f64,
        causal: bool,
        dropout: f64,
        seed: u64,
    ) -> (FloatTensor<Self>, FloatTensor<Self>, FloatTensor<Self>);

    /// [`FusedOps::fused_attention`] with q, k and v read in place from one packed (B, T, 3·d)
    /// projection — `[q | k | v]` along the last dimension, each d = `heads`·d_k wide and split
    /// by head as (h, d_k) — as GPT's fused `c_attn` produces; output (B, T, d).
    fn fused_packed_attention(
        qkv: FloatTensor<Self>,
        heads: usize,
        scale: f64,
        causal: bool,
        dropout: f64,
        seed: u64,
    ) -> FloatTensor<Self>;

    /// [`FusedOps::fused_packed_attention`] with the attention weights (B, h, T, T) before
    /// dropout.
    fn fused_packed_attention_stats(
        qkv: FloatTensor<Self>,
        heads: usize,
        scale: f64,
        causal: bool,
        dropout: f64,
        seed: u64,
    ) -> (FloatTensor<Self>, FloatTensor<Self>);

    /// Gradient of [`FusedOps::fused_packed_attention`]: dQKV, packed as the input.
    #[allow(clippy::too_many_arguments)]
    fn fused_packed_attention_backward(
        grad: FloatTensor<Self>,
        qkv: FloatTensor<Self>,
        probs: FloatTensor<Self>,
        heads: usize,
        scale: f64,
        causal: bool,
        dropout: f64,
        seed: u64,
    ) -> FloatTensor<Self>;

    /// [`FusedOps::fused_attention`] with keys hidden where `hidden` (B, 1 or T, S) is true.
    #[allow(clippy::too_many_arguments)]
    fn fused_masked_attention(
        q: FloatTensor<Self>,
        k: FloatTensor<Self>,
        v: FloatTensor<Self>,
        hidden: BoolTensor<Self>,
        scale: f64,
        dropout: f64,
        seed: u64,
    ) -> FloatTensor<Self>;

    /// [`FusedOps::fused_masked_attention`] with the attention weights before dropout.
    #[allow(clippy::too_many_arguments)]
    fn fused_masked_attention_stats(
        q: FloatTensor<Self>,
        k: FloatTensor<Self>,
        v: FloatTensor<Self>,
        hidden: BoolTensor<Self>,
        scale: f64,
        dropout: f64,
        seed: u64,
    ) -> (FloatTensor<Self>, FloatTensor<Self>);

    /// Gradients of [`FusedOps::fused_masked_attention`]: `(dq, dk, dv)`.
    #[allow(clippy::too_many_arguments)]
    fn fused_masked_attention_backward(
        grad: FloatTensor<Self>,
        q: FloatTensor<Self>,
        k: FloatTensor<Self>,
        v: FloatTensor<Self>,
        probs: FloatTensor<Self>,
        hidden: BoolTensor<Self>,
        scale: f64,
        dropout: f64,
        seed: u64,
    ) -> (FloatTensor<Self>, FloatTensor<Self>, FloatTensor<Self>);

    /// Per-row label-smoothed cross-entropy of (N, V) logits against (N) labels; rows labelled
    /// `ignore` cost 0.
    fn fused_cross_entropy(
        logits: FloatTensor<Self>,
        labels: IntTensor<Self>,
        smoothing: f64,
        ignore: i64,
    ) -> FloatTensor<Self>;

    /// [`FusedOps::fused_cross_entropy`] with each row's log-sum-exp.
    fn fused_cross_entropy_stats(
        logits: FloatTensor<Self>,
        labels: IntTensor<Self>,
        smoothing: f64,
        ignore: i64,
    ) -> (FloatTensor<Self>, FloatTensor<Self>);

    /// Gradient of the per-row losses with respect to the logits.
    fn fused_cross_entropy_backward(
        grad: FloatTensor<Self>,
        logits: FloatTensor<Self>,
        lse: FloatTensor<Self>,
        labels: IntTensor<Self>,
        smoothing: f64,
        ignore: i64,
    ) -> FloatTensor<Self>;

    /// Dropout with the mask of `seed` (a hash per element; [`crate::cpu::dropout`]), scaled by
    /// `1 / (1 − prob)`; its own backward pass with the same seed.
    fn fused_dropout(x: FloatTensor<Self>, prob: f64, seed: u64) -> FloatTensor<Self>;

    /// The product (M, K) · (K, N) of two 2-D tensors (either may be a transposed view),
    /// written once into a fresh output ([`crate::matmul`]).
    fn fused_matmul(lhs: FloatTensor<Self>, rhs: FloatTensor<Self>) -> FloatTensor<Self>;

    /// GELU, exact (erf) or tanh-approximated.
    fn fused_gelu(x: FloatTensor<Self>, tanh: bool) -> FloatTensor<Self>;

    /// `grad · gelu'(x)`.
    fn fused_gelu_backward(
        grad: FloatTensor<Self>,
        x: FloatTensor<Self>,
        tanh: bool,
    ) -> FloatTensor<Self>;
}
