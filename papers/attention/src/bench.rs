//! `repro bench`: the `small` scale's base Transformer trained on real token-bucketed batches of
//! the `small` EN→ES Bible split (§5.1), and scoring dev batches, as [`crate::training`] does.

use burn::module::Module;
use burn::optim::AdamConfig;
use burn::tensor::{Device, Int, Tensor, TensorData};
use repro_core::Scale;
use repro_core::bench::{
    self, Measurement, OptimizerSpec, Phase, Workload, WorkloadBatch, WorkloadSize,
};
use repro_core::data::batch::batch_for_step;
use repro_core::determinism::{init_on_cpu, seed_dropout_masks, step_seed};
use serde::{Deserialize, Serialize};

use crate::data::{self, BOS, EncodedPair, PAD};
use crate::model::TransformerConfig;
use crate::scale::scale_config;
use crate::training::{bucket_batches, label_smoothed_cross_entropy, negative_log_likelihood};

/// The workload's model section: the architecture and the loss's label smoothing.
#[derive(Debug, Serialize, Deserialize)]
struct BenchConfig {
    #[serde(flatten)]
    model: TransformerConfig,
    label_smoothing: f64,
}

/// Forward FLOPs of a padded batch of `rows` pairs, sources `s` and targets `t` tokens long:
/// encoder and decoder projections, the cross-attention's keys and values over the memory,
/// the attention products, and the output projection over the vocabulary.
fn forward_flops(config: &TransformerConfig, rows: usize, s: usize, t: usize) -> f64 {
    let (d, f, layers, vocab) = (
        config.d_model as f64,
        config.d_ff as f64,
        config.n_layers as f64,
        config.vocab_size as f64,
    );
    let (rows, s, t) = (rows as f64, s as f64, t as f64);
    let encoder =
        rows * s * layers * 2.0 * (4.0 * d * d + 2.0 * d * f) + rows * layers * 4.0 * s * s * d;
    let decoder = rows * t * layers * 2.0 * (4.0 * d * d + 2.0 * d * d + 2.0 * d * f)
        + rows * s * layers * 2.0 * 2.0 * d * d
        + rows * layers * 4.0 * (t * t + t * s) * d
        + rows * t * 2.0 * d * vocab;
    encoder + decoder
}

/// The padded rows of `pairs` as [`crate::data::make_batch`] builds them.
fn workload_batch(config: &TransformerConfig, pairs: &[&EncodedPair]) -> WorkloadBatch {
    let pad = |rows: Vec<Vec<u32>>| -> Vec<Vec<u32>> {
        let width = rows.iter().map(Vec::len).max().unwrap_or(1).max(1);
        rows.into_iter()
            .map(|mut row| {
                row.resize(width, PAD);
                row
            })
            .collect()
    };
    let source = pad(pairs.iter().map(|p| p.source.clone()).collect());
    let target_input = pad(pairs
        .iter()
        .map(|p| {
            std::iter::once(BOS)
                .chain(p.target[..p.target.len() - 1].iter().copied())
                .collect()
        })
        .collect());
    let target_output = pad(pairs.iter().map(|p| p.target.clone()).collect());
    let flops = forward_flops(config, pairs.len(), source[0].len(), target_output[0].len());
    let mut data = serde_json::Map::new();
    data.insert("source".into(), serde_json::json!(source));
    data.insert("target_input".into(), serde_json::json!(target_input));
    data.insert("target_output".into(), serde_json::json!(target_output));
    WorkloadBatch {
        tokens: pairs
            .iter()
            .map(|p| (p.source.len() + p.target.len()) as u64)
            .sum(),
        forward_flops: flops,
        data,
    }
}

fn ids(batch: &WorkloadBatch, name: &str, device: &Device) -> anyhow::Result<Tensor<2, Int>> {
    let rows: Vec<Vec<u32>> = batch.field(name)?;
    let width = rows.first().map_or(0, Vec::len);
    anyhow::ensure!(
        rows.iter().all(|r| r.len() == width),
        "`{name}` rows must be padded alike"
    );
    let flat: Vec<i64> = rows.iter().flatten().map(|&id| i64::from(id)).collect();
    Ok(Tensor::from_data(
        TensorData::new(flat, [rows.len(), width]),
        device,
    ))
}

/// Training steps as [`crate::training::train`] draws them (seed 1), and dev batches as the dev
/// loss reads them.
pub fn workload(size: &WorkloadSize) -> anyhow::Result<Workload> {
    let scale = scale_config(Scale::Small)?;
    let cache = std::env::temp_dir();
    let selected = data::select(
        data::load_splits("bible-en-es", &scale.data, &cache)?,
        &scale.data,
    )?;
    let tokenizer = data::train_bpe(&selected.splits.train, scale.data.vocab_size)?;
    let max_tokens = scale.data.max_tokens;
    let train = data::encode_pairs(&tokenizer, &selected.splits.train, max_tokens)?;
    let dev = data::encode_pairs(&tokenizer, &selected.splits.dev, max_tokens)?;
    let model = &scale.model;
    let config = TransformerConfig::new(tokenizer.vocab_size())
        .with_d_model(model.d_model)
        .with_n_heads(model.n_heads)
        .with_d_ff(model.d_ff)
        .with_n_layers(model.n_layers)
        .with_dropout(model.dropout)
        .with_max_len(model.max_len)
        .with_pad_id(PAD as usize);
    let count = size.warmup + size.steps;
    let batch_tokens = scale.training.batch_tokens;
    let batches = bucket_batches(&train, batch_tokens);
    let train_batches = (1..=count)
        .map(|step| {
            let pairs: Vec<&EncodedPair> = batch_for_step(&batches, 1, step)
                .iter()
                .map(|&i| &train[i])
                .collect();
            workload_batch(&config, &pairs)
        })
        .collect();
    let score_batches = bucket_batches(&dev, batch_tokens)
        .iter()
        .cycle()
        .take(count)
        .map(|indices| {
            let pairs: Vec<&EncodedPair> = indices.iter().map(|&i| &dev[i]).collect();
            workload_batch(&config, &pairs)
        })
        .collect();
    let parameters = init_on_cpu(0, &Device::flex(), |device| config.init(device)).num_params();
    Ok(Workload {
        model: "attention".into(),
        description: format!(
            "Transformer N={} d_model={} d_ff={} h={} (vocabulary {}): token-bucketed batches of ≤ {batch_tokens} tokens",
            config.n_layers, config.d_model, config.d_ff, config.n_heads, config.vocab_size
        ),
        threads: size.threads,
        parameters,
        warmup: size.warmup,
        min_seconds: size.min_seconds,
        config: serde_json::to_value(BenchConfig {
            model: config,
            label_smoothing: scale.training.label_smoothing,
        })?,
        optimizer: OptimizerSpec {
            name: "adam".into(),
            // Eq. 3 at the end of warm-up, a constant here (the schedule costs nothing).
            lr: crate::training::learning_rate(
                scale.training.warmup_steps,
                model.d_model,
                scale.training.warmup_steps,
                scale.training.lr_factor,
            ),
            beta1: 0.9,
            beta2: 0.98,
            eps: 1e-9,
            weight_decay: 0.0,
            clip_norm: None,
            clip_mode: None,
        },
        train: train_batches,
        score: score_batches,
    })
}

/// Our side of `workload`: [`crate::model`], the label-smoothed loss, Adam (§5.3), the shared
/// loop's backward and step.
pub fn measure(workload: &Workload, phase: Phase, device: &Device) -> anyhow::Result<Measurement> {
    let BenchConfig {
        model: config,
        label_smoothing,
    } = workload.config()?;
    match phase {
        Phase::Train => {
            let device = device.clone().autodiff();
            let mut model = init_on_cpu(0, &device, |device| config.init(device));
            let parameters = model.num_params();
            let spec = &workload.optimizer;
            let mut optimizer = AdamConfig::new()
                .with_beta_1(spec.beta1 as f32)
                .with_beta_2(spec.beta2 as f32)
                .with_epsilon(spec.eps as f32)
                .init();
            let mut step = 0;
            bench::time_steps(workload, phase, parameters, |batch| {
                step += 1;
                seed_dropout_masks(Some(step_seed(1, step)));
                let logits = model.forward(
                    ids(batch, "source", &device)?,
                    ids(batch, "target_input", &device)?,
                );
                let loss = label_smoothed_cross_entropy(
                    logits,
                    ids(batch, "target_output", &device)?,
                    label_smoothing,
                );
                let value: f64 = loss.clone().into_scalar();
                repro_core::train::backward_and_step(&mut model, &mut optimizer, loss, spec.lr);
                seed_dropout_masks(None);
                Ok(value)
            })
        }
        Phase::Score => {
            let model = init_on_cpu(0, device, |device| config.init(device));
            let parameters = model.num_params();
            bench::time_steps(workload, phase, parameters, |batch| {
                let logits = model.forward(
                    ids(batch, "source", device)?,
                    ids(batch, "target_input", device)?,
                );
                let (total, tokens) =
                    negative_log_likelihood(logits, ids(batch, "target_output", device)?);
                Ok(total / tokens.max(1) as f64)
            })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn batches_are_padded_as_make_batch_pads_them() {
        let config = TransformerConfig::new(20)
            .with_d_model(8)
            .with_n_heads(2)
            .with_d_ff(16)
            .with_n_layers(1);
        let pairs = [
            EncodedPair {
                source: vec![5, 6, 2],
                target: vec![7, 2],
            },
            EncodedPair {
                source: vec![5, 2],
                target: vec![8, 9, 2],
            },
        ];
        let batch = workload_batch(&config, &pairs.iter().collect::<Vec<_>>());
        assert_eq!(batch.tokens, 10);
        let field = |name| batch.field::<Vec<Vec<u32>>>(name).unwrap();
        assert_eq!(field("source"), vec![vec![5, 6, 2], vec![5, 2, 0]]);
        assert_eq!(field("target_input"), vec![vec![1, 7, 0], vec![1, 8, 9]]);
        assert_eq!(field("target_output"), vec![vec![7, 2, 0], vec![8, 9, 2]]);
        let back: BenchConfig = serde_json::from_value(
            serde_json::to_value(BenchConfig {
                model: config,
                label_smoothing: 0.1,
            })
            .unwrap(),
        )
        .unwrap();
        assert_eq!(back.label_smoothing, 0.1);
    }
}
