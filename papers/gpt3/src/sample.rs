//! Sampling text from the decoder: temperature, top-k, nucleus (top-p) filtering and an
//! inverse-CDF draw from a seeded generator, and a streaming generation loop.
//!
//! The filters run in Hugging Face's order: logits divided by the temperature, the k most likely
//! tokens kept (top-k; Fan et al., 2018, as GPT-2's samples used with k = 40), then of those the
//! smallest most-likely set whose probability reaches p (nucleus sampling; Holtzman et al.,
//! 2019), always at least one token. Temperature 0 is greedy decoding (the argmax, first of
//! ties), and so is top-k 1 at any temperature. A draw is one `rng.f64()` against the cumulative
//! distribution of what survives, so a seed fixes the whole generated sequence.

use burn::tensor::{Device, Int, Tensor, TensorData};
use repro_core::data::Tokenizer;

use crate::corpus::{END_OF_TEXT, END_OF_TEXT_ID};
use crate::model::Gpt;

/// How the next token is chosen. Build with [`Sampling::new`] (or check with
/// [`Sampling::validate`]): [`next_token`] assumes valid settings.
#[derive(Debug, Clone, PartialEq)]
pub struct Sampling {
    /// Logits are divided by this before the softmax; 0 is greedy, below 1 sharpens, above 1
    /// flattens.
    pub temperature: f64,
    /// Keep only the k most likely tokens (`None`: all).
    pub top_k: Option<usize>,
    /// Keep the smallest most-likely set whose probability reaches p, in (0, 1] (`None`: all).
    pub top_p: Option<f64>,
    /// Seed of the generator the draws come from.
    pub seed: u64,
}

impl Sampling {
    /// Checked settings; the errors name the command-line flags (`--temperature`, `--top-k`,
    /// `--top-p`).
    pub fn new(
        temperature: f64,
        top_k: Option<usize>,
        top_p: Option<f64>,
        seed: u64,
    ) -> anyhow::Result<Self> {
        let sampling = Self {
            temperature,
            top_k,
            top_p,
            seed,
        };
        sampling.validate()?;
        Ok(sampling)
    }

    /// Greedy decoding: always the most likely token.
    pub fn greedy() -> Self {
        Self {
            temperature: 0.0,
            top_k: None,
            top_p: None,
            seed: 0,
        }
    }

    /// Fails on a negative or non-finite temperature, top-k 0, or top-p outside (0, 1].
    pub fn validate(&self) -> anyhow::Result<()> {
        let t = self.temperature;
        anyhow::ensure!(
            t.is_finite() && t >= 0.0,
            "--temperature must be a finite number ≥ 0 (0 is greedy decoding), got {t}"
        );
        if let Some(k) = self.top_k {
            anyhow::ensure!(
                k >= 1,
                "--top-k must be at least 1 (1 is greedy decoding), got {k}"
            );
        }
        if let Some(p) = self.top_p {
            anyhow::ensure!(
                p > 0.0 && p <= 1.0,
                "--top-p must be in (0, 1] (1 keeps every token), got {p}"
            );
        }
        Ok(())
    }

    fn is_greedy(&self) -> bool {
        self.temperature == 0.0 || self.top_k == Some(1)
    }
}

/// Rounding slack when the nucleus's mass is compared with p: probabilities computed from
/// logits miss exact sums such as 0.5 + 0.3 = 0.8 by a few ulps.
const MASS_SLACK: f64 = 1e-9;

/// Index of the largest logit, the first of ties; NaN never wins.
fn argmax(logits: &[f32]) -> usize {
    let mut best = 0;
    for (i, &v) in logits.iter().enumerate() {
        if v > logits[best] || logits[best].is_nan() {
            best = i;
        }
    }
    best
}

/// The tokens that survive the filters, most likely first, with their probabilities
/// (renormalised over the survivors). Not for greedy settings (temperature 0).
fn candidates(logits: &[f32], sampling: &Sampling) -> Vec<(usize, f64)> {
    // NaN logits (a diverged model) rank last instead of poisoning the sort.
    let score = |i: usize| {
        let v = f64::from(logits[i]);
        if v.is_nan() { f64::NEG_INFINITY } else { v }
    };
    let mut order: Vec<usize> = (0..logits.len()).collect();
    // Stable: equal logits stay in index order, so top-k 1 keeps the argmax.
    order.sort_by(|&a, &b| score(b).total_cmp(&score(a)));
    if let Some(k) = sampling.top_k {
        order.truncate(k.max(1));
    }
    // Softmax at the temperature, shifted by the maximum so that no exponential overflows.
    let top = score(order[0]);
    if top.is_infinite() {
        // An infinite top logit (or none finite) leaves no distribution to speak of: its argmax.
        return vec![(order[0], 1.0)];
    }
    let mut kept: Vec<(usize, f64)> = order
        .iter()
        .map(|&i| (i, ((score(i) - top) / sampling.temperature).exp()))
        .collect();
    let total: f64 = kept.iter().map(|(_, w)| w).sum();
    kept.iter_mut().for_each(|(_, w)| *w /= total);
    if let Some(p) = sampling.top_p {
        let mut mass = 0.0;
        let size = kept
            .iter()
            .position(|&(_, q)| {
                mass += q;
                mass >= p - MASS_SLACK
            })
            .map_or(kept.len(), |last| last + 1);
        kept.truncate(size);
        let total: f64 = kept.iter().map(|(_, q)| q).sum();
        kept.iter_mut().for_each(|(_, q)| *q /= total);
    }
    kept
}

/// The next token given the last position's `logits` (one per vocabulary entry): greedy for
/// temperature 0 or top-k 1 (no draw), otherwise one draw by inverse CDF from what survives
/// temperature, top-k and top-p.
///
/// # Panics
/// If `logits` is empty.
pub fn next_token(logits: &[f32], sampling: &Sampling, rng: &mut fastrand::Rng) -> usize {
    assert!(!logits.is_empty(), "no logits to sample from");
    if sampling.is_greedy() {
        return argmax(logits);
    }
    let kept = candidates(logits, sampling);
    let target = rng.f64();
    let mut cumulative = 0.0;
    for &(token, q) in &kept {
        cumulative += q;
        if target < cumulative {
            return token;
        }
    }
    // Rounding left the cumulative sum a hair below 1 and the draw above it.
    kept.last().expect("at least one token survives").0
}

/// Emits the new suffix of a growing decoded text. A byte-level BPE token can carry part of a
/// multi-byte character, which decodes to U+FFFD until the rest arrives; such a tail is held
/// back rather than emitted and then contradicted.
#[derive(Default)]
struct Stream {
    emitted: String,
}

impl Stream {
    fn push(
        &mut self,
        text: &str,
        settled: bool,
        on_text: &mut dyn FnMut(&str) -> anyhow::Result<()>,
    ) -> anyhow::Result<()> {
        let text = if settled {
            text
        } else {
            text.trim_end_matches('\u{FFFD}')
        };
        if let Some(piece) = text.strip_prefix(self.emitted.as_str())
            && !piece.is_empty()
        {
            on_text(piece)?;
            self.emitted = text.to_string();
        }
        Ok(())
    }
}

/// Continues `prompt` by up to `max_tokens` tokens drawn with `sampling`, calling `on_text` with
/// each new piece of text as soon as it is decoded, and returns the generated text (without the
/// prompt). Generation stops early at `<|endoftext|>` (not included). The model reads the last
/// `n_positions` tokens; an empty prompt is conditioned on `<|endoftext|>`, as GPT-2's
/// unconditional samples are. The same seed gives the same text.
pub fn generate(
    model: &Gpt,
    tokenizer: &Tokenizer,
    prompt: &str,
    max_tokens: usize,
    sampling: &Sampling,
    device: &Device,
    on_text: &mut dyn FnMut(&str) -> anyhow::Result<()>,
) -> anyhow::Result<String> {
    sampling.validate()?;
    // This crate's tokenizers reserve id 0 for <|endoftext|>; Hugging Face's GPT-2 has it at
    // 50256 (and 0 is "!"), so the tokenizer is asked first.
    let end = tokenizer.token_to_id(END_OF_TEXT).unwrap_or(END_OF_TEXT_ID);
    let mut tokens = tokenizer.encode(prompt)?;
    if tokens.is_empty() {
        tokens.push(end);
    }
    let n_ctx = model.n_positions();
    let mut rng = fastrand::Rng::with_seed(sampling.seed);
    let (mut generated, mut stream) = (Vec::new(), Stream::default());
    for _ in 0..max_tokens {
        let window = &tokens[tokens.len().saturating_sub(n_ctx)..];
        let logits = last_logits(model, window, device)?;
        let next = next_token(&logits, sampling, &mut rng) as u32;
        if next == end {
            break;
        }
        tokens.push(next);
        generated.push(next);
        stream.push(&tokenizer.decode(&generated)?, false, on_text)?;
    }
    let text = tokenizer.decode(&generated)?;
    stream.push(&text, true, on_text)?;
    Ok(text)
}

/// Next-token logits at the last position of `window`. Only that position goes through the
/// output layer (tied to `wte`, as [`Gpt::forward`]): all positions would cost V·T·d per step.
fn last_logits(model: &Gpt, window: &[u32], device: &Device) -> anyhow::Result<Vec<f32>> {
    let ids: Vec<i64> = window.iter().map(|&t| i64::from(t)).collect();
    let length = ids.len();
    let input = Tensor::<2, Int>::from_data(TensorData::new(ids, [1, length]), device);
    let hidden = model.hidden(input);
    let [_, _, width] = hidden.dims();
    let last = hidden.slice([0..1, length - 1..length]).reshape([1, width]);
    model
        .logits(last)
        .into_data()
        .convert::<f32>()
        .try_to_vec::<f32>()
        .map_err(|e| anyhow::anyhow!("reading logits: {e:?}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sampling(temperature: f64, top_k: Option<usize>, top_p: Option<f64>) -> Sampling {
        Sampling::new(temperature, top_k, top_p, 0).unwrap()
    }

    fn logits_of(probabilities: &[f64]) -> Vec<f32> {
        probabilities.iter().map(|p| p.ln() as f32).collect()
    }

    #[test]
    fn temperature_zero_and_top_k_one_pick_the_argmax() {
        let logits = [0.1, 2.0, -1.0, 2.0, f32::NAN];
        let mut rng = fastrand::Rng::with_seed(1);
        assert_eq!(next_token(&logits, &Sampling::greedy(), &mut rng), 1);
        let mut values = fastrand::Rng::with_seed(2);
        for _ in 0..50 {
            let logits: Vec<f32> = (0..20).map(|_| values.f32() * 10.0 - 5.0).collect();
            let best = next_token(&logits, &Sampling::greedy(), &mut rng);
            assert_eq!(best, argmax(&logits));
            for temperature in [0.3, 1.0, 7.0] {
                let top1 = sampling(temperature, Some(1), Some(0.9));
                assert_eq!(next_token(&logits, &top1, &mut rng), best);
                // The general path agrees (ties kept in index order).
                assert_eq!(candidates(&logits, &top1), [(best, 1.0)]);
            }
        }
    }

    #[test]
    fn top_p_keeps_the_smallest_set_reaching_p() {
        let logits = logits_of(&[0.05, 0.5, 0.15, 0.3]);
        let close = |got: Vec<(usize, f64)>, want: &[(usize, f64)]| {
            assert_eq!(got.len(), want.len(), "{got:?}");
            for ((i, p), (j, q)) in got.iter().zip(want) {
                assert!(i == j && (p - q).abs() < 1e-6, "{got:?} vs {want:?}");
            }
        };
        // 0.5 + 0.3 = 0.8 reaches 0.8 exactly: two tokens, renormalised to 5/8 and 3/8.
        close(
            candidates(&logits, &sampling(1.0, None, Some(0.8))),
            &[(1, 0.625), (3, 0.375)],
        );
        // 0.8 < 0.85 ≤ 0.95: three tokens.
        let three = [(1, 0.5 / 0.95), (3, 0.3 / 0.95), (2, 0.15 / 0.95)];
        close(
            candidates(&logits, &sampling(1.0, None, Some(0.85))),
            &three,
        );
        // Below the top token's mass: that token alone.
        close(
            candidates(&logits, &sampling(1.0, None, Some(0.2))),
            &[(1, 1.0)],
        );
        // Top-k first: of the two most likely, p = 0.9 of (5/8, 3/8) needs both.
        close(
            candidates(&logits, &sampling(1.0, Some(2), Some(0.9))),
            &[(1, 0.625), (3, 0.375)],
        );
        // Temperature 2 takes square roots: 0.8 and 0.2 become 2/3 and 1/3.
        let tempered = candidates(&logits_of(&[0.8, 0.2]), &sampling(2.0, None, None));
        close(tempered, &[(0, 2.0 / 3.0), (1, 1.0 / 3.0)]);
        let nucleus = sampling(1.0, None, Some(0.8));
        let mut rng = fastrand::Rng::with_seed(3);
        assert!((0..500).all(|_| [1, 3].contains(&next_token(&logits, &nucleus, &mut rng))));
    }

    #[test]
    fn draws_follow_the_distribution_and_the_seed() {
        let logits = logits_of(&[0.7, 0.2, 0.1]);
        let plain = sampling(1.0, None, None);
        let mut rng = fastrand::Rng::with_seed(4);
        let mut counts = [0usize; 3];
        for _ in 0..20_000 {
            counts[next_token(&logits, &plain, &mut rng)] += 1;
        }
        for (count, p) in counts.iter().zip([0.7, 0.2, 0.1]) {
            assert!((*count as f64 / 20_000.0 - p).abs() < 0.02, "{counts:?}");
        }
        let flat = vec![0.0f32; 10];
        let draws = |seed: u64| -> Vec<usize> {
            let mut rng = fastrand::Rng::with_seed(seed);
            (0..50)
                .map(|_| next_token(&flat, &plain, &mut rng))
                .collect()
        };
        assert_eq!(draws(7), draws(7));
        assert_ne!(draws(7), draws(8));
    }

    #[test]
    fn invalid_settings_name_their_flags() {
        let error = |t, k, p| Sampling::new(t, k, p, 0).unwrap_err().to_string();
        assert!(error(-0.5, None, None).contains("--temperature"));
        assert!(error(f64::NAN, None, None).contains("--temperature"));
        assert!(error(1.0, Some(0), None).contains("--top-k"));
        assert!(error(1.0, None, Some(0.0)).contains("--top-p"));
        assert!(error(1.0, None, Some(1.5)).contains("--top-p"));
        assert!(Sampling::new(0.0, Some(1), Some(1.0), 9).is_ok());
    }

    #[test]
    fn streaming_holds_back_a_partial_character() {
        let mut pieces = Vec::new();
        let mut stream = Stream::default();
        let mut collect = |piece: &str| -> anyhow::Result<()> {
            pieces.push(piece.to_string());
            Ok(())
        };
        for text in ["a", "a\u{FFFD}", "aé", "aé b"] {
            stream.push(text, false, &mut collect).unwrap();
        }
        stream.push("aé b\u{FFFD}", true, &mut collect).unwrap();
        assert_eq!(pieces, ["a", "é", " b", "\u{FFFD}"]);
    }

    #[test]
    fn generation_streams_what_it_returns_and_repeats_for_a_seed() {
        let texts: Vec<String> = ["the cat sat on the mat", "a dog ran in the park"]
            .iter()
            .map(|s| s.to_string())
            .collect();
        let tokenizer = crate::corpus::train_tokenizer(&texts, 300).unwrap();
        let vocab = tokenizer.vocab_size();
        let config = crate::model::GptConfig::sized(vocab, 8, 1, 16, 2, 0.0);
        let device = Device::flex();
        let model = repro_core::determinism::init_on_cpu(1, &device, |d| config.init(d));
        let run = |seed: u64, prompt: &str| {
            let mut streamed = String::new();
            let sampling = Sampling::new(1.0, Some(20), Some(0.95), seed).unwrap();
            let mut sink = |piece: &str| -> anyhow::Result<()> {
                streamed.push_str(piece);
                Ok(())
            };
            // A prompt longer than the 8-token window: only its tail is read.
            let text = generate(
                &model, &tokenizer, prompt, 12, &sampling, &device, &mut sink,
            );
            let text = text.unwrap();
            assert_eq!(streamed, text);
            text
        };
        let long = "the cat sat on the mat and the dog ran in the park";
        assert_eq!(run(5, long), run(5, long));
        assert_eq!(run(6, ""), run(6, ""));
        let mut calls = 0;
        let mut count = |_: &str| -> anyhow::Result<()> {
            calls += 1;
            Ok(())
        };
        let none = generate(
            &model,
            &tokenizer,
            "the cat",
            0,
            &Sampling::greedy(),
            &device,
            &mut count,
        );
        assert_eq!((none.unwrap(), calls), (String::new(), 0));
    }
}
