//! Training (§5): token-bucketed batches (§5.1), Adam with the warm-up schedule of Eq. 3
//! (§5.3), label smoothing (§5.4), and dev perplexity, run by the shared loop of
//! `repro_core::train` (progress, checkpoints, resuming to the same numbers).
//!
//! Determinism: weights are drawn on the CPU from the seed, batches are a pure function of
//! (seed, step), and dropout masks come from (seed, step) (`repro_core::determinism`), so a run
//! resumed from a checkpoint at step k replays steps k+1… exactly as an uninterrupted run would,
//! and trainings may run concurrently on other threads.

use burn::optim::AdamConfig;
use burn::tensor::{Device, Int, Tensor};
use repro_core::data::batch::batch_for_step;
use repro_core::determinism::init_on_cpu;
use repro_core::progress::Progress;
use repro_core::train::{self, Checkpoints, Objective, Schedule, StepLoss, Trained, Training};
use serde::{Deserialize, Serialize};

use crate::data::{EncodedPair, PAD, make_batch};
use crate::model::{Transformer, TransformerConfig};

/// Optimiser and schedule settings (§5.3, §5.4), plus the budget of a run.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct TrainingConfig {
    /// Optimisation steps.
    pub steps: usize,
    /// Tokens (source + target, padding included) per batch; the paper used ~25k + 25k.
    pub batch_tokens: usize,
    /// `warmup_steps` of Eq. 3 (paper: 4000).
    pub warmup_steps: usize,
    /// Multiplier on Eq. 3 (paper: 1). Small models with short runs tolerate a larger rate.
    pub lr_factor: f64,
    /// `ε_ls` (§5.4; paper: 0.1).
    pub label_smoothing: f64,
    /// Steps between dev-loss evaluations (learning curves).
    pub eval_every: usize,
    /// Steps between checkpoints.
    pub checkpoint_every: usize,
}

/// Eq. 3: `lrate = d_model^-0.5 · min(step^-0.5, step · warmup_steps^-1.5)`, times `factor`.
/// Rises linearly for `warmup_steps`, then decays as the inverse square root of the step.
pub fn learning_rate(step: usize, d_model: usize, warmup_steps: usize, factor: f64) -> f64 {
    let step = step.max(1) as f64;
    let warmup = warmup_steps.max(1) as f64;
    factor * (d_model as f64).powf(-0.5) * step.powf(-0.5).min(step * warmup.powf(-1.5))
}

/// Cross-entropy against the label-smoothed target distribution of §5.4 (Szegedy et al. 2016):
/// `q = (1 - ε)·onehot(y) + ε/V`, so the loss per token is `(1 - ε)·(-log p_y) + ε·mean_v(-log p_v)`.
/// Padding targets are excluded. Returns the mean over real tokens, shape (1). On the CPU the
/// log-softmax, the loss and its gradient are one fused kernel ([`repro_kernels::cross_entropy`]).
pub fn label_smoothed_cross_entropy(
    logits: Tensor<3>,
    targets: Tensor<2, Int>,
    epsilon: f64,
) -> Tensor<1> {
    let [batch, length, vocab] = logits.dims();
    repro_kernels::cross_entropy(
        logits.reshape([batch * length, vocab]),
        targets.reshape([batch * length]),
        epsilon,
        Some(PAD as i64),
    )
}

/// Summed negative log-likelihood (no smoothing) and token count: what perplexity is made of.
pub fn negative_log_likelihood(logits: Tensor<3>, targets: Tensor<2, Int>) -> (f64, usize) {
    let tokens: f64 = targets
        .clone()
        .not_equal_elem(PAD as i64)
        .float()
        .sum()
        .into_scalar();
    let mean: f64 = label_smoothed_cross_entropy(logits, targets, 0.0).into_scalar();
    (mean * tokens, tokens as usize)
}

/// Groups pair indices into batches of similar length holding at most `batch_tokens` tokens
/// (§5.1: "sentence pairs were batched together by approximate sequence length").
pub fn bucket_batches(pairs: &[EncodedPair], batch_tokens: usize) -> Vec<Vec<usize>> {
    let mut order: Vec<usize> = (0..pairs.len()).collect();
    order.sort_by_key(|&i| {
        (
            pairs[i].source.len().max(pairs[i].target.len()),
            pairs[i].source.len(),
            i,
        )
    });
    let mut batches = Vec::new();
    let mut current: Vec<usize> = Vec::new();
    let mut longest = 0;
    for i in order {
        let length = pairs[i].source.len() + pairs[i].target.len();
        let longest_if_added = longest.max(length);
        if !current.is_empty() && longest_if_added * (current.len() + 1) > batch_tokens {
            batches.push(std::mem::take(&mut current));
            longest = 0;
        }
        longest = longest.max(length);
        current.push(i);
    }
    if !current.is_empty() {
        batches.push(current);
    }
    batches
}

/// Dev-set loss per token (unsmoothed) of a model in evaluation mode.
pub fn dev_loss(
    model: &Transformer,
    dev: &[EncodedPair],
    batch_tokens: usize,
    device: &Device,
) -> f64 {
    let mut total = 0.0;
    let mut tokens = 0;
    for indices in bucket_batches(dev, batch_tokens) {
        let pairs: Vec<&EncodedPair> = indices.iter().map(|&i| &dev[i]).collect();
        let batch = make_batch(&pairs, device);
        let logits = model.forward(batch.source, batch.target_input);
        let (nll, count) = negative_log_likelihood(logits, batch.target_output);
        total += nll;
        tokens += count;
    }
    total / tokens.max(1) as f64
}

/// What the shared loop needs of a translation training: batches by step, Eq. 3, dev loss.
struct TranslationObjective<'a> {
    batches: Vec<Vec<usize>>,
    train: &'a [EncodedPair],
    dev: &'a [EncodedPair],
    seed: u64,
    d_model: usize,
    training: &'a TrainingConfig,
    train_device: Device,
    eval_device: Device,
}

impl Objective<Transformer> for TranslationObjective<'_> {
    fn step_loss(&self, model: &Transformer, step: usize) -> anyhow::Result<StepLoss> {
        let indices = batch_for_step(&self.batches, self.seed, step);
        let pairs: Vec<&EncodedPair> = indices.iter().map(|&i| &self.train[i]).collect();
        let tokens = pairs
            .iter()
            .map(|pair| (pair.source.len() + pair.target.len()) as u64)
            .sum();
        let batch = make_batch(&pairs, &self.train_device);
        let logits = model.forward(batch.source, batch.target_input);
        let loss = label_smoothed_cross_entropy(
            logits,
            batch.target_output,
            self.training.label_smoothing,
        );
        Ok(StepLoss { loss, tokens })
    }

    fn learning_rate(&self, step: usize) -> f64 {
        learning_rate(
            step,
            self.d_model,
            self.training.warmup_steps,
            self.training.lr_factor,
        )
    }

    fn dev_loss(&self, model: &Transformer) -> anyhow::Result<f64> {
        Ok(dev_loss(
            model,
            self.dev,
            self.training.batch_tokens,
            &self.eval_device,
        ))
    }
}

/// What a translation training needs besides its data.
pub struct TrainingRun<'a> {
    /// A name for the progress bar (`base seed 1`).
    pub name: String,
    /// Architecture.
    pub model: &'a TransformerConfig,
    /// Optimisation.
    pub training: &'a TrainingConfig,
    /// Seed of initialisation, batch order and dropout.
    pub seed: u64,
    /// Training pairs.
    pub train: &'a [EncodedPair],
    /// Dev pairs for the curves and perplexity.
    pub dev: &'a [EncodedPair],
    /// Where and as whom to checkpoint (`None`: no checkpoints).
    pub checkpoints: Option<Checkpoints>,
}

/// Trains a Transformer with Adam (§5.3: β1 0.9, β2 0.98, ε 1e-9) on the schedule of Eq. 3.
pub fn train(
    run: TrainingRun,
    device: &Device,
    progress: &Progress,
) -> anyhow::Result<Trained<Transformer>> {
    let train_device = device.clone().autodiff();
    let batches = bucket_batches(run.train, run.training.batch_tokens);
    anyhow::ensure!(!batches.is_empty(), "no training data");
    let objective = TranslationObjective {
        batches,
        train: run.train,
        dev: run.dev,
        seed: run.seed,
        d_model: run.model.d_model,
        training: run.training,
        train_device: train_device.clone(),
        eval_device: device.clone(),
    };
    let training = Training {
        name: run.name,
        seed: run.seed,
        schedule: Schedule {
            steps: run.training.steps,
            eval_every: run.training.eval_every,
            checkpoint_every: run.training.checkpoint_every,
        },
        model: init_on_cpu(run.seed, &train_device, |device| run.model.init(device)),
        optimizer: AdamConfig::new()
            .with_beta_1(0.9)
            .with_beta_2(0.98) // §5.3
            .with_epsilon(1e-9)
            .init(),
        checkpoints: run.checkpoints,
    };
    train::train(training, &objective, progress)
}

#[cfg(test)]
mod tests {
    use super::*;
    use burn::tensor::TensorData;

    #[test]
    fn learning_rate_follows_equation_3() {
        // Base model: d_model 512, warmup 4000. Peak at the end of warm-up.
        let peak = learning_rate(4000, 512, 4000, 1.0);
        assert!((peak - 512f64.powf(-0.5) * 4000f64.powf(-0.5)).abs() < 1e-12);
        // Linear increase during warm-up…
        assert!((learning_rate(2000, 512, 4000, 1.0) - peak / 2.0).abs() < 1e-12);
        // …then inverse square root decay.
        assert!((learning_rate(16000, 512, 4000, 1.0) - peak / 2.0).abs() < 1e-12);
        assert_eq!(
            learning_rate(100, 512, 4000, 2.0),
            2.0 * learning_rate(100, 512, 4000, 1.0)
        );
    }

    #[test]
    fn label_smoothing_matches_the_formula_and_ignores_padding() {
        let device = Device::flex();
        // One sequence, two real tokens and one pad; vocabulary of 3.
        let logits = Tensor::<3>::from_data(
            TensorData::new(
                vec![2.0f32, 0.0, 0.0, 0.0, 1.0, 0.0, 5.0, 5.0, 5.0],
                [1, 3, 3],
            ),
            &device,
        );
        // Id 0 is padding, so the real targets use ids 1 and 2.
        let targets = Tensor::<2, Int>::from_data(
            TensorData::new(vec![2i64, 1, PAD as i64], [1, 3]),
            &device,
        );
        let log_p =
            |row: [f64; 3], k: usize| row[k] - row.iter().map(|x| x.exp()).sum::<f64>().ln();
        let rows = [[2.0, 0.0, 0.0], [0.0, 1.0, 0.0]];
        let epsilon = 0.1;
        let expected: f64 = [(rows[0], 2), (rows[1], 1)]
            .iter()
            .map(|&(row, y)| {
                let uniform = (0..3).map(|k| -log_p(row, k)).sum::<f64>() / 3.0;
                (1.0 - epsilon) * -log_p(row, y) + epsilon * uniform
            })
            .sum::<f64>()
            / 2.0;
        let loss: f64 =
            label_smoothed_cross_entropy(logits.clone(), targets.clone(), epsilon).into_scalar();
        assert!((loss - expected).abs() < 1e-5, "{loss} vs {expected}");
        // ε = 0 is plain cross-entropy.
        let plain: f64 =
            label_smoothed_cross_entropy(logits.clone(), targets.clone(), 0.0).into_scalar();
        let (nll, tokens) = negative_log_likelihood(logits, targets);
        assert_eq!(tokens, 2);
        assert!((plain - nll / 2.0).abs() < 1e-5);
    }

    #[test]
    fn batches_cover_every_pair_once_within_the_token_budget() {
        let pairs: Vec<EncodedPair> = (0..50)
            .map(|i| EncodedPair {
                source: vec![5; 1 + i % 7],
                target: vec![6; 1 + i % 5],
            })
            .collect();
        let batches = bucket_batches(&pairs, 40);
        let mut seen: Vec<usize> = batches.iter().flatten().copied().collect();
        seen.sort();
        assert_eq!(seen, (0..50).collect::<Vec<_>>());
        for batch in &batches {
            let longest = batch
                .iter()
                .map(|&i| pairs[i].source.len() + pairs[i].target.len())
                .max()
                .unwrap();
            assert!(batch.len() == 1 || longest * batch.len() <= 40);
        }
        // Batches hold pairs of similar length (§5.1): sorted by length, so each batch's
        // lengths are a contiguous range of the sorted lengths.
        let longest = |batch: &Vec<usize>| {
            batch
                .iter()
                .map(|&i| pairs[i].source.len().max(pairs[i].target.len()))
                .max()
                .unwrap()
        };
        let shortest = |batch: &Vec<usize>| {
            batch
                .iter()
                .map(|&i| pairs[i].source.len().max(pairs[i].target.len()))
                .min()
                .unwrap()
        };
        for pair in batches.windows(2) {
            assert!(
                longest(&pair[0]) <= shortest(&pair[1]),
                "batches are not length-sorted"
            );
        }
    }
}
