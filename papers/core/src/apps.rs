//! What trained models are for: the curriculum's applications, loaded from a checkpoint.
//!
//! `repro translate` reads a run directory ([`crate::checkpoint::open`]), finds its paper in the
//! registry, and asks it for a [`Translator`] ([`crate::Paper::translator`]). BERT's `classify`
//! takes the same shape; `repro generate` loads GPT checkpoints through `repro_gpt3::generator`.

/// How to decode a translation.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Search {
    /// The most likely token at each step.
    Greedy,
    /// Beam search with a length penalty.
    Beam {
        /// Hypotheses kept per sentence.
        size: usize,
        /// Length penalty exponent α.
        alpha: f64,
    },
}

/// A trained translation model.
pub trait Translator {
    /// Translates each of `sources`.
    fn translate(&self, sources: &[String], search: Search) -> anyhow::Result<Vec<String>>;

    /// One line about the model: paper, run, step, dev metric.
    fn describe(&self) -> String;
}

/// One prediction of a classifier.
#[derive(Debug, Clone, PartialEq)]
pub struct Prediction {
    /// The most probable label's name.
    pub label: String,
    /// Its probability.
    pub probability: f64,
}

/// A trained text classifier (single sentences, or pairs given as `first<TAB>second`).
pub trait Classifier {
    /// The label of each of `texts` with its probability.
    fn classify(&self, texts: &[String]) -> anyhow::Result<Vec<Prediction>>;

    /// One line about the model: paper, task, run, step, dev accuracy.
    fn describe(&self) -> String;
}
