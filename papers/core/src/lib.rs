//! What the papers of the repro suite share.
//!
//! A paper crate implements [`Paper`]; the harness knows papers only through that trait. This
//! crate holds the machinery two or more papers need: scales and backends, metrics (BLEU,
//! perplexity), datasets (downloads into a verified cache), published numbers, claims with
//! computed verdicts, progress bars, and results (JSON, Markdown, SVG plots).

pub mod atomic;
pub mod claims;
pub mod data;
pub mod metrics;
pub mod paper;
pub mod plots;
pub mod progress;
pub mod published;
pub mod report;
pub mod run;

pub use paper::{DatasetInfo, ExperimentInfo, Paper, PaperInfo};
pub use run::{Backend, RunContext, Scale};
