//! BERT: Pre-training of Deep Bidirectional Transformers for Language Understanding (Devlin et al., 2018; arXiv 1810.04805).
//!
//! Stub made by `repro arxiv stub`: fill `published.toml` from the paper's tables, then add
//! experiments and claims.
use repro_core::claims::Claim;
use repro_core::published::Published;
use repro_core::run::{RunContext, RunOutput};
use repro_core::{ExperimentInfo, Paper, PaperInfo};

/// This paper, as the suite's registry sees it.
pub fn paper() -> Box<dyn Paper> {
    Box::new(ThisPaper)
}

struct ThisPaper;

impl Paper for ThisPaper {
    fn info(&self) -> PaperInfo {
        PaperInfo {
            id: "golden-stub",
            arxiv_id: "1810.04805",
            title: "BERT: Pre-training of Deep Bidirectional Transformers for Language Understanding",
            authors: "Devlin et al.",
            year: 2018,
            datasets: vec![],
        }
    }

    fn published(&self) -> anyhow::Result<Published> {
        Published::from_toml(include_str!("../published.toml"))
    }

    fn experiments(&self) -> Vec<ExperimentInfo> {
        Vec::new()
    }

    fn claims(&self) -> Vec<Claim> {
        Vec::new()
    }

    fn run(&self, _ctx: &RunContext) -> anyhow::Result<RunOutput> {
        Ok(RunOutput::default())
    }
}
