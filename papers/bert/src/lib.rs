//! "BERT: Pre-training of Deep Bidirectional Transformers for Language Understanding" (Devlin et
//! al., 2018; arXiv 1810.04805) reproduced at small scale.
//!
//! Data flows one way: [`corpus`] (documents, WordPiece, NSP instances, masking) → [`model`] (§3)
//! → [`pretraining`] (§3.1, Appendix A.2) → [`tasks`] and [`finetuning`] (§4) → [`experiments`]
//! (Tables 5 and 6, pre-trained vs scratch, Table 7 in [`feature_based`], the pre-trained-at-scale
//! probe in [`probe`]) →
//! [`claims`]. [`hf`] loads Hugging Face BERT checkpoints into the same model, [`embed`] makes
//! sentence embeddings from them, [`classify`] serves a fine-tuned checkpoint.
//!
//! ```text
//! make reproduce PAPER=bert                 # small scale, CPU, minutes
//! make reproduce PAPER=bert SCALE=tiny      # seconds
//! ```

pub mod bench;
pub mod canonical;
pub mod claims;
pub mod classify;
pub mod corpus;
pub mod embed;
pub mod experiments;
pub mod feature_based;
pub mod finetuning;
pub mod hf;
pub mod model;
pub mod pretraining;
pub mod probe;
pub mod scale;
pub mod tasks;
pub mod transfer;

use std::collections::BTreeMap;
use std::path::Path;

use burn::tensor::Device;
use repro_core::apps::Classifier;
use repro_core::bench::{Measurement, Phase, Workload, WorkloadSize};
use repro_core::checkpoint::StoredIdentity;
use repro_core::claims::Claim;
use repro_core::published::Published;
use repro_core::run::{RunContext, RunOutput};
use repro_core::{DatasetInfo, ExperimentInfo, Paper, PaperInfo};

/// The offline default data set name.
pub const DEFAULT_DATASET: &str = "brown-web";

/// This paper, as the suite's registry sees it.
pub fn paper() -> Box<dyn Paper> {
    Box::new(BertPaper)
}

/// The BERT paper.
pub struct BertPaper;

impl Paper for BertPaper {
    fn info(&self) -> PaperInfo {
        PaperInfo {
            id: "bert",
            arxiv_id: "1810.04805",
            title: "BERT: Pre-training of Deep Bidirectional Transformers for Language Understanding",
            authors: "Devlin et al.",
            year: 2018,
            datasets: vec![
                DatasetInfo {
                    name: DEFAULT_DATASET,
                    description: "pre-training on the Brown corpus + World English Bible (OT); fine-tuning on Rotten Tomatoes polarity and KJV/WEB verse paraphrase; embedded",
                    default: true,
                },
                DatasetInfo {
                    name: "wikitext-103",
                    description: "pre-training on WikiText-103 (28,475 Wikipedia articles), downloaded and SHA-256-verified; embedded tasks",
                    default: false,
                },
                DatasetInfo {
                    name: "glue",
                    description: "fine-tuning on GLUE SST-2 and MRPC (test: GLUE dev for SST-2, MRPC's labelled test), downloaded and SHA-256-verified; embedded pre-training corpus",
                    default: false,
                },
            ],
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
            "masking".to_string(),
            "round(15 % of the sequence length, [CLS]/[SEP] counted as Google's script does), at least 1, chosen among the non-special tokens; of those 80 % [MASK], 10 % a random non-special token, 10 % unchanged; drawn afresh per step from (seed, step)".to_string(),
        );
        protocol.insert(
            "nsp".to_string(),
            "B is the next text of the same document half of the time (IsNext), text from a random other document otherwise (NotNext); without NSP, always the next text".to_string(),
        );
        protocol.insert(
            "mlm_perplexity".to_string(),
            "exp(mean negative log-likelihood per masked token) on held-out documents with masks fixed once (seed 0), the same for every model".to_string(),
        );
        protocol.insert(
            "fine_tuning".to_string(),
            "all weights, AdamW (weight decay 0.01), warm-up over 10 % of the steps then linear decay; classifier on the pooled [CLS] (the last real token for the left-to-right model); learning rate chosen per seed on dev accuracy; the chosen run scored on test once".to_string(),
        );
        if let Ok(config) = scale::scale_config_for(ctx) {
            protocol.insert(
                "grid".to_string(),
                format!(
                    "learning rates {:?}, {} epochs, batch {}, inputs ≤ {} tokens",
                    config.finetuning.learning_rates,
                    config.finetuning.epochs,
                    config.finetuning.batch_size,
                    config.finetuning.max_seq_len
                ),
            );
        }
        protocol
    }

    fn checkpoint_command(&self) -> Option<&'static str> {
        Some("repro classify")
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
        if dataset == DEFAULT_DATASET {
            return Some(corpus::dataset_sha256());
        }
        use sha2::{Digest, Sha256};
        let pinned: String = canonical::files(dataset)
            .ok()?
            .iter()
            .map(|file| format!("{} {}\n", file.sha256, file.name))
            .collect();
        let text = format!("{}\n{pinned}", corpus::dataset_sha256());
        Some(format!("{:x}", Sha256::digest(text.as_bytes())))
    }

    fn classifier(
        &self,
        step_dir: &Path,
        identity: &StoredIdentity,
        device: &Device,
    ) -> anyhow::Result<Box<dyn Classifier>> {
        Ok(Box::new(classify::BertTextClassifier::load(
            step_dir, identity, device,
        )?))
    }
}
