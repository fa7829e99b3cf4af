//! Pre-training (§3.1, Appendix A.2) on the shared loop of `repro_core::train`: the masked LM
//! with or without next-sentence prediction, and the left-to-right LM of Table 5, each with
//! Adam(W) at a linear warm-up then linear decay.
//!
//! Batches are a pure function of (seed, step) and so are the masks ([`crate::corpus`]), so a
//! resumed run replays the same steps. The dev loss is the masked-LM negative log-likelihood per
//! predicted token over held-out documents with masks fixed once (seed 0), identical for every
//! model of a run, so perplexities compare; for the left-to-right model it is the next-token loss.

use burn::optim::AdamWConfig;
use burn::tensor::{Device, Int, Tensor, TensorData};
use repro_core::data::batch::{batch_for_step, pad_rows};
use repro_core::determinism::{init_on_cpu, step_seed};
use repro_core::progress::Progress;
use repro_core::train::{self, Checkpoints, Objective, Schedule, StepLoss, Trained, Training};
use serde::{Deserialize, Serialize};

use crate::corpus::{Instance, PAD, mask_tokens};
use crate::model::{BertConfig, BertForPreTraining};
use crate::scale::PretrainingConfig;

/// The pre-training objective (Table 5's rows).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PretrainingObjective {
    /// BERT: masked LM + next sentence prediction.
    MlmNsp,
    /// "No NSP": the masked LM alone, B always the real continuation.
    Mlm,
    /// "LTR & No NSP": a left-to-right LM (causal attention), no NSP.
    LeftToRight,
}

impl PretrainingObjective {
    /// Whether half the B segments are random (NSP's NotNext).
    pub fn nsp(self) -> bool {
        self == Self::MlmNsp
    }

    /// Table 5's name.
    pub fn describe(self) -> &'static str {
        match self {
            Self::MlmNsp => "MLM + NSP",
            Self::Mlm => "MLM, no NSP",
            Self::LeftToRight => "LTR, no NSP",
        }
    }
}

/// Linear warm-up over `warmup` steps to `peak`, then linear decay to 0 at `total` (BERT's
/// schedule, Appendix A.2).
pub fn warmup_linear_decay(step: usize, total: usize, warmup: usize, peak: f64) -> f64 {
    let step = step as f64;
    let warmup = warmup.max(1) as f64;
    let total = total.max(1) as f64;
    if step <= warmup {
        peak * step / warmup
    } else {
        peak * ((total - step) / (total - warmup).max(1.0)).max(0.0)
    }
}

pub use repro_core::train::loss::cross_entropy;

/// What the model predicts in one batch: inputs and the positions (flattened B·T rows) whose
/// tokens it must produce.
pub struct LmBatch {
    /// Token ids (B, T).
    pub input: Tensor<2, Int>,
    /// Segment ids (B, T).
    pub segments: Tensor<2, Int>,
    /// Flattened positions predicted.
    pub rows: Tensor<1, Int>,
    /// Their targets.
    pub labels: Vec<u32>,
    /// NSP labels (0 IsNext, 1 NotNext, as Hugging Face).
    pub nsp_labels: Vec<u32>,
}

/// The rows of a batch before they become tensors (what `repro bench` writes to its workload).
#[derive(Debug, Clone, PartialEq)]
pub struct LmRows {
    /// Input ids per instance (masked for MLM), unpadded.
    pub inputs: Vec<Vec<u32>>,
    /// Segment ids per instance, unpadded.
    pub segments: Vec<Vec<u32>>,
    /// Flattened positions predicted, in the padded (B, width) batch.
    pub rows: Vec<i64>,
    /// Their targets.
    pub labels: Vec<u32>,
    /// NSP labels (0 IsNext, 1 NotNext, as Hugging Face).
    pub nsp_labels: Vec<u32>,
}

impl LmRows {
    /// Padded to the longest instance, on `device`.
    pub fn into_batch(self, device: &Device) -> LmBatch {
        let input_rows: Vec<&[u32]> = self.inputs.iter().map(Vec::as_slice).collect();
        let segment_rows: Vec<&[u32]> = self.segments.iter().map(Vec::as_slice).collect();
        let count = self.rows.len();
        LmBatch {
            input: pad_rows(&input_rows, PAD, device),
            segments: pad_rows(&segment_rows, 0, device),
            rows: Tensor::from_data(TensorData::new(self.rows, [count]), device),
            labels: self.labels,
            nsp_labels: self.nsp_labels,
        }
    }
}

/// The rows of the batch of `instances` for `objective`; masks come from `rng`.
pub fn lm_rows(
    instances: &[&Instance],
    objective: PretrainingObjective,
    vocab_size: usize,
    rng: &mut fastrand::Rng,
) -> LmRows {
    let width = instances.iter().map(|i| i.tokens.len()).max().unwrap_or(1);
    let mut inputs: Vec<Vec<u32>> = Vec::with_capacity(instances.len());
    let mut rows = Vec::new();
    let mut labels = Vec::new();
    for (b, instance) in instances.iter().enumerate() {
        match objective {
            PretrainingObjective::LeftToRight => {
                // Position t predicts token t + 1.
                for t in 0..instance.tokens.len() - 1 {
                    rows.push((b * width + t) as i64);
                    labels.push(instance.tokens[t + 1]);
                }
                inputs.push(instance.tokens.clone());
            }
            _ => {
                let (masked, _) = mask_tokens(&instance.tokens, vocab_size, rng);
                rows.extend(masked.positions.iter().map(|&p| (b * width + p) as i64));
                labels.extend(masked.labels);
                inputs.push(masked.input);
            }
        }
    }
    LmRows {
        inputs,
        segments: instances.iter().map(|i| i.segments.clone()).collect(),
        rows,
        labels,
        nsp_labels: instances.iter().map(|i| u32::from(!i.is_next)).collect(),
    }
}

/// Builds the batch of `instances` for `objective`; masks come from `rng`.
pub fn lm_batch(
    instances: &[&Instance],
    objective: PretrainingObjective,
    vocab_size: usize,
    rng: &mut fastrand::Rng,
    device: &Device,
) -> LmBatch {
    lm_rows(instances, objective, vocab_size, rng).into_batch(device)
}

/// The losses of `model` on `batch`: (LM loss, NSP loss when the objective has NSP).
pub fn losses(
    model: &BertForPreTraining,
    batch: LmBatch,
    objective: PretrainingObjective,
) -> (Tensor<1>, Option<Tensor<1>>) {
    let hidden = model.bert.forward(batch.input, batch.segments);
    let lm = cross_entropy(model.mlm_logits(hidden.clone(), batch.rows), &batch.labels);
    let nsp = objective
        .nsp()
        .then(|| cross_entropy(model.nsp_logits(hidden), &batch.nsp_labels));
    (lm, nsp)
}

/// Dev evaluation: LM loss per predicted token (nats) and NSP accuracy (NSP models).
pub fn evaluate(
    model: &BertForPreTraining,
    dev: &[Instance],
    objective: PretrainingObjective,
    vocab_size: usize,
    batch_size: usize,
    device: &Device,
) -> anyhow::Result<(f64, Option<f64>)> {
    anyhow::ensure!(!dev.is_empty(), "no held-out instances to evaluate on");
    // Fixed masks: every model of a run is scored on the same corrupted dev set.
    let mut rng = fastrand::Rng::with_seed(0);
    let (mut total, mut predicted, mut correct) = (0.0, 0usize, 0usize);
    for chunk in dev.chunks(batch_size.max(1)) {
        let instances: Vec<&Instance> = chunk.iter().collect();
        let batch = lm_batch(&instances, objective, vocab_size, &mut rng, device);
        let count = batch.labels.len();
        let nsp_labels = batch.nsp_labels.clone();
        let hidden = model
            .bert
            .forward(batch.input.clone(), batch.segments.clone());
        let loss: f64 = cross_entropy(model.mlm_logits(hidden.clone(), batch.rows), &batch.labels)
            .into_scalar();
        total += loss * count as f64;
        predicted += count;
        if objective.nsp() {
            let guesses = model
                .nsp_logits(hidden)
                .argmax(1)
                .into_data()
                .convert::<i64>()
                .try_to_vec::<i64>()
                .map_err(|e| anyhow::anyhow!("reading NSP predictions: {e:?}"))?;
            correct += guesses
                .iter()
                .zip(&nsp_labels)
                .filter(|(g, l)| **g == i64::from(**l))
                .count();
        }
    }
    let nsp = objective
        .nsp()
        .then(|| correct as f64 / dev.len().max(1) as f64);
    Ok((total / predicted.max(1) as f64, nsp))
}

struct LmObjective<'a> {
    batches: Vec<Vec<usize>>,
    train: &'a [Instance],
    dev: &'a [Instance],
    objective: PretrainingObjective,
    vocab_size: usize,
    config: &'a PretrainingConfig,
    seed: u64,
    train_device: Device,
    eval_device: Device,
}

impl Objective<BertForPreTraining> for LmObjective<'_> {
    fn step_loss(&self, model: &BertForPreTraining, step: usize) -> anyhow::Result<StepLoss> {
        let indices = batch_for_step(&self.batches, self.seed, step);
        let instances: Vec<&Instance> = indices.iter().map(|&i| &self.train[i]).collect();
        let tokens = instances.iter().map(|i| i.tokens.len() as u64).sum();
        // Masks from (seed, step), apart from the dropout masks' stream.
        let mut rng = fastrand::Rng::with_seed(step_seed(self.seed, step) ^ 0x6d61_736b);
        let batch = lm_batch(
            &instances,
            self.objective,
            self.vocab_size,
            &mut rng,
            &self.train_device,
        );
        let (lm, nsp) = losses(model, batch, self.objective);
        let loss = match nsp {
            Some(nsp) => lm + nsp,
            None => lm,
        };
        Ok(StepLoss { loss, tokens })
    }

    fn learning_rate(&self, step: usize) -> f64 {
        let warmup = (self.config.warmup_fraction * self.config.steps as f64).round() as usize;
        warmup_linear_decay(step, self.config.steps, warmup, self.config.learning_rate)
    }

    fn dev_loss(&self, model: &BertForPreTraining) -> anyhow::Result<f64> {
        Ok(evaluate(
            model,
            self.dev,
            self.objective,
            self.vocab_size,
            self.config.batch_size,
            &self.eval_device,
        )?
        .0)
    }
}

/// One pre-training run.
pub struct PretrainingRun<'a> {
    /// Progress-bar name (`mlm_nsp seed 1`).
    pub name: String,
    /// Architecture (`causal` for the left-to-right objective).
    pub model: &'a BertConfig,
    /// Objective.
    pub objective: PretrainingObjective,
    /// Budget and optimiser.
    pub config: &'a PretrainingConfig,
    /// Seed of initialisation, batch order, masks and dropout.
    pub seed: u64,
    /// Training instances (with random B segments for NSP, contiguous otherwise).
    pub train: &'a [Instance],
    /// Dev instances of the same kind.
    pub dev: &'a [Instance],
    /// Checkpointing.
    pub checkpoints: Option<Checkpoints>,
}

/// Pre-trains with AdamW (β1 0.9, β2 0.999, ε 1e-6, weight decay as configured; Appendix A.2).
pub fn pretrain(
    run: PretrainingRun,
    device: &Device,
    progress: &Progress,
) -> anyhow::Result<Trained<BertForPreTraining>> {
    anyhow::ensure!(!run.train.is_empty(), "no pre-training instances");
    let train_device = device.clone().autodiff();
    let mut order: Vec<usize> = (0..run.train.len()).collect();
    fastrand::Rng::with_seed(run.seed).shuffle(&mut order);
    let batches: Vec<Vec<usize>> = order
        .chunks(run.config.batch_size.max(1))
        .map(<[usize]>::to_vec)
        .collect();
    let objective = LmObjective {
        batches,
        train: run.train,
        dev: run.dev,
        objective: run.objective,
        vocab_size: run.model.vocab_size,
        config: run.config,
        seed: run.seed,
        train_device: train_device.clone(),
        eval_device: device.clone(),
    };
    let model_config = run.model.clone();
    let training = Training {
        name: run.name,
        seed: run.seed,
        schedule: Schedule {
            steps: run.config.steps,
            eval_every: run.config.eval_every,
            checkpoint_every: run.config.checkpoint_every,
        },
        model: init_on_cpu(run.seed, &train_device, |device| {
            model_config.init_pretraining(device)
        }),
        optimizer: AdamWConfig::new()
            .with_beta_1(0.9)
            .with_beta_2(0.999)
            .with_epsilon(1e-6)
            .with_weight_decay(run.config.weight_decay as f32)
            .init(),
        checkpoints: run.checkpoints,
    };
    train::train(training, &objective, progress)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_schedule_warms_up_linearly_then_decays_to_zero() {
        assert_eq!(warmup_linear_decay(5, 100, 10, 1.0), 0.5);
        assert_eq!(warmup_linear_decay(10, 100, 10, 1.0), 1.0);
        assert!((warmup_linear_decay(55, 100, 10, 1.0) - 0.5).abs() < 1e-12);
        assert_eq!(warmup_linear_decay(100, 100, 10, 1.0), 0.0);
    }

    #[test]
    fn a_left_to_right_batch_predicts_every_next_token_and_a_masked_one_fifteen_percent() {
        let device = Device::flex();
        let instance = Instance {
            tokens: (0..20).map(|i| if i == 0 { 2 } else { 5 + i }).collect(),
            segments: vec![0; 20],
            is_next: false,
            document: 0,
        };
        let mut rng = fastrand::Rng::with_seed(1);
        let ltr = lm_batch(
            &[&instance],
            PretrainingObjective::LeftToRight,
            50,
            &mut rng,
            &device,
        );
        assert_eq!(ltr.labels, instance.tokens[1..].to_vec());
        let mlm = lm_batch(
            &[&instance],
            PretrainingObjective::MlmNsp,
            50,
            &mut rng,
            &device,
        );
        assert_eq!(mlm.labels.len(), 3);
        assert_eq!(mlm.nsp_labels, vec![1]);
    }
}
