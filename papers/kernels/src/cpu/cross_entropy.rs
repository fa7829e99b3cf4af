//! Cross-entropy of logits against labels with label smoothing (Szegedy et al. 2016; "Attention
//! Is All You Need" §5.4), per row, with the log-softmax never materialised:
//! `loss = (1 − ε)(lse − x_y) + ε (lse − mean_v x_v)`, `lse = log Σ_v e^{x_v}`, which is
//! `(1 − ε)·(−log p_y) + ε·mean_v(−log p_v)`. A row whose label is `ignore` costs 0.
//!
//! Backward: `dx_v = g · (softmax_v − (1 − ε)·[v = y] − ε / V)`, recomputing the softmax from
//! the stored `lse`.

use std::mem::MaybeUninit;

use rayon::prelude::*;

use super::math::exp;
use super::{max, rows_per_task, sum};

/// Per-row losses and log-sum-exps of `logits` (rows of `classes`) against `labels`.
pub fn forward(
    logits: &[f32],
    labels: &[i64],
    classes: usize,
    smoothing: f32,
    ignore: Option<i64>,
    loss: &mut [MaybeUninit<f32>],
    lse: &mut [MaybeUninit<f32>],
) {
    let per_task = rows_per_task(classes);
    logits
        .par_chunks(per_task * classes)
        .zip(labels.par_chunks(per_task))
        .zip(
            loss.par_chunks_mut(per_task)
                .zip(lse.par_chunks_mut(per_task)),
        )
        .for_each(|((logits, labels), (loss, lse))| {
            forward_rows(logits, labels, classes, smoothing, ignore, loss, lse)
        });
}

crate::simd_dispatch! {
    fn forward_rows(
        logits: &[f32],
        labels: &[i64],
        classes: usize,
        smoothing: f32,
        ignore: Option<i64>,
        loss: &mut [MaybeUninit<f32>],
        lse: &mut [MaybeUninit<f32>],
    ) {
        for (((row, &label), loss), lse) in logits
            .chunks_exact(classes)
            .zip(labels)
            .zip(loss.iter_mut())
            .zip(lse.iter_mut())
        {
            let top = max(row);
            let mut lanes = [0f32; super::LANES];
            let split = classes - classes % super::LANES;
            for chunk in row[..split].chunks_exact(super::LANES) {
                for (acc, &v) in lanes.iter_mut().zip(chunk) {
                    *acc += exp(v - top);
                }
            }
            let mut total = lanes.iter().sum::<f32>();
            for &v in &row[split..] {
                total += exp(v - top);
            }
            let log_sum_exp = top + total.ln();
            lse.write(log_sum_exp);
            if Some(label) == ignore {
                loss.write(0.0);
                continue;
            }
            let gold = row[label as usize];
            let mean = sum(row) / classes as f32;
            loss.write((1.0 - smoothing) * (log_sum_exp - gold) + smoothing * (log_sum_exp - mean));
        }
    }
}

/// `d_logits = g_row · (softmax − (1 − ε)·onehot − ε/V)`, zero on ignored rows.
#[allow(clippy::too_many_arguments)]
pub fn backward(
    grad: &[f32],
    logits: &[f32],
    lse: &[f32],
    labels: &[i64],
    classes: usize,
    smoothing: f32,
    ignore: Option<i64>,
    d_logits: &mut [MaybeUninit<f32>],
) {
    let per_task = rows_per_task(classes);
    logits
        .par_chunks(per_task * classes)
        .zip(d_logits.par_chunks_mut(per_task * classes))
        .zip(grad.par_chunks(per_task).zip(lse.par_chunks(per_task)))
        .zip(labels.par_chunks(per_task))
        .for_each(|(((logits, d_logits), (grad, lse)), labels)| {
            backward_rows(
                grad, logits, lse, labels, classes, smoothing, ignore, d_logits,
            )
        });
}

crate::simd_dispatch! {
    #[allow(clippy::too_many_arguments)]
    fn backward_rows(
        grad: &[f32],
        logits: &[f32],
        lse: &[f32],
        labels: &[i64],
        classes: usize,
        smoothing: f32,
        ignore: Option<i64>,
        d_logits: &mut [MaybeUninit<f32>],
    ) {
        let uniform = smoothing / classes as f32;
        for ((((row, out), &g), &lse), &label) in logits
            .chunks_exact(classes)
            .zip(d_logits.chunks_exact_mut(classes))
            .zip(grad)
            .zip(lse)
            .zip(labels)
        {
            if Some(label) == ignore {
                for o in out.iter_mut() {
                    o.write(0.0);
                }
                continue;
            }
            for (o, &v) in out.iter_mut().zip(row) {
                o.write(g * (exp(v - lse) - uniform));
            }
            // SAFETY: written just above.
            let gold = unsafe { out[label as usize].assume_init_mut() };
            *gold -= g * (1.0 - smoothing);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cpu::tests::{assert_close, init, random, written};

    fn reference(logits: &[f32], labels: &[i64], classes: usize, smoothing: f64) -> Vec<f64> {
        logits
            .chunks(classes)
            .zip(labels)
            .map(|(row, &y)| {
                let top = row.iter().copied().fold(f32::MIN, f32::max) as f64;
                let lse = top
                    + row
                        .iter()
                        .map(|&v| (v as f64 - top).exp())
                        .sum::<f64>()
                        .ln();
                let log_p: Vec<f64> = row.iter().map(|&v| v as f64 - lse).collect();
                let uniform = -log_p.iter().sum::<f64>() / classes as f64;
                (1.0 - smoothing) * -log_p[y as usize] + smoothing * uniform
            })
            .collect()
    }

    #[test]
    fn losses_match_the_definition_and_ignored_rows_cost_nothing() {
        let (rows, classes) = (50, 1000);
        let logits = random(rows * classes, 1, 10.0);
        let labels: Vec<i64> = (0..rows as i64)
            .map(|r| (r * 37) % classes as i64)
            .collect();
        for smoothing in [0.0, 0.1] {
            let (mut loss, mut lse) = (init(rows), init(rows));
            forward(
                &logits, &labels, classes, smoothing, None, &mut loss, &mut lse,
            );
            assert_close(
                &written(loss),
                &reference(&logits, &labels, classes, smoothing as f64),
                2e-6,
                "loss",
            );
        }
        let mut labels = labels;
        labels[3] = -100;
        let (mut loss, mut lse) = (init(rows), init(rows));
        forward(
            &logits,
            &labels,
            classes,
            0.1,
            Some(-100),
            &mut loss,
            &mut lse,
        );
        assert_eq!(written(loss)[3], 0.0);
    }

    #[test]
    fn backward_matches_finite_differences() {
        let (rows, classes) = (3, 17);
        let logits = random(rows * classes, 2, 3.0);
        let labels = vec![4, 0, 16];
        let grad = vec![0.5, -1.0, 2.0];
        let (mut loss, mut lse) = (init(rows), init(rows));
        forward(&logits, &labels, classes, 0.1, None, &mut loss, &mut lse);
        let lse = written(lse);
        let mut d = init(rows * classes);
        backward(&grad, &logits, &lse, &labels, classes, 0.1, None, &mut d);
        let d = written(d);
        let total = |x: &[f32]| -> f64 {
            reference(x, &labels, classes, 0.1)
                .iter()
                .zip(&grad)
                .map(|(l, &g)| l * g as f64)
                .sum()
        };
        for i in 0..rows * classes {
            let h = 1e-3;
            let (mut up, mut down) = (logits.clone(), logits.clone());
            up[i] += h;
            down[i] -= h;
            let numeric = (total(&up) - total(&down)) / (2.0 * h as f64);
            assert!(
                (d[i] as f64 - numeric).abs() < 1e-3,
                "d[{i}]: {} vs {numeric}",
                d[i]
            );
        }
    }
}
