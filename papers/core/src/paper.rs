//! The one trait every paper crate implements, and the plain data it describes itself with.
//!
//! The harness knows a paper only through [`Paper`]: its identity ([`PaperInfo`]), the published
//! numbers (`published.toml`, parsed by [`crate::published`]), the experiments it can run, and
//! its claims. A freshly generated stub implements it with no experiments and no claims.

use std::collections::BTreeMap;

use std::path::Path;

use burn::tensor::Device;

use crate::apps::{Classifier, Translator};
use crate::bench::{Measurement, Phase, Workload, WorkloadSize};
use crate::checkpoint::StoredIdentity;
use crate::claims::Claim;
use crate::published::Published;
use crate::run::{RunContext, RunOutput};

/// Who a paper is: what `repro list` prints and what provenance records.
#[derive(Debug, Clone)]
pub struct PaperInfo {
    /// The registry name, also the crate directory under `papers/` (`attention`).
    pub id: &'static str,
    /// arXiv identifier without version (`1706.03762`).
    pub arxiv_id: &'static str,
    /// The paper's title.
    pub title: &'static str,
    /// Short author list for display (`Vaswani et al.`).
    pub authors: &'static str,
    /// Year of the first arXiv version.
    pub year: u16,
    /// The datasets the paper can run on; the first with `default` is used when `--data` is absent.
    pub datasets: Vec<DatasetInfo>,
}

/// A dataset a paper can be reproduced on.
#[derive(Debug, Clone)]
pub struct DatasetInfo {
    /// Name given to `--data` (`bible-en-es`, `multi30k`).
    pub name: &'static str,
    /// One line for `repro list`: what it is and where it comes from.
    pub description: &'static str,
    /// True for the offline default (embedded in the crate, no download).
    pub default: bool,
}

/// One experiment a paper can run (a table row or a figure), for `repro list` and the report.
#[derive(Debug, Clone)]
pub struct ExperimentInfo {
    /// Function-like name (`heads_ablation`), also the prefix of its metric keys.
    pub name: &'static str,
    /// What it reproduces (`Table 3 (A): number of attention heads at fixed d_model`).
    pub reproduces: &'static str,
}

/// A paper of the suite.
pub trait Paper: Send + Sync {
    /// Identity and datasets.
    fn info(&self) -> PaperInfo;

    /// The published numbers, usually `Published::from_toml(include_str!("../published.toml"))`.
    fn published(&self) -> anyhow::Result<Published>;

    /// The experiments this crate implements (empty for a fresh stub), from its experiment
    /// table ([`crate::experiment::Experiment::info`]).
    fn experiments(&self) -> Vec<ExperimentInfo>;

    /// The paper's headline claims, each a computed predicate over the reproduced metrics.
    fn claims(&self) -> Vec<Claim>;

    /// Runs the experiments `ctx.only` selects (all when empty) at `ctx.scale` on `ctx.device`,
    /// training only what they read, and returns their metrics with the trainings and the data
    /// actually used.
    ///
    /// Must be deterministic for a given seed, backend and machine. Long phases report progress
    /// through `ctx.progress`; trainings checkpoint under `ctx.checkpoint_dir` so that a run
    /// started again with `ctx.resume` ends at the same numbers.
    fn run(&self, ctx: &RunContext) -> anyhow::Result<RunOutput>;

    /// Evaluation protocol worth recording with the results (BLEU signature, decoding rule,
    /// few-shot scoring rule), for the run described by `ctx`.
    fn protocol(&self, _ctx: &RunContext) -> BTreeMap<String, String> {
        BTreeMap::new()
    }

    /// SHA-256 of the data a dataset name stands for, when the crate knows it (embedded corpora,
    /// pinned downloads); recorded as provenance.
    fn dataset_sha256(&self, _dataset: &str) -> Option<String> {
        None
    }

    /// Held-out instances of the paper's evaluation tasks with the exact prompts a model sees, for
    /// `repro tasks`.
    fn show_tasks(
        &self,
        _request: &crate::eval::ShowRequest,
    ) -> anyhow::Result<Vec<crate::eval::ShownInstance>> {
        anyhow::bail!(
            "`{}` has no few-shot evaluation tasks (papers with tasks: gpt3)",
            self.info().id
        )
    }

    /// The workload of the side-by-side speed benchmark (`repro bench`): the paper's `small`
    /// model and real batches of its `small` data ([`crate::bench`]).
    fn bench_workload(&self, _size: &WorkloadSize) -> anyhow::Result<Workload> {
        anyhow::bail!("`{}` has no speed benchmark", self.info().id)
    }

    /// Runs this suite's side of `workload` for `phase` on `device` and measures it.
    fn bench_measure(
        &self,
        workload: &Workload,
        _phase: Phase,
        _device: &Device,
    ) -> anyhow::Result<Measurement> {
        anyhow::bail!("`{}` has no speed benchmark", workload.model)
    }

    /// The command that serves this paper's trained checkpoints (`repro translate`), named after
    /// a reproduction so that its user knows what to run next; `None` when there is none.
    fn checkpoint_command(&self) -> Option<&'static str> {
        None
    }

    /// A translation model from the checkpoint in `step_dir` (written by this paper's
    /// reproduction, `identity` read from it), for `repro translate`.
    fn translator(
        &self,
        _step_dir: &Path,
        identity: &StoredIdentity,
        _device: &Device,
    ) -> anyhow::Result<Box<dyn Translator>> {
        anyhow::bail!(
            "the checkpoint is of `{}` (run `{}`), which has no translation model",
            identity.identity.paper,
            identity.identity.label
        )
    }

    /// A classifier from the fine-tuning checkpoint in `step_dir`, for `repro classify`.
    fn classifier(
        &self,
        _step_dir: &Path,
        identity: &StoredIdentity,
        _device: &Device,
    ) -> anyhow::Result<Box<dyn Classifier>> {
        anyhow::bail!(
            "the checkpoint is of `{}` (run `{}`), which has no classifier",
            identity.identity.paper,
            identity.identity.label
        )
    }
}
