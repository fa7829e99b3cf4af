//! The settings of a scale (`scales.toml`), validated on load by `repro_core::scales`.

use repro_core::Scale;
use repro_core::scales::{self, Check, Validate};
use serde::{Deserialize, Serialize};

/// The pre-training corpus and its WordPiece vocabulary.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CorpusConfig {
    /// WordPiece vocabulary size, the five special tokens included (BERT: 30,000).
    pub vocab_size: usize,
    /// Tokens per pre-training instance, [CLS] and both [SEP] included (BERT: 128, then 512).
    pub max_seq_len: usize,
    /// Percent of the documents (by a hash of their id) held out for the dev MLM perplexity.
    pub dev_percent: u64,
    /// At most this many training documents (all when larger than the corpus).
    pub max_documents: usize,
}

/// An encoder size (Table 6's #L, #H, #A; the feed-forward is 4H).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SizeConfig {
    /// Layers L.
    pub layers: usize,
    /// Hidden size H.
    pub hidden: usize,
    /// Attention heads A.
    pub heads: usize,
}

/// Pre-training (§3.1, Appendix A.2).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PretrainingConfig {
    /// Optimisation steps (BERT: 1,000,000).
    pub steps: usize,
    /// Sequences per batch (BERT: 256).
    pub batch_size: usize,
    /// Peak Adam learning rate (BERT: 1e-4).
    pub learning_rate: f64,
    /// Linear warm-up, as a fraction of the steps (BERT: 10,000 of 1M), then linear decay.
    pub warmup_fraction: f64,
    /// Decoupled weight decay (BERT: 0.01).
    pub weight_decay: f64,
    /// Steps between dev evaluations (the learning curves).
    pub eval_every: usize,
    /// Steps between checkpoints.
    pub checkpoint_every: usize,
}

/// Fine-tuning (§4, Appendix A.3): the grid searched and the budget per run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FinetuningConfig {
    /// Learning rates searched on dev (the paper: {5e-5, 3e-5, 2e-5}; small models need larger).
    pub learning_rates: Vec<f64>,
    /// Epochs (the paper: 2, 3 or 4; here one value, stated).
    pub epochs: usize,
    /// Examples per batch (the paper: 16 or 32).
    pub batch_size: usize,
    /// Tokens per input, [CLS] and [SEP] included; longer inputs are truncated.
    pub max_seq_len: usize,
}

/// The downstream tasks' data.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TasksConfig {
    /// Percent of each task's items (by a hash of their id) in its dev split.
    pub dev_percent: u64,
    /// Percent in its test split.
    pub test_percent: u64,
    /// At most this many training examples per task (a learning-curve point, stated).
    pub max_train: usize,
    /// At most this many dev and test examples each.
    pub max_eval: usize,
    /// Verse pairs: keep verses with at most this many words per translation.
    pub pair_max_words: usize,
}

/// One scale of `scales.toml`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ScaleConfig {
    /// Seeds per arm: the run's seed, seed + 1, … (each seed pre-trains and fine-tunes anew).
    pub seeds: usize,
    /// The base encoder (BERT-base's role at this scale).
    pub model: SizeConfig,
    /// Table 6: the sizes compared, smallest first (the base among them).
    pub sizes: Vec<SizeConfig>,
    /// Corpus and vocabulary.
    pub corpus: CorpusConfig,
    /// Pre-training.
    pub pretraining: PretrainingConfig,
    /// Fine-tuning.
    pub finetuning: FinetuningConfig,
    /// Tasks.
    pub tasks: TasksConfig,
    /// Training sentences of the frozen-encoder probe (all-MiniLM-L6-v2 features + logistic
    /// regression), when that model is in the cache.
    pub probe_train: usize,
}

fn check_size(check: &mut Check, field: &str, size: &SizeConfig) {
    check.at_least(&format!("{field}.layers"), size.layers, 1);
    check.at_least(&format!("{field}.heads"), size.heads, 1);
    check.at_least(&format!("{field}.hidden"), size.hidden, 2);
    check.divisible(
        &format!("{field}.hidden"),
        size.hidden,
        &format!("{field}.heads"),
        size.heads,
    );
}

impl Validate for ScaleConfig {
    fn validate(&self, check: &mut Check) {
        check.at_least("seeds", self.seeds, 1);
        check_size(check, "model", &self.model);
        check.that(
            self.sizes.len() >= 2,
            "sizes",
            "needs at least two sizes to compare",
        );
        for (i, size) in self.sizes.iter().enumerate() {
            check_size(check, &format!("sizes[{i}]"), size);
        }
        let corpus = &self.corpus;
        // Five special tokens and room for characters and pieces.
        check.at_least("corpus.vocab_size", corpus.vocab_size, 64);
        // [CLS] A [SEP] B [SEP] with one token per segment.
        check.at_least("corpus.max_seq_len", corpus.max_seq_len, 5);
        check.at_least("corpus.dev_percent", corpus.dev_percent, 1);
        check.that(
            corpus.dev_percent < 100,
            "corpus.dev_percent",
            "leaves nothing to train on",
        );
        check.at_least("corpus.max_documents", corpus.max_documents, 2);
        let p = &self.pretraining;
        check.at_least("pretraining.steps", p.steps, 1);
        check.at_least("pretraining.batch_size", p.batch_size, 1);
        check.that(
            p.learning_rate > 0.0,
            "pretraining.learning_rate",
            "must be positive",
        );
        check.in_range("pretraining.warmup_fraction", p.warmup_fraction, 0.0, 1.0);
        check.in_range("pretraining.weight_decay", p.weight_decay, 0.0, 1.0);
        check.at_least("pretraining.eval_every", p.eval_every, 1);
        check.at_least("pretraining.checkpoint_every", p.checkpoint_every, 1);
        let f = &self.finetuning;
        check.non_empty("finetuning.learning_rates", &f.learning_rates);
        for &rate in &f.learning_rates {
            check.that(
                rate > 0.0,
                "finetuning.learning_rates",
                format_args!("holds {rate}, which is not positive"),
            );
        }
        check.at_least("finetuning.epochs", f.epochs, 1);
        check.at_least("finetuning.batch_size", f.batch_size, 1);
        check.at_least("finetuning.max_seq_len", f.max_seq_len, 4);
        let t = &self.tasks;
        check.at_least("tasks.dev_percent", t.dev_percent, 1);
        check.at_least("tasks.test_percent", t.test_percent, 1);
        check.that(
            t.dev_percent + t.test_percent < 100,
            "tasks.dev_percent",
            "+ tasks.test_percent leaves nothing to train on",
        );
        check.at_least("tasks.max_train", t.max_train, 2);
        check.at_least("tasks.max_eval", t.max_eval, 2);
        check.at_least("tasks.pair_max_words", t.pair_max_words, 1);
    }
}

impl ScaleConfig {
    /// The longest input any model of this scale reads (its position table).
    pub fn max_positions(&self) -> usize {
        self.corpus.max_seq_len.max(self.finetuning.max_seq_len)
    }
}

/// The crate's `scales.toml`, as shipped.
pub const SCALES_TOML: &str = include_str!("../scales.toml");

/// Reads and validates `scale` from the crate's `scales.toml`.
pub fn scale_config(scale: Scale) -> anyhow::Result<ScaleConfig> {
    scales::load(SCALES_TOML, "papers/bert/scales.toml", scale)
}

/// The scale of the run `ctx` describes: from its `--scales` file when given.
pub fn scale_config_for(ctx: &repro_core::RunContext) -> anyhow::Result<ScaleConfig> {
    scales::load_for(ctx, SCALES_TOML, "papers/bert/scales.toml")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_shipped_scale_loads() {
        for scale in Scale::ALL {
            scale_config(scale).unwrap_or_else(|error| panic!("{error}"));
        }
    }

    #[test]
    fn a_bad_value_is_an_error_naming_the_field_and_the_file() {
        let text = SCALES_TOML.replacen("heads = 2", "heads = 3", 1);
        let error = scales::load::<ScaleConfig>(&text, "papers/bert/scales.toml", Scale::Tiny)
            .unwrap_err()
            .to_string();
        assert!(error.starts_with("papers/bert/scales.toml [tiny]: model.hidden = 32 is not divisible by model.heads = 3"), "{error}");
    }
}
