//! The settings of a scale (`scales.toml`), validated on load by `repro_core::scales`.

use repro_core::Scale;
use repro_core::scales::{self, Check, Validate};
use serde::{Deserialize, Serialize};

/// One model of the size family (a row of Table 2.1, scaled down).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SizeConfig {
    /// Metric name (`s`, `m`, `l`: stand-ins for GPT-3 Small, Medium, Large).
    pub name: String,
    /// Blocks [n_layers] (Small 12, Medium 24, Large 24).
    pub layers: usize,
    /// Width [d_model] (768, 1024, 1536).
    pub width: usize,
    /// Heads [n_heads] (12, 16, 16).
    pub heads: usize,
    /// Peak learning rate [6.0e-4, 3.0e-4, 2.5e-4: smaller for larger models, as Table 2.1].
    pub learning_rate: f64,
}

/// The pre-training corpus (§2.2, scaled down): real English mixed with task-format documents.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CorpusConfig {
    /// Byte-level BPE vocabulary, `<|endoftext|>` included [50,257].
    pub vocab_size: usize,
    /// Context window in tokens [n_ctx = 2048].
    pub context: usize,
    /// Percent of the real documents (by a hash of their id) held out: dev loss and the cloze.
    pub dev_percent: u64,
    /// At most this many real training documents.
    pub max_documents: usize,
    /// Share of the training tokens that are task-format documents (the rest is real text).
    pub task_share: f64,
    /// A task document holds 1 to this many examples of one task in a row ("bursty" text).
    pub max_examples_per_document: usize,
}

/// Optimisation (§2.3, Appendix B).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TrainingConfig {
    /// Optimisation steps; the same for every size, so the token budget is the same.
    pub steps: usize,
    /// Sequences of `context` tokens per step, the same for every size [0.5M tokens for the
    /// three smallest models].
    pub batch_size: usize,
    /// Linear warm-up as a fraction of the steps [375M of 300B tokens], then cosine decay to
    /// 10 % of the peak.
    pub warmup_fraction: f64,
    /// Decoupled weight decay [0.1].
    pub weight_decay: f64,
    /// Steps between dev evaluations.
    pub eval_every: usize,
    /// Steps between checkpoints.
    pub checkpoint_every: usize,
}

/// The few-shot evaluation (§2, §3.9).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EvaluationConfig {
    /// Held-out instances per task [arithmetic 2,000; scrambling 10,000; LAMBADA 5,153].
    pub instances: usize,
    /// K asked for few-shot; the context window may hold fewer, and the K used is reported
    /// [arithmetic 50, scrambling 100, LAMBADA 15: "as many as fit"].
    pub few_shot: usize,
    /// A cloze passage: consecutive sentences of a held-out document up to this many words.
    pub cloze_passage_words: usize,
}

/// One scale.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ScaleConfig {
    /// Seeds per size (each a whole pre-training).
    pub seeds: usize,
    /// The size family, smallest first.
    pub sizes: Vec<SizeConfig>,
    /// The corpus.
    pub corpus: CorpusConfig,
    /// Optimisation.
    pub training: TrainingConfig,
    /// Evaluation.
    pub evaluation: EvaluationConfig,
}

impl Validate for ScaleConfig {
    fn validate(&self, check: &mut Check) {
        check.at_least("seeds", self.seeds, 1);
        check.non_empty("sizes", &self.sizes);
        for (i, size) in self.sizes.iter().enumerate() {
            let field = |f: &str| format!("sizes[{i}].{f}");
            check.at_least(&field("layers"), size.layers, 1);
            check.at_least(&field("heads"), size.heads, 1);
            check.divisible(
                &field("width"),
                size.width,
                &field("heads"),
                size.heads.max(1),
            );
            check.in_range(&field("learning_rate"), size.learning_rate, 1e-6, 1e-1);
            check.that(
                !size.name.is_empty() && size.name.chars().all(|c| c.is_ascii_alphanumeric()),
                &field("name"),
                "must be a non-empty alphanumeric name (it is part of metric keys)",
            );
        }
        check.at_least("corpus.vocab_size", self.corpus.vocab_size, 300);
        check.at_least("corpus.context", self.corpus.context, 16);
        check.in_range(
            "corpus.dev_percent",
            self.corpus.dev_percent as f64,
            1.0,
            50.0,
        );
        check.in_range("corpus.task_share", self.corpus.task_share, 0.0, 0.95);
        check.at_least(
            "corpus.max_examples_per_document",
            self.corpus.max_examples_per_document,
            1,
        );
        check.at_least("training.steps", self.training.steps, 1);
        check.at_least("training.batch_size", self.training.batch_size, 1);
        check.in_range(
            "training.warmup_fraction",
            self.training.warmup_fraction,
            0.0,
            0.5,
        );
        check.in_range(
            "training.weight_decay",
            self.training.weight_decay,
            0.0,
            1.0,
        );
        check.at_least("training.eval_every", self.training.eval_every, 1);
        check.at_least(
            "training.checkpoint_every",
            self.training.checkpoint_every,
            1,
        );
        check.at_least("evaluation.instances", self.evaluation.instances, 1);
        check.at_least("evaluation.few_shot", self.evaluation.few_shot, 2);
        check.at_least(
            "evaluation.cloze_passage_words",
            self.evaluation.cloze_passage_words,
            8,
        );
    }
}

/// The scales file shipped with the crate.
pub const SCALES_TOML: &str = include_str!("../scales.toml");

/// The settings of `scale`, from the shipped file or the run's `--scales` override.
pub fn scale_config_for(ctx: &repro_core::RunContext) -> anyhow::Result<ScaleConfig> {
    scales::load_for(ctx, SCALES_TOML, SCALES_FILE)
}

const SCALES_FILE: &str = "papers/gpt3/scales.toml";

/// The settings of `scale` from the shipped file.
pub fn scale_config(scale: Scale) -> anyhow::Result<ScaleConfig> {
    scales::load(SCALES_TOML, SCALES_FILE, scale)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_shipped_scale_loads_and_small_spans_ten_times_in_size() {
        for scale in [Scale::Tiny, Scale::Small, Scale::Base] {
            let loaded = scale_config(scale);
            if scale == Scale::Base {
                assert!(loaded.is_err(), "base is not shipped");
                continue;
            }
            loaded.unwrap();
        }
        let small = scale_config(Scale::Small).unwrap();
        let count = |s: &SizeConfig| 12 * s.layers * s.width * s.width;
        let ratio = count(&small.sizes[2]) as f64 / count(&small.sizes[0]) as f64;
        assert!(ratio >= 10.0, "{ratio}");
    }
}
