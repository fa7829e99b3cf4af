//! `repro bench`: the `small` scale's largest GPT (`l`) pre-training on real windows of the
//! `small` corpus, and scoring held-out windows, as [`crate::training`] does both.

use burn::grad_clipping::GradientClippingConfig;
use burn::module::Module;
use burn::optim::AdamWConfig;
use burn::tensor::Device;
use repro_core::bench::{
    self, Measurement, OptimizerSpec, Phase, Workload, WorkloadBatch, WorkloadSize,
};
use repro_core::data::batch::batch_for_step;
use repro_core::determinism::{init_on_cpu, seed_dropout_masks, step_seed};
use repro_core::{RunContext, Scale};

use crate::experiments::Lab;
use crate::model::GptConfig;
use crate::training::lm_loss;

/// The optimiser of [`crate::training::pretrain`] (Appendix B) at the `l` size's peak rate.
fn optimizer(learning_rate: f64, weight_decay: f64) -> OptimizerSpec {
    OptimizerSpec {
        name: "adamw".into(),
        lr: learning_rate,
        beta1: 0.9,
        beta2: 0.95,
        eps: 1e-8,
        weight_decay,
        clip_norm: Some(1.0),
        clip_mode: Some("per_parameter".into()),
    }
}

/// Forward FLOPs of `rows` windows of `length` tokens: the projections and the tied output layer
/// (2 per multiply-add per token), and the two attention products over every (query, key) pair.
fn forward_flops(config: &GptConfig, rows: usize, length: usize) -> f64 {
    let (d, layers, vocab) = (
        config.n_embd as f64,
        config.n_layer as f64,
        config.vocab_size as f64,
    );
    let d_ff = config.d_ff() as f64;
    let tokens = (rows * length) as f64;
    let per_token = 2.0 * layers * (4.0 * d * d + 2.0 * d * d_ff) + 2.0 * d * vocab;
    tokens * per_token + rows as f64 * layers * 2.0 * 2.0 * (length * length) as f64 * d
}

fn workload_batch(config: &GptConfig, windows: &[&[u32]]) -> WorkloadBatch {
    let length = windows[0].len() - 1;
    let inputs: Vec<&[u32]> = windows.iter().map(|w| &w[..length]).collect();
    let targets: Vec<&[u32]> = windows.iter().map(|w| &w[1..]).collect();
    let mut data = serde_json::Map::new();
    data.insert("input_ids".into(), serde_json::json!(inputs));
    data.insert("targets".into(), serde_json::json!(targets));
    WorkloadBatch {
        tokens: (windows.len() * length) as u64,
        forward_flops: forward_flops(config, windows.len(), length),
        data,
    }
}

/// The windows of a workload batch again: each row's first input followed by its targets.
fn windows_of(batch: &WorkloadBatch) -> anyhow::Result<Vec<Vec<u32>>> {
    let inputs: Vec<Vec<u32>> = batch.field("input_ids")?;
    let targets: Vec<Vec<u32>> = batch.field("targets")?;
    anyhow::ensure!(
        inputs.len() == targets.len() && inputs.iter().all(|row| !row.is_empty()),
        "input_ids and targets must be non-empty rows, as many of each"
    );
    Ok(inputs
        .iter()
        .zip(&targets)
        .map(|(input, target)| {
            std::iter::once(input[0])
                .chain(target.iter().copied())
                .collect()
        })
        .collect())
}

/// Training steps as [`crate::training::pretrain`] draws them (seed 1), and held-out windows
/// in evaluation batches, of the `small` scale's largest size.
pub fn workload(size: &WorkloadSize) -> anyhow::Result<Workload> {
    let ctx = RunContext::for_tests(Scale::Small, 1, 1);
    let lab = Lab::prepare(&ctx)?;
    let largest = lab
        .config
        .sizes
        .last()
        .ok_or_else(|| anyhow::anyhow!("the small scale has no model sizes"))?
        .clone();
    let corpus = &lab.config.corpus;
    let training = &lab.config.training;
    let config = GptConfig::sized(
        lab.vocab_size(),
        corpus.context,
        largest.layers,
        largest.width,
        largest.heads,
        0.0,
    );
    let count = size.warmup + size.steps;
    let (train, dev) = lab.windows();
    let batches: Vec<Vec<usize>> = (0..train.len())
        .collect::<Vec<_>>()
        .chunks_exact(training.batch_size)
        .map(<[usize]>::to_vec)
        .collect();
    anyhow::ensure!(!batches.is_empty(), "fewer windows than one batch");
    let train_batches = (1..=count)
        .map(|step| {
            let rows: Vec<&[u32]> = batch_for_step(&batches, 1, step)
                .iter()
                .map(|&i| train[i].as_slice())
                .collect();
            workload_batch(&config, &rows)
        })
        .collect();
    let score_batches = dev
        .chunks_exact(training.batch_size)
        .cycle()
        .take(count)
        .map(|chunk| {
            let rows: Vec<&[u32]> = chunk.iter().map(Vec::as_slice).collect();
            workload_batch(&config, &rows)
        })
        .collect();
    let parameters = init_on_cpu(0, &Device::flex(), |device| config.init(device)).num_params();
    Ok(Workload {
        model: "gpt3".into(),
        description: format!(
            "GPT `{}` ({} layers × {}, {} heads, vocabulary {}): {} windows of {} tokens per batch",
            largest.name,
            config.n_layer,
            config.n_embd,
            config.n_head,
            config.vocab_size,
            training.batch_size,
            corpus.context
        ),
        threads: size.threads,
        parameters,
        warmup: size.warmup,
        min_seconds: size.min_seconds,
        config: serde_json::to_value(&config)?,
        optimizer: optimizer(largest.learning_rate, training.weight_decay),
        train: train_batches,
        score: score_batches,
    })
}

/// Our side of `workload`: the model of [`crate::model`], the loss of [`lm_loss`], AdamW with
/// per-parameter clipping, the shared loop's backward and step.
pub fn measure(workload: &Workload, phase: Phase, device: &Device) -> anyhow::Result<Measurement> {
    let config: GptConfig = workload.config()?;
    config.validate()?;
    match phase {
        Phase::Train => {
            let device = device.clone().autodiff();
            let mut model = init_on_cpu(0, &device, |device| config.init(device));
            let parameters = model.num_params();
            let spec = &workload.optimizer;
            let mut optimizer = AdamWConfig::new()
                .with_beta_1(spec.beta1 as f32)
                .with_beta_2(spec.beta2 as f32)
                .with_epsilon(spec.eps as f32)
                .with_weight_decay(spec.weight_decay as f32)
                .with_grad_clipping(
                    spec.clip_norm
                        .map(|n| GradientClippingConfig::Norm(n as f32)),
                )
                .init();
            let mut step = 0;
            bench::time_steps(workload, phase, parameters, |batch| {
                step += 1;
                let windows = windows_of(batch)?;
                let rows: Vec<&[u32]> = windows.iter().map(Vec::as_slice).collect();
                seed_dropout_masks(Some(step_seed(1, step)));
                let loss = lm_loss(&model, &rows, &device);
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
                let windows = windows_of(batch)?;
                let rows: Vec<&[u32]> = windows.iter().map(Vec::as_slice).collect();
                Ok(lm_loss(&model, &rows, device).into_scalar())
            })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn windows_survive_the_round_trip_through_the_workload_file() {
        let config = GptConfig::sized(50, 4, 1, 8, 2, 0.0);
        let windows: [&[u32]; 2] = [&[1, 2, 3, 4, 5], &[6, 7, 8, 9, 10]];
        let batch = workload_batch(&config, &windows);
        assert_eq!(batch.tokens, 8);
        let ids: Vec<Vec<u32>> = batch.field("input_ids").unwrap();
        assert_eq!(ids, vec![vec![1, 2, 3, 4], vec![6, 7, 8, 9]]);
        assert_eq!(
            windows_of(&batch).unwrap(),
            vec![vec![1, 2, 3, 4, 5], vec![6, 7, 8, 9, 10]]
        );
    }

    #[test]
    fn forward_flops_count_the_products_of_a_block_by_hand() {
        // One layer of width 8 (d_ff 32), vocabulary 50, one window of 4 tokens:
        // qkv 8×24 + proj 8×8 + fc 8×32 + out 32×8 = 768 multiply-adds per token per layer,
        // logits 8×50 = 400; attention 2 products × 4×4 pairs × 8 = 256.
        let config = GptConfig::sized(50, 4, 1, 8, 2, 0.0);
        let expected = 4.0 * 2.0 * (768.0 + 400.0) + 2.0 * 256.0;
        assert_eq!(forward_flops(&config, 1, 4), expected);
    }
}
