//! The language-model adapter: the three requests lm-evaluation-harness asks of a model, and a
//! dummy model that answers them from tables, for tests.

use std::collections::BTreeMap;

/// The answer to one log-likelihood request.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Loglikelihood {
    /// Σ log p(continuation token | everything before it), in nats.
    pub logprob: f64,
    /// Whether every continuation token is the model's argmax (greedy decoding would produce
    /// the continuation exactly).
    pub is_greedy: bool,
    /// How many tokens the continuation took.
    pub tokens: usize,
}

/// One greedy-decoding request.
#[derive(Debug, Clone, PartialEq)]
pub struct GenerateRequest {
    /// The prompt.
    pub context: String,
    /// Decoding stops before the first of these (they are not returned).
    pub until: Vec<String>,
    /// The most tokens decoded.
    pub max_new_tokens: usize,
}

/// A causal language model as an evaluation sees it (lm-eval's `LM` interface).
pub trait LanguageModel {
    /// The context window in tokens.
    fn max_length(&self) -> usize;

    /// How many tokens `text` takes.
    fn token_count(&self, text: &str) -> anyhow::Result<usize>;

    /// log p(continuation | context) for each `(context, continuation)`.
    fn loglikelihood(&self, requests: &[(String, String)]) -> anyhow::Result<Vec<Loglikelihood>>;

    /// log p(text) of each whole text, scored in windows of the context length where it is
    /// longer (lm-eval's `loglikelihood_rolling`, for perplexity).
    fn loglikelihood_rolling(&self, texts: &[String]) -> anyhow::Result<Vec<Loglikelihood>>;

    /// Greedy continuations, each cut before its first stop sequence.
    fn generate_until(&self, requests: &[GenerateRequest]) -> anyhow::Result<Vec<String>>;
}

/// Cuts `generated` before the first of `until` (none: unchanged).
pub fn cut_at_stop(generated: &str, until: &[String]) -> String {
    let end = until
        .iter()
        .filter(|stop| !stop.is_empty())
        .filter_map(|stop| generated.find(stop.as_str()))
        .min()
        .unwrap_or(generated.len());
    generated[..end].to_string()
}

/// A model for tests: one token per byte; log-likelihoods and generations read from tables,
/// else −ln 256 per byte (uniform) and nothing generated.
#[derive(Debug, Clone, Default)]
pub struct DummyModel {
    /// The context window in bytes.
    pub max_length: usize,
    /// `(context, continuation) → log-likelihood`.
    pub loglikelihoods: BTreeMap<(String, String), Loglikelihood>,
    /// `context → generated text` (cut at the request's stop sequences).
    pub generations: BTreeMap<String, String>,
}

impl DummyModel {
    /// A dummy model with a context window of `max_length` bytes.
    pub fn new(max_length: usize) -> Self {
        Self {
            max_length,
            ..Self::default()
        }
    }

    fn uniform(text: &str) -> Loglikelihood {
        Loglikelihood {
            logprob: -(text.len() as f64) * 256f64.ln(),
            is_greedy: false,
            tokens: text.len(),
        }
    }
}

impl LanguageModel for DummyModel {
    fn max_length(&self) -> usize {
        self.max_length
    }

    fn token_count(&self, text: &str) -> anyhow::Result<usize> {
        Ok(text.len())
    }

    fn loglikelihood(&self, requests: &[(String, String)]) -> anyhow::Result<Vec<Loglikelihood>> {
        Ok(requests
            .iter()
            .map(|request| {
                self.loglikelihoods
                    .get(request)
                    .copied()
                    .unwrap_or_else(|| Self::uniform(&request.1))
            })
            .collect())
    }

    fn loglikelihood_rolling(&self, texts: &[String]) -> anyhow::Result<Vec<Loglikelihood>> {
        Ok(texts.iter().map(|text| Self::uniform(text)).collect())
    }

    fn generate_until(&self, requests: &[GenerateRequest]) -> anyhow::Result<Vec<String>> {
        Ok(requests
            .iter()
            .map(|request| {
                let text = self
                    .generations
                    .get(&request.context)
                    .cloned()
                    .unwrap_or_default();
                cut_at_stop(&text, &request.until)
            })
            .collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generation_stops_before_the_earliest_stop_sequence() {
        let until = ["\n".to_string(), "Q:".to_string()];
        assert_eq!(cut_at_stop(" 124 Q: what\nx", &until), " 124 ");
        assert_eq!(cut_at_stop(" 124", &until), " 124");
        assert_eq!(cut_at_stop(" 124", &[String::new()]), " 124");
    }
}
