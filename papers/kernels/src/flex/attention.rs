//! The attention core on flex tensors: q, k and v as three (B, L, h, d_k) tensors, or read in
//! place from one packed (B, T, 3·h·d_k) QKV projection (GPT's `c_attn`), whose gradient the
//! backward pass writes packed too — no split copies forward, no zero-filled slices and sums
//! backward.

use burn::backend::tensor::BoolTensor;
use burn::backend::{Flex, TensorMetadata};
use burn::tensor::Shape;
use burn_flex::FlexTensor;

use super::{Hidden, Values, tensor, uninit};
use crate::cpu::attention::{self, Geometry, Heads, InputGrads};
use crate::cpu::softmax::Mask;

/// The geometry of q (B, T, h, d_k) and k, v (B, S, h, d_k).
fn geometry(q: &Shape, k: &Shape, v: &Shape) -> Geometry {
    let [batch, queries, heads, d_k] = q.dims::<4>();
    let [k_batch, keys, k_heads, k_width] = k.dims::<4>();
    assert!(
        k_batch == batch && k_heads == heads && k_width == d_k && v == k,
        "attention: q {q:?}, k {k:?} and v {v:?} disagree"
    );
    Geometry {
        batch,
        heads,
        d_k,
        queries,
        keys,
    }
}

fn attention_mask<'a>(hidden: Option<&'a Hidden>, causal: bool, g: &Geometry) -> Mask<'a> {
    match (hidden, causal) {
        (Some(hidden), _) => hidden.mask(),
        (None, true) => Mask::Causal { queries: g.queries },
        (None, false) => Mask::None,
    }
}

fn weight_dropout(prob: f64, seed: u64) -> attention::WeightDropout {
    (prob > 0.0).then_some((prob, seed))
}

/// q, k and v of every head from three contiguous tensors' values.
fn separate_heads<'a>([q, k, v]: [&'a [f32]; 3], g: &Geometry) -> [Heads<'a>; 3] {
    let stride = g.heads * g.d_k;
    [(q, g.queries), (k, g.keys), (v, g.keys)].map(|(data, len)| Heads { data, len, stride })
}

#[allow(clippy::too_many_arguments)]
pub(super) fn attend(
    q: &FlexTensor,
    k: &FlexTensor,
    v: &FlexTensor,
    hidden: Option<&BoolTensor<Flex>>,
    causal: bool,
    scale: f64,
    dropout: f64,
    seed: u64,
    keep_weights: bool,
) -> (FlexTensor, Option<FlexTensor>) {
    let (q_shape, k_shape) = (q.shape(), k.shape());
    let g = geometry(&q_shape, &k_shape, &v.shape());
    let scores_shape = Shape::new([g.batch, g.heads, g.queries, g.keys]);
    let hidden = hidden.map(|h| Hidden::of(h, &scores_shape));
    let (q, k, v) = (Values::of(q), Values::of(k), Values::of(v));
    run_forward(
        separate_heads([q.f32(), k.f32(), v.f32()], &g),
        g,
        attention_mask(hidden.as_ref(), causal, &g),
        (scale, dropout, seed),
        q_shape,
        keep_weights,
    )
}

/// Runs the kernel on `heads` into a fresh output of `out_shape` and, when asked, fresh weights
/// (B, h, T, S).
fn run_forward(
    [q, k, v]: [Heads; 3],
    g: Geometry,
    mask: Mask,
    (scale, dropout, seed): (f64, f64, u64),
    out_shape: Shape,
    keep_weights: bool,
) -> (FlexTensor, Option<FlexTensor>) {
    let scores_shape = Shape::new([g.batch, g.heads, g.queries, g.keys]);
    let mut out = uninit(out_shape.num_elements());
    let mut weights = keep_weights.then(|| uninit(scores_shape.num_elements()));
    attention::forward(
        q,
        k,
        v,
        g,
        scale as f32,
        mask,
        weight_dropout(dropout, seed),
        &mut out,
        weights.as_deref_mut(),
    );
    (
        tensor(out, out_shape),
        weights.map(|w| tensor(w, scores_shape)),
    )
}

#[allow(clippy::too_many_arguments)]
pub(super) fn attend_backward(
    grad: &FlexTensor,
    q: &FlexTensor,
    k: &FlexTensor,
    v: &FlexTensor,
    probs: &FlexTensor,
    hidden: Option<&BoolTensor<Flex>>,
    causal: bool,
    scale: f64,
    dropout: f64,
    seed: u64,
) -> (FlexTensor, FlexTensor, FlexTensor) {
    let (q_shape, k_shape) = (q.shape(), k.shape());
    let g = geometry(&q_shape, &k_shape, &v.shape());
    let hidden = hidden.map(|h| Hidden::of(h, &probs.shape()));
    let values = [grad, q, k, v, probs].map(Values::of);
    let [grad, q, k, v, probs] = &values;
    let (mut dq, mut dk, mut dv) = (
        uninit(q_shape.num_elements()),
        uninit(k_shape.num_elements()),
        uninit(k_shape.num_elements()),
    );
    let [q, k, v] = separate_heads([q.f32(), k.f32(), v.f32()], &g);
    attention::backward(
        grad.f32(),
        q,
        k,
        v,
        probs.f32(),
        g,
        scale as f32,
        attention_mask(hidden.as_ref(), causal, &g),
        weight_dropout(dropout, seed),
        InputGrads::Separate {
            dq: &mut dq,
            dk: &mut dk,
            dv: &mut dv,
        },
    );
    (
        tensor(dq, q_shape),
        tensor(dk, k_shape.clone()),
        tensor(dv, k_shape),
    )
}

/// The geometry of a packed (B, T, 3·h·d_k) QKV tensor of `heads` heads.
fn packed_geometry(qkv: &Shape, heads: usize) -> Geometry {
    let [batch, len, packed] = qkv.dims::<3>();
    assert!(
        heads > 0 && packed % (3 * heads) == 0,
        "packed attention: {packed} values per position are not q, k and v of {heads} heads"
    );
    Geometry {
        batch,
        heads,
        d_k: packed / (3 * heads),
        queries: len,
        keys: len,
    }
}

/// q, k and v of every head, read in place from a packed QKV tensor's values.
fn packed_heads<'a>(data: &'a [f32], g: &Geometry) -> [Heads<'a>; 3] {
    let width = g.heads * g.d_k;
    [0, 1, 2].map(|part| Heads {
        data: &data[part * width..],
        len: g.queries,
        stride: 3 * width,
    })
}

/// Attention over a packed QKV tensor: the output (B, T, h·d_k) and, when asked, the weights.
#[allow(clippy::too_many_arguments)]
pub(super) fn attend_packed(
    qkv: &FlexTensor,
    heads: usize,
    causal: bool,
    scale: f64,
    dropout: f64,
    seed: u64,
    keep_weights: bool,
) -> (FlexTensor, Option<FlexTensor>) {
    let g = packed_geometry(&qkv.shape(), heads);
    let values = Values::of(qkv);
    run_forward(
        packed_heads(values.f32(), &g),
        g,
        attention_mask(None, causal, &g),
        (scale, dropout, seed),
        Shape::new([g.batch, g.queries, g.heads * g.d_k]),
        keep_weights,
    )
}

/// Gradient of [`attend_packed`] with respect to the packed QKV tensor, packed.
#[allow(clippy::too_many_arguments)]
pub(super) fn attend_packed_backward(
    grad: &FlexTensor,
    qkv: &FlexTensor,
    probs: &FlexTensor,
    heads: usize,
    causal: bool,
    scale: f64,
    dropout: f64,
    seed: u64,
) -> FlexTensor {
    let shape = qkv.shape();
    let g = packed_geometry(&shape, heads);
    let values = [grad, qkv, probs].map(Values::of);
    let [grad, qkv, probs] = &values;
    let [q, k, v] = packed_heads(qkv.f32(), &g);
    let mut dqkv = uninit(shape.num_elements());
    attention::backward(
        grad.f32(),
        q,
        k,
        v,
        probs.f32(),
        g,
        scale as f32,
        attention_mask(None, causal, &g),
        weight_dropout(dropout, seed),
        InputGrads::Packed(&mut dqkv),
    );
    tensor(dqkv, shape)
}
