//! What a run is given (scale, backend, device, seed, dataset, directories) and what each
//! experiment gives back (metrics over seeds, curves, notes).

use std::collections::BTreeMap;
use std::fmt;
use std::path::PathBuf;
use std::str::FromStr;

use burn::tensor::Device;
use serde::{Deserialize, Serialize};

use crate::checkpoint::RunKey;
use crate::lab::TrainingRecord;
use crate::progress::Progress;

/// How big a reproduction is. A scale is data in each paper crate (its `scales.toml`), not a
/// code fork.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Scale {
    /// Seconds: tests and snapshots.
    Tiny,
    /// Minutes on a 2-core laptop CPU: the default.
    Small,
    /// The paper's own hyperparameters, for a GPU.
    Base,
}

impl Scale {
    /// All scales, smallest first.
    pub const ALL: [Scale; 3] = [Scale::Tiny, Scale::Small, Scale::Base];

    /// The lowercase name used on the command line and in file names.
    pub fn name(self) -> &'static str {
        match self {
            Scale::Tiny => "tiny",
            Scale::Small => "small",
            Scale::Base => "base",
        }
    }
}

impl fmt::Display for Scale {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Scale {
    type Err = anyhow::Error;
    fn from_str(text: &str) -> anyhow::Result<Self> {
        Scale::ALL
            .into_iter()
            .find(|scale| scale.name() == text)
            .ok_or_else(|| anyhow::anyhow!("unknown scale `{text}`; choose tiny, small or base"))
    }
}

/// The burn backend a run executes on; the [`Device`] is chosen at run time.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Backend {
    /// burn's pure-Rust `flex` CPU backend (the default build): bitwise deterministic.
    Cpu,
    /// Any Vulkan/Metal/DX12 GPU through wgpu (also Mesa's software Vulkan); cargo feature `wgpu`.
    Wgpu,
    /// NVIDIA GPUs; cargo feature `cuda`.
    Cuda,
}

impl Backend {
    /// All backends.
    pub const ALL: [Backend; 3] = [Backend::Cpu, Backend::Wgpu, Backend::Cuda];

    /// The lowercase name used on the command line and in file names.
    pub fn name(self) -> &'static str {
        match self {
            Backend::Cpu => "cpu",
            Backend::Wgpu => "wgpu",
            Backend::Cuda => "cuda",
        }
    }

    /// Whether this binary was built with the backend's cargo feature.
    pub fn compiled(self) -> bool {
        match self {
            Backend::Cpu => true,
            Backend::Wgpu => cfg!(feature = "wgpu"),
            Backend::Cuda => cfg!(feature = "cuda"),
        }
    }

    /// The device to run on, or a clear error naming the cargo feature to enable.
    pub fn device(self) -> anyhow::Result<Device> {
        match self {
            Backend::Cpu => Ok(Device::flex()),
            #[cfg(feature = "wgpu")]
            Backend::Wgpu => Ok(Device::wgpu(burn::tensor::DeviceKind::DefaultDevice)),
            #[cfg(feature = "cuda")]
            Backend::Cuda => Ok(Device::cuda(0)),
            #[allow(unreachable_patterns)]
            other => anyhow::bail!(
                "backend `{name}` was not compiled into this binary; rebuild with \
                 `--features {name}` (e.g. `make reproduce BACKEND={name}` does this)",
                name = other.name()
            ),
        }
    }
}

impl fmt::Display for Backend {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Backend {
    type Err = anyhow::Error;
    fn from_str(text: &str) -> anyhow::Result<Self> {
        Backend::ALL
            .into_iter()
            .find(|backend| backend.name() == text)
            .ok_or_else(|| anyhow::anyhow!("unknown backend `{text}`; choose cpu, wgpu or cuda"))
    }
}

/// Everything an experiment needs to run.
pub struct RunContext {
    /// Size of the reproduction.
    pub scale: Scale,
    /// Backend (for provenance; `device` is what computes).
    pub backend: Backend,
    /// The device tensors live on (without autodiff; training calls `.autodiff()`).
    pub device: Device,
    /// Base seed; experiments derive per-run seeds from it.
    pub seed: u64,
    /// Dataset name (one of the paper's [`crate::DatasetInfo`]).
    pub dataset: String,
    /// Download cache for canonical datasets.
    pub cache_dir: PathBuf,
    /// Where training checkpoints go (per paper, scale, backend and seed).
    pub checkpoint_dir: PathBuf,
    /// Continue from checkpoints left by an interrupted run.
    pub resume: bool,
    /// Trainings run at once (`--jobs`; default one per core). Results do not depend on it.
    pub jobs: usize,
    /// The experiments to run (`--only`); empty runs them all.
    pub only: Vec<String>,
    /// A `scales.toml` given with `--scales` (its path and text), read instead of the paper's
    /// own; the scale's settings are recorded with the results either way.
    pub scales: Option<(PathBuf, String)>,
    /// Progress bars.
    pub progress: Progress,
}

impl RunContext {
    /// One training per core: a small model's training keeps about one core busy.
    pub fn default_jobs() -> usize {
        std::thread::available_parallelism().map_or(1, |n| n.get())
    }

    /// A quiet context on the CPU backend with throw-away directories, for tests.
    pub fn for_tests(scale: Scale, seed: u64, jobs: usize) -> RunContext {
        RunContext {
            scale,
            backend: Backend::Cpu,
            device: Device::flex(),
            seed,
            dataset: String::new(),
            cache_dir: std::env::temp_dir().join("repro-tests-cache"),
            checkpoint_dir: std::env::temp_dir().join("repro-tests-checkpoints"),
            resume: false,
            jobs,
            only: Vec::new(),
            scales: None,
            progress: Progress::hidden(),
        }
    }
}

/// What a paper's run gives back: the experiments' results, the trainings they read, and the
/// data they were measured on.
#[derive(Debug, Clone, Default)]
pub struct RunOutput {
    /// One result per experiment run, in table order.
    pub experiments: Vec<ExperimentResult>,
    /// Every training done (or resumed), once each.
    pub trainings: Vec<TrainingRecord>,
    /// The sizes of the splits actually used, after filtering and de-duplication.
    pub splits: Vec<crate::data::SplitSize>,
    /// The references of each scored split (`dev`, `test`), for rescoring stored hypotheses.
    pub references: BTreeMap<String, Vec<String>>,
    /// The scale's settings as the paper read them (provenance).
    pub scale_config: serde_json::Value,
}

/// One reproduced metric: a value per seed (or per timed repeat), with its unit.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Metric {
    /// One value per seed, in the order of [`ExperimentResult::seeds`]. A diverged run's NaN or
    /// infinity is written as JSON `null` and read back as NaN.
    #[serde(deserialize_with = "nan_from_null")]
    pub values: Vec<f64>,
    /// Unit for display (`BLEU`, `ppl`, `nats`, `ms`).
    pub unit: String,
    /// The training behind each value, for metrics of trained models: the verdict rules read
    /// their convergence and stored hypotheses ([`crate::lab::TrainingRecord`]).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub runs: Vec<RunKey>,
    /// For a corpus-level score (BLEU): the split whose per-run hypotheses it scores, so that the
    /// verdict rules can add the sentence-level uncertainty.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scored_on: Option<String>,
    /// For a mean over evaluated instances (an accuracy, a log-likelihood): each run's score on
    /// each instance, the same instances for every run, so that the verdict rules can add the
    /// instance-sampling uncertainty ([`crate::stats::instance_variance`]).
    /// Stored one line of text per run (values to 4 decimals, space-separated): thousands of
    /// numbers per metric would otherwise take a line each in the pretty-printed report.
    #[serde(
        default,
        skip_serializing_if = "Vec::is_empty",
        with = "instances_as_text"
    )]
    pub per_instance: Vec<Vec<f64>>,
}

/// Per-instance scores as one line of numbers per run (see [`Metric::per_instance`]).
mod instances_as_text {
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(runs: &[Vec<f64>], serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_seq(runs.iter().map(|run| {
            run.iter()
                .map(|x| x.to_string())
                .collect::<Vec<_>>()
                .join(" ")
        }))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(
        deserializer: D,
    ) -> Result<Vec<Vec<f64>>, D::Error> {
        let lines = Vec::<String>::deserialize(deserializer)?;
        lines
            .iter()
            .map(|line| {
                line.split_whitespace()
                    .map(|x| x.parse::<f64>().map_err(serde::de::Error::custom))
                    .collect()
            })
            .collect()
    }
}

impl Metric {
    /// A metric measured once per seed (or repeat).
    pub fn new(values: Vec<f64>, unit: impl Into<String>) -> Self {
        Self {
            values,
            unit: unit.into(),
            runs: Vec::new(),
            scored_on: None,
            per_instance: Vec::new(),
        }
    }

    /// The metric with each run's per-instance scores (one list per value, each averaging to it),
    /// rounded to 4 decimals as they are stored, so that verdicts judged now and re-judged from
    /// the report agree.
    pub fn with_instances(mut self, per_instance: Vec<Vec<f64>>) -> Self {
        self.per_instance = per_instance
            .into_iter()
            .map(|run| run.into_iter().map(|x| (x * 1e4).round() / 1e4).collect())
            .collect();
        self
    }

    /// The metric with the trainings behind its values (one per value).
    pub fn of_runs(mut self, runs: Vec<RunKey>) -> Self {
        self.runs = runs;
        self
    }

    /// The metric as a corpus score of `split`'s stored hypotheses.
    pub fn scored_on(mut self, split: &str) -> Self {
        self.scored_on = Some(split.to_string());
        self
    }

    /// Arithmetic mean over seeds (NaN when empty).
    pub fn mean(&self) -> f64 {
        self.values.iter().sum::<f64>() / self.values.len() as f64
    }

    /// Sample standard deviation over seeds (0 with fewer than two).
    pub fn std(&self) -> f64 {
        let n = self.values.len();
        if n < 2 {
            return 0.0;
        }
        let mean = self.mean();
        let var = self.values.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / (n - 1) as f64;
        var.sqrt()
    }
}

fn nan_from_null<'de, D: serde::Deserializer<'de>>(deserializer: D) -> Result<Vec<f64>, D::Error> {
    let values: Vec<Option<f64>> = Deserialize::deserialize(deserializer)?;
    Ok(values
        .into_iter()
        .map(|value| value.unwrap_or(f64::NAN))
        .collect())
}

/// A single `f64` written as `null` when it was NaN (see [`Metric::values`]).
pub(crate) fn nan_or_f64<'de, D: serde::Deserializer<'de>>(
    deserializer: D,
) -> Result<f64, D::Error> {
    let value: Option<f64> = Deserialize::deserialize(deserializer)?;
    Ok(value.unwrap_or(f64::NAN))
}

fn nan_points_from_null<'de, D: serde::Deserializer<'de>>(
    deserializer: D,
) -> Result<Vec<(f64, f64)>, D::Error> {
    let points: Vec<(Option<f64>, Option<f64>)> = Deserialize::deserialize(deserializer)?;
    Ok(points
        .into_iter()
        .map(|(x, y)| (x.unwrap_or(f64::NAN), y.unwrap_or(f64::NAN)))
        .collect())
}

/// A line of a plot.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Series {
    /// Legend label.
    pub label: String,
    /// (x, y) points (`null` in JSON reads back as NaN, as for [`Metric::values`]).
    #[serde(deserialize_with = "nan_points_from_null")]
    pub points: Vec<(f64, f64)>,
}

/// A plot: one or more series over the same axes (learning curves, timing curves).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Curve {
    /// File-name-safe id (`heads_ablation-dev_loss`).
    pub id: String,
    /// Plot title.
    pub title: String,
    /// X-axis label with unit.
    pub x_label: String,
    /// Y-axis label with unit.
    pub y_label: String,
    /// Log scale on the x axis.
    #[serde(default)]
    pub log_x: bool,
    /// The lines.
    pub series: Vec<Series>,
}

/// What one experiment returns.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct ExperimentResult {
    /// Experiment name (the function's), prefix of its metric keys.
    pub name: String,
    /// What it reproduces, in the paper's terms.
    pub reproduces: String,
    /// Seeds the metrics were measured with.
    pub seeds: Vec<u64>,
    /// Metrics by name (`bleu`, `dev_ppl`, `heads_1.bleu`).
    pub metrics: BTreeMap<String, Metric>,
    /// Curves to plot.
    #[serde(default)]
    pub curves: Vec<Curve>,
    /// Free-form notes (settings, caveats).
    #[serde(default)]
    pub notes: Vec<String>,
    /// Wall-clock time, seconds.
    pub wall_time_s: f64,
}

/// What claims are judged from: every reproduced metric by `experiment.metric` key, the
/// trainings behind them, and the references their hypotheses are scored against.
#[derive(Debug, Clone, Default)]
pub struct Metrics {
    /// Metrics by `experiment.metric` key.
    pub values: BTreeMap<String, Metric>,
    /// Trainings by key: convergence and stored hypotheses.
    pub trainings: BTreeMap<RunKey, TrainingRecord>,
    /// References by split name (`dev`, `test`).
    pub references: BTreeMap<String, Vec<String>>,
}

impl Metrics {
    /// Flattens experiment results into `experiment.metric` keys, beside the trainings and
    /// references of the run.
    pub fn new(
        results: &[ExperimentResult],
        trainings: &[TrainingRecord],
        references: &BTreeMap<String, Vec<String>>,
    ) -> Self {
        let mut values = BTreeMap::new();
        for result in results {
            for (name, metric) in &result.metrics {
                values.insert(format!("{}.{}", result.name, name), metric.clone());
            }
        }
        Metrics {
            values,
            trainings: trainings
                .iter()
                .map(|training| (training.key.clone(), training.clone()))
                .collect(),
            references: references.clone(),
        }
    }

    /// The metric under `key`, or an error naming it (a claim over a metric this scale did not
    /// produce is inconclusive, not a panic).
    pub fn get(&self, key: &str) -> anyhow::Result<&Metric> {
        self.values
            .get(key)
            .ok_or_else(|| anyhow::anyhow!("metric `{key}` was not produced by this run"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scale_and_backend_parse_and_reject() {
        assert_eq!("small".parse::<Scale>().unwrap(), Scale::Small);
        assert!(
            "huge"
                .parse::<Scale>()
                .unwrap_err()
                .to_string()
                .contains("tiny, small or base")
        );
        assert_eq!("cpu".parse::<Backend>().unwrap(), Backend::Cpu);
        assert!("tpu".parse::<Backend>().is_err());
    }

    #[test]
    fn backend_not_compiled_names_the_feature() {
        if !Backend::Cuda.compiled() {
            let error = Backend::Cuda.device().unwrap_err().to_string();
            assert!(error.contains("--features cuda"), "{error}");
        }
    }

    #[test]
    fn nan_survives_a_json_round_trip() {
        let metric = Metric::new(vec![f64::NAN, 1.0], "ppl");
        let json = serde_json::to_string(&metric).unwrap();
        let back: Metric = serde_json::from_str(&json).unwrap();
        assert!(back.values[0].is_nan());
        assert_eq!(back.values[1], 1.0);
    }

    #[test]
    fn per_instance_scores_are_one_line_per_run_and_read_back_as_kept() {
        let metric = Metric::new(vec![50.0, -2.5], "x")
            .with_instances(vec![vec![100.0, 0.0], vec![-1.234_567_89, -3.765_432_1]]);
        // Rounded to 4 decimals when attached, so the stored numbers are the judged ones.
        assert_eq!(metric.per_instance[1], [-1.2346, -3.7654]);
        let json = serde_json::to_string(&metric).unwrap();
        assert!(
            json.contains(r#""per_instance":["100 0","-1.2346 -3.7654"]"#),
            "{json}"
        );
        let back: Metric = serde_json::from_str(&json).unwrap();
        assert_eq!(back.per_instance, metric.per_instance);
        // Reports written before the field read back without it.
        let old: Metric = serde_json::from_str(r#"{"values":[1.0],"unit":"x"}"#).unwrap();
        assert!(old.per_instance.is_empty());
    }

    #[test]
    fn metric_mean_and_sample_std() {
        let metric = Metric::new(vec![1.0, 2.0, 3.0], "BLEU");
        assert_eq!(metric.mean(), 2.0);
        assert!((metric.std() - 1.0).abs() < 1e-12);
        assert_eq!(Metric::new(vec![5.0], "x").std(), 0.0);
    }
}
