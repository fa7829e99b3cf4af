//! "Language Models are Few-Shot Learners" (Brown et al., 2020; arXiv 2005.14165) reproduced at
//! small scale: a size family of decoder-only Transformers pre-trained on one corpus, then
//! measured zero-, one- and few-shot on the paper's synthetic tasks and a last-word cloze.
//!
//! Data flows one way: [`corpus`] (real documents + task-format documents, byte-level BPE,
//! windows) → [`model`] (§2.1, GPT-2's architecture) → [`training`] (§2.3, Appendix B) →
//! [`lm`] (the evaluation's model adapter) with [`tasks`] (`tasks/*.toml` and their generators)
//! → [`experiments`] → [`claims`]. [`hf`] loads Hugging Face GPT-2 checkpoints into the same
//! model.
//!
//! ```text
//! make reproduce PAPER=gpt3                 # small scale, CPU, minutes
//! make reproduce PAPER=gpt3 SCALE=tiny      # seconds
//! repro tasks gpt3 2d_plus --shots 2 --n 3  # the exact prompts the models see
//! ```

pub mod bench;
pub mod claims;
pub mod corpus;
pub mod experiments;
pub mod generator;
pub mod hf;
pub mod induction;
pub mod lambada;
pub mod lm;
pub mod model;
pub mod sample;
pub mod scale;
pub mod show;
pub mod tasks;
pub mod training;

use std::collections::BTreeMap;

use burn::tensor::Device;
use repro_core::bench::{Measurement, Phase, Workload, WorkloadSize};
use repro_core::claims::Claim;
use repro_core::published::Published;
use repro_core::run::{RunContext, RunOutput};
use repro_core::{DatasetInfo, ExperimentInfo, Paper, PaperInfo};

/// The offline default data set name.
pub const DEFAULT_DATASET: &str = "brown-web-tasks";

/// This paper, as the suite's registry sees it.
pub fn paper() -> Box<dyn Paper> {
    Box::new(Gpt3Paper)
}

/// The GPT-3 paper.
pub struct Gpt3Paper;

impl Paper for Gpt3Paper {
    fn info(&self) -> PaperInfo {
        PaperInfo {
            id: "gpt3",
            arxiv_id: "2005.14165",
            title: "Language Models are Few-Shot Learners",
            authors: "Brown et al.",
            year: 2020,
            datasets: vec![DatasetInfo {
                name: DEFAULT_DATASET,
                description: "pre-training on the Brown corpus + World English Bible mixed with generated arithmetic, word-scrambling, cloze and arbitrary-label documents; evaluation on held-out problems, words and passages; embedded",
                default: true,
            }],
        }
    }

    fn published(&self) -> anyhow::Result<Published> {
        Published::from_toml(include_str!("../published.toml"))
    }

    fn experiments(&self) -> Vec<ExperimentInfo> {
        experiments::experiments()
            .iter()
            .map(|e| e.info())
            .collect()
    }

    fn claims(&self) -> Vec<Claim> {
        claims::claims()
    }

    fn run(&self, ctx: &RunContext) -> anyhow::Result<RunOutput> {
        let lab = experiments::Lab::prepare(ctx)?;
        let experiments =
            repro_core::experiment::run(&experiments::experiments(), &ctx.only, &lab, |planned| {
                lab.train_all(planned)
            })?;
        Ok(RunOutput {
            experiments,
            trainings: lab.trainings(),
            splits: lab.sizes.clone(),
            references: BTreeMap::new(),
            scale_config: serde_json::to_value(&lab.config)?,
        })
    }

    fn protocol(&self, ctx: &RunContext) -> BTreeMap<String, String> {
        let mut protocol = BTreeMap::new();
        protocol.insert(
            "prompts".to_string(),
            "§2: the task's description (if any), K demonstrations from the task's training pool joined by its few-shot delimiter, then the question; K = 0, 1 and few; demonstrations drawn per instance with seed 1234, the same for every model; K cut to what the context window holds, the K used stored per task".to_string(),
        );
        protocol.insert(
            "scoring".to_string(),
            "arithmetic and cloze: log-likelihood of the target delimiter + answer, correct when every answer token is the argmax (lm-evaluation-harness's `acc` for arithmetic and LAMBADA); scrambling: greedy decoding until a newline, exact match (lm-eval's `unscramble`); labels: multiple choice between the task's two labels by log-likelihood (lm-eval's `acc`); cloze perplexity: exp of minus the mean log-likelihood of the last word; answer log-likelihood (arithmetic, scrambling, labels): the mean log p(delimiter + answer | prompt) in nats, with greedy decoding reading each new token once over cached keys and values".to_string(),
        );
        protocol.insert(
            "held_out".to_string(),
            "operand tuples and words split 4:1 by an FNV-1a hash (held-out ones never in training text nor demonstrations); cloze passages from real documents held out by id; label tasks: class words and labels from the held-out side (their mappings never in training text, which holds random mappings of training-side words), filler words split like the rest".to_string(),
        );
        if let Ok(config) = scale::scale_config_for(ctx) {
            protocol.insert(
                "evaluation".to_string(),
                format!(
                    "{} held-out instances per task; few-shot K = {}; context {} tokens",
                    config.evaluation.instances, config.evaluation.few_shot, config.corpus.context
                ),
            );
        }
        protocol
    }

    fn show_tasks(
        &self,
        request: &repro_core::eval::ShowRequest,
    ) -> anyhow::Result<Vec<repro_core::eval::ShownInstance>> {
        show::show(request)
    }

    fn checkpoint_command(&self) -> Option<&'static str> {
        Some("repro generate")
    }

    fn bench_workload(&self, size: &WorkloadSize) -> anyhow::Result<Workload> {
        bench::workload(size)
    }

    fn bench_measure(
        &self,
        workload: &Workload,
        phase: Phase,
        device: &Device,
    ) -> anyhow::Result<Measurement> {
        bench::measure(workload, phase, device)
    }

    fn dataset_sha256(&self, dataset: &str) -> Option<String> {
        (dataset == DEFAULT_DATASET || dataset.is_empty()).then(corpus::dataset_sha256)
    }
}
