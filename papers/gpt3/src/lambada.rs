//! The canonical LAMBADA test set (Paperno et al., 2016) in OpenAI's detokenised version — the one
//! GPT-2 (Table 3) and GPT-3 (§3.1.2, Table 3.2) report — downloaded on request into the
//! SHA-256-verified cache and scored as lm-evaluation-harness's `lambada_openai` scores it.
//!
//! The protocol (lm-eval's task file): the context is the passage up to its last space, the
//! continuation a space and the last word; `acc` counts a passage right when every token of the
//! continuation is the model's argmax, `perplexity` is `exp` of minus the mean log-likelihood of
//! a continuation. GPT-2's own 45.99 % for 124M used a different protocol (the word predicted
//! with stop-word filtering, not released), which is why lm-eval's 32.56 % for the same model is
//! the number this command can be checked against.
//!
//! ```text
//! repro lambada --checkpoint ~/models/gpt2                 # Hugging Face GPT-2: 32.56 % expected
//! repro lambada --checkpoint DIR --limit 500               # a run of `make reproduce PAPER=gpt3`
//! ```

use std::path::{Path, PathBuf};

use anyhow::Context;
use repro_core::data::download::{RemoteFile, fetch_from};
use repro_core::eval::LanguageModel;
use serde::Serialize;

/// `lambada_test.jsonl`: 5,153 passages, one JSON object `{"text": …}` a line. The pin is the one
/// lm-evaluation-harness has checked since January 2021 (its `lambada_openai` dataset infos),
/// at OpenAI's own address (the GPT-2 repository's issue 131).
pub const TEST_SET: RemoteFile = RemoteFile {
    name: "lambada_test.jsonl",
    url: "https://openaipublic.blob.core.windows.net/gpt-2/data/lambada_test.jsonl",
    sha256: "4aa8d02cd17c719165fc8a7887fddd641f43fcafa4b1c806ca8abc31fabdb226",
    size: Some(1_819_752),
};

/// Passages the canonical file holds.
pub const TEST_PASSAGES: usize = 5153;

/// The published numbers this command can be set beside (per cent).
pub const PUBLISHED: [(&str, f64); 3] = [
    (
        "GPT-2 124M, lm-evaluation-harness lambada_openai (the same protocol)",
        32.56,
    ),
    (
        "GPT-2 124M, GPT-2 paper Table 3 (stop-word filtered prediction)",
        45.99,
    ),
    ("GPT-3 Small 125M zero-shot, GPT-3 Table H.1", 42.7),
];

/// The test set's path in `cache` (`<cache>/lambada/`), downloaded and verified first unless a
/// valid copy is there; `base_url` replaces the scheme and host (tests, mirrors).
pub fn fetch(cache: &Path, base_url: Option<&str>) -> anyhow::Result<PathBuf> {
    fetch_from(&TEST_SET, &cache.join("lambada"), base_url)
        .with_context(|| format!("fetching the LAMBADA test set ({})", TEST_SET.url))
}

/// The passages of a `lambada_test.jsonl`-shaped file, in order.
pub fn read(path: &Path) -> anyhow::Result<Vec<String>> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    parse(&text).with_context(|| format!("in {}", path.display()))
}

/// The passages of JSON lines `{"text": …}` (blank lines skipped).
pub fn parse(text: &str) -> anyhow::Result<Vec<String>> {
    #[derive(serde::Deserialize)]
    struct Line {
        text: String,
    }
    let mut passages = Vec::new();
    for (i, line) in text.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        let parsed: Line = serde_json::from_str(line)
            .with_context(|| format!("line {}: not a JSON object with a \"text\" string", i + 1))?;
        anyhow::ensure!(
            parsed.text.trim().contains(' '),
            "line {}: a passage needs a context before its last word",
            i + 1
        );
        passages.push(parsed.text);
    }
    anyhow::ensure!(!passages.is_empty(), "no passages");
    Ok(passages)
}

/// lm-eval's split of a passage: everything before the last space, and a space + the last word.
pub fn request(passage: &str) -> (String, String) {
    let passage = passage.trim_end();
    match passage.rsplit_once(' ') {
        Some((context, word)) => (context.to_string(), format!(" {word}")),
        None => (String::new(), passage.to_string()),
    }
}

/// The numbers of one evaluation, with the protocol that produced them.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Score {
    /// Passages scored.
    pub n: usize,
    /// Passages whose last word is the greedy continuation, per cent.
    pub accuracy: f64,
    /// `exp` of minus the mean log-likelihood of a last word.
    pub perplexity: f64,
    /// How the numbers were computed.
    pub protocol: &'static str,
}

/// Scores `passages` on `lm`, `batch` at a time, calling `progress` with the passages done.
pub fn evaluate(
    lm: &dyn LanguageModel,
    passages: &[String],
    batch: usize,
    mut progress: impl FnMut(usize),
) -> anyhow::Result<Score> {
    anyhow::ensure!(!passages.is_empty(), "no passages to score");
    let (mut correct, mut logprob, mut done) = (0usize, 0f64, 0usize);
    for chunk in passages.chunks(batch.max(1)) {
        let requests: Vec<(String, String)> = chunk.iter().map(|p| request(p)).collect();
        for answer in lm.loglikelihood(&requests)? {
            correct += usize::from(answer.is_greedy);
            logprob += answer.logprob;
        }
        done += chunk.len();
        progress(done);
    }
    let n = passages.len();
    Ok(Score {
        n,
        accuracy: 100.0 * correct as f64 / n as f64,
        perplexity: (-logprob / n as f64).exp(),
        protocol: "lm-evaluation-harness lambada_openai: context = the passage before its last space, continuation = ' ' + last word; acc = every continuation token the argmax; perplexity = exp(-mean log p(continuation)); zero-shot",
    })
}

#[cfg(test)]
mod tests;
