//! The kernels on plain slices: each row of a tensor is independent, rows are split across the
//! rayon pool the caller runs in, and each row is computed by one thread in a fixed order, so a
//! result depends on the input alone, never on the number of threads. Outputs are written once
//! into uninitialised memory (no zero fill).

pub mod attention;
pub mod cross_entropy;
pub mod dropout;
pub mod gelu;
pub mod layer_norm;
pub mod math;
pub mod softmax;

/// Independent accumulators in a reduction: a vector's worth on AVX-512, two on AVX2.
pub(crate) const LANES: usize = 16;

/// Rows per block of a reduction across rows (the parameter gradients of layer norm).
pub(crate) const ROWS_PER_BLOCK: usize = 32;

/// Rows per rayon task: at least ~16k elements each, so that small tensors stay on one thread.
pub(crate) fn rows_per_task(width: usize) -> usize {
    (16_384 / width.max(1)).max(1)
}

/// Σ x, with [`LANES`] independent accumulators (so that it vectorises) added in a fixed order.
#[inline(always)]
pub(crate) fn sum(x: &[f32]) -> f32 {
    let mut lanes = [0f32; LANES];
    let split = x.len() - x.len() % LANES;
    for chunk in x[..split].chunks_exact(LANES) {
        for (acc, &v) in lanes.iter_mut().zip(chunk) {
            *acc += v;
        }
    }
    let mut total = lanes.iter().sum::<f32>();
    for &v in &x[split..] {
        total += v;
    }
    total
}

/// max x (−∞ for an empty slice).
#[inline(always)]
pub(crate) fn max(x: &[f32]) -> f32 {
    let mut lanes = [f32::NEG_INFINITY; LANES];
    let split = x.len() - x.len() % LANES;
    for chunk in x[..split].chunks_exact(LANES) {
        for (acc, &v) in lanes.iter_mut().zip(chunk) {
            *acc = acc.max(v);
        }
    }
    let mut best = lanes.iter().copied().fold(f32::NEG_INFINITY, f32::max);
    for &v in &x[split..] {
        best = best.max(v);
    }
    best
}

#[cfg(test)]
pub(crate) mod tests {
    use std::mem::MaybeUninit;

    /// `n` values uniform in (−scale, scale) from a fixed generator.
    pub fn random(n: usize, seed: u64, scale: f32) -> Vec<f32> {
        let mut state = seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1;
        (0..n)
            .map(|_| {
                state ^= state << 13;
                state ^= state >> 7;
                state ^= state << 17;
                ((state >> 40) as f32 / (1u64 << 24) as f32 * 2.0 - 1.0) * scale
            })
            .collect()
    }

    pub fn init(n: usize) -> Vec<MaybeUninit<f32>> {
        vec![MaybeUninit::uninit(); n]
    }

    pub fn written(values: Vec<MaybeUninit<f32>>) -> Vec<f32> {
        // SAFETY: the kernels under test write every element.
        values
            .into_iter()
            .map(|v| unsafe { v.assume_init() })
            .collect()
    }

    #[track_caller]
    pub fn assert_close(got: &[f32], want: &[f64], tolerance: f64, what: &str) {
        assert_eq!(got.len(), want.len(), "{what}: lengths");
        for (i, (&g, &w)) in got.iter().zip(want).enumerate() {
            assert!(
                (g as f64 - w).abs() <= tolerance * (1.0 + w.abs()),
                "{what}[{i}]: {g} vs {w}"
            );
        }
    }

    #[test]
    fn sums_and_maxima_cover_every_element() {
        let x = random(1000, 1, 1.0);
        let exact: f64 = x.iter().map(|&v| v as f64).sum();
        assert!((super::sum(&x) as f64 - exact).abs() < 1e-4);
        assert_eq!(super::max(&x), x.iter().copied().fold(f32::MIN, f32::max));
        assert_eq!(super::sum(&[1.0, 2.0, 3.0]), 6.0);
        assert_eq!(super::max(&[]), f32::NEG_INFINITY);
    }
}
