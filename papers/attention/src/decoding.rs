//! Inference (§6.1): greedy decoding and beam search with a length penalty.
//!
//! "We used beam search with a beam size of 4 and length penalty α = 0.6 … We set the maximum
//! output length during inference to input length + 50, but terminate early when possible."
//! The length penalty is GNMT's (Wu et al. 2016, Eq. 14): `lp(Y) = ((5 + |Y|) / 6)^α`; hypotheses
//! are ranked by `log P(Y|X) / lp(Y)`. Both decoders run on the cached incremental decoder
//! ([`Transformer::decode_step`]), batched over sentences (and beams).

use burn::tensor::activation::log_softmax;
use burn::tensor::{Device, Int, Tensor, TensorData};

use crate::data::{BOS, EOS, EncodedPair, make_batch};
use crate::model::{Transformer, padding_mask};

/// How to decode.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Decoding {
    /// Most likely token at each step.
    Greedy,
    /// Beam search.
    Beam {
        /// Hypotheses kept per sentence (paper: 4).
        size: usize,
        /// Length penalty exponent α (paper: 0.6).
        alpha: f64,
    },
}

impl Decoding {
    /// The paper's setting (§6.1).
    pub const PAPER: Decoding = Decoding::Beam {
        size: 4,
        alpha: 0.6,
    };

    /// Human-readable protocol for provenance.
    pub fn describe(&self) -> String {
        match self {
            Decoding::Greedy => "greedy".to_string(),
            Decoding::Beam { size, alpha } => {
                format!("beam {size}, length penalty α = {alpha} (GNMT)")
            }
        }
    }
}

/// GNMT length penalty `((5 + length) / 6)^α`.
pub fn length_penalty(length: usize, alpha: f64) -> f64 {
    ((5.0 + length as f64) / 6.0).powf(alpha)
}

/// Translates `sources` (ids ending with EOS) and returns the output ids (without BOS/EOS).
/// `max_len` caps the output below the paper's `input length + 50` when the model's positional
/// table is shorter.
pub fn translate(
    model: &Transformer,
    sources: &[Vec<u32>],
    decoding: Decoding,
    batch_size: usize,
    max_len: usize,
    device: &Device,
) -> Vec<Vec<u32>> {
    let mut outputs = Vec::with_capacity(sources.len());
    for chunk in sources.chunks(batch_size.max(1)) {
        match decoding {
            Decoding::Greedy => outputs.extend(greedy(model, chunk, max_len, device)),
            Decoding::Beam { size, alpha } => {
                outputs.extend(beam_search(model, chunk, size, alpha, max_len, device))
            }
        }
    }
    outputs
}

fn encode_sources(
    model: &Transformer,
    sources: &[Vec<u32>],
    device: &Device,
) -> (Tensor<3>, Tensor<2, Int>) {
    let pairs: Vec<EncodedPair> = sources
        .iter()
        .map(|source| EncodedPair {
            source: source.clone(),
            target: vec![EOS],
        })
        .collect();
    let refs: Vec<&EncodedPair> = pairs.iter().collect();
    let batch = make_batch(&refs, device);
    (model.encode(batch.source.clone()), batch.source)
}

fn output_limit(source: &[u32], max_len: usize) -> usize {
    (source.len() + 50).min(max_len)
}

fn column(tokens: &[u32], device: &Device) -> Tensor<2, Int> {
    let ids: Vec<i64> = tokens.iter().map(|&id| i64::from(id)).collect();
    Tensor::from_data(TensorData::new(ids, [tokens.len(), 1]), device)
}

fn to_rows(log_probs: Tensor<2>) -> (Vec<f32>, usize) {
    let [_, vocab] = log_probs.dims();
    let values = log_probs
        .into_data()
        .try_to_vec::<f32>()
        .unwrap_or_default();
    (values, vocab)
}

/// Greedy decoding of a batch.
pub fn greedy(
    model: &Transformer,
    sources: &[Vec<u32>],
    max_len: usize,
    device: &Device,
) -> Vec<Vec<u32>> {
    let (memory, source) = encode_sources(model, sources, device);
    let memory_mask = padding_mask(&source, model.pad_id());
    let mut caches = model.start_decoding(memory);
    let limit = sources
        .iter()
        .map(|s| output_limit(s, max_len))
        .max()
        .unwrap_or(0);
    let mut outputs: Vec<Vec<u32>> = vec![Vec::new(); sources.len()];
    let mut done = vec![false; sources.len()];
    let mut last = vec![BOS; sources.len()];
    for position in 0..limit {
        let logits = model.decode_step(
            column(&last, device),
            position,
            &mut caches,
            memory_mask.clone(),
        );
        let (values, vocab) = to_rows(logits);
        for (row, output) in outputs.iter_mut().enumerate() {
            let scores = &values[row * vocab..(row + 1) * vocab];
            let best = argmax(scores);
            last[row] = best;
            if !done[row] {
                if best == EOS || output.len() >= output_limit(&sources[row], max_len) {
                    done[row] = true;
                } else {
                    output.push(best);
                }
            }
        }
        if done.iter().all(|&d| d) {
            break;
        }
    }
    outputs
}

fn argmax(scores: &[f32]) -> u32 {
    let mut best = 0;
    for (i, &score) in scores.iter().enumerate() {
        if score > scores[best] {
            best = i;
        }
    }
    best as u32
}

/// What beam search needs from a model: log-probabilities of the next token for each row.
pub trait NextToken {
    /// Log-probabilities (rows × vocabulary, row-major) of the token after each prefix; rows are
    /// sentence-major (`b · size + k`). `prefixes` exclude BOS.
    fn log_probs(&mut self, prefixes: &[&[u32]], position: usize) -> (Vec<f32>, usize);
    /// Row `i` of the next step continues row `parents[i]` of this one.
    fn reorder(&mut self, parents: &[usize]);
}

/// The Transformer as a [`NextToken`]: cached incremental decoding.
struct CachedDecoder<'a> {
    model: &'a Transformer,
    caches: Vec<crate::model::LayerCache>,
    memory_mask: Tensor<3, burn::tensor::Bool>,
    device: &'a Device,
}

impl NextToken for CachedDecoder<'_> {
    fn log_probs(&mut self, prefixes: &[&[u32]], position: usize) -> (Vec<f32>, usize) {
        let last: Vec<u32> = prefixes
            .iter()
            .map(|prefix| *prefix.last().unwrap_or(&BOS))
            .collect();
        let logits = self.model.decode_step(
            column(&last, self.device),
            position,
            &mut self.caches,
            self.memory_mask.clone(),
        );
        to_rows(log_softmax(logits, 1))
    }

    fn reorder(&mut self, parents: &[usize]) {
        let parents: Vec<i64> = parents.iter().map(|&p| p as i64).collect();
        let count = parents.len();
        let parents = Tensor::<1, Int>::from_data(TensorData::new(parents, [count]), self.device);
        Transformer::reorder_caches(&mut self.caches, parents);
    }
}

/// Beam search over a batch with the Transformer: `B` sentences × `size` hypotheses together.
pub fn beam_search(
    model: &Transformer,
    sources: &[Vec<u32>],
    size: usize,
    alpha: f64,
    max_len: usize,
    device: &Device,
) -> Vec<Vec<u32>> {
    let batch = sources.len();
    let (memory, source) = encode_sources(model, sources, device);
    // Each sentence's memory repeated `size` times: rows b·size … b·size + size − 1.
    let expand: Vec<i64> = (0..batch * size).map(|row| (row / size) as i64).collect();
    let expand = Tensor::<1, Int>::from_data(TensorData::new(expand, [batch * size]), device);
    let mut decoder = CachedDecoder {
        model,
        memory_mask: padding_mask(&source.select(0, expand.clone()), model.pad_id()),
        caches: model.start_decoding(memory.select(0, expand)),
        device,
    };
    let limits: Vec<usize> = sources.iter().map(|s| output_limit(s, max_len)).collect();
    search(&mut decoder, &limits, size, alpha)
}

/// One live hypothesis of a beam.
#[derive(Clone)]
struct Hypothesis {
    tokens: Vec<u32>,
    log_prob: f64,
}

/// Beam search proper, over any [`NextToken`] model; `limits[b]` caps sentence `b`'s output.
///
/// Each step scores every live hypothesis's continuations and keeps, per sentence, the best
/// `2·size` candidates: an EOS among the top `size` of them ends a hypothesis (scored
/// `log P / lp`), the best `size` others stay live (as fairseq does). A sentence is done when
/// `size` hypotheses have ended, or when no live hypothesis can still beat the best ended one
/// (a live log-probability only falls, and its penalty is at most that of the length limit).
pub fn search(
    model: &mut dyn NextToken,
    limits: &[usize],
    size: usize,
    alpha: f64,
) -> Vec<Vec<u32>> {
    let batch = limits.len();
    let mut beams: Vec<Vec<Hypothesis>> = (0..batch)
        .map(|_| {
            // Only the first hypothesis is live at the start, so the first step does not pick the
            // same token `size` times.
            (0..size)
                .map(|k| Hypothesis {
                    tokens: Vec::new(),
                    log_prob: if k == 0 { 0.0 } else { f64::NEG_INFINITY },
                })
                .collect()
        })
        .collect();
    let mut finished: Vec<Vec<(f64, Vec<u32>)>> = vec![Vec::new(); batch];
    let mut done = vec![false; batch];
    let longest = limits.iter().copied().max().unwrap_or(0);

    for position in 0..longest {
        let prefixes: Vec<&[u32]> = beams
            .iter()
            .flat_map(|beam| beam.iter().map(|h| h.tokens.as_slice()))
            .collect();
        let (log_probs, vocab) = model.log_probs(&prefixes, position);
        let mut parents: Vec<usize> = Vec::with_capacity(batch * size);
        for b in 0..batch {
            let beam = &beams[b];
            let mut next: Vec<Hypothesis> = Vec::with_capacity(size);
            let mut next_parents: Vec<usize> = Vec::with_capacity(size);
            if !done[b] {
                // Candidates (score, parent, token), best first; ties broken by index.
                let mut candidates: Vec<(f64, usize, u32)> = Vec::with_capacity(size * vocab);
                for (k, hypothesis) in beam.iter().enumerate() {
                    if hypothesis.log_prob == f64::NEG_INFINITY {
                        continue;
                    }
                    let row = &log_probs[(b * size + k) * vocab..(b * size + k + 1) * vocab];
                    candidates.extend(
                        row.iter()
                            .enumerate()
                            .map(|(v, &lp)| (hypothesis.log_prob + f64::from(lp), k, v as u32)),
                    );
                }
                let keep = (2 * size).min(candidates.len());
                let by_score = |a: &(f64, usize, u32), b: &(f64, usize, u32)| {
                    b.0.total_cmp(&a.0).then((a.1, a.2).cmp(&(b.1, b.2)))
                };
                if keep > 0 && keep < candidates.len() {
                    candidates.select_nth_unstable_by(keep - 1, by_score);
                    candidates.truncate(keep);
                }
                candidates.sort_by(by_score);

                // At the length limit every top candidate ends, EOS or not.
                let at_limit = position + 1 >= limits[b];
                for (rank, &(log_prob, parent, token)) in candidates.iter().enumerate() {
                    if token == EOS || at_limit {
                        if rank < size {
                            let mut tokens = beam[parent].tokens.clone();
                            if token != EOS {
                                tokens.push(token);
                            }
                            // The penalty counts the emitted EOS as part of the output.
                            let length = tokens.len() + 1;
                            finished[b].push((log_prob / length_penalty(length, alpha), tokens));
                        }
                    } else if next.len() < size {
                        let mut tokens = beam[parent].tokens.clone();
                        tokens.push(token);
                        next.push(Hypothesis { tokens, log_prob });
                        next_parents.push(b * size + parent);
                    }
                }
                let best_finished = finished[b]
                    .iter()
                    .map(|f| f.0)
                    .fold(f64::NEG_INFINITY, f64::max);
                let best_live_bound = next
                    .iter()
                    .map(|h| h.log_prob / length_penalty(limits[b] + 1, alpha))
                    .fold(f64::NEG_INFINITY, f64::max);
                done[b] = next.is_empty()
                    || finished[b].len() >= size
                    || best_live_bound <= best_finished;
            }
            if done[b] {
                next.clear();
                next_parents.clear();
            }
            // Keep the row count fixed: pad with dead hypotheses.
            while next.len() < size {
                next.push(Hypothesis {
                    tokens: beam[0].tokens.clone(),
                    log_prob: f64::NEG_INFINITY,
                });
                next_parents.push(b * size);
            }
            parents.extend(next_parents);
            beams[b] = next;
        }
        if done.iter().all(|&d| d) {
            break;
        }
        model.reorder(&parents);
    }

    finished
        .into_iter()
        .zip(beams)
        .map(|(mut ended, beam)| {
            if ended.is_empty() {
                // Nothing ended within the limit: fall back to the best live hypothesis.
                ended.extend(
                    beam.into_iter()
                        .filter(|h| h.log_prob.is_finite())
                        .map(|h| {
                            let length = h.tokens.len() + 1;
                            (h.log_prob / length_penalty(length, alpha), h.tokens)
                        }),
                );
            }
            ended
                .into_iter()
                .max_by(|a, b| a.0.total_cmp(&b.0).then(b.1.cmp(&a.1)))
                .map(|(_, tokens)| tokens)
                .unwrap_or_default()
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A toy model over tokens {0: pad, 1: bos, 2: eos, 3: a, 4: b} whose next-token
    /// distribution depends on the prefix only: greedy takes `a` (0.6) but then faces a flat
    /// distribution, while `b` (0.4) leads to a certain EOS: P(b EOS) = 0.4 > P(a x EOS) ≤ 0.3.
    #[derive(Default)]
    struct Toy {
        rows: usize,
    }

    impl NextToken for Toy {
        fn log_probs(&mut self, prefixes: &[&[u32]], _position: usize) -> (Vec<f32>, usize) {
            self.rows = prefixes.len();
            let vocab = 5;
            let mut out = Vec::new();
            for prefix in prefixes {
                let probs: [f32; 5] = match prefix {
                    [] => [0.0, 0.0, 0.0, 0.6, 0.4],
                    [4] => [0.0, 0.0, 1.0, 0.0, 0.0],
                    [3] => [0.0, 0.0, 0.5, 0.25, 0.25],
                    _ => [0.0, 0.0, 1.0, 0.0, 0.0],
                };
                out.extend(probs.iter().map(|p| p.ln()));
            }
            (out, vocab)
        }
        fn reorder(&mut self, parents: &[usize]) {
            // Caches keep their row count: one parent per row, always.
            assert_eq!(parents.len(), self.rows);
        }
    }

    #[test]
    fn length_penalty_is_gnmts() {
        assert_eq!(length_penalty(1, 0.6), 1.0);
        assert!((length_penalty(7, 0.6) - 2f64.powf(0.6)).abs() < 1e-12);
        assert_eq!(length_penalty(30, 0.0), 1.0);
    }

    #[test]
    fn beam_finds_the_sequence_greedy_misses() {
        // Greedy (beam 1): a (0.6) then EOS (0.5): P = 0.3.
        assert_eq!(search(&mut Toy::default(), &[10], 1, 0.0), vec![vec![3]]);
        // Beam 2 keeps b (0.4) alive and finds b EOS with P = 0.4.
        assert_eq!(search(&mut Toy::default(), &[10], 2, 0.0), vec![vec![4]]);
    }

    #[test]
    fn length_limit_ends_every_hypothesis() {
        // With a limit of one token, the best single token ends the search.
        let output = search(&mut Toy::default(), &[1], 2, 0.6);
        assert_eq!(output[0].len(), 1);
    }

    #[test]
    fn sentences_in_a_batch_are_independent() {
        let together = search(&mut Toy::default(), &[10, 10, 1], 2, 0.6);
        assert_eq!(together[0], search(&mut Toy::default(), &[10], 2, 0.6)[0]);
        assert_eq!(together[2], search(&mut Toy::default(), &[1], 2, 0.6)[0]);
    }
}
