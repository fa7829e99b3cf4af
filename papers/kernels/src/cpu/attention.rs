//! The whole attention core of "Attention Is All You Need" §3.2.1 (Eq. 1) in one pass per head:
//! `O = dropout(softmax(mask(scale · Q Kᵀ))) V`, with queries, keys and values read in the
//! (B, L, h, d_k) layout the projections produce and the output written in it (no transposed
//! copies), the (T, S) scores of one head living in a buffer of their own, and the attention
//! weights kept for the backward pass:
//! `dV = P'ᵀ dO`, `dP' = dO Vᵀ`, `dP = dP' ⊙ m / (1 − p)`, `dS = scale · P ⊙ (dP − Σ dP·P)`,
//! `dQ = dS K`, `dK = dSᵀ Q`.
//!
//! Heads are independent: each (batch item, head) pair is one task, its products computed by
//! gemm on one thread, so results do not depend on the number of threads. Dropout masks are
//! the hash masks of [`super::dropout`] over the (B, h, T, S) weights, the same as dropout
//! applied to the weights tensor.

use std::cell::RefCell;
use std::mem::MaybeUninit;

use rayon::prelude::*;

use super::dropout;
use super::softmax::{Mask, assume_init_mut, softmax_backward_row, softmax_row};

/// Queries, keys or values of every head: (batch, len, heads, d_k) with `stride` values from one
/// position to the next — heads·d_k when contiguous, 3·heads·d_k for one third of a packed
/// (batch, len, 3·heads·d_k) QKV projection, read in place.
#[derive(Debug, Clone, Copy)]
pub struct Heads<'a> {
    /// The values, from (batch 0, position 0, head 0).
    pub data: &'a [f32],
    /// Positions per batch item.
    pub len: usize,
    /// Values from one position to the next.
    pub stride: usize,
}

impl Heads<'_> {
    /// Panics unless `data` holds `batch` items of `len` positions of heads·d_k values at this
    /// stride: the kernels read it through raw strides.
    fn check(&self, g: &Geometry, len: usize, what: &str) {
        let width = g.heads * g.d_k;
        let rows = g.batch * len;
        assert!(
            self.len == len
                && self.stride >= width
                && (rows == 0 || self.data.len() >= (rows - 1) * self.stride + width),
            "attention: {what} holds {} values at stride {} for {} positions per item, not {} items of {len} × {width}",
            self.data.len(),
            self.stride,
            self.len,
            g.batch
        );
    }

    /// Offset of (b, position 0, head) in `data`.
    fn base(&self, b: usize, head: usize, d_k: usize) -> usize {
        b * self.len * self.stride + head * d_k
    }
}

/// Panics unless q, k and v fit the geometry and `out_len` is the (B, T, h, d_k) output's size.
fn check_operands([q, k, v]: &[Heads; 3], g: &Geometry, out_len: usize) {
    q.check(g, g.queries, "q");
    k.check(g, g.keys, "k");
    v.check(g, g.keys, "v");
    assert_eq!(
        out_len,
        g.batch * g.queries * g.heads * g.d_k,
        "attention output"
    );
}

/// Where the backward pass writes dQ, dK and dV: laid out as the inputs are (same strides).
pub enum InputGrads<'a> {
    /// Three contiguous (batch, len, heads, d_k) tensors.
    Separate {
        /// dQ.
        dq: &'a mut [MaybeUninit<f32>],
        /// dK.
        dk: &'a mut [MaybeUninit<f32>],
        /// dV.
        dv: &'a mut [MaybeUninit<f32>],
    },
    /// One (batch, len, 3·heads·d_k) tensor, the gradient of a packed QKV projection.
    Packed(&'a mut [MaybeUninit<f32>]),
}

/// The shape shared by one call: batch items, heads and head width.
#[derive(Debug, Clone, Copy)]
pub struct Geometry {
    /// Batch items.
    pub batch: usize,
    /// Heads.
    pub heads: usize,
    /// Width of a head.
    pub d_k: usize,
    /// Query positions.
    pub queries: usize,
    /// Key (and value) positions.
    pub keys: usize,
}

impl Geometry {
    /// Offset of (b, position 0, head) in the contiguous (batch, queries, heads, d_k) output.
    fn base(&self, b: usize, head: usize) -> usize {
        (b * self.queries * self.heads + head) * self.d_k
    }

    /// Stride between positions of one head in the output.
    fn row_stride(&self) -> isize {
        (self.heads * self.d_k) as isize
    }
}

/// Dropout of the attention weights: probability and seed (`None`: no dropout).
pub type WeightDropout = Option<(f64, u64)>;

/// A pointer shared by the tasks, each of which writes a disjoint set of elements.
#[derive(Clone, Copy)]
struct Shared(*mut f32);
// SAFETY: the tasks write disjoint elements (their own head), and the caller outlives them.
unsafe impl Send for Shared {}
unsafe impl Sync for Shared {}

impl Shared {
    /// The element `offset` places further (a method, so that closures capture the wrapper).
    fn at(self, offset: usize) -> *mut f32 {
        self.0.wrapping_add(offset)
    }
}

/// `dst (m × n) = lhs (m × k) · rhs (k × n)`, or `dst += …` when `accumulate`; every operand
/// given by (pointer, row stride, column stride), on this thread.
///
/// # Safety
/// The pointers must address the strided matrices they describe, `dst` writable.
unsafe fn product(
    (m, n, k): (usize, usize, usize),
    dst: (*mut f32, isize, isize),
    lhs: (*const f32, isize, isize),
    rhs: (*const f32, isize, isize),
    accumulate: bool,
) {
    if m == 0 || n == 0 {
        return;
    }
    // SAFETY: forwarded from the caller.
    unsafe {
        gemm::gemm(
            m,
            n,
            k,
            dst.0,
            dst.2,
            dst.1,
            accumulate,
            lhs.0,
            lhs.2,
            lhs.1,
            rhs.0,
            rhs.2,
            rhs.1,
            if accumulate { 1.0 } else { 0.0 },
            1.0,
            false,
            false,
            false,
            gemm::Parallelism::None,
        );
    }
}

thread_local! {
    /// Each thread's score-sized buffers, reused across heads and calls: zeroing and allocating
    /// fresh (T, S) buffers per head cost more than the softmax. Never zeroed: a head reads only
    /// elements it has written first.
    static SCRATCH: RefCell<Vec<f32>> = const { RefCell::new(Vec::new()) };
}

/// Runs `f` on `P` buffers of `n` values from this thread's scratch (contents unspecified).
fn with_scratch<const P: usize, R>(n: usize, f: impl FnOnce([&mut [f32]; P]) -> R) -> R {
    SCRATCH.with(|scratch| {
        let mut scratch = scratch.borrow_mut();
        if scratch.len() < P * n {
            scratch.resize(P * n, 0.0);
        }
        let mut parts = scratch[..P * n].chunks_exact_mut(n.max(1));
        f(std::array::from_fn(|_| parts.next().unwrap_or_default()))
    })
}

/// `values` as slots a kernel writes (always with initialised values).
fn as_slots(values: &mut [f32]) -> &mut [MaybeUninit<f32>] {
    // SAFETY: MaybeUninit<f32> has f32's layout; the kernels write only initialised values.
    unsafe { std::slice::from_raw_parts_mut(values.as_mut_ptr().cast(), values.len()) }
}

/// Query rows per block of a causal head: a block's products stop at the last key its last
/// query sees, so the hidden upper triangle is (mostly) never computed.
const QUERY_BLOCK: usize = 32;

/// The query blocks of a head and the keys each block reads: one block over every key unless
/// causal.
fn query_blocks(mask: &Mask, t: usize, s: usize) -> Vec<(std::ops::Range<usize>, usize)> {
    match mask {
        Mask::Causal { .. } => (0..t)
            .step_by(QUERY_BLOCK)
            .map(|r0| {
                let r1 = (r0 + QUERY_BLOCK).min(t);
                (r0..r1, (r1 + s - t.min(s)).min(s))
            })
            .collect(),
        _ => vec![(0..t, s)],
    }
}

/// Applies the weights' dropout mask (scaled) to the first `visible` weights of each row of a
/// (rows × s) block whose first row is score row `first_row` of the (B, h, T, S) weights.
fn drop_rows(
    block: &mut [f32],
    s: usize,
    visible: usize,
    first_row: usize,
    dropout: WeightDropout,
) {
    if let Some((prob, seed)) = dropout {
        for (i, row) in block.chunks_exact_mut(s).enumerate() {
            dropout::apply_in_place(&mut row[..visible], (first_row + i) * s, prob, seed);
        }
    }
}

/// Forward: writes the output (B, T, h, d_k) and, when `probs` is given, the attention weights
/// (B, h, T, S) before dropout.
#[allow(clippy::too_many_arguments)]
pub fn forward(
    q: Heads,
    k: Heads,
    v: Heads,
    geometry: Geometry,
    scale: f32,
    mask: Mask,
    dropout: WeightDropout,
    out: &mut [MaybeUninit<f32>],
    probs: Option<&mut [MaybeUninit<f32>]>,
) {
    let g = geometry;
    let (t, s) = (g.queries, g.keys);
    check_operands(&[q, k, v], &g, out.len());
    if let Some(probs) = &probs {
        assert_eq!(probs.len(), g.batch * g.heads * t * s, "attention weights");
    }
    let out_ptr = Shared(out.as_mut_ptr().cast::<f32>());
    let probs_ptr = probs.map(|p| Shared(p.as_mut_ptr().cast::<f32>()));
    let blocks = query_blocks(&mask, t, s);
    (0..g.batch * g.heads)
        .into_par_iter()
        .for_each(|head_index| {
            let (b, head) = (head_index / g.heads, head_index % g.heads);
            let stride = g.row_stride();
            let rows = stride as usize;
            let (q_head, k_head, v_head) = (
                q.data[q.base(b, head, g.d_k)..].as_ptr(),
                k.data[k.base(b, head, g.d_k)..].as_ptr(),
                v.data[v.base(b, head, g.d_k)..].as_ptr(),
            );
            // A causal block computes (and its softmax reads) only the scores its queries can see.
            with_scratch(t * s, |[scores, weights]| {
                let weights = as_slots(weights);
                for (block_rows, visible) in &blocks {
                    let (r0, n, visible) = (block_rows.start, block_rows.len(), *visible);
                    // SAFETY: Q's rows r0.. and K's first `visible` rows of this head, strided.
                    unsafe {
                        product(
                            (n, visible, g.d_k),
                            (scores[r0 * s..].as_mut_ptr(), s as isize, 1),
                            (q_head.add(r0 * q.stride), q.stride as isize, 1),
                            (k_head, 1, k.stride as isize),
                            false,
                        );
                    }
                    let first_row = head_index * t + r0;
                    let block_scores = &scores[r0 * s..(r0 + n) * s];
                    let block_weights = &mut weights[r0 * s..(r0 + n) * s];
                    softmax_rows(
                        block_scores,
                        s,
                        visible,
                        scale,
                        mask,
                        first_row,
                        block_weights,
                    );
                    // SAFETY: `softmax_rows` writes every element of the block.
                    let block_weights = unsafe { assume_init_mut(block_weights) };
                    if let Some(probs) = probs_ptr {
                        // SAFETY: these rows of this head's weights are written by this task alone.
                        unsafe {
                            std::ptr::copy_nonoverlapping(
                                block_weights.as_ptr(),
                                probs.at(first_row * s),
                                n * s,
                            );
                        }
                    }
                    drop_rows(block_weights, s, visible, first_row, dropout);
                    // SAFETY: these output rows of this head are written by this task alone.
                    unsafe {
                        product(
                            (n, g.d_k, visible),
                            (out_ptr.at(g.base(b, head) + r0 * rows), stride, 1),
                            (block_weights.as_ptr(), s as isize, 1),
                            (v_head, v.stride as isize, 1),
                            false,
                        );
                    }
                }
            });
        });
}

crate::simd_dispatch! {
    /// Softmax of rows of `s` scores of which the first `visible` were computed; the rest get
    /// weight 0 (they are hidden).
    fn softmax_rows(
        scores: &[f32],
        s: usize,
        visible: usize,
        scale: f32,
        mask: Mask,
        first_row: usize,
        out: &mut [MaybeUninit<f32>],
    ) {
        for (i, (row, out)) in scores.chunks_exact(s).zip(out.chunks_exact_mut(s)).enumerate() {
            let (head, tail) = out.split_at_mut(visible);
            softmax_row(&row[..visible], scale, mask.row(first_row + i, s), head);
            for o in tail {
                o.write(0.0);
            }
        }
    }
}

crate::simd_dispatch! {
    #[allow(clippy::too_many_arguments)]
    fn softmax_backward_rows(
        dp: &[f32],
        p: &[f32],
        s: usize,
        visible: usize,
        scale: f32,
        mask: Mask,
        first_row: usize,
        ds: &mut [MaybeUninit<f32>],
    ) {
        for (i, ((dp, p), ds)) in dp.chunks_exact(s).zip(p.chunks_exact(s)).zip(ds.chunks_exact_mut(s)).enumerate() {
            let (head, tail) = ds.split_at_mut(visible);
            softmax_backward_row(&dp[..visible], &p[..visible], scale, mask.row(first_row + i, s), head);
            for o in tail {
                o.write(0.0);
            }
        }
    }
}

/// Zeroes `count` strided rows of `width` values from `at`.
///
/// # Safety
/// The rows must be writable.
unsafe fn zero_rows(at: *mut f32, count: usize, width: usize, stride: usize) {
    for row in 0..count {
        // SAFETY: forwarded from the caller.
        unsafe { std::ptr::write_bytes(at.add(row * stride), 0, width) };
    }
}

/// Gradients of [`forward`]: writes dQ, dK and dV where `grads` says, laid out as Q, K and V.
#[allow(clippy::too_many_arguments)]
pub fn backward(
    d_out: &[f32],
    q: Heads,
    k: Heads,
    v: Heads,
    probs: &[f32],
    geometry: Geometry,
    scale: f32,
    mask: Mask,
    dropout: WeightDropout,
    grads: InputGrads,
) {
    let g = geometry;
    let (t, s) = (g.queries, g.keys);
    let width = g.heads * g.d_k;
    check_operands(&[q, k, v], &g, d_out.len());
    assert_eq!(probs.len(), g.batch * g.heads * t * s, "attention weights");
    let (dq_ptr, dk_ptr, dv_ptr) = match grads {
        InputGrads::Separate { dq, dk, dv } => {
            assert!(
                dq.len() == g.batch * t * width
                    && dk.len() == g.batch * s * width
                    && dv.len() == dk.len()
                    && [q.stride, k.stride, v.stride] == [width; 3],
                "separate gradients of contiguous inputs"
            );
            (
                Shared(dq.as_mut_ptr().cast::<f32>()),
                Shared(dk.as_mut_ptr().cast::<f32>()),
                Shared(dv.as_mut_ptr().cast::<f32>()),
            )
        }
        InputGrads::Packed(dqkv) => {
            assert!(
                dqkv.len() == g.batch * t * 3 * width
                    && t == s
                    && [q.stride, k.stride, v.stride] == [3 * width; 3],
                "a packed gradient of packed inputs"
            );
            let base = Shared(dqkv.as_mut_ptr().cast::<f32>());
            (base, Shared(base.at(width)), Shared(base.at(2 * width)))
        }
    };
    let blocks = query_blocks(&mask, t, s);
    (0..g.batch * g.heads)
        .into_par_iter()
        .for_each(|head_index| {
            let (b, head) = (head_index / g.heads, head_index % g.heads);
            let stride = g.row_stride();
            let rows = stride as usize;
            let (q_base, k_base, v_base) = (
                q.base(b, head, g.d_k),
                k.base(b, head, g.d_k),
                v.base(b, head, g.d_k),
            );
            let (q_head, k_head, v_head, d_out_head) = (
                q.data[q_base..].as_ptr(),
                k.data[k_base..].as_ptr(),
                v.data[v_base..].as_ptr(),
                d_out[g.base(b, head)..].as_ptr(),
            );
            let (dq_head, dk_head, dv_head) =
                (dq_ptr.at(q_base), dk_ptr.at(k_base), dv_ptr.at(v_base));
            // dK and dV sum over the query blocks.
            // SAFETY: this head's rows of dk and dv are written by this task alone.
            unsafe {
                zero_rows(dk_head, s, g.d_k, k.stride);
                zero_rows(dv_head, s, g.d_k, v.stride);
            }
            let p_head = &probs[head_index * t * s..(head_index + 1) * t * s];
            // Each block reads the first `visible` columns of its rows, written just before.
            with_scratch(t * s, |[dropped, d_weights, d_scores]| {
                let d_scores = as_slots(d_scores);
                for (block_rows, visible) in &blocks {
                    let (r0, n, visible) = (block_rows.start, block_rows.len(), *visible);
                    let first_row = head_index * t + r0;
                    let p = &p_head[r0 * s..(r0 + n) * s];
                    // P' (after dropout) of these rows, for dV.
                    let dropped = &mut dropped[r0 * s..(r0 + n) * s];
                    dropped.copy_from_slice(p);
                    drop_rows(dropped, s, visible, first_row, dropout);
                    let d_out_rows = d_out_head.wrapping_add(r0 * rows);
                    // SAFETY: each product reads this head's strided views and writes this head's rows.
                    unsafe {
                        product(
                            (visible, g.d_k, n),
                            (dv_head, v.stride as isize, 1),
                            (dropped.as_ptr(), 1, s as isize),
                            (d_out_rows, stride, 1),
                            true,
                        );
                        product(
                            (n, visible, g.d_k),
                            (d_weights[r0 * s..].as_mut_ptr(), s as isize, 1),
                            (d_out_rows, stride, 1),
                            (v_head, 1, v.stride as isize),
                            false,
                        );
                    }
                    let block_dw = &mut d_weights[r0 * s..(r0 + n) * s];
                    // Through the dropout mask, then the softmax.
                    drop_rows(block_dw, s, visible, first_row, dropout);
                    let block_ds = &mut d_scores[r0 * s..(r0 + n) * s];
                    softmax_backward_rows(
                        block_dw, p, s, visible, scale, mask, first_row, block_ds,
                    );
                    // SAFETY: written completely just above.
                    let block_ds = unsafe { assume_init_mut(block_ds) };
                    // SAFETY: as above.
                    unsafe {
                        product(
                            (n, g.d_k, visible),
                            (dq_head.wrapping_add(r0 * q.stride), q.stride as isize, 1),
                            (block_ds.as_ptr(), s as isize, 1),
                            (k_head, k.stride as isize, 1),
                            false,
                        );
                        product(
                            (visible, g.d_k, n),
                            (dk_head, k.stride as isize, 1),
                            (block_ds.as_ptr(), 1, s as isize),
                            (q_head.add(r0 * q.stride), q.stride as isize, 1),
                            true,
                        );
                    }
                }
            });
        });
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cpu::tests::{init, random, written};

    /// The decomposed computation in f64: (out, probs).
    fn reference(
        q: &[f32],
        k: &[f32],
        v: &[f32],
        g: Geometry,
        scale: f64,
        hidden: &dyn Fn(usize, usize, usize) -> bool,
    ) -> Vec<f64> {
        let (t, s, h, d) = (g.queries, g.keys, g.heads, g.d_k);
        let mut out = vec![0.0; g.batch * t * h * d];
        for b in 0..g.batch {
            for head in 0..h {
                for i in 0..t {
                    let row = (b * h + head) * t + i;
                    let scores: Vec<f64> = (0..s)
                        .map(|j| {
                            if hidden(row, i, j) {
                                -1e9
                            } else {
                                scale
                                    * (0..d)
                                        .map(|c| {
                                            q[((b * t + i) * h + head) * d + c] as f64
                                                * k[((b * s + j) * h + head) * d + c] as f64
                                        })
                                        .sum::<f64>()
                            }
                        })
                        .collect();
                    let top = scores.iter().copied().fold(f64::MIN, f64::max);
                    let total: f64 = scores.iter().map(|x| (x - top).exp()).sum();
                    for c in 0..d {
                        out[((b * t + i) * h + head) * d + c] = (0..s)
                            .map(|j| {
                                (scores[j] - top).exp() / total
                                    * v[((b * s + j) * h + head) * d + c] as f64
                            })
                            .sum();
                    }
                }
            }
        }
        out
    }

    #[test]
    fn forward_matches_the_definition_causal_and_masked() {
        let g = Geometry {
            batch: 2,
            heads: 3,
            d_k: 5,
            queries: 7,
            keys: 7,
        };
        let n = g.batch * g.queries * g.heads * g.d_k;
        let (q, k, v) = (random(n, 1, 1.0), random(n, 2, 1.0), random(n, 3, 1.0));
        let heads = |data| Heads {
            data,
            len: 7,
            stride: 15,
        };
        let mut out = init(n);
        forward(
            heads(&q),
            heads(&k),
            heads(&v),
            g,
            0.5,
            Mask::Causal { queries: 7 },
            None,
            &mut out,
            None,
        );
        let want = reference(&q, &k, &v, g, 0.5, &|_, i, j| j > i);
        crate::cpu::tests::assert_close(&written(out), &want, 1e-5, "causal attention");
        let bits: Vec<u8> = random(2 * 7, 4, 1.0)
            .iter()
            .map(|x| u8::from(*x > 0.3))
            .collect();
        let mask = Mask::Hidden {
            mask: &bits,
            heads: 3,
            queries: 7,
            mask_rows: 1,
        };
        let mut out = init(n);
        forward(
            heads(&q),
            heads(&k),
            heads(&v),
            g,
            0.5,
            mask,
            None,
            &mut out,
            None,
        );
        let want = reference(&q, &k, &v, g, 0.5, &|row, _, j| {
            bits[(row / 21) * 7 + j] != 0
        });
        crate::cpu::tests::assert_close(&written(out), &want, 1e-5, "masked attention");
    }
}
