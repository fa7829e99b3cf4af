//! "Attention Is All You Need" (Vaswani et al., 2017; arXiv 1706.03762) reproduced at small scale.
//!
//! Data flows one way: [`data`] (corpus, splits, joint BPE) → [`model`] (§3) → [`training`] (§5)
//! → [`decoding`] (§6.1) → [`experiments`] (Tables 1–3) → [`claims`]. `published.toml` holds
//! the paper's numbers, `scales.toml` the `tiny` / `small` / `base` settings.
//!
//! ```text
//! make reproduce PAPER=attention                 # small scale, CPU, a few minutes per training
//! make reproduce PAPER=attention SCALE=tiny      # seconds
//! ```

pub mod canonical;
pub mod claims;
pub mod complexity;
pub mod data;
pub mod decoding;
pub mod dropout;
pub mod experiments;
pub mod model;
pub mod training;

use std::collections::BTreeMap;

use repro_core::claims::Claim;
use repro_core::metrics::bleu::{BleuConfig, signature};
use repro_core::published::Published;
use repro_core::run::{ExperimentResult, RunContext};
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
        vec![
            ExperimentInfo {
                name: "base_model",
                reproduces: "Table 2 / Table 3 base: test BLEU, dev PPL and BLEU",
            },
            ExperimentInfo {
                name: "attention_heads",
                reproduces: "Table 3 (A): heads at fixed d_model",
            },
            ExperimentInfo {
                name: "model_size",
                reproduces: "Table 3 (C): fewer layers",
            },
            ExperimentInfo {
                name: "regularization",
                reproduces: "Table 3 (D): no dropout, no label smoothing",
            },
            ExperimentInfo {
                name: "positional_encoding",
                reproduces: "Table 3 (E): learned vs sinusoidal positions",
            },
            ExperimentInfo {
                name: "self_attention_complexity",
                reproduces: "Table 1 / §4: layer time vs sequence length",
            },
        ]
    }

    fn claims(&self) -> Vec<Claim> {
        claims::claims()
    }

    fn run(&self, ctx: &RunContext) -> anyhow::Result<Vec<ExperimentResult>> {
        let lab = experiments::Lab::prepare(ctx)?;
        lab.train_all(experiments::jobs())?;
        Ok(vec![
            experiments::base_model(&lab)?,
            experiments::attention_heads(&lab)?,
            experiments::model_size(&lab)?,
            experiments::regularization(&lab)?,
            experiments::positional_encoding(&lab)?,
            experiments::self_attention_complexity(&lab)?,
        ])
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
        if let Ok(config) = experiments::scale_config(ctx.scale) {
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
                    "verse pairs with ≤ {} words per side; {} train / {} dev / {} test pairs; joint BPE of {} pieces",
                    config.max_words, config.train_pairs, config.dev_pairs, config.test_pairs, config.vocab_size
                ),
            );
        }
        protocol
    }

    fn dataset_sha256(&self, dataset: &str) -> Option<String> {
        (dataset == "bible-en-es").then(data::bible_sha256)
    }
}
