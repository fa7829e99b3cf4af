//! The settings of a scale (`scales.toml`), validated on load by `repro_core::scales`.

use repro_core::Scale;
use repro_core::scales::{self, Check, Validate};
use serde::{Deserialize, Serialize};

use crate::training::TrainingConfig;

/// The data of a run: which verse pairs, how many, and how they are tokenized.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DataConfig {
    /// Percent of the embedded corpus's verses (by a hash of their reference) in the dev split;
    /// canonical datasets keep their own splits.
    pub dev_percent: u64,
    /// Percent of the verses in the test split.
    pub test_percent: u64,
    /// Keep pairs with at most this many words per side.
    pub max_words: usize,
    /// Training pairs used (after filtering); fewer when fewer survive.
    pub train_pairs: usize,
    /// Dev pairs used.
    pub dev_pairs: usize,
    /// Test pairs used.
    pub test_pairs: usize,
    /// Joint BPE vocabulary size.
    pub vocab_size: usize,
    /// Tokens per side, EOS included (longer sides are truncated).
    pub max_tokens: usize,
}

/// Model hyperparameters of a scale's base variant, by the paper's symbols.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ModelScale {
    /// `d_model`.
    pub d_model: usize,
    /// `h`.
    pub n_heads: usize,
    /// `d_ff`.
    pub d_ff: usize,
    /// `N`.
    pub n_layers: usize,
    /// `P_drop`.
    pub dropout: f64,
    /// Positional table length.
    pub max_len: usize,
}

/// One scale of `scales.toml`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ScaleConfig {
    /// Seeds every trained variant gets: the run's seed, seed + 1, …
    pub seeds: usize,
    /// Sentences decoded together.
    pub decode_batch: usize,
    /// Beam size (the paper's is 4).
    pub beam_size: usize,
    /// Table 3 (A) head counts besides the base's.
    pub heads: Vec<usize>,
    /// Table 3 (C): N of the smaller model.
    pub smaller_layers: usize,
    /// Sequence lengths of the Table 1 timing.
    pub complexity_lengths: Vec<usize>,
    /// Timed repeats per core and length (every repeat is stored).
    pub complexity_repeats: usize,
    /// The data.
    pub data: DataConfig,
    /// The base model.
    pub model: ModelScale,
    /// Optimisation.
    pub training: TrainingConfig,
}

impl Validate for ScaleConfig {
    fn validate(&self, check: &mut Check) {
        check.at_least("seeds", self.seeds, 1);
        check.at_least("decode_batch", self.decode_batch, 1);
        check.at_least("beam_size", self.beam_size, 1);
        check.at_least("smaller_layers", self.smaller_layers, 1);
        check.that(
            self.smaller_layers < self.model.n_layers,
            "smaller_layers",
            format_args!(
                "= {} must be below model.n_layers = {}",
                self.smaller_layers, self.model.n_layers
            ),
        );
        check.non_empty("complexity_lengths", &self.complexity_lengths);
        check.at_least("complexity_repeats", self.complexity_repeats, 2);
        let data = &self.data;
        check.at_least("data.dev_percent", data.dev_percent, 1);
        check.at_least("data.test_percent", data.test_percent, 1);
        check.that(
            data.dev_percent + data.test_percent < 100,
            "data.dev_percent",
            format_args!(
                "+ data.test_percent = {} leaves nothing to train on",
                data.dev_percent + data.test_percent
            ),
        );
        check.at_least("data.max_words", data.max_words, 1);
        for (field, value) in [
            ("data.train_pairs", data.train_pairs),
            ("data.dev_pairs", data.dev_pairs),
            ("data.test_pairs", data.test_pairs),
        ] {
            check.at_least(field, value, 1);
        }
        // Four reserved ids and room for characters and merges.
        check.at_least("data.vocab_size", data.vocab_size, 16);
        check.at_least("data.max_tokens", data.max_tokens, 2);
        let model = &self.model;
        check.at_least("model.d_model", model.d_model, 2);
        check.at_least("model.n_heads", model.n_heads, 1);
        check.divisible(
            "model.d_model",
            model.d_model,
            "model.n_heads",
            model.n_heads,
        );
        for &heads in &self.heads {
            check.divisible("model.d_model", model.d_model, "a value of heads", heads);
        }
        check.at_least("model.d_ff", model.d_ff, 1);
        check.at_least("model.n_layers", model.n_layers, 1);
        check.in_range("model.dropout", model.dropout, 0.0, 1.0);
        check.that(
            model.max_len > data.max_tokens,
            "model.max_len",
            format_args!(
                "= {} must exceed data.max_tokens = {} (BOS + the target)",
                model.max_len, data.max_tokens
            ),
        );
        let training = &self.training;
        check.at_least("training.steps", training.steps, 1);
        check.that(
            training.batch_tokens >= 2 * data.max_tokens,
            "training.batch_tokens",
            format_args!(
                "= {} must hold one pair of 2 × data.max_tokens = {} tokens",
                training.batch_tokens,
                2 * data.max_tokens
            ),
        );
        check.at_least("training.warmup_steps", training.warmup_steps, 1);
        check.that(
            training.lr_factor > 0.0,
            "training.lr_factor",
            format_args!("= {} must be positive", training.lr_factor),
        );
        check.in_range(
            "training.label_smoothing",
            training.label_smoothing,
            0.0,
            1.0,
        );
        check.at_least("training.eval_every", training.eval_every, 1);
        check.at_least("training.checkpoint_every", training.checkpoint_every, 1);
    }
}

/// The crate's `scales.toml`, as shipped.
pub const SCALES_TOML: &str = include_str!("../scales.toml");

/// Reads and validates `scale` from the crate's `scales.toml`.
pub fn scale_config(scale: Scale) -> anyhow::Result<ScaleConfig> {
    scales::load(SCALES_TOML, "papers/attention/scales.toml", scale)
}

/// The scale of the run `ctx` describes: from its `--scales` file when given.
pub fn scale_config_for(ctx: &repro_core::RunContext) -> anyhow::Result<ScaleConfig> {
    scales::load_for(ctx, SCALES_TOML, "papers/attention/scales.toml")
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
        let text = SCALES_TOML.replacen("d_model = 32", "d_model = 30", 1);
        let error = scales::load::<ScaleConfig>(&text, "papers/attention/scales.toml", Scale::Tiny)
            .unwrap_err()
            .to_string();
        assert!(
            error.starts_with("papers/attention/scales.toml [tiny]: model.d_model = 30 is not divisible by model.n_heads = 4"),
            "{error}"
        );
        let text = SCALES_TOML.replacen("max_tokens = 20", "max_tokens = 1", 1);
        let error = scales::load::<ScaleConfig>(&text, "scales.toml", Scale::Tiny)
            .unwrap_err()
            .to_string();
        assert!(
            error.contains("data.max_tokens = 1 must be at least 2"),
            "{error}"
        );
    }
}
