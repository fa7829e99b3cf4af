//! Table 1 and §4 ("Why Self-Attention"), measured: the time of self-attention's core against the
//! recurrence's core as the sequence length `n` grows, at the model's width `d`.
//!
//! Table 1 gives self-attention O(n²·d) work in O(1) sequential operations and a recurrent layer
//! O(n·d²) work in O(n) sequential operations, and §4 concludes that "self-attention layers are
//! faster than recurrent layers when the sequence length n is smaller than the representation
//! dimensionality d". What is timed is exactly what those rows count, at the same `d` and batch:
//! - self-attention: `softmax(Q Kᵀ / √d_k) V` over `h` heads of `d_k = d / h` (Eq. 1), from
//!   given Q, K, V: 4·B·n²·d floating-point operations (two batched matrix products), in one
//!   step;
//! - recurrence: `h_t = tanh(x_t + h_{t−1} U)` for t = 1…n from given inputs x_t: 2·B·n·d²
//!   operations, n steps one after the other.
//!
//! The projections both layers share (Q, K, V, output for attention, the input projection for the
//! recurrence: 2·n·d² each way) are left out: they are the same work for both and Table 1 does not
//! count them. Every repeat is stored (after one warm-up); wall-clock times vary between machines
//! and runs, the one non-deterministic metric of this crate.

use std::collections::BTreeMap;
use std::time::Instant;

use burn::tensor::activation::softmax;
use burn::tensor::{Device, Distribution, Tensor};
use repro_core::experiment::Measurement;
use repro_core::progress::Progress;
use repro_core::run::{Curve, Metric, Series};

/// Batch of sequences timed together.
const BATCH: usize = 8;

/// Self-attention's core (Eq. 1) on (B, h, n, d_k) queries, keys and values.
pub fn attention_core(query: Tensor<4>, key: Tensor<4>, value: Tensor<4>) -> Tensor<4> {
    let d_k = query.dims()[3];
    let scores = query.matmul(key.swap_dims(2, 3)) / (d_k as f64).sqrt(); // (B, h, n, n)
    softmax(scores, 3).matmul(value) // (B, h, n, d_k)
}

/// The recurrence's core, `h_t = tanh(x_t + h_{t−1} U)`, over inputs (B, n, d): n sequential
/// steps; returns the last state (B, d).
pub fn recurrent_core(inputs: Tensor<3>, recurrence: Tensor<2>) -> Tensor<2> {
    let [batch, length, d_model] = inputs.dims();
    let mut state = Tensor::<2>::zeros([batch, d_model], &inputs.device());
    for t in 0..length {
        let x_t = inputs
            .clone()
            .slice([0..batch, t..t + 1, 0..d_model])
            .reshape([batch, d_model]);
        state = (x_t + state.matmul(recurrence.clone())).tanh();
    }
    state
}

/// Floating-point operations of the attention core: two (n × n × d) products per sequence.
pub fn attention_flops(n: usize, d_model: usize) -> f64 {
    4.0 * (BATCH * n * n * d_model) as f64
}

/// Floating-point operations of the recurrence core: n (d × d) products per sequence.
pub fn recurrent_flops(n: usize, d_model: usize) -> f64 {
    2.0 * (BATCH * n * d_model * d_model) as f64
}

/// Milliseconds of each of `repeats` runs of `run`, after one warm-up (allocations, kernel
/// compilation on GPU backends).
fn times_ms(mut run: impl FnMut(), repeats: usize) -> Vec<f64> {
    run();
    (0..repeats.max(2))
        .map(|_| {
            let started = Instant::now();
            run();
            started.elapsed().as_secs_f64() * 1000.0
        })
        .collect()
}

/// What the timing measures: cores of width `d_model` (attention with `n_heads` heads) at each
/// sequence length, `repeats` timed runs each.
pub struct Timing<'a> {
    /// Layer width `d`.
    pub d_model: usize,
    /// Heads of the attention core.
    pub n_heads: usize,
    /// Sequence lengths `n`.
    pub lengths: &'a [usize],
    /// Timed repeats per length and core (after one warm-up; at least two).
    pub repeats: usize,
}

/// The metric key of length `n`, zero-padded so that keys sort by length.
fn key(what: &str, n: usize) -> String {
    format!("{what}.n{n:04}")
}

/// Times both cores for each configured `n`; metrics `attention_ms.n<n>` and
/// `recurrent_ms.n<n>` (one value per repeat) with their FLOPs.
pub fn self_attention_complexity(
    timing: &Timing,
    device: &Device,
    progress: &Progress,
) -> anyhow::Result<Measurement> {
    let started = Instant::now();
    let Timing {
        d_model,
        n_heads,
        lengths,
        repeats,
    } = *timing;
    anyhow::ensure!(
        n_heads > 0 && d_model.is_multiple_of(n_heads),
        "d_model {d_model} is not divisible by h {n_heads}"
    );
    let d_k = d_model / n_heads;
    device.seed(0);
    let recurrence =
        Tensor::<2>::random([d_model, d_model], Distribution::Normal(0.0, 0.1), device);
    let phase = progress.phase("time layers", lengths.len() as u64, "lengths");
    let mut metrics = BTreeMap::new();
    let (mut attention_points, mut recurrent_points) = (Vec::new(), Vec::new());
    for &n in lengths {
        let heads = || {
            Tensor::<4>::random(
                [BATCH, n_heads, n, d_k],
                Distribution::Normal(0.0, 1.0),
                device,
            )
        };
        let (query, key_, value) = (heads(), heads(), heads());
        let inputs =
            Tensor::<3>::random([BATCH, n, d_model], Distribution::Normal(0.0, 1.0), device);
        // `into_data` waits for the device, so asynchronous GPU backends are timed fully.
        let attention_ms = times_ms(
            || {
                let _ = attention_core(query.clone(), key_.clone(), value.clone()).into_data();
            },
            repeats,
        );
        let recurrent_ms = times_ms(
            || {
                let _ = recurrent_core(inputs.clone(), recurrence.clone()).into_data();
            },
            repeats,
        );
        let geometric =
            |times: &[f64]| (times.iter().map(|t| t.ln()).sum::<f64>() / times.len() as f64).exp();
        attention_points.push((n as f64, geometric(&attention_ms)));
        recurrent_points.push((n as f64, geometric(&recurrent_ms)));
        metrics.insert(key("attention_ms", n), Metric::new(attention_ms, "ms"));
        metrics.insert(key("recurrent_ms", n), Metric::new(recurrent_ms, "ms"));
        metrics.insert(
            key("attention_mflop", n),
            Metric::new(vec![attention_flops(n, d_model) / 1e6], "MFLOP"),
        );
        metrics.insert(
            key("recurrent_mflop", n),
            Metric::new(vec![recurrent_flops(n, d_model) / 1e6], "MFLOP"),
        );
        phase.inc(1);
    }
    phase.finish(&format!(
        "d = {d_model}, h = {n_heads}, batch {BATCH}, {} repeats per core and length",
        repeats.max(2)
    ));
    metrics.insert(
        "d_model".to_string(),
        Metric::new(vec![d_model as f64], "d"),
    );
    Ok(Measurement {
        // Timing draws its inputs from a fixed seed; the run's seeds play no part.
        seeds: Vec::new(),
        metrics,
        curves: vec![Curve {
            id: "self_attention_complexity-time".to_string(),
            title: format!(
                "Time of the attention core and the recurrence, d = {d_model}, batch {BATCH}"
            ),
            x_label: "sequence length n (tokens)".to_string(),
            y_label: "time (ms, geometric mean of repeats)".to_string(),
            log_x: true,
            series: vec![
                Series {
                    label: format!(
                        "self-attention softmax(QKᵀ/√d_k)V, h = {n_heads}: 4·B·n²·d FLOP"
                    ),
                    points: attention_points,
                },
                Series {
                    label: "recurrence tanh(x_t + h_{t−1}U): 2·B·n·d² FLOP, n steps".to_string(),
                    points: recurrent_points,
                },
            ],
        }],
        notes: vec![format!(
            "Wall-clock times of every repeat on the run's device (they vary between runs and \
             machines), with the FLOPs of each core: self-attention 4·B·n²·d, recurrence 2·B·n·d² \
             in n sequential steps (shared projections excluded, as in Table 1). d = {d_model}: \
             the FLOPs cross at n = d/2 = {}, and §4 predicts self-attention is faster below d.",
            d_model / 2
        )],
        wall_time_s: started.elapsed().as_secs_f64(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_cores_compute_what_table_1_counts() {
        let device = Device::flex();
        // One head over two positions, d_k = 1: weights softmax(q·k) over the keys.
        let q = Tensor::<4>::from_floats([[[[1.0], [0.0]]]], &device);
        let k = Tensor::<4>::from_floats([[[[0.0], [2.0]]]], &device);
        let v = Tensor::<4>::from_floats([[[[10.0], [20.0]]]], &device);
        let out = attention_core(q, k, v)
            .into_data()
            .try_to_vec::<f32>()
            .unwrap();
        let w = 1.0 / (1.0 + (-2.0f32).exp()); // weight of key 2 for query 1
        assert!(
            (out[0] - (10.0 * (1.0 - w) + 20.0 * w)).abs() < 1e-4,
            "{out:?}"
        );
        assert!((out[1] - 15.0).abs() < 1e-4, "{out:?}");
        // h_1 = tanh(1), h_2 = tanh(2 + 0.5 h_1).
        let x = Tensor::<3>::from_floats([[[1.0], [2.0]]], &device);
        let u = Tensor::<2>::from_floats([[0.5]], &device);
        let h = recurrent_core(x, u)
            .into_data()
            .try_to_vec::<f32>()
            .unwrap();
        assert!((h[0] - (2.0 + 0.5 * 1.0f32.tanh()).tanh()).abs() < 1e-6);
        // The FLOP counts cross at n = d / 2.
        assert_eq!(attention_flops(64, 128), recurrent_flops(64, 128));
    }
}
