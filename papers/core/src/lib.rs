//! What the papers of the repro suite share.
//!
//! A paper crate implements [`Paper`]; the harness knows papers only through that trait. This
//! crate is the shared engine: scales validated on load ([`scales`]), the run plan ([`lab`]) and
//! experiment table ([`experiment`]), the training loop ([`train`]) with its checkpoints
//! ([`checkpoint`]) and determinism helpers ([`determinism`]), data helpers ([`data`]: verified
//! downloads, leak-free splits, batches, tokenizers), few-shot evaluation of language models
//! ([`eval`]: tasks as data, prompts, the model adapter, scoring), metrics (BLEU), published
//! numbers, claims with computed verdicts, progress bars, results (JSON, Markdown, SVG plots),
//! and the applications' interfaces ([`apps`]).
#![deny(missing_docs)]

pub mod apps;
pub mod atomic;
pub mod bench;
pub mod checkpoint;
pub mod claims;
pub mod data;
pub mod determinism;
pub mod eval;
pub mod experiment;
pub mod lab;
pub mod metrics;
pub mod paper;
pub mod plots;
pub mod progress;
pub mod published;
pub mod report;
pub mod run;
pub mod scales;
pub mod stats;
pub mod train;

pub use paper::{DatasetInfo, ExperimentInfo, Paper, PaperInfo};
pub use run::{Backend, RunContext, RunOutput, Scale};
