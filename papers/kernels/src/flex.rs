//! [`FusedOps`] on burn's flex CPU backend: the tensors' f32 storage handed to the slice kernels
//! of [`crate::cpu`], outputs built in place from uninitialised buffers.

use std::mem::{ManuallyDrop, MaybeUninit};

use burn::backend::Flex;
use burn::backend::TensorMetadata;
use burn::backend::tensor::{BoolTensor, FloatTensor, IntTensor};
use burn::tensor::{DType, Shape, TensorData};
use burn_flex::FlexTensor;

use crate::cpu::softmax::Mask;
use crate::cpu::{cross_entropy, dropout, gelu, layer_norm, softmax};
use crate::ops::{FusedOps, NO_IGNORE};

mod attention;
use attention::{attend, attend_backward, attend_packed, attend_packed_backward};

/// A tensor's values, contiguous (a copy only when it is a strided view).
struct Values(FlexTensor);

impl Values {
    fn of(tensor: &FlexTensor) -> Values {
        assert_eq!(
            tensor.dtype(),
            DType::F32,
            "the fused kernels take f32 tensors"
        );
        Values(tensor.to_contiguous())
    }

    fn f32(&self) -> &[f32] {
        self.0.as_slice::<f32>().expect("contiguous f32 storage")
    }
}

#[cfg(test)]
thread_local! {
    /// The fused flex ops this thread has called, in order (tests: the fused path is taken).
    pub(crate) static CALLS: std::cell::RefCell<Vec<&'static str>> =
        const { std::cell::RefCell::new(Vec::new()) };
}

/// Notes that `op` ran (in tests; nothing otherwise).
#[inline(always)]
fn record(_op: &'static str) {
    #[cfg(test)]
    CALLS.with(|calls| calls.borrow_mut().push(_op));
}

/// `n` uninitialised values for a kernel to write.
pub(crate) fn uninit(n: usize) -> Vec<MaybeUninit<f32>> {
    let mut values = Vec::with_capacity(n);
    // SAFETY: MaybeUninit needs no initialisation.
    unsafe { values.set_len(n) };
    values
}

/// A tensor of `shape` from a buffer the kernel has written completely.
pub(crate) fn tensor(values: Vec<MaybeUninit<f32>>, shape: Shape) -> FlexTensor {
    let mut values = ManuallyDrop::new(values);
    // SAFETY: every element was written by the kernel; MaybeUninit<f32> has f32's layout.
    let values = unsafe {
        Vec::from_raw_parts(
            values.as_mut_ptr().cast::<f32>(),
            values.len(),
            values.capacity(),
        )
    };
    FlexTensor::from_data(TensorData::new(values, shape))
}

fn last(shape: &Shape) -> usize {
    shape.as_slice().last().copied().unwrap_or(1)
}

/// The shape without its last dimension.
fn rows(shape: &Shape) -> Shape {
    let dims = shape.as_slice();
    Shape::from(dims[..dims.len().saturating_sub(1)].to_vec())
}

/// Labels as i64, whatever integer type the device uses.
fn labels(tensor: &IntTensor<Flex>) -> Vec<i64> {
    tensor
        .clone()
        .into_data()
        .convert::<i64>()
        .try_into_vec::<i64>()
        .expect("integer labels")
}

fn ignore(value: i64) -> Option<i64> {
    (value != NO_IGNORE).then_some(value)
}

impl FusedOps for Flex {
    fn fused_layer_norm(
        x: FloatTensor<Self>,
        gamma: FloatTensor<Self>,
        beta: FloatTensor<Self>,
        epsilon: f64,
    ) -> FloatTensor<Self> {
        record("fused_layer_norm");
        Self::fused_layer_norm_stats(x, gamma, beta, epsilon).0
    }

    fn fused_layer_norm_stats(
        x: FloatTensor<Self>,
        gamma: FloatTensor<Self>,
        beta: FloatTensor<Self>,
        epsilon: f64,
    ) -> (FloatTensor<Self>, FloatTensor<Self>, FloatTensor<Self>) {
        record("fused_layer_norm_stats");
        let shape = x.shape();
        let (x, gamma, beta) = (Values::of(&x), Values::of(&gamma), Values::of(&beta));
        let n = shape.num_elements();
        let rows_shape = rows(&shape);
        let count = rows_shape.num_elements();
        let (mut y, mut mean, mut rstd) = (uninit(n), uninit(count), uninit(count));
        layer_norm::forward(
            x.f32(),
            gamma.f32(),
            Some(beta.f32()),
            epsilon as f32,
            &mut y,
            &mut mean,
            &mut rstd,
        );
        (
            tensor(y, shape),
            tensor(mean, rows_shape.clone()),
            tensor(rstd, rows_shape),
        )
    }

    fn fused_layer_norm_backward(
        grad: FloatTensor<Self>,
        x: FloatTensor<Self>,
        mean: FloatTensor<Self>,
        rstd: FloatTensor<Self>,
        gamma: FloatTensor<Self>,
    ) -> (FloatTensor<Self>, FloatTensor<Self>, FloatTensor<Self>) {
        record("fused_layer_norm_backward");
        let shape = x.shape();
        let gamma_shape = gamma.shape();
        let values = [&grad, &x, &mean, &rstd, &gamma].map(Values::of);
        let [grad, x, mean, rstd, gamma] = &values;
        let mut dx = uninit(shape.num_elements());
        let (dgamma, dbeta) = layer_norm::backward(
            grad.f32(),
            x.f32(),
            mean.f32(),
            rstd.f32(),
            gamma.f32(),
            &mut dx,
        );
        (
            tensor(dx, shape),
            FlexTensor::from_data(TensorData::new(dgamma, gamma_shape.clone())),
            FlexTensor::from_data(TensorData::new(dbeta, gamma_shape)),
        )
    }

    fn fused_attention_softmax(
        scores: FloatTensor<Self>,
        scale: f64,
        causal: bool,
    ) -> FloatTensor<Self> {
        record("fused_attention_softmax");
        let shape = scores.shape();
        let keys = last(&shape);
        let mask = causal_mask(&shape, causal);
        let scores = Values::of(&scores);
        let mut out = uninit(shape.num_elements());
        softmax::forward(scores.f32(), keys, scale as f32, mask, &mut out);
        tensor(out, shape)
    }

    fn fused_attention_softmax_backward(
        grad: FloatTensor<Self>,
        probs: FloatTensor<Self>,
        scale: f64,
        causal: bool,
    ) -> FloatTensor<Self> {
        record("fused_attention_softmax_backward");
        let shape = probs.shape();
        let mask = causal_mask(&shape, causal);
        let (grad, probs) = (Values::of(&grad), Values::of(&probs));
        let mut out = uninit(shape.num_elements());
        softmax::backward(
            grad.f32(),
            probs.f32(),
            last(&shape),
            scale as f32,
            mask,
            &mut out,
        );
        tensor(out, shape)
    }

    fn fused_masked_attention_softmax(
        scores: FloatTensor<Self>,
        hidden: BoolTensor<Self>,
        scale: f64,
    ) -> FloatTensor<Self> {
        record("fused_masked_attention_softmax");
        let shape = scores.shape();
        let hidden = Hidden::of(&hidden, &shape);
        let scores = Values::of(&scores);
        let mut out = uninit(shape.num_elements());
        softmax::forward(
            scores.f32(),
            last(&shape),
            scale as f32,
            hidden.mask(),
            &mut out,
        );
        tensor(out, shape)
    }

    fn fused_masked_attention_softmax_backward(
        grad: FloatTensor<Self>,
        probs: FloatTensor<Self>,
        hidden: BoolTensor<Self>,
        scale: f64,
    ) -> FloatTensor<Self> {
        record("fused_masked_attention_softmax_backward");
        let shape = probs.shape();
        let hidden = Hidden::of(&hidden, &shape);
        let (grad, probs) = (Values::of(&grad), Values::of(&probs));
        let mut out = uninit(shape.num_elements());
        softmax::backward(
            grad.f32(),
            probs.f32(),
            last(&shape),
            scale as f32,
            hidden.mask(),
            &mut out,
        );
        tensor(out, shape)
    }

    fn fused_attention(
        q: FloatTensor<Self>,
        k: FloatTensor<Self>,
        v: FloatTensor<Self>,
        scale: f64,
        causal: bool,
        dropout: f64,
        seed: u64,
    ) -> FloatTensor<Self> {
        record("fused_attention");
        attend(&q, &k, &v, None, causal, scale, dropout, seed, false).0
    }

    fn fused_attention_stats(
        q: FloatTensor<Self>,
        k: FloatTensor<Self>,
        v: FloatTensor<Self>,
        scale: f64,
        causal: bool,
        dropout: f64,
        seed: u64,
    ) -> (FloatTensor<Self>, FloatTensor<Self>) {
        record("fused_attention_stats");
        let (out, probs) = attend(&q, &k, &v, None, causal, scale, dropout, seed, true);
        (out, probs.expect("weights asked for"))
    }

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
    ) -> (FloatTensor<Self>, FloatTensor<Self>, FloatTensor<Self>) {
        record("fused_attention_backward");
        attend_backward(
            &grad, &q, &k, &v, &probs, None, causal, scale, dropout, seed,
        )
    }

    fn fused_masked_attention(
        q: FloatTensor<Self>,
        k: FloatTensor<Self>,
        v: FloatTensor<Self>,
        hidden: BoolTensor<Self>,
        scale: f64,
        dropout: f64,
        seed: u64,
    ) -> FloatTensor<Self> {
        record("fused_masked_attention");
        attend(
            &q,
            &k,
            &v,
            Some(&hidden),
            false,
            scale,
            dropout,
            seed,
            false,
        )
        .0
    }

    fn fused_masked_attention_stats(
        q: FloatTensor<Self>,
        k: FloatTensor<Self>,
        v: FloatTensor<Self>,
        hidden: BoolTensor<Self>,
        scale: f64,
        dropout: f64,
        seed: u64,
    ) -> (FloatTensor<Self>, FloatTensor<Self>) {
        record("fused_masked_attention_stats");
        let (out, probs) = attend(&q, &k, &v, Some(&hidden), false, scale, dropout, seed, true);
        (out, probs.expect("weights asked for"))
    }

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
    ) -> (FloatTensor<Self>, FloatTensor<Self>, FloatTensor<Self>) {
        record("fused_masked_attention_backward");
        attend_backward(
            &grad,
            &q,
            &k,
            &v,
            &probs,
            Some(&hidden),
            false,
            scale,
            dropout,
            seed,
        )
    }

    fn fused_packed_attention(
        qkv: FloatTensor<Self>,
        heads: usize,
        scale: f64,
        causal: bool,
        dropout: f64,
        seed: u64,
    ) -> FloatTensor<Self> {
        record("fused_packed_attention");
        attend_packed(&qkv, heads, causal, scale, dropout, seed, false).0
    }

    fn fused_packed_attention_stats(
        qkv: FloatTensor<Self>,
        heads: usize,
        scale: f64,
        causal: bool,
        dropout: f64,
        seed: u64,
    ) -> (FloatTensor<Self>, FloatTensor<Self>) {
        record("fused_packed_attention_stats");
        let (out, probs) = attend_packed(&qkv, heads, causal, scale, dropout, seed, true);
        (out, probs.expect("weights asked for"))
    }

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
    ) -> FloatTensor<Self> {
        record("fused_packed_attention_backward");
        attend_packed_backward(&grad, &qkv, &probs, heads, causal, scale, dropout, seed)
    }

    fn fused_cross_entropy(
        logits: FloatTensor<Self>,
        labels: IntTensor<Self>,
        smoothing: f64,
        ignore: i64,
    ) -> FloatTensor<Self> {
        record("fused_cross_entropy");
        Self::fused_cross_entropy_stats(logits, labels, smoothing, ignore).0
    }

    fn fused_cross_entropy_stats(
        logits: FloatTensor<Self>,
        labels: IntTensor<Self>,
        smoothing: f64,
        ignore_label: i64,
    ) -> (FloatTensor<Self>, FloatTensor<Self>) {
        record("fused_cross_entropy_stats");
        let shape = logits.shape();
        let [rows, classes] = shape.dims::<2>();
        let labels = self::labels(&labels);
        check_labels(&labels, rows, classes, ignore(ignore_label));
        let logits = Values::of(&logits);
        let (mut loss, mut lse) = (uninit(rows), uninit(rows));
        cross_entropy::forward(
            logits.f32(),
            &labels,
            classes,
            smoothing as f32,
            ignore(ignore_label),
            &mut loss,
            &mut lse,
        );
        (
            tensor(loss, Shape::new([rows])),
            tensor(lse, Shape::new([rows])),
        )
    }

    fn fused_cross_entropy_backward(
        grad: FloatTensor<Self>,
        logits: FloatTensor<Self>,
        lse: FloatTensor<Self>,
        labels: IntTensor<Self>,
        smoothing: f64,
        ignore_label: i64,
    ) -> FloatTensor<Self> {
        record("fused_cross_entropy_backward");
        let shape = logits.shape();
        let [_, classes] = shape.dims::<2>();
        let labels = self::labels(&labels);
        let (grad, logits, lse) = (Values::of(&grad), Values::of(&logits), Values::of(&lse));
        let mut out = uninit(shape.num_elements());
        cross_entropy::backward(
            grad.f32(),
            logits.f32(),
            lse.f32(),
            &labels,
            classes,
            smoothing as f32,
            ignore(ignore_label),
            &mut out,
        );
        tensor(out, shape)
    }

    fn fused_dropout(x: FloatTensor<Self>, prob: f64, seed: u64) -> FloatTensor<Self> {
        record("fused_dropout");
        let shape = x.shape();
        let x = Values::of(&x);
        let mut out = uninit(shape.num_elements());
        dropout::apply(x.f32(), prob, seed, &mut out);
        tensor(out, shape)
    }

    fn fused_matmul(lhs: FloatTensor<Self>, rhs: FloatTensor<Self>) -> FloatTensor<Self> {
        record("fused_matmul");
        crate::matmul::flex_matmul(lhs, rhs)
    }

    fn fused_gelu(x: FloatTensor<Self>, tanh: bool) -> FloatTensor<Self> {
        record("fused_gelu");
        let shape = x.shape();
        let x = Values::of(&x);
        let mut out = uninit(shape.num_elements());
        gelu::forward(x.f32(), tanh, &mut out);
        tensor(out, shape)
    }

    fn fused_gelu_backward(
        grad: FloatTensor<Self>,
        x: FloatTensor<Self>,
        tanh: bool,
    ) -> FloatTensor<Self> {
        record("fused_gelu_backward");
        let shape = x.shape();
        let (grad, x) = (Values::of(&grad), Values::of(&x));
        let mut out = uninit(shape.num_elements());
        gelu::backward(grad.f32(), x.f32(), tanh, &mut out);
        tensor(out, shape)
    }
}

/// Every label a class index or the ignored one: what `gather` would panic on, said plainly.
fn check_labels(labels: &[i64], rows: usize, classes: usize, ignore: Option<i64>) {
    assert_eq!(labels.len(), rows, "one label per row of logits");
    if let Some(bad) = labels
        .iter()
        .find(|&&l| Some(l) != ignore && !(0..classes as i64).contains(&l))
    {
        panic!("label {bad} is not a class index (0..{classes})");
    }
}

fn causal_mask(shape: &Shape, causal: bool) -> Mask<'static> {
    let dims = shape.as_slice();
    match causal {
        true => Mask::Causal {
            queries: dims[dims.len() - 2],
        },
        false => Mask::None,
    }
}

/// A (B, 1 or T, S) boolean mask over (B, h, T, S) scores, as bytes.
struct Hidden {
    bytes: Vec<u8>,
    heads: usize,
    queries: usize,
    mask_rows: usize,
}

impl Hidden {
    fn of(hidden: &BoolTensor<Flex>, scores: &Shape) -> Hidden {
        let [batch, heads, queries, keys] = scores.dims::<4>();
        let [mask_batch, mask_rows, mask_keys] = hidden.shape().dims::<3>();
        assert!(
            mask_batch == batch && mask_keys == keys && (mask_rows == 1 || mask_rows == queries),
            "mask of shape {:?} for scores of shape {:?}",
            hidden.shape(),
            scores
        );
        let bytes = hidden
            .clone()
            .into_data()
            .try_into_vec::<bool>()
            .expect("boolean mask")
            .into_iter()
            .map(u8::from)
            .collect();
        Hidden {
            bytes,
            heads,
            queries,
            mask_rows,
        }
    }

    fn mask(&self) -> Mask<'_> {
        Mask::Hidden {
            mask: &self.bytes,
            heads: self.heads,
            queries: self.queries,
            mask_rows: self.mask_rows,
        }
    }
}
