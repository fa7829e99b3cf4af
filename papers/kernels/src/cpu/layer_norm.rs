//! Layer normalisation over the last dimension (Ba et al., 2016), forward and backward in one
//! pass over each row: `y = (x − μ) · rstd · γ + β` with `rstd = 1 / √(σ² + ε)`.
//!
//! Backward, with `x̂ = (x − μ) · rstd` and `ĝ = dy · γ`:
//! `dx = rstd · (ĝ − mean(ĝ) − x̂ · mean(ĝ · x̂))`, `dγ = Σ_rows dy · x̂`, `dβ = Σ_rows dy`.
//! The parameter gradients are summed per fixed block of rows, then the blocks in order, so the
//! result does not depend on the number of threads.

use std::mem::MaybeUninit;

use rayon::prelude::*;

use super::{ROWS_PER_BLOCK, rows_per_task, sum};

/// Normalises each row of `x` (width `gamma.len()`), writing `y` and each row's mean and rstd.
pub fn forward(
    x: &[f32],
    gamma: &[f32],
    beta: Option<&[f32]>,
    epsilon: f32,
    y: &mut [MaybeUninit<f32>],
    mean: &mut [MaybeUninit<f32>],
    rstd: &mut [MaybeUninit<f32>],
) {
    let width = gamma.len();
    let per_task = rows_per_task(width);
    x.par_chunks(per_task * width)
        .zip(y.par_chunks_mut(per_task * width))
        .zip(mean.par_chunks_mut(per_task))
        .zip(rstd.par_chunks_mut(per_task))
        .for_each(|(((x, y), mean), rstd)| forward_rows(x, gamma, beta, epsilon, y, mean, rstd));
}

crate::simd_dispatch! {
    fn forward_rows(
        x: &[f32],
        gamma: &[f32],
        beta: Option<&[f32]>,
        epsilon: f32,
        y: &mut [MaybeUninit<f32>],
        mean: &mut [MaybeUninit<f32>],
        rstd: &mut [MaybeUninit<f32>],
    ) {
        let width = gamma.len();
        for ((x, y), (mean, rstd)) in x
            .chunks_exact(width)
            .zip(y.chunks_exact_mut(width))
            .zip(mean.iter_mut().zip(rstd.iter_mut()))
        {
            let mu = sum(x) / width as f32;
            let mut centred = [0f32; super::LANES];
            let mut tail = 0f32;
            let (body, rest) = x.split_at(width - width % super::LANES);
            for lanes in body.chunks_exact(super::LANES) {
                for (acc, &v) in centred.iter_mut().zip(lanes) {
                    *acc += (v - mu) * (v - mu);
                }
            }
            for &v in rest {
                tail += (v - mu) * (v - mu);
            }
            let variance = (centred.iter().sum::<f32>() + tail) / width as f32;
            let r = 1.0 / (variance + epsilon).sqrt();
            match beta {
                Some(beta) => {
                    for (((out, &v), &g), &b) in y.iter_mut().zip(x).zip(gamma).zip(beta) {
                        out.write((v - mu) * r * g + b);
                    }
                }
                None => {
                    for ((out, &v), &g) in y.iter_mut().zip(x).zip(gamma) {
                        out.write((v - mu) * r * g);
                    }
                }
            }
            mean.write(mu);
            rstd.write(r);
        }
    }
}

/// The gradients of [`forward`]: `dx` (like `x`), and `dgamma`, `dbeta` (width each).
pub fn backward(
    dy: &[f32],
    x: &[f32],
    mean: &[f32],
    rstd: &[f32],
    gamma: &[f32],
    dx: &mut [MaybeUninit<f32>],
) -> (Vec<f32>, Vec<f32>) {
    let width = gamma.len();
    // Fixed blocks (not one per thread): the parameter gradients are summed block by block in
    // order, the same bits on any number of threads.
    let block = ROWS_PER_BLOCK * width;
    let partials: Vec<(Vec<f32>, Vec<f32>)> = dy
        .par_chunks(block)
        .zip(x.par_chunks(block))
        .zip(
            mean.par_chunks(ROWS_PER_BLOCK)
                .zip(rstd.par_chunks(ROWS_PER_BLOCK)),
        )
        .zip(dx.par_chunks_mut(block))
        .map(|(((dy, x), (mean, rstd)), dx)| {
            let mut dgamma = vec![0f32; width];
            let mut dbeta = vec![0f32; width];
            backward_rows(dy, x, mean, rstd, gamma, dx, &mut dgamma, &mut dbeta);
            (dgamma, dbeta)
        })
        .collect();
    let mut dgamma = vec![0f32; width];
    let mut dbeta = vec![0f32; width];
    for (g, b) in &partials {
        add_into(&mut dgamma, g);
        add_into(&mut dbeta, b);
    }
    (dgamma, dbeta)
}

crate::simd_dispatch! {
    fn add_into(total: &mut [f32], part: &[f32]) {
        for (t, &p) in total.iter_mut().zip(part) {
            *t += p;
        }
    }
}

crate::simd_dispatch! {
    #[allow(clippy::too_many_arguments)]
    fn backward_rows(
        dy: &[f32],
        x: &[f32],
        mean: &[f32],
        rstd: &[f32],
        gamma: &[f32],
        dx: &mut [MaybeUninit<f32>],
        dgamma: &mut [f32],
        dbeta: &mut [f32],
    ) {
        let width = gamma.len();
        let n = width as f32;
        for (((dy, x), (&mu, &r)), dx) in dy
            .chunks_exact(width)
            .zip(x.chunks_exact(width))
            .zip(mean.iter().zip(rstd))
            .zip(dx.chunks_exact_mut(width))
        {
            // mean(ĝ) and mean(ĝ · x̂), with independent accumulators so that they vectorise.
            let mut g_sum = [0f32; super::LANES];
            let mut gx_sum = [0f32; super::LANES];
            let (mut g_tail, mut gx_tail) = (0f32, 0f32);
            let split = width - width % super::LANES;
            for ((dy, x), g) in dy[..split]
                .chunks_exact(super::LANES)
                .zip(x[..split].chunks_exact(super::LANES))
                .zip(gamma[..split].chunks_exact(super::LANES))
            {
                for lane in 0..super::LANES {
                    let gh = dy[lane] * g[lane];
                    g_sum[lane] += gh;
                    gx_sum[lane] += gh * (x[lane] - mu) * r;
                }
            }
            for i in split..width {
                let gh = dy[i] * gamma[i];
                g_tail += gh;
                gx_tail += gh * (x[i] - mu) * r;
            }
            let g_mean = (g_sum.iter().sum::<f32>() + g_tail) / n;
            let gx_mean = (gx_sum.iter().sum::<f32>() + gx_tail) / n;
            for i in 0..width {
                let xhat = (x[i] - mu) * r;
                dx[i].write(r * (dy[i] * gamma[i] - g_mean - xhat * gx_mean));
                dgamma[i] += dy[i] * xhat;
                dbeta[i] += dy[i];
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cpu::tests::{assert_close, init, random, written};

    /// f64 reference of the forward pass.
    fn reference(x: &[f32], gamma: &[f32], beta: &[f32], epsilon: f64) -> Vec<f64> {
        let width = gamma.len();
        x.chunks(width)
            .flat_map(|row| {
                let mu = row.iter().map(|&v| v as f64).sum::<f64>() / width as f64;
                let var = row.iter().map(|&v| (v as f64 - mu).powi(2)).sum::<f64>() / width as f64;
                let r = 1.0 / (var + epsilon).sqrt();
                row.iter()
                    .zip(gamma)
                    .zip(beta)
                    .map(move |((&v, &g), &b)| (v as f64 - mu) * r * g as f64 + b as f64)
                    .collect::<Vec<_>>()
            })
            .collect()
    }

    #[test]
    fn forward_matches_the_definition_for_odd_widths_and_many_rows() {
        for &(rows, width) in &[(1, 1), (3, 5), (37, 64), (300, 127), (1000, 24)] {
            let x = random(rows * width, 1, 3.0);
            let gamma = random(width, 2, 1.0);
            let beta = random(width, 3, 1.0);
            let (mut y, mut mean, mut rstd) = (init(rows * width), init(rows), init(rows));
            forward(&x, &gamma, Some(&beta), 1e-5, &mut y, &mut mean, &mut rstd);
            let y = written(y);
            assert_close(&y, &reference(&x, &gamma, &beta, 1e-5), 1e-5, "layer norm");
        }
    }

    #[test]
    fn backward_matches_finite_differences_of_the_forward_pass() {
        let (rows, width) = (7, 19);
        let x = random(rows * width, 4, 2.0);
        let gamma = random(width, 5, 1.0);
        let beta = random(width, 6, 1.0);
        let dy = random(rows * width, 7, 1.0);
        let (mut y, mut mean, mut rstd) = (init(rows * width), init(rows), init(rows));
        forward(&x, &gamma, Some(&beta), 1e-5, &mut y, &mut mean, &mut rstd);
        let mean = written(mean);
        let rstd = written(rstd);
        let mut dx = init(rows * width);
        let (dgamma, dbeta) = backward(&dy, &x, &mean, &rstd, &gamma, &mut dx);
        let dx = written(dx);
        // L = Σ dy · y, differentiated numerically in f64.
        let loss = |x: &[f32], gamma: &[f32], beta: &[f32]| -> f64 {
            reference(x, gamma, beta, 1e-5)
                .iter()
                .zip(&dy)
                .map(|(y, &d)| y * d as f64)
                .sum()
        };
        let h = 1e-3f32;
        let numeric = |f: &dyn Fn(f32) -> f64| (f(h) - f(-h)) / (2.0 * h as f64);
        for i in [0, 5, 40, 132] {
            let d = numeric(&|e| {
                let mut x = x.clone();
                x[i] += e;
                loss(&x, &gamma, &beta)
            });
            assert!((dx[i] as f64 - d).abs() < 2e-3, "dx[{i}] {} vs {d}", dx[i]);
        }
        for i in [0, 3, 18] {
            let d = numeric(&|e| {
                let mut g = gamma.clone();
                g[i] += e;
                loss(&x, &g, &beta)
            });
            assert!((dgamma[i] as f64 - d).abs() < 2e-3, "dgamma[{i}]");
            let d = numeric(&|e| {
                let mut b = beta.clone();
                b[i] += e;
                loss(&x, &gamma, &b)
            });
            assert!((dbeta[i] as f64 - d).abs() < 2e-3, "dbeta[{i}]");
        }
    }

    #[test]
    fn the_parameter_gradients_do_not_depend_on_the_thread_count() {
        let (rows, width) = (2048, 128);
        let x = random(rows * width, 8, 1.0);
        let dy = random(rows * width, 9, 1.0);
        let gamma = random(width, 10, 1.0);
        let mean = random(rows, 11, 0.1);
        let rstd: Vec<f32> = random(rows, 12, 0.1)
            .iter()
            .map(|v| 1.0 + v.abs())
            .collect();
        let run = |threads: usize| {
            let pool = rayon::ThreadPoolBuilder::new()
                .num_threads(threads)
                .build()
                .unwrap();
            pool.install(|| {
                let mut dx = init(rows * width);
                let grads = backward(&dy, &x, &mean, &rstd, &gamma, &mut dx);
                let dx: Vec<u32> = written(dx).iter().map(|v| v.to_bits()).collect();
                (dx, grads.0.iter().map(|v| v.to_bits()).collect::<Vec<_>>())
            })
        };
        assert_eq!(run(1), run(3));
    }
}
