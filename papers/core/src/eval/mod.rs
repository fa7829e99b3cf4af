//! Few-shot evaluation of language models, in lm-evaluation-harness's conventions.
//!
//! A task is data ([`TaskSpec`], read from TOML): its prompt templates, target and few-shot
//! delimiters, output type, metrics and version. Its instances ([`Doc`]) come from the paper's
//! generator or reader. [`prompt::build`] turns an instance and K demonstrations from the task's
//! own training pool into the exact text the model sees (the K actually used is returned: the
//! context window may hold fewer); a [`LanguageModel`] answers the requests; [`score`] turns the
//! answers into `acc`, `acc_norm`, `exact_match` and perplexity.

pub mod model;
pub mod prompt;
pub mod score;
pub mod task;

pub use model::{DummyModel, GenerateRequest, LanguageModel, Loglikelihood};
pub use prompt::{Prompt, build as build_prompt};
pub use task::{Doc, OutputType, TaskSpec};

/// One instance as `repro tasks` shows it: the exact prompt, and what would be scored.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct ShownInstance {
    /// The task's id.
    pub task: String,
    /// The task definition's version.
    pub version: u32,
    /// Index among the task's held-out instances.
    pub index: usize,
    /// How the answer is scored.
    pub output_type: OutputType,
    /// The prompt, byte for byte.
    pub prompt: String,
    /// The expected continuation (`loglikelihood`, `generate_until`).
    #[serde(skip_serializing_if = "String::is_empty")]
    pub target: String,
    /// The choices (multiple choice), each with its target delimiter.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub choices: Vec<String>,
    /// The correct choice (multiple choice).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub gold: Option<usize>,
    /// Demonstrations asked for and shown.
    pub shots_requested: usize,
    /// See `shots_requested`.
    pub shots: usize,
}

/// What `repro tasks` asks a paper for.
#[derive(Debug, Clone)]
pub struct ShowRequest {
    /// The scale whose corpus and settings the instances come from.
    pub scale: crate::Scale,
    /// One task, or all of them.
    pub task: Option<String>,
    /// Demonstrations per prompt.
    pub shots: usize,
    /// Instances per task.
    pub n: usize,
    /// Seed of the demonstration draws.
    pub seed: u64,
}
