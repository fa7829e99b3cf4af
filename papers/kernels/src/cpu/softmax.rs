//! The attention weights of scaled dot-product attention ("Attention Is All You Need" §3.2.1,
//! Eq. 1 before the product with V): `P = softmax(mask(scale · S))` over the last dimension, with
//! hidden scores set to −1e9 first, exactly as the decomposed version does (so a row with every
//! key hidden gets uniform weights there too).
//!
//! Backward: `dS = scale · P ⊙ (dP − Σ_k dP_k P_k)`, zero where a score was hidden (its value
//! was a constant).

use std::mem::MaybeUninit;

use rayon::prelude::*;

use super::math::exp;
use super::{max, rows_per_task};

/// The value a hidden score takes before the softmax (as `mask_fill(mask, -1e9)`).
pub const MASKED_SCORE: f32 = -1.0e9;

/// Which scores each query may not see. Scores are rows of `keys` values; row `r` belongs to
/// query `r % queries` of head `(r / queries) % heads` of batch item `r / (queries · heads)`.
#[derive(Debug, Clone, Copy)]
pub enum Mask<'a> {
    /// Every key is visible.
    None,
    /// Query `t` sees keys `0 ..= t + keys − queries` (the queries are the last `queries`
    /// positions of the `keys`).
    Causal {
        /// Queries per head.
        queries: usize,
    },
    /// `mask[b, m, j]` true (non-zero) hides key `j`, with `m` the query (`mask_rows` =
    /// `queries`) or 0 (`mask_rows` = 1: one row for every query); the heads share it.
    Hidden {
        /// Booleans of shape (batch, mask_rows, keys).
        mask: &'a [u8],
        /// Heads per batch item.
        heads: usize,
        /// Queries per head.
        queries: usize,
        /// 1 or `queries`.
        mask_rows: usize,
    },
}

impl Mask<'_> {
    /// Which keys score row `row` may not see.
    #[inline(always)]
    pub(crate) fn row(&self, row: usize, keys: usize) -> RowMask<'_> {
        match *self {
            Mask::None => RowMask::None,
            Mask::Causal { queries } => RowMask::From(row % queries + 1 + keys - queries.min(keys)),
            Mask::Hidden {
                mask,
                heads,
                queries,
                mask_rows,
            } => {
                let batch = row / (queries * heads);
                let m = if mask_rows == 1 { 0 } else { row % queries };
                let start = (batch * mask_rows + m) * keys;
                RowMask::Hidden(&mask[start..start + keys])
            }
        }
    }
}

/// The hidden keys of one row.
#[derive(Clone, Copy)]
pub(crate) enum RowMask<'a> {
    None,
    /// Keys from this index on are hidden.
    From(usize),
    Hidden(&'a [u8]),
}

/// `out = softmax(mask(scale · scores))` of one row. Keys after a causal row's last visible one
/// get weight 0 without an `exp`; a hidden key's score is −1e9 (weight 0 unless every key is
/// hidden, when the row is uniform as in the decomposed version).
#[inline(always)]
pub(crate) fn softmax_row(
    scores: &[f32],
    scale: f32,
    hidden: RowMask,
    out: &mut [MaybeUninit<f32>],
) {
    let visible = match hidden {
        RowMask::From(first) => first.min(scores.len()),
        _ => scores.len(),
    };
    let (head, tail) = out.split_at_mut(visible);
    for o in tail {
        o.write(0.0);
    }
    match hidden {
        RowMask::Hidden(mask) => {
            for ((o, &s), &h) in head.iter_mut().zip(scores).zip(mask) {
                o.write(if h != 0 { MASKED_SCORE } else { s * scale });
            }
        }
        _ => {
            for (o, &s) in head.iter_mut().zip(scores) {
                o.write(s * scale);
            }
        }
    }
    // SAFETY: every element of `head` was just written.
    let out = unsafe { assume_init_mut(head) };
    let top = max(out);
    let mut lanes = [0f32; super::LANES];
    let split = out.len() - out.len() % super::LANES;
    for chunk in out[..split].chunks_exact_mut(super::LANES) {
        for (acc, v) in lanes.iter_mut().zip(chunk) {
            *v = exp(*v - top);
            *acc += *v;
        }
    }
    let mut total = lanes.iter().sum::<f32>();
    for v in &mut out[split..] {
        *v = exp(*v - top);
        total += *v;
    }
    let inverse = 1.0 / total;
    for v in out.iter_mut() {
        *v *= inverse;
    }
}

/// `ds = scale · p ⊙ (dp − Σ dp·p)` of one row, zero where hidden.
#[inline(always)]
pub(crate) fn softmax_backward_row(
    dp: &[f32],
    p: &[f32],
    scale: f32,
    hidden: RowMask,
    ds: &mut [MaybeUninit<f32>],
) {
    let keys = p.len();
    let mut lanes = [0f32; super::LANES];
    let split = keys - keys % super::LANES;
    for (dp, p) in dp[..split]
        .chunks_exact(super::LANES)
        .zip(p[..split].chunks_exact(super::LANES))
    {
        for lane in 0..super::LANES {
            lanes[lane] += dp[lane] * p[lane];
        }
    }
    let mut dot = lanes.iter().sum::<f32>();
    for j in split..keys {
        dot += dp[j] * p[j];
    }
    match hidden {
        RowMask::Hidden(mask) => {
            for (((ds, &dp), &p), &h) in ds.iter_mut().zip(dp).zip(p).zip(mask) {
                ds.write(if h != 0 { 0.0 } else { scale * p * (dp - dot) });
            }
        }
        RowMask::From(first) => {
            let first = first.min(keys);
            for (j, (ds, (&dp, &p))) in ds.iter_mut().zip(dp.iter().zip(p)).enumerate() {
                ds.write(if j >= first {
                    0.0
                } else {
                    scale * p * (dp - dot)
                });
            }
        }
        RowMask::None => {
            for (ds, (&dp, &p)) in ds.iter_mut().zip(dp.iter().zip(p)) {
                ds.write(scale * p * (dp - dot));
            }
        }
    }
}

/// `out = softmax(mask(scale · scores))` per row of `keys` values.
pub fn forward(scores: &[f32], keys: usize, scale: f32, mask: Mask, out: &mut [MaybeUninit<f32>]) {
    let per_task = rows_per_task(keys);
    scores
        .par_chunks(per_task * keys)
        .zip(out.par_chunks_mut(per_task * keys))
        .enumerate()
        .for_each(|(task, (scores, out))| {
            forward_rows(scores, keys, scale, mask, task * per_task, out)
        });
}

crate::simd_dispatch! {
    fn forward_rows(
        scores: &[f32],
        keys: usize,
        scale: f32,
        mask: Mask,
        first_row: usize,
        out: &mut [MaybeUninit<f32>],
    ) {
        for (i, (scores, out)) in scores.chunks_exact(keys).zip(out.chunks_exact_mut(keys)).enumerate() {
            softmax_row(scores, scale, mask.row(first_row + i, keys), out);
        }
    }
}

/// `d_scores = scale · P ⊙ (dP − Σ dP·P)`, zero where `mask` hides a score.
pub fn backward(
    d_probs: &[f32],
    probs: &[f32],
    keys: usize,
    scale: f32,
    mask: Mask,
    d_scores: &mut [MaybeUninit<f32>],
) {
    let per_task = rows_per_task(keys);
    d_probs
        .par_chunks(per_task * keys)
        .zip(probs.par_chunks(per_task * keys))
        .zip(d_scores.par_chunks_mut(per_task * keys))
        .enumerate()
        .for_each(|(task, ((d_probs, probs), d_scores))| {
            backward_rows(d_probs, probs, keys, scale, mask, task * per_task, d_scores)
        });
}

crate::simd_dispatch! {
    fn backward_rows(
        d_probs: &[f32],
        probs: &[f32],
        keys: usize,
        scale: f32,
        mask: Mask,
        first_row: usize,
        d_scores: &mut [MaybeUninit<f32>],
    ) {
        for (i, ((dp, p), ds)) in d_probs
            .chunks_exact(keys)
            .zip(probs.chunks_exact(keys))
            .zip(d_scores.chunks_exact_mut(keys))
            .enumerate()
        {
            softmax_backward_row(dp, p, scale, mask.row(first_row + i, keys), ds);
        }
    }
}

/// The slice as initialised values.
///
/// # Safety
/// Every element must have been written.
#[inline(always)]
pub(crate) unsafe fn assume_init_mut(values: &mut [MaybeUninit<f32>]) -> &mut [f32] {
    // SAFETY: MaybeUninit<f32> has f32's layout, and the caller guarantees initialisation.
    unsafe { &mut *(values as *mut [MaybeUninit<f32>] as *mut [f32]) }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cpu::tests::{assert_close, init, random, written};

    fn reference(
        scores: &[f32],
        keys: usize,
        scale: f32,
        hidden: impl Fn(usize, usize) -> bool,
    ) -> Vec<f64> {
        scores
            .chunks(keys)
            .enumerate()
            .flat_map(|(r, row)| {
                let v: Vec<f64> = row
                    .iter()
                    .enumerate()
                    .map(|(j, &s)| {
                        if hidden(r, j) {
                            -1e9
                        } else {
                            (s * scale) as f64
                        }
                    })
                    .collect();
                let top = v.iter().copied().fold(f64::MIN, f64::max);
                let total: f64 = v.iter().map(|x| (x - top).exp()).sum();
                v.into_iter()
                    .map(move |x| (x - top).exp() / total)
                    .collect::<Vec<_>>()
            })
            .collect()
    }

    #[test]
    fn forward_matches_the_definition_with_each_kind_of_mask() {
        let (batch, heads, queries, keys) = (2, 3, 5, 37);
        let scores = random(batch * heads * queries * keys, 1, 8.0);
        let rows = batch * heads * queries;
        let hidden_bits: Vec<u8> = random(batch * queries * keys, 2, 1.0)
            .iter()
            .map(|v| u8::from(*v > 0.3))
            .collect();
        type Hides<'a> = Box<dyn Fn(usize, usize) -> bool + 'a>;
        let cases: Vec<(Mask, Hides)> = vec![
            (Mask::None, Box::new(|_, _| false)),
            (
                Mask::Causal { queries },
                Box::new(move |r, j| j > r % queries + keys - queries),
            ),
            (
                Mask::Hidden {
                    mask: &hidden_bits,
                    heads,
                    queries,
                    mask_rows: queries,
                },
                Box::new(|r, j| {
                    hidden_bits[((r / (queries * heads)) * queries + r % queries) * keys + j] != 0
                }),
            ),
            (
                Mask::Hidden {
                    mask: &hidden_bits[..batch * keys],
                    heads,
                    queries,
                    mask_rows: 1,
                },
                Box::new(|r, j| hidden_bits[(r / (queries * heads)) * keys + j] != 0),
            ),
        ];
        for (mask, hidden) in cases {
            let mut out = init(rows * keys);
            forward(&scores, keys, 0.5, mask, &mut out);
            assert_close(
                &written(out),
                &reference(&scores, keys, 0.5, hidden),
                2e-6,
                "softmax",
            );
        }
    }

    #[test]
    fn a_row_with_every_key_hidden_is_uniform_and_passes_no_gradient() {
        let mask = [1u8; 4];
        let hidden = Mask::Hidden {
            mask: &mask,
            heads: 1,
            queries: 1,
            mask_rows: 1,
        };
        let mut out = init(4);
        forward(&[1.0, 2.0, 3.0, 4.0], 4, 1.0, hidden, &mut out);
        assert_eq!(written(out), vec![0.25; 4]);
        let mut ds = init(4);
        backward(&[1.0, 0.0, 0.0, 0.0], &[0.25; 4], 4, 1.0, hidden, &mut ds);
        assert_eq!(written(ds), vec![0.0; 4]);
    }

    #[test]
    fn backward_matches_finite_differences() {
        let (queries, keys) = (6, 6);
        let scores = random(queries * keys, 3, 2.0);
        let dp = random(queries * keys, 4, 1.0);
        let mask = Mask::Causal { queries };
        let mut probs = init(queries * keys);
        forward(&scores, keys, 0.7, mask, &mut probs);
        let probs = written(probs);
        let mut ds = init(queries * keys);
        backward(&dp, &probs, keys, 0.7, mask, &mut ds);
        let ds = written(ds);
        let loss = |s: &[f32]| -> f64 {
            reference(s, keys, 0.7, |r, j| j > r % queries)
                .iter()
                .zip(&dp)
                .map(|(p, &d)| p * d as f64)
                .sum()
        };
        for i in 0..queries * keys {
            let h = 1e-3;
            let (mut up, mut down) = (scores.clone(), scores.clone());
            up[i] += h;
            down[i] -= h;
            let numeric = (loss(&up) - loss(&down)) / (2.0 * h as f64);
            assert!(
                (ds[i] as f64 - numeric).abs() < 1e-3,
                "d_scores[{i}]: {} vs {numeric}",
                ds[i]
            );
        }
    }
}
