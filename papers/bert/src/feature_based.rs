//! Table 7 (§5.3), adapted to this suite's sentence tasks: the pre-trained base model used
//! feature-based (frozen; some layers' activations fed to a small classifier) against the same
//! model fine-tuned whole.
//!
//! The paper feeds CoNLL-2003 token activations to a two-layer BiLSTM. The tasks here label
//! whole inputs, so each layer's output is mean-pooled over the real tokens of the input (both
//! segments of a pair) and fed to an L2-regularised logistic regression, the penalty chosen on
//! dev (SentEval's linear probe, [`crate::probe`]). Rows follow the table: the embeddings' output,
//! the second-to-last and last hidden layers, and the last four concatenated (all layers when the
//! model has fewer; with L = 1 the second-to-last layer is the embeddings). Table 7's weighted
//! sums are left out: a linear probe on the concatenation can express any weighted sum (the same
//! function class), though it is fitted differently from the paper's learned layer weights.

use burn::tensor::{Device, Tensor};
use repro_core::experiment::Measurement;
use repro_core::run::Metric;

use crate::experiments::{Lab, PreparedTask};
use crate::finetuning::{EVAL_BATCH_SIZE, Encoded, batch_tensors};
use crate::model::Bert;
use crate::probe::LogisticRegression;

/// Which activations a feature-based row reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Features {
    /// The input embeddings' output (layer 0).
    Embeddings,
    /// Layer L − 1.
    SecondToLastHidden,
    /// Layer L.
    LastHidden,
    /// Layers max(1, L − 3) … L side by side.
    ConcatLastFourHidden,
}

impl Features {
    /// Every row, in Table 7's order.
    pub const ALL: [Features; 4] = [
        Features::Embeddings,
        Features::SecondToLastHidden,
        Features::LastHidden,
        Features::ConcatLastFourHidden,
    ];

    /// Metric prefix.
    pub fn key(self) -> &'static str {
        match self {
            Features::Embeddings => "embeddings",
            Features::SecondToLastHidden => "second_to_last_hidden",
            Features::LastHidden => "last_hidden",
            Features::ConcatLastFourHidden => "concat_last_four_hidden",
        }
    }

    /// The layers (0 = embeddings) read from an encoder of `layers` layers.
    pub fn layers(self, layers: usize) -> Vec<usize> {
        match self {
            Features::Embeddings => vec![0],
            Features::SecondToLastHidden => vec![layers.saturating_sub(1)],
            Features::LastHidden => vec![layers],
            Features::ConcatLastFourHidden => (layers.saturating_sub(3).max(1)..=layers).collect(),
        }
    }
}

/// Mean over the real tokens of every layer's output: `[layer][example]` → H values, layer 0
/// the embeddings. The encoder is frozen (no gradients are taken on this device).
pub fn pooled_layers(bert: &Bert, examples: &[Encoded], device: &Device) -> Vec<Vec<Vec<f32>>> {
    let layers = bert.layers.len() + 1;
    let mut out = vec![vec![Vec::new(); examples.len()]; layers];
    let mut order: Vec<usize> = (0..examples.len()).collect();
    order.sort_by_key(|&i| (examples[i].tokens.len(), i));
    let pad = bert.pad_id() as u32;
    for batch in order.chunks(EVAL_BATCH_SIZE) {
        let refs: Vec<&Encoded> = batch.iter().map(|&i| &examples[i]).collect();
        let (ids, segments, _) = batch_tensors(&refs, pad, device);
        let real = ids.clone().not_equal_elem(i64::from(pad)).float(); // (B, T)
        let counts = real.clone().sum_dim(1); // (B, 1)
        let weights: Tensor<3> = real.unsqueeze_dim(2); // (B, T, 1)
        for (layer, hidden) in bert.forward_layers(ids, segments).into_iter().enumerate() {
            let [rows, _, width] = hidden.dims();
            let mean =
                (hidden * weights.clone()).sum_dim(1).reshape([rows, width]) / counts.clone();
            let values = mean.into_data().try_to_vec::<f32>().unwrap_or_default();
            for (row, &index) in batch.iter().enumerate() {
                out[layer][index] = values[row * width..(row + 1) * width].to_vec();
            }
        }
    }
    out
}

/// `features`' vectors of each example: the chosen layers side by side.
fn select(pooled: &[Vec<Vec<f32>>], features: Features) -> Vec<Vec<f32>> {
    let layers = features.layers(pooled.len() - 1);
    (0..pooled[0].len())
        .map(|example| {
            layers
                .iter()
                .flat_map(|&layer| pooled[layer][example].iter().copied())
                .collect()
        })
        .collect()
}

/// L2 penalties searched on dev (SentEval's grid).
pub const L2_GRID: [f64; 4] = [1e-4, 1e-3, 1e-2, 1e-1];

/// (dev, test) accuracy of the probe whose penalty does best on dev.
fn probe(
    train: &[Vec<f32>],
    dev: &[Vec<f32>],
    test: &[Vec<f32>],
    task: &PreparedTask,
) -> (f64, f64) {
    let labels =
        |examples: &[Encoded]| -> Vec<usize> { examples.iter().map(|e| e.label).collect() };
    let (train_labels, dev_labels) = (labels(&task.train), labels(&task.dev));
    let mut best: Option<(f64, LogisticRegression)> = None;
    for l2 in L2_GRID {
        let fitted = LogisticRegression::fit(train, &train_labels, l2);
        let accuracy = fitted.accuracy(dev, &dev_labels);
        if best.as_ref().is_none_or(|(score, _)| accuracy > *score) {
            best = Some((accuracy, fitted));
        }
    }
    let (dev_accuracy, fitted) = best.expect("the grid is not empty");
    (dev_accuracy, fitted.accuracy(test, &labels(&task.test)))
}

/// Table 7: the base model fine-tuned (`mlm_nsp.*`, from the shared runs) and feature-based
/// (`{row}.*`), dev and test accuracy per task, seed by seed on the same pre-trained encoders.
pub fn feature_based(lab: &Lab) -> anyhow::Result<Measurement> {
    let base = lab.base();
    let mut measured = lab.compare("feature_based", std::slice::from_ref(&base), true)?;
    measured.curves.clear(); // the pre-training curve is `pretraining_vs_scratch`'s
    let started = std::time::Instant::now();
    let device = &lab.ctx().device;
    let pretrained = lab.pretrained_models(&base)?;
    let keys: Vec<_> = pretrained.iter().map(|(key, _)| key.clone()).collect();
    let phase = lab.ctx().progress.phase(
        "feature-based: frozen encoders, logistic regression",
        (pretrained.len() * lab.tasks.len()) as u64,
        "probes",
    );
    for task in &lab.tasks {
        let mut scores = vec![(Vec::new(), Vec::new()); Features::ALL.len()];
        for (_, bert) in &pretrained {
            let pooled: Vec<Vec<Vec<Vec<f32>>>> = [&task.train, &task.dev, &task.test]
                .iter()
                .map(|split| pooled_layers(bert, split, device))
                .collect();
            for (row, features) in Features::ALL.iter().enumerate() {
                let [train, dev, test] = [0, 1, 2].map(|split| select(&pooled[split], *features));
                let (dev_accuracy, test_accuracy) = probe(&train, &dev, &test, task);
                scores[row].0.push(100.0 * dev_accuracy);
                scores[row].1.push(100.0 * test_accuracy);
            }
            phase.inc(1);
        }
        measured.metrics.insert(
            format!("majority.{}.test_accuracy", task.task.name),
            Metric::new(
                vec![100.0 * task.task.majority_accuracy(&task.task.splits.test)],
                "%",
            ),
        );
        for (features, (dev, test)) in Features::ALL.iter().zip(scores) {
            let key = |metric: &str| format!("{}.{}.{metric}", features.key(), task.task.name);
            measured.metrics.insert(
                key("dev_accuracy"),
                Metric::new(dev, "%").of_runs(keys.clone()),
            );
            measured.metrics.insert(
                key("test_accuracy"),
                Metric::new(test, "%").of_runs(keys.clone()),
            );
        }
    }
    let layers = lab.config.model.layers;
    phase.finish(&format!(
        "{} encoders × {} tasks",
        pretrained.len(),
        lab.tasks.len()
    ));
    measured.notes.push(format!(
        "feature-based: the pre-trained base encoder frozen; each layer's output mean-pooled over the input's real tokens; logistic regression on standardised features, L2 penalty chosen on dev from {L2_GRID:?}. With L = {layers}, the rows read layers (0 = embeddings): {}",
        Features::ALL
            .iter()
            .map(|f| format!("{} {:?}", f.key(), f.layers(layers)))
            .collect::<Vec<_>>()
            .join(", ")
    ));
    measured.wall_time_s += started.elapsed().as_secs_f64();
    Ok(measured)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::BertConfig;

    #[test]
    fn rows_read_the_layers_table_7_names() {
        assert_eq!(Features::Embeddings.layers(12), vec![0]);
        assert_eq!(Features::SecondToLastHidden.layers(12), vec![11]);
        assert_eq!(Features::LastHidden.layers(12), vec![12]);
        assert_eq!(
            Features::ConcatLastFourHidden.layers(12),
            vec![9, 10, 11, 12]
        );
        // Fewer than four layers: all of them, never the embeddings.
        assert_eq!(Features::ConcatLastFourHidden.layers(2), vec![1, 2]);
        assert_eq!(Features::ConcatLastFourHidden.layers(1), vec![1]);
    }

    #[test]
    fn pooled_features_ignore_padding_and_keep_every_layer() {
        let encoded = |words: &[u32]| {
            let (tokens, segments) = crate::corpus::pack(words, &[]);
            Encoded {
                tokens,
                segments,
                label: 0,
            }
        };
        let short = encoded(&[7, 8]);
        let long = encoded(&[9, 10, 11, 12, 13, 14, 15]);
        let device = Device::flex();
        let bert = repro_core::determinism::init_on_cpu(5, &device, |device| {
            BertConfig::sized(30, 2, 16, 2, 16).init(device)
        });
        let alone = pooled_layers(&bert, std::slice::from_ref(&short), &device);
        let padded = pooled_layers(&bert, &[long, short], &device);
        assert_eq!(alone.len(), 3, "embeddings and two layers");
        for layer in 0..3 {
            assert_eq!(alone[layer][0].len(), 16);
            for (a, b) in alone[layer][0].iter().zip(&padded[layer][1]) {
                assert!((a - b).abs() < 1e-5, "layer {layer}: {a} alone, {b} padded");
            }
        }
        let concat = select(&padded, Features::ConcatLastFourHidden);
        assert_eq!(concat[1].len(), 32);
        assert_eq!(concat[1][16..], padded[2][1][..]);
    }
}
