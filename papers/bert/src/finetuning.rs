//! Fine-tuning (§4, Appendix A.3): the pre-trained encoder plus one classification layer, every
//! weight trained with AdamW at a linear warm-up (10 % of the steps) then linear decay, for a
//! fixed number of epochs; the learning rate is chosen on dev ([`crate::experiments`]).

use burn::optim::AdamWConfig;
use burn::tensor::activation::softmax;
use burn::tensor::{Device, Int, Tensor, TensorData};
use repro_core::data::Tokenizer;
use repro_core::data::batch::{batch_for_step, pad_rows};
use repro_core::determinism::init_on_cpu;
use repro_core::progress::Progress;
use repro_core::train::{self, Checkpoints, Objective, Schedule, StepLoss, Trained, Training};

use crate::corpus::{CLS, SEP, pack_with};
use crate::model::{Bert, BertClassifier, BertConfig};
use crate::pretraining::{cross_entropy, warmup_linear_decay};
use crate::tasks::Example;

/// An example as model input.
#[derive(Debug, Clone, PartialEq)]
pub struct Encoded {
    /// `[CLS] a [SEP] (b [SEP])`.
    pub tokens: Vec<u32>,
    /// Segment ids.
    pub segments: Vec<u32>,
    /// Gold label.
    pub label: usize,
}

/// Encodes `text_a` (and `text_b`) within `max_seq_len` tokens, truncating the longer side first.
pub fn encode_text(
    tokenizer: &Tokenizer,
    text_a: &str,
    text_b: Option<&str>,
    max_seq_len: usize,
) -> anyhow::Result<(Vec<u32>, Vec<u32>)> {
    let mut a = tokenizer.encode(text_a)?;
    let mut b = match text_b {
        Some(text) => tokenizer.encode(text)?,
        None => Vec::new(),
    };
    let specials = if text_b.is_some() { 3 } else { 2 };
    // Truncation from the back, deterministically (Google's classifier truncates the longer
    // sequence one token at a time from its end).
    let budget = max_seq_len.saturating_sub(specials).max(2);
    while a.len() + b.len() > budget {
        if a.len() > b.len() {
            a.pop();
        } else {
            b.pop();
        }
    }
    // The vocabulary's own [CLS] / [SEP] ids (2 / 3 here, 101 / 102 in Google's vocabularies).
    let cls = tokenizer.token_to_id("[CLS]").unwrap_or(CLS);
    let sep = tokenizer.token_to_id("[SEP]").unwrap_or(SEP);
    Ok(pack_with(cls, sep, &a, &b))
}

/// Encodes a task split.
pub fn encode(
    tokenizer: &Tokenizer,
    examples: &[Example],
    max_seq_len: usize,
) -> anyhow::Result<Vec<Encoded>> {
    examples
        .iter()
        .map(|example| {
            let (tokens, segments) = encode_text(
                tokenizer,
                &example.text_a,
                example.text_b.as_deref(),
                max_seq_len,
            )?;
            Ok(Encoded {
                tokens,
                segments,
                label: example.label,
            })
        })
        .collect()
}

/// Input tensors of a batch padded with `pad` (the model's [PAD] id, the one its attention mask
/// hides): ids, segments, and each row's last real position.
pub fn batch_tensors(
    examples: &[&Encoded],
    pad: u32,
    device: &Device,
) -> (Tensor<2, Int>, Tensor<2, Int>, Tensor<1, Int>) {
    let tokens: Vec<&[u32]> = examples.iter().map(|e| e.tokens.as_slice()).collect();
    let segments: Vec<&[u32]> = examples.iter().map(|e| e.segments.as_slice()).collect();
    let last: Vec<i64> = examples.iter().map(|e| e.tokens.len() as i64 - 1).collect();
    let count = last.len();
    (
        pad_rows(&tokens, pad, device),
        pad_rows(&segments, 0, device),
        Tensor::from_data(TensorData::new(last, [count]), device),
    )
}

/// Examples per evaluation batch: larger than the training batch (no gradients to hold), and
/// filled with examples of similar length so that little of it is padding.
pub const EVAL_BATCH_SIZE: usize = 64;

/// `examples`' indices in evaluation batches of similar length (the shortest first).
fn eval_batches(examples: &[Encoded]) -> Vec<Vec<usize>> {
    length_batches(examples, EVAL_BATCH_SIZE)
}

/// Label probabilities (one row per example, in `examples`' order) of `model` in evaluation
/// mode. Padding is masked, so a row's probabilities do not depend on its batch-mates.
pub fn probabilities(
    model: &BertClassifier,
    examples: &[Encoded],
    device: &Device,
) -> Vec<Vec<f32>> {
    let mut out = vec![Vec::new(); examples.len()];
    for batch in eval_batches(examples) {
        let refs: Vec<&Encoded> = batch.iter().map(|&i| &examples[i]).collect();
        let (ids, segments, last) = batch_tensors(&refs, model.pad_id(), device);
        let probs = softmax(model.forward(ids, segments, last), 1);
        let [rows, labels] = probs.dims();
        let values = probs.into_data().try_to_vec::<f32>().unwrap_or_default();
        for (row, &index) in batch.iter().enumerate().take(rows) {
            out[index] = values[row * labels..(row + 1) * labels].to_vec();
        }
    }
    out
}

/// Accuracy of `model` on `examples`.
pub fn accuracy(model: &BertClassifier, examples: &[Encoded], device: &Device) -> f64 {
    let probs = probabilities(model, examples, device);
    let correct = probs
        .iter()
        .zip(examples)
        .filter(|(p, e)| argmax(p) == e.label)
        .count();
    correct as f64 / examples.len().max(1) as f64
}

/// Index of the largest value (the first on ties).
pub fn argmax(values: &[f32]) -> usize {
    let mut best = 0;
    for (i, &v) in values.iter().enumerate() {
        if v > values[best] {
            best = i;
        }
    }
    best
}

/// Batches of similar length (less padding), in a fixed composition; the loop shuffles their
/// order each epoch.
fn length_batches(examples: &[Encoded], batch_size: usize) -> Vec<Vec<usize>> {
    let mut order: Vec<usize> = (0..examples.len()).collect();
    order.sort_by_key(|&i| (examples[i].tokens.len(), i));
    order
        .chunks(batch_size.max(1))
        .map(<[usize]>::to_vec)
        .collect()
}

struct ClassificationObjective<'a> {
    batches: Vec<Vec<usize>>,
    train: &'a [Encoded],
    dev: &'a [Encoded],
    dev_batches: Vec<Vec<usize>>,
    seed: u64,
    steps: usize,
    learning_rate: f64,
    train_device: Device,
    eval_device: Device,
}

impl Objective<BertClassifier> for ClassificationObjective<'_> {
    fn step_loss(&self, model: &BertClassifier, step: usize) -> anyhow::Result<StepLoss> {
        let indices = batch_for_step(&self.batches, self.seed, step);
        let examples: Vec<&Encoded> = indices.iter().map(|&i| &self.train[i]).collect();
        let tokens = examples.iter().map(|e| e.tokens.len() as u64).sum();
        let labels: Vec<u32> = examples.iter().map(|e| e.label as u32).collect();
        let (ids, segments, last) = batch_tensors(&examples, model.pad_id(), &self.train_device);
        Ok(StepLoss {
            loss: cross_entropy(model.forward(ids, segments, last), &labels),
            tokens,
        })
    }

    fn learning_rate(&self, step: usize) -> f64 {
        warmup_linear_decay(step, self.steps, self.steps / 10, self.learning_rate)
    }

    fn dev_loss(&self, model: &BertClassifier) -> anyhow::Result<f64> {
        let mut total = 0.0;
        for batch in &self.dev_batches {
            let examples: Vec<&Encoded> = batch.iter().map(|&i| &self.dev[i]).collect();
            let labels: Vec<u32> = examples.iter().map(|e| e.label as u32).collect();
            let (ids, segments, last) = batch_tensors(&examples, model.pad_id(), &self.eval_device);
            let loss: f64 =
                cross_entropy(model.forward(ids, segments, last), &labels).into_scalar();
            total += loss * batch.len() as f64;
        }
        Ok(total / self.dev.len().max(1) as f64)
    }
}

/// One fine-tuning run.
pub struct FinetuningRun<'a> {
    /// Progress-bar name.
    pub name: String,
    /// Architecture of the encoder.
    pub model: &'a BertConfig,
    /// The pre-trained encoder; `None` fine-tunes from random initialisation.
    pub encoder: Option<&'a Bert>,
    /// Number of labels.
    pub labels: usize,
    /// Peak learning rate.
    pub learning_rate: f64,
    /// Epochs over `train`.
    pub epochs: usize,
    /// Examples per batch.
    pub batch_size: usize,
    /// Seed of the classifier's initialisation, batch order and dropout.
    pub seed: u64,
    /// Training examples.
    pub train: &'a [Encoded],
    /// Dev examples (curves).
    pub dev: &'a [Encoded],
    /// Checkpointing (a checkpoint at the end serves `repro classify`).
    pub checkpoints: Option<Checkpoints>,
}

/// Fine-tunes all weights with AdamW (weight decay 0.01, as BERT).
pub fn finetune(
    run: FinetuningRun,
    device: &Device,
    progress: &Progress,
) -> anyhow::Result<Trained<BertClassifier>> {
    anyhow::ensure!(!run.train.is_empty(), "no fine-tuning examples");
    let train_device = device.clone().autodiff();
    let batches = length_batches(run.train, run.batch_size);
    let steps = run.epochs * batches.len();
    let objective = ClassificationObjective {
        batches,
        train: run.train,
        dev: run.dev,
        dev_batches: eval_batches(run.dev),
        seed: run.seed,
        steps,
        learning_rate: run.learning_rate,
        train_device: train_device.clone(),
        eval_device: device.clone(),
    };
    let config = run.model.clone();
    let labels = run.labels;
    let mut model = init_on_cpu(run.seed, &train_device, |device| {
        config.init_classifier(labels, device)
    });
    if let Some(encoder) = run.encoder {
        model = model.with_encoder(encoder);
    }
    // Two dev points per epoch: the fine-tuning curves.
    let eval_every = (steps / (2 * run.epochs)).max(1);
    let training = Training {
        name: run.name,
        seed: run.seed,
        schedule: Schedule {
            steps,
            eval_every,
            checkpoint_every: steps,
        },
        model,
        optimizer: AdamWConfig::new()
            .with_beta_2(0.999)
            .with_epsilon(1e-6)
            .with_weight_decay(0.01)
            .init(),
        checkpoints: run.checkpoints,
    };
    train::train(training, &objective, progress)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fine_tuning_learns_a_separable_task_from_scratch() {
        // Label 1 exactly when token 7 occurs: a bag-of-words rule any working classifier learns.
        let mut rng = fastrand::Rng::with_seed(4);
        let examples: Vec<Encoded> = (0..256)
            .map(|i| {
                let mut words: Vec<u32> = (0..6).map(|_| rng.u32(8..30)).collect();
                if i % 2 == 1 {
                    words[rng.usize(..6)] = 7;
                }
                let (tokens, segments) = crate::corpus::pack(&words, &[]);
                Encoded {
                    tokens,
                    segments,
                    label: i % 2,
                }
            })
            .collect();
        let config = BertConfig::sized(30, 1, 16, 2, 16);
        let device = Device::flex();
        let trained = finetune(
            FinetuningRun {
                name: "separable".to_string(),
                model: &config,
                encoder: None,
                labels: 2,
                learning_rate: 3e-3,
                epochs: 8,
                batch_size: 16,
                seed: 1,
                train: &examples,
                dev: &examples,
                checkpoints: None,
            },
            &device,
            &Progress::hidden(),
        )
        .unwrap();
        let accuracy = accuracy(&trained.model, &examples, &device);
        assert!(
            accuracy > 0.9,
            "accuracy {accuracy}, dev loss {:?}",
            trained.state.dev_loss
        );
    }

    #[test]
    fn probabilities_come_back_in_input_order_whatever_the_length_batching() {
        // Lengths that the evaluation batches reorder (long, short, long, …), more than a batch.
        let examples: Vec<Encoded> = (0..EVAL_BATCH_SIZE + 9)
            .map(|i| {
                let words: Vec<u32> = (0..(i * 7) % 13 + 1)
                    .map(|j| (5 + i + j) as u32 % 30)
                    .collect();
                let (tokens, segments) = crate::corpus::pack(&words, &[]);
                Encoded {
                    tokens,
                    segments,
                    label: i % 2,
                }
            })
            .collect();
        let device = Device::flex();
        let model = repro_core::determinism::init_on_cpu(3, &device, |device| {
            BertConfig::sized(30, 1, 16, 2, 16).init_classifier(2, device)
        });
        let together = probabilities(&model, &examples, &device);
        for (i, example) in examples.iter().enumerate() {
            let alone = probabilities(&model, std::slice::from_ref(example), &device);
            for (a, b) in alone[0].iter().zip(&together[i]) {
                assert!(
                    (a - b).abs() < 1e-5,
                    "example {i}: {a} alone, {b} in a batch"
                );
            }
        }
    }

    #[test]
    fn argmax_takes_the_first_of_ties() {
        assert_eq!(argmax(&[0.2, 0.5, 0.5]), 1);
        assert_eq!(argmax(&[0.7, 0.3]), 0);
    }

    #[test]
    fn batches_cover_every_example_once() {
        let examples: Vec<Encoded> = (0..45)
            .map(|i| Encoded {
                tokens: vec![5; 3 + i % 7],
                segments: vec![0; 3 + i % 7],
                label: i % 2,
            })
            .collect();
        let batches = length_batches(&examples, 8);
        let mut seen: Vec<usize> = batches.concat();
        seen.sort();
        assert_eq!(seen, (0..45).collect::<Vec<_>>());
        assert!(batches.iter().all(|b| b.len() <= 8));
    }
}
