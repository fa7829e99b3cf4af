//! Dropout (Srivastava et al. 2014; "Attention Is All You Need" §5.4): `y = x · m / (1 − p)`
//! with `m_i ~ Bernoulli(1 − p)`, where each `m_i` is a hash of (seed, i) rather than a draw from
//! a sequential generator: computed in one vectorised pass, regenerated (not stored) by the
//! backward pass, the same on any number of threads.

use std::mem::MaybeUninit;

use rayon::prelude::*;

const CHUNK: usize = 16_384;

/// Chris Wellons' `lowbias32` integer hash: good avalanche for consecutive inputs, and only
/// shifts, xors and 32-bit multiplies, which vectorise.
#[inline(always)]
fn lowbias32(mut x: u32) -> u32 {
    x ^= x >> 16;
    x = x.wrapping_mul(0x7feb_352d);
    x ^= x >> 15;
    x = x.wrapping_mul(0x846c_a68b);
    x ^= x >> 16;
    x
}

/// Whether element `index` is kept: `hash(seed, index) ≥ p · 2³²`.
#[inline(always)]
fn kept(seed: u64, index: u32, threshold: u32) -> bool {
    let (low, high) = (seed as u32, (seed >> 32) as u32);
    lowbias32(lowbias32(index ^ low).wrapping_add(high)) >= threshold
}

/// The threshold below which a hash drops its element: `p · 2³²`.
fn threshold(prob: f64) -> u32 {
    (prob.clamp(0.0, 1.0) * 4_294_967_296.0).min(u32::MAX as f64) as u32
}

/// `y = x · m / (1 − prob)` with the mask of `seed` (also the backward pass: `dx = dy · m / (1 − p)`).
pub fn apply(x: &[f32], prob: f64, seed: u64, y: &mut [MaybeUninit<f32>]) {
    assert!(
        x.len() <= u32::MAX as usize,
        "dropout indexes elements with 32 bits"
    );
    let (threshold, scale) = (threshold(prob), (1.0 / (1.0 - prob)) as f32);
    x.par_chunks(CHUNK)
        .zip(y.par_chunks_mut(CHUNK))
        .enumerate()
        .for_each(|(chunk, (x, y))| {
            apply_chunk(x, (chunk * CHUNK) as u32, threshold, scale, seed, y)
        });
}

crate::simd_dispatch! {
    fn apply_chunk(x: &[f32], first: u32, threshold: u32, scale: f32, seed: u64, y: &mut [MaybeUninit<f32>]) {
        for (i, (y, &v)) in y.iter_mut().zip(x).enumerate() {
            y.write(if kept(seed, first + i as u32, threshold) { v * scale } else { 0.0 });
        }
    }
}

/// [`apply`] in place on `x`, the elements `first..` of a larger tensor (one thread).
pub fn apply_in_place(x: &mut [f32], first: usize, prob: f64, seed: u64) {
    assert!(
        first + x.len() <= u32::MAX as usize,
        "dropout indexes elements with 32 bits"
    );
    in_place(
        x,
        first as u32,
        threshold(prob),
        (1.0 / (1.0 - prob)) as f32,
        seed,
    );
}

crate::simd_dispatch! {
    fn in_place(x: &mut [f32], first: u32, threshold: u32, scale: f32, seed: u64) {
        for (i, v) in x.iter_mut().enumerate() {
            *v = if kept(seed, first + i as u32, threshold) { *v * scale } else { 0.0 };
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cpu::tests::{init, written};

    #[test]
    fn masks_keep_the_expectation_and_depend_on_the_seed_alone() {
        let n = 200_000;
        let ones = vec![1.0f32; n];
        let mut y = init(n);
        apply(&ones, 0.1, 42, &mut y);
        let y = written(y);
        let kept = y.iter().filter(|&&v| v != 0.0).count() as f64 / n as f64;
        // Binomial(200000, 0.9): sd 0.00067; four sd.
        assert!((kept - 0.9).abs() < 0.003, "{kept}");
        assert!(y.iter().all(|&v| v == 0.0 || (v - 1.0 / 0.9).abs() < 1e-6));
        let mean = y.iter().map(|&v| v as f64).sum::<f64>() / n as f64;
        assert!((mean - 1.0).abs() < 0.004, "{mean}");
        let mut again = init(n);
        apply(&ones, 0.1, 42, &mut again);
        assert_eq!(written(again), y);
        let mut other = init(n);
        apply(&ones, 0.1, 43, &mut other);
        let other = written(other);
        let same = y
            .iter()
            .zip(&other)
            .filter(|(a, b)| (**a == 0.0) == (**b == 0.0))
            .count();
        assert!(same < n, "another seed gives another mask");
        // Neighbouring elements are independent: P(both dropped) ≈ p².
        let both =
            y.windows(2).filter(|w| w[0] == 0.0 && w[1] == 0.0).count() as f64 / (n - 1) as f64;
        assert!((both - 0.01).abs() < 0.002, "{both}");
    }

    #[test]
    fn in_place_on_a_part_is_the_same_as_on_the_whole() {
        let x: Vec<f32> = (0..1000).map(|i| i as f32 + 1.0).collect();
        let mut whole = init(x.len());
        apply(&x, 0.4, 5, &mut whole);
        let mut part = x[300..700].to_vec();
        apply_in_place(&mut part, 300, 0.4, 5);
        assert_eq!(part, written(whole)[300..700].to_vec());
    }

    #[test]
    fn nothing_is_dropped_at_zero_and_everything_is_the_same_on_any_thread_count() {
        let x: Vec<f32> = (0..70_000).map(|i| i as f32).collect();
        let mut y = init(x.len());
        apply(&x, 0.0, 7, &mut y);
        assert_eq!(written(y), x);
        let run = |threads| {
            let pool = rayon::ThreadPoolBuilder::new()
                .num_threads(threads)
                .build()
                .unwrap();
            pool.install(|| {
                let mut y = init(x.len());
                apply(&x, 0.3, 9, &mut y);
                written(y)
            })
        };
        assert_eq!(run(1), run(4));
    }
}
