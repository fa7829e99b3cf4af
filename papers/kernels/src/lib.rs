//! Fused CPU kernels with hand-written backward passes, for the operations the papers' models
//! spend their non-matmul time in: layer norm, the attention core (scale, mask, softmax and both
//! products per head), label-smoothed cross-entropy over the vocabulary, GELU and dropout; and
//! the matrix products of the linear layers, written once into their outputs (`matmul.rs`).
//!
//! Under autodiff, burn decomposes each of these into many small element-wise ops, each with its
//! own pass over memory and its own backward node, with a scalar `exp`. Here each is one pass
//! forward and one backward, multi-threaded over rows, with `exp`/`erf` vectorised for AVX-512,
//! AVX2 or the baseline ([`cpu::math`]), and deterministic for a given machine (rows never split
//! across threads; cross-row sums in a fixed order).
//!
//! The functions below pick the fused kernel on burn's flex CPU backend and burn's own
//! (decomposed) ops everywhere else, and when the environment variable `REPRO_KERNELS` turns a
//! kernel off: `all` (the default), `none`, a list of names (`layer_norm,gelu`) or all but some
//! (`-gelu`). Each kernel is tested against its decomposed version, values and gradients.

use std::cell::RefCell;
use std::sync::OnceLock;

use burn::backend::{Dispatch, DispatchDevice};
use burn::nn::{LayerNorm, Linear};
use burn::tensor::activation::{gelu_approximate, log_softmax, softmax};
use burn::tensor::{Bool, DType, Device, Int, Tensor};

mod autodiff;
pub mod cpu;
mod flex;
mod matmul;
mod ops;

pub use ops::{FusedOps, NO_IGNORE};

/// The environment variable that chooses the kernels.
pub const KERNELS_ENV: &str = "REPRO_KERNELS";

/// A fused kernel, by the name `REPRO_KERNELS` uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Kernel {
    /// Layer norm forward and backward ([`layer_norm`]).
    LayerNorm,
    /// Scale, mask and softmax of attention scores ([`attention_weights`]).
    AttentionSoftmax,
    /// The whole attention core, products included ([`attention`]; [`packed_attention`] reads
    /// q, k and v in place from one packed projection).
    Attention,
    /// Log-softmax and (label-smoothed) cross-entropy ([`cross_entropy`]).
    CrossEntropy,
    /// GELU ([`gelu`]).
    Gelu,
    /// Dropout with hashed masks ([`dropout`]).
    Dropout,
    /// Matrix products written once into their output ([`matmul`], [`linear`]).
    Matmul,
}

impl Kernel {
    /// Every kernel.
    pub const ALL: [Kernel; 7] = [
        Kernel::LayerNorm,
        Kernel::AttentionSoftmax,
        Kernel::Attention,
        Kernel::CrossEntropy,
        Kernel::Gelu,
        Kernel::Dropout,
        Kernel::Matmul,
    ];

    /// The name in `REPRO_KERNELS`.
    pub fn name(self) -> &'static str {
        match self {
            Kernel::LayerNorm => "layer_norm",
            Kernel::AttentionSoftmax => "attention_softmax",
            Kernel::Attention => "attention",
            Kernel::CrossEntropy => "cross_entropy",
            Kernel::Gelu => "gelu",
            Kernel::Dropout => "dropout",
            Kernel::Matmul => "matmul",
        }
    }
}

/// Which kernels are on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Kernels {
    on: [bool; Kernel::ALL.len()],
}

impl Kernels {
    /// Every kernel on.
    pub const ALL: Kernels = Kernels {
        on: [true; Kernel::ALL.len()],
    };
    /// Every kernel off: burn's decomposed ops.
    pub const NONE: Kernels = Kernels {
        on: [false; Kernel::ALL.len()],
    };

    /// Parses `all`, `none`, `a,b` (only those) or `-a,-b` (all but those).
    pub fn parse(spec: &str) -> Result<Kernels, String> {
        let spec = spec.trim();
        match spec {
            "" | "all" => return Ok(Kernels::ALL),
            "none" => return Ok(Kernels::NONE),
            _ => {}
        }
        let names: Vec<&str> = spec.split(',').map(str::trim).collect();
        let negative = names.iter().all(|n| n.starts_with('-'));
        if !negative && names.iter().any(|n| n.starts_with('-')) {
            return Err(format!(
                "{KERNELS_ENV}={spec}: either names or -names, not both"
            ));
        }
        let mut kernels = if negative {
            Kernels::ALL
        } else {
            Kernels::NONE
        };
        for name in names {
            let bare = name.trim_start_matches('-');
            let index = Kernel::ALL
                .iter()
                .position(|k| k.name() == bare)
                .ok_or_else(|| {
                    let known: Vec<&str> = Kernel::ALL.iter().map(|k| k.name()).collect();
                    format!(
                        "{KERNELS_ENV}={spec}: unknown kernel `{bare}` (all, none, or names from {})",
                        known.join(", ")
                    )
                })?;
            kernels.on[index] = !negative;
        }
        Ok(kernels)
    }

    /// Whether `kernel` is on.
    pub fn enabled(self, kernel: Kernel) -> bool {
        self.on[Kernel::ALL.iter().position(|&k| k == kernel).unwrap_or(0)]
    }

    /// `all`, `none` or the names that are on.
    pub fn describe(self) -> String {
        match self {
            Kernels::ALL => "all".into(),
            Kernels::NONE => "none".into(),
            _ => Kernel::ALL
                .iter()
                .filter(|&&k| self.enabled(k))
                .map(|k| k.name())
                .collect::<Vec<_>>()
                .join(","),
        }
    }

    /// The kernels `REPRO_KERNELS` asks for (read once); an unreadable value is reported once
    /// and means all of them.
    pub fn from_env() -> Kernels {
        static FROM_ENV: OnceLock<Kernels> = OnceLock::new();
        *FROM_ENV.get_or_init(|| match std::env::var(KERNELS_ENV) {
            Err(_) => Kernels::ALL,
            Ok(spec) => Kernels::parse(&spec).unwrap_or_else(|error| {
                eprintln!("warning: {error}; using all kernels");
                Kernels::ALL
            }),
        })
    }

    /// The kernels in force on this thread: an override of [`with_kernels`], else
    /// [`Kernels::from_env`].
    pub fn current() -> Kernels {
        OVERRIDE.with(|o| o.borrow().unwrap_or_else(Kernels::from_env))
    }
}

thread_local! {
    static OVERRIDE: RefCell<Option<Kernels>> = const { RefCell::new(None) };
}

/// Runs `f` with `kernels` in force on this thread (tests compare fused with decomposed).
pub fn with_kernels<T>(kernels: Kernels, f: impl FnOnce() -> T) -> T {
    let previous = OVERRIDE.with(|o| o.replace(Some(kernels)));
    let result = f();
    OVERRIDE.with(|o| *o.borrow_mut() = previous);
    result
}

/// Whether `kernel` runs fused for a tensor on `device`: it is on, and the device is flex.
pub fn fused(kernel: Kernel, device: &Device, dtype: DType) -> bool {
    Kernels::current().enabled(kernel)
        && dtype == DType::F32
        && matches!(
            device.clone().inner().as_dispatch(),
            DispatchDevice::Flex(_)
        )
}

/// Layer norm of `x` over its last dimension with `norm`'s γ and β and this `epsilon` (the
/// model's: burn keeps the module's own private).
pub fn layer_norm<const D: usize>(x: Tensor<D>, norm: &LayerNorm, epsilon: f64) -> Tensor<D> {
    let gamma = norm.gamma.val();
    let beta = norm.beta.as_ref().map(|beta| beta.val());
    match beta {
        Some(beta) if fused(Kernel::LayerNorm, &x.device(), x.dtype()) => {
            Tensor::from_dispatch(<Dispatch as FusedOps>::fused_layer_norm(
                x.into_dispatch(),
                gamma.into_dispatch(),
                beta.into_dispatch(),
                epsilon,
            ))
        }
        beta => burn::tensor::module::layer_norm(x, gamma, beta, epsilon),
    }
}

/// Which keys each query may not see in [`attention_weights`] and [`attention`].
#[derive(Debug, Clone)]
#[allow(clippy::large_enum_variant)] // one value per attention call, moved straight into it
pub enum Hidden {
    /// Every key is visible.
    Nothing,
    /// The keys after each query's position (the queries are the last T of the S keys).
    Future,
    /// True where hidden, shaped (B, 1, 1 or T, S): the heads share it.
    Where(Tensor<4, Bool>),
}

/// Attention weights of scaled dot-product attention ("Attention Is All You Need" §3.2.1, Eq. 1
/// before the product with V): `softmax(scores / divisor)` over the keys of (B, h, T, S)
/// scores, hidden keys set to −1e9 before the softmax (weight 0; a row with every key hidden
/// is uniform, as in the decomposed version).
pub fn attention_weights(scores: Tensor<4>, divisor: f64, hidden: Hidden) -> Tensor<4> {
    let [batch, heads, queries, keys] = scores.dims();
    if fused(Kernel::AttentionSoftmax, &scores.device(), scores.dtype()) {
        let scale = 1.0 / divisor;
        let probs = match hidden {
            Hidden::Nothing => <Dispatch as FusedOps>::fused_attention_softmax(
                scores.into_dispatch(),
                scale,
                false,
            ),
            Hidden::Future => {
                <Dispatch as FusedOps>::fused_attention_softmax(scores.into_dispatch(), scale, true)
            }
            Hidden::Where(mask) => {
                let [_, _, rows, _] = mask.dims();
                <Dispatch as FusedOps>::fused_masked_attention_softmax(
                    scores.into_dispatch(),
                    mask.reshape([batch, rows, keys]).into_dispatch(),
                    scale,
                )
            }
        };
        return Tensor::from_dispatch(probs);
    }
    let scores = scores / divisor;
    let mask = match hidden {
        Hidden::Nothing => return softmax(scores, 3),
        Hidden::Future => {
            let device = scores.device();
            Tensor::<2, Bool>::tril_mask([queries, keys], keys as i64 - queries as i64, &device)
                .reshape([1, 1, queries, keys])
                .expand([batch, heads, queries, keys])
        }
        Hidden::Where(mask) => mask.expand([batch, heads, queries, keys]),
    };
    softmax(scores.mask_fill(mask, cpu::softmax::MASKED_SCORE), 3)
}

/// The attention core of scaled dot-product attention ("Attention Is All You Need" §3.2.1,
/// Eq. 1): `dropout(softmax(Q Kᵀ / divisor)) V` with the `hidden` keys masked, for q
/// (B, T, h, d_k) and k, v (B, S, h, d_k) — the layout the projections produce — giving
/// (B, T, h, d_k). `dropout` is the weights' (probability, seed), hash masks over the (B, h, T,
/// S) weights as [`dropout`] draws them. On the CPU one fused kernel per head ([`cpu::attention`]:
/// no transposed copies, no weight tensor between ops), with a hand-written backward pass.
pub fn attention(
    q: Tensor<4>,
    k: Tensor<4>,
    v: Tensor<4>,
    divisor: f64,
    hidden: Hidden,
    dropout: Option<(f64, u64)>,
) -> Tensor<4> {
    let (prob, seed) = dropout.unwrap_or((0.0, 0));
    if fused(Kernel::Attention, &q.device(), q.dtype()) {
        let scale = 1.0 / divisor;
        let out = match hidden {
            Hidden::Nothing | Hidden::Future => <Dispatch as FusedOps>::fused_attention(
                q.into_dispatch(),
                k.into_dispatch(),
                v.into_dispatch(),
                scale,
                matches!(hidden, Hidden::Future),
                prob,
                seed,
            ),
            Hidden::Where(mask) => {
                let [batch, _, rows, keys] = mask.dims();
                <Dispatch as FusedOps>::fused_masked_attention(
                    q.into_dispatch(),
                    k.into_dispatch(),
                    v.into_dispatch(),
                    mask.reshape([batch, rows, keys]).into_dispatch(),
                    scale,
                    prob,
                    seed,
                )
            }
        };
        return Tensor::from_dispatch(out);
    }
    let (q, k, v) = (q.swap_dims(1, 2), k.swap_dims(1, 2), v.swap_dims(1, 2)); // (B, h, L, d_k)
    let weights = attention_weights(q.matmul(k.swap_dims(2, 3)), divisor, hidden);
    let weights = match dropout {
        Some((prob, seed)) => self::dropout(weights, prob, seed),
        None => weights,
    };
    weights.matmul(v).swap_dims(1, 2)
}

/// [`attention`] for q, k and v packed in one (B, T, 3·d) projection — `[q | k | v]` along the
/// last dimension, each d = `heads`·d_k wide, as GPT's fused `c_attn` produces — giving
/// (B, T, d). On the CPU the kernel reads the three in place and its backward pass writes the
/// packed gradient, where splitting costs three copies forward and, backward, three zero-filled
/// (B, T, 3·d) slices summed into one.
pub fn packed_attention(
    qkv: Tensor<3>,
    heads: usize,
    divisor: f64,
    causal: bool,
    dropout: Option<(f64, u64)>,
) -> Tensor<3> {
    let [batch, length, packed] = qkv.dims();
    let (width, d_k) = (packed / 3, packed / 3 / heads.max(1));
    if fused(Kernel::Attention, &qkv.device(), qkv.dtype()) {
        let (prob, seed) = dropout.unwrap_or((0.0, 0));
        return Tensor::from_dispatch(<Dispatch as FusedOps>::fused_packed_attention(
            qkv.into_dispatch(),
            heads,
            1.0 / divisor,
            causal,
            prob,
            seed,
        ));
    }
    let qkv = qkv.reshape([batch, length, 3, heads, d_k]);
    let [q, k, v] = [0, 1, 2].map(|i| {
        qkv.clone()
            .narrow(2, i, 1)
            .reshape([batch, length, heads, d_k])
    });
    let hidden = if causal {
        Hidden::Future
    } else {
        Hidden::Nothing
    };
    attention(q, k, v, divisor, hidden, dropout).reshape([batch, length, width])
}

/// Mean cross-entropy of (N, V) `logits` against (N) `labels`, with label smoothing `ε` (the
/// target `(1 − ε)·onehot + ε/V`, §5.4 of "Attention Is All You Need"; 0 for plain
/// cross-entropy), over the rows whose label is not `ignore`. Shape (1).
pub fn cross_entropy(
    logits: Tensor<2>,
    labels: Tensor<1, Int>,
    smoothing: f64,
    ignore: Option<i64>,
) -> Tensor<1> {
    let [rows, _] = logits.dims();
    let counted = || ignore.map(|ignore| labels.clone().not_equal_elem(ignore).float());
    if fused(Kernel::CrossEntropy, &logits.device(), logits.dtype()) {
        let per_row: Tensor<1> =
            Tensor::from_dispatch(<Dispatch as FusedOps>::fused_cross_entropy(
                logits.into_dispatch(),
                labels.clone().into_dispatch(),
                smoothing,
                ignore.unwrap_or(NO_IGNORE),
            ));
        return match counted() {
            None => per_row.sum() / rows as f64,
            Some(real) => per_row.sum() / real.sum(),
        };
    }
    let real = counted();
    // Ignored rows gather class 0 (any valid index): their loss is multiplied by 0.
    let gathered = match ignore {
        Some(ignore) => labels
            .clone()
            .mask_fill(labels.clone().equal_elem(ignore), 0),
        None => labels,
    };
    let log_probs = log_softmax(logits, 1);
    let nll = -log_probs
        .clone()
        .gather(1, gathered.unsqueeze_dim::<2>(1))
        .squeeze_dim::<1>(1);
    let per_row = if smoothing == 0.0 {
        nll
    } else {
        let uniform = -log_probs.mean_dim(1).squeeze_dim::<1>(1);
        nll * (1.0 - smoothing) + uniform * smoothing
    };
    match real {
        None => per_row.mean(),
        Some(real) => (per_row * real.clone()).sum() / real.sum(),
    }
}

/// The product (M, K) · (K, N); on the CPU written once into its output (burn-flex's
/// own product zeroes and copies its output first), the same values as `lhs.matmul(rhs)`.
pub fn matmul(lhs: Tensor<2>, rhs: Tensor<2>) -> Tensor<2> {
    if fused(Kernel::Matmul, &lhs.device(), lhs.dtype()) && rhs.dtype() == lhs.dtype() {
        return Tensor::from_dispatch(<Dispatch as FusedOps>::fused_matmul(
            lhs.into_dispatch(),
            rhs.into_dispatch(),
        ));
    }
    lhs.matmul(rhs)
}

/// `layer`'s affine map `x W + b` of `x` (…, d_in), as one product over the rows of every
/// leading dimension ([`matmul`]); burn's `Linear::forward` elsewhere.
pub fn linear<const D: usize>(x: Tensor<D>, layer: &Linear) -> Tensor<D> {
    let weight = layer.weight.val();
    let [d_in, d_out] = weight.dims();
    let dims = x.dims();
    if D < 2 || dims[D - 1] != d_in || !fused(Kernel::Matmul, &x.device(), x.dtype()) {
        return layer.forward(x);
    }
    let rows = dims[..D - 1].iter().product::<usize>();
    let product = matmul(x.reshape([rows, d_in]), weight);
    let product = match &layer.bias {
        Some(bias) => product + bias.val().unsqueeze::<2>(),
        None => product,
    };
    let mut out = dims;
    out[D - 1] = d_out;
    product.reshape(out)
}

/// GELU: exact (`x Φ(x)`) or GPT-2's tanh approximation.
pub fn gelu<const D: usize>(x: Tensor<D>, tanh: bool) -> Tensor<D> {
    if fused(Kernel::Gelu, &x.device(), x.dtype()) {
        return Tensor::from_dispatch(<Dispatch as FusedOps>::fused_gelu(x.into_dispatch(), tanh));
    }
    if tanh {
        gelu_approximate(x)
    } else {
        burn::tensor::activation::gelu(x)
    }
}

/// Dropout of `x` with probability `prob` and the mask of `seed`: `x · m / (1 − prob)`, `m_i`
/// a hash of (seed, i) ([`cpu::dropout`]), so that the same seed gives the same mask on every
/// backend and every number of threads. Fused (and its mask regenerated in the backward pass)
/// on the CPU; elsewhere the mask is computed on the host and multiplied in.
pub fn dropout<const D: usize>(x: Tensor<D>, prob: f64, seed: u64) -> Tensor<D> {
    if prob <= 0.0 {
        return x;
    }
    if fused(Kernel::Dropout, &x.device(), x.dtype()) {
        return Tensor::from_dispatch(<Dispatch as FusedOps>::fused_dropout(
            x.into_dispatch(),
            prob,
            seed,
        ));
    }
    let shape = x.shape();
    let ones = vec![1.0f32; shape.num_elements()];
    let mut mask = vec![std::mem::MaybeUninit::uninit(); ones.len()];
    cpu::dropout::apply(&ones, prob, seed, &mut mask);
    // SAFETY: `apply` writes every element.
    let mask: Vec<f32> = mask
        .into_iter()
        .map(|m| unsafe { m.assume_init() })
        .collect();
    let device = x.device();
    x * Tensor::<D>::from_data(burn::tensor::TensorData::new(mask, shape), &device)
}

pub use peak::fp32_peak_gflops;

mod peak;

#[cfg(test)]
mod tests;
