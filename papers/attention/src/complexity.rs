//! Table 1 and §4 ("Why Self-Attention"), measured: the time of one self-attention layer against
//! one recurrent layer as the sequence length `n` grows, at the model's width `d`.
//!
//! Table 1 gives self-attention O(n²·d) work in O(1) sequential operations and a recurrent layer
//! O(n·d²) work in O(n) sequential operations, and §4 concludes that "self-attention layers are
//! faster than recurrent layers when the sequence length n is smaller than the representation
//! dimensionality d". Here both layers run forward on the same device with the same batch; the
//! median of several timed repeats (after one warm-up) is kept. Wall-clock times vary between
//! machines and runs: they are the one non-deterministic metric of this crate.

use std::collections::BTreeMap;
use std::time::Instant;

use burn::module::Module;
use burn::nn::{Linear, LinearConfig};
use burn::tensor::{Device, Distribution, Tensor};
use repro_core::experiment::Measurement;
use repro_core::progress::Progress;
use repro_core::run::{Curve, Metric, Series};

use crate::model::MultiHeadAttention;

/// Batch of sequences timed together.
const BATCH: usize = 8;

/// An Elman recurrent layer, `h_t = tanh(x_t W + h_{t-1} U + b)`: the "recurrent" row of
/// Table 1, with its n sequential steps.
#[derive(Module, Debug)]
pub struct RecurrentLayer {
    input: Linear,
    hidden: Linear,
}

impl RecurrentLayer {
    /// A layer of width `d_model`.
    pub fn new(d_model: usize, device: &Device) -> Self {
        Self {
            input: LinearConfig::new(d_model, d_model).init(device),
            hidden: LinearConfig::new(d_model, d_model)
                .with_bias(false)
                .init(device),
        }
    }

    /// (B, n, d) → (B, n, d), one position after the other.
    pub fn forward(&self, x: Tensor<3>) -> Tensor<3> {
        let [batch, length, d_model] = x.dims();
        let projected = self.input.forward(x); // all x_t W + b at once: not sequential
        let mut state = Tensor::<2>::zeros([batch, d_model], &projected.device());
        let mut outputs = Vec::with_capacity(length);
        for t in 0..length {
            let x_t = projected
                .clone()
                .slice([0..batch, t..t + 1, 0..d_model])
                .reshape([batch, d_model]);
            state = (x_t + self.hidden.forward(state)).tanh();
            outputs.push(state.clone().unsqueeze_dim::<3>(1));
        }
        Tensor::cat(outputs, 1)
    }
}

fn median_ms(mut run: impl FnMut(), repeats: usize) -> f64 {
    run(); // warm-up: allocations, kernel compilation on GPU backends
    let mut times: Vec<f64> = (0..repeats.max(1))
        .map(|_| {
            let started = Instant::now();
            run();
            started.elapsed().as_secs_f64() * 1000.0
        })
        .collect();
    times.sort_by(f64::total_cmp);
    times[times.len() / 2]
}

/// What the timing measures: layers of width `d_model` (attention with `n_heads` heads) at each
/// sequence length, `repeats` timed runs each.
pub struct Timing<'a> {
    /// Layer width `d`.
    pub d_model: usize,
    /// Heads of the attention layer.
    pub n_heads: usize,
    /// Sequence lengths `n`.
    pub lengths: &'a [usize],
    /// Timed repeats per length (after one warm-up).
    pub repeats: usize,
}

/// Times both layers for each configured `n`; metrics `attention_ms.n<n>` and `recurrent_ms.n<n>`.
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
    device.seed(0);
    let attention = MultiHeadAttention::new(d_model, n_heads, device);
    let recurrent = RecurrentLayer::new(d_model, device);
    let phase = progress.phase("time layers", lengths.len() as u64, "lengths");
    let mut metrics = BTreeMap::new();
    let (mut attention_points, mut recurrent_points) = (Vec::new(), Vec::new());
    for &n in lengths {
        let x = Tensor::<3>::random([BATCH, n, d_model], Distribution::Normal(0.0, 1.0), device);
        // `into_data` waits for the device, so asynchronous GPU backends are timed fully.
        let attention_ms = median_ms(
            || {
                let _ = attention.forward(x.clone(), x.clone(), None).into_data();
            },
            repeats,
        );
        let recurrent_ms = median_ms(
            || {
                let _ = recurrent.forward(x.clone()).into_data();
            },
            repeats,
        );
        metrics.insert(
            format!("attention_ms.n{n}"),
            Metric::new(vec![attention_ms], "ms"),
        );
        metrics.insert(
            format!("recurrent_ms.n{n}"),
            Metric::new(vec![recurrent_ms], "ms"),
        );
        attention_points.push((n as f64, attention_ms));
        recurrent_points.push((n as f64, recurrent_ms));
        phase.inc(1);
    }
    phase.finish(&format!(
        "d = {d_model}, batch {BATCH}, median of {} repeats",
        repeats
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
            title: format!("Forward time of one layer, d = {d_model}, batch {BATCH}"),
            x_label: "sequence length n (tokens)".to_string(),
            y_label: "time (ms)".to_string(),
            log_x: true,
            series: vec![
                Series {
                    label: format!("self-attention, h = {n_heads}"),
                    points: attention_points,
                },
                Series {
                    label: "recurrent (Elman, tanh)".to_string(),
                    points: recurrent_points,
                },
            ],
        }],
        notes: vec![format!(
            "Wall-clock medians on the run's device: they vary between runs and machines. d = {d_model}, so §4 predicts self-attention is faster for n < {d_model}."
        )],
        wall_time_s: started.elapsed().as_secs_f64(),
    })
}
