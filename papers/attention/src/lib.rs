//! "Attention Is All You Need" (Vaswani et al., 2017; arXiv 1706.03762) reproduced at small scale.
//!
//! Data flows one way: [`data`] (corpus, splits, joint BPE, batches) → [`model`] (§3) →
//! [`training`] (§5) → [`decoding`] (§6.1) → [`experiments`] (Tables 1–3, with [`complexity`]
//! for Table 1) → [`claims`]; [`translate`] serves a trained checkpoint. `published.toml` holds
//! the paper's numbers, `scales.toml` the `tiny` / `small` / `base` settings ([`scale`]). The
//! training loop, checkpoints, run plan and determinism helpers are the suite's (`repro_core`).
//!
//! ```text
//! make reproduce PAPER=attention                 # small scale, CPU, a few minutes per training
//! make reproduce PAPER=attention SCALE=tiny      # seconds
//! ```

pub mod bench;
pub mod canonical;
pub mod claims;
pub mod complexity;
pub mod data;
pub mod decoding;
pub mod experiments;
pub mod model;
pub mod scale;
pub mod training;
pub mod translate;

use std::collections::BTreeMap;
use std::path::Path;

use burn::tensor::Device;
use repro_core::apps::Translator;
use repro_core::bench::{Measurement, Phase, Workload, WorkloadSize};
use repro_core::checkpoint::StoredIdentity;
use repro_core::claims::Claim;
use repro_core::metrics::bleu::{BleuConfig, signature};
use repro_core::published::Published;
use repro_core::run::{RunContext, RunOutput};
use repro_core::{DatasetInfo, ExperimentInfo, Paper, PaperInfo};

/// This paper, as the suite's registry sees it.
pub fn paper() -> Box<dyn Paper> {
    Box::new(Attention)
}

/// The Transformer paper.
pub struct Attention;

impl Paper for Attention {
    fn info(&self) -> PaperInfo {
        PaperInfo {
            id: "attention",
            arxiv_id: "1706.03762",
            title: "Attention Is All You Need",
            authors: "Vaswani et al.",
            year: 2017,
            datasets: vec![
                DatasetInfo {
                    name: "bible-en-es",
                    description: "English→Spanish Bible verses (KJV 1769 / Reina-Valera 1909, public domain), embedded",
                    default: true,
                },
                DatasetInfo {
                    name: "multi30k",
                    description: "Multi30k de→en (WMT16 task 1), downloaded and SHA-256-verified",
                    default: false,
                },
                DatasetInfo {
                    name: "iwslt14",
                    description: "IWSLT14 de→en (TED talks): not yet available, no published SHA-256 to verify the download against",
                    default: false,
                },
                DatasetInfo {
                    name: "wmt14",
                    description: "WMT14 en→de, the paper's own data (for `base`), downloaded and SHA-256-verified",
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
            references: lab.references().clone(),
            scale_config: serde_json::to_value(&lab.config)?,
        })
    }

    fn protocol(&self, ctx: &RunContext) -> BTreeMap<String, String> {
        let mut protocol = BTreeMap::new();
        protocol.insert(
            "bleu_signature".to_string(),
            signature(&BleuConfig::default(), 1),
        );
        protocol.insert(
            "bleu_scoring".to_string(),
            "corpus BLEU of detokenized output against one reference, as sacreBLEU".to_string(),
        );
        if let Ok(config) = scale::scale_config_for(ctx) {
            let decoding = decoding::Decoding::Beam {
                size: config.beam_size,
                alpha: 0.6,
            };
            protocol.insert(
                "decoding".to_string(),
                format!("{}, max length input + 50", decoding.describe()),
            );
            protocol.insert(
                "perplexity".to_string(),
                "exp(mean negative log-likelihood per target BPE token, EOS included) on the dev split, no smoothing".to_string(),
            );
            protocol.insert(
                "data".to_string(),
                format!(
                    "verse pairs with ≤ {} words per side, dev/test pairs whose source or target \
                     (normalised) occurs in train removed; at most {} train / {} dev / {} test \
                     pairs (actual sizes under `splits`); joint BPE of {} pieces",
                    config.data.max_words,
                    config.data.train_pairs,
                    config.data.dev_pairs,
                    config.data.test_pairs,
                    config.data.vocab_size
                ),
            );
        }
        protocol
    }

    fn checkpoint_command(&self) -> Option<&'static str> {
        Some("repro translate")
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
        Some(data::dataset_sha256(dataset)).filter(|sha| sha != "unknown")
    }

    fn translator(
        &self,
        step_dir: &Path,
        identity: &StoredIdentity,
        device: &Device,
    ) -> anyhow::Result<Box<dyn Translator>> {
        Ok(Box::new(translate::TransformerTranslator::load(
            step_dir, identity, device,
        )?))
    }
}
