//! GELU (Hendrycks & Gimpel 2016), exact and tanh-approximated, with its derivative in the same
//! pass over the input:
//! - erf form (BERT, GPT-3 here): `y = x Φ(x) = ½ x (1 + erf(x/√2))`, `y' = Φ(x) + x φ(x)`;
//! - tanh form (GPT-2's `gelu_new`): `y = ½ x (1 + tanh u)`, `u = √(2/π)(x + 0.044715 x³)`,
//!   `y' = ½ (1 + tanh u) + ½ x (1 − tanh² u) √(2/π)(1 + 3·0.044715 x²)`.

use std::mem::MaybeUninit;

use rayon::prelude::*;

use super::math::{erf, exp, tanh};

const CHUNK: usize = 16_384;
const SQRT_2_OVER_PI: f32 = 0.797_884_6;
const INV_SQRT_2: f32 = std::f32::consts::FRAC_1_SQRT_2;
const INV_SQRT_2PI: f32 = 0.398_942_3;

/// `y = gelu(x)`.
pub fn forward(x: &[f32], tanh_form: bool, y: &mut [MaybeUninit<f32>]) {
    x.par_chunks(CHUNK)
        .zip(y.par_chunks_mut(CHUNK))
        .for_each(|(x, y)| forward_chunk(x, tanh_form, y));
}

crate::simd_dispatch! {
    fn forward_chunk(x: &[f32], tanh_form: bool, y: &mut [MaybeUninit<f32>]) {
        if tanh_form {
            for (y, &v) in y.iter_mut().zip(x) {
                let u = SQRT_2_OVER_PI * (v + 0.044_715 * v * v * v);
                y.write(0.5 * v * (1.0 + tanh(u)));
            }
        } else {
            for (y, &v) in y.iter_mut().zip(x) {
                y.write(0.5 * v * (1.0 + erf(v * INV_SQRT_2)));
            }
        }
    }
}

/// `dx = dy · gelu'(x)`.
pub fn backward(dy: &[f32], x: &[f32], tanh_form: bool, dx: &mut [MaybeUninit<f32>]) {
    dy.par_chunks(CHUNK)
        .zip(x.par_chunks(CHUNK))
        .zip(dx.par_chunks_mut(CHUNK))
        .for_each(|((dy, x), dx)| backward_chunk(dy, x, tanh_form, dx));
}

crate::simd_dispatch! {
    fn backward_chunk(dy: &[f32], x: &[f32], tanh_form: bool, dx: &mut [MaybeUninit<f32>]) {
        if tanh_form {
            for ((dx, &g), &v) in dx.iter_mut().zip(dy).zip(x) {
                let u = SQRT_2_OVER_PI * (v + 0.044_715 * v * v * v);
                let t = tanh(u);
                let du = SQRT_2_OVER_PI * (1.0 + 3.0 * 0.044_715 * v * v);
                dx.write(g * (0.5 * (1.0 + t) + 0.5 * v * (1.0 - t * t) * du));
            }
        } else {
            for ((dx, &g), &v) in dx.iter_mut().zip(dy).zip(x) {
                let cdf = 0.5 * (1.0 + erf(v * INV_SQRT_2));
                let pdf = INV_SQRT_2PI * exp(-0.5 * v * v);
                dx.write(g * (cdf + v * pdf));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cpu::tests::{assert_close, init, random, written};

    fn exact(x: f64, tanh_form: bool) -> f64 {
        if tanh_form {
            0.5 * x
                * (1.0 + ((2.0 / std::f64::consts::PI).sqrt() * (x + 0.044715 * x.powi(3))).tanh())
        } else {
            // Φ(x) by the series of erf, ample for |x| ≤ 6
            let z = x / 2f64.sqrt();
            let (mut term, mut sum) = (z, z);
            for n in 1..300 {
                term *= -z * z / n as f64;
                sum += term / (2 * n + 1) as f64;
            }
            0.5 * x * (1.0 + sum * 2.0 / std::f64::consts::PI.sqrt())
        }
    }

    #[test]
    fn both_forms_and_their_derivatives_match_the_definitions() {
        let x = random(40_000, 1, 6.0);
        for tanh_form in [false, true] {
            let mut y = init(x.len());
            forward(&x, tanh_form, &mut y);
            let want: Vec<f64> = x.iter().map(|&v| exact(v as f64, tanh_form)).collect();
            assert_close(&written(y), &want, 2e-6, "gelu");
            let ones = vec![1.0; x.len()];
            let mut dx = init(x.len());
            backward(&ones, &x, tanh_form, &mut dx);
            let h = 1e-4;
            let numeric: Vec<f64> = x
                .iter()
                .map(|&v| {
                    (exact(v as f64 + h, tanh_form) - exact(v as f64 - h, tanh_form)) / (2.0 * h)
                })
                .collect();
            assert_close(&written(dx), &numeric, 1e-5, "gelu'");
        }
    }
}
