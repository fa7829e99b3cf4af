//! The pre-training data (§3.1, Appendix A.1–A.2): documents, an uncased WordPiece vocabulary,
//! sentence-pair instances for next-sentence prediction, and the masked-LM corruption.
//!
//! Documents: the Brown corpus (a document is one of its 500 files, ~2,000 words each, 15 genres)
//! and the World English Bible (a document is a chapter) without the New Testament, whose verses
//! the paraphrase task ([`crate::tasks`]) is built from, so that no downstream test sentence is
//! seen in pre-training. Documents are split train/dev by a hash of their id; the WordPiece
//! vocabulary is trained on the training documents only.
//!
//! Instances follow Google's `create_pretraining_data.py`: sentences of a document are gathered
//! into a chunk of up to `max_seq_len - 3` tokens, split at a random sentence boundary into A and
//! B; with NSP, half of the B segments are replaced by text from a random other document
//! (NotNext). Masks are drawn per step from (seed, step): the 15 % / 80-10-10 rule of §3.1 applied
//! afresh each time an instance is seen (RoBERTa's "dynamic masking", which the original's
//! duplication factor approximates).

use std::collections::BTreeMap;

use repro_core::data::corpora::{self, BROWN_GZ, ENGLISH_WEB_REFS_GZ};
use repro_core::data::{Splits, Tokenizer, split_by_id};

/// The reserved tokens, in id order (ids 0–4 in every vocabulary this crate trains).
pub const SPECIAL_TOKENS: [&str; 5] = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"];
/// [PAD].
pub const PAD: u32 = 0;
/// [CLS], the first token of every input (its final vector is the pooled representation).
pub const CLS: u32 = 2;
/// [SEP], after each segment.
pub const SEP: u32 = 3;
/// [MASK].
pub const MASK: u32 = 4;

/// Books whose verses make up the paraphrase task and so are kept out of pre-training (the New
/// Testament, USFM codes).
pub const PARAPHRASE_BOOKS: [&str; 27] = [
    "MAT", "MRK", "LUK", "JHN", "ACT", "ROM", "1CO", "2CO", "GAL", "EPH", "PHP", "COL", "1TH",
    "2TH", "1TI", "2TI", "TIT", "PHM", "HEB", "JAS", "1PE", "2PE", "1JN", "2JN", "3JN", "JUD",
    "REV",
];

/// A document: sentences in order (NSP's "next" is the next sentence of the same document).
pub use repro_core::data::corpora::Document;

/// The embedded pre-training documents: Brown files, then WEB chapters outside
/// [`PARAPHRASE_BOOKS`], in corpus order.
pub fn documents() -> anyhow::Result<Vec<Document>> {
    corpora::documents(&PARAPHRASE_BOOKS)
}

/// SHA-256 of the embedded data this crate reads (pre-training corpora and tasks), for provenance.
pub fn dataset_sha256() -> String {
    use sha2::{Digest, Sha256};
    let pinned: String = [
        ("brown", BROWN_GZ),
        ("english-web-refs", ENGLISH_WEB_REFS_GZ),
        ("bible-en-es", corpora::BIBLE_EN_ES_GZ),
        ("movie-review-sentences", corpora::MOVIE_REVIEWS_GZ),
    ]
    .iter()
    .map(|(name, gz)| format!("{} {name}\n", corpora::sha256(gz)))
    .collect();
    format!("{:x}", Sha256::digest(pinned.as_bytes()))
}

/// Documents split train/dev by a hash of their id; at most `max_documents` training ones.
pub fn split_documents(
    documents: Vec<Document>,
    dev_percent: u64,
    max_documents: usize,
) -> Splits<Document> {
    let mut splits = split_by_id(documents, |d| &d.id, dev_percent, 0);
    splits.train.truncate(max_documents);
    splits
}

/// The uncased WordPiece vocabulary of `vocab_size` pieces, trained on `documents`.
pub fn train_tokenizer(documents: &[Document], vocab_size: usize) -> anyhow::Result<Tokenizer> {
    Tokenizer::train_wordpiece(
        documents
            .iter()
            .flat_map(|d| d.sentences.iter().map(String::as_str)),
        vocab_size,
        &SPECIAL_TOKENS,
    )
}

/// A document as token ids, one list per sentence (empty sentences dropped).
pub fn tokenize(tokenizer: &Tokenizer, document: &Document) -> anyhow::Result<Vec<Vec<u32>>> {
    let mut sentences = Vec::with_capacity(document.sentences.len());
    for sentence in &document.sentences {
        let ids = tokenizer.encode(sentence)?;
        if !ids.is_empty() {
            sentences.push(ids);
        }
    }
    Ok(sentences)
}

/// One pre-training input: `[CLS] A [SEP] B [SEP]`.
#[derive(Debug, Clone, PartialEq)]
pub struct Instance {
    /// Token ids.
    pub tokens: Vec<u32>,
    /// Segment ids: 0 for [CLS], A and its [SEP]; 1 for B and its [SEP].
    pub segments: Vec<u32>,
    /// Whether B follows A in the document (the NSP label; always true without NSP).
    pub is_next: bool,
    /// Index of the document A comes from.
    pub document: usize,
}

/// Shortens the longer of two segments until they fit `max_tokens` together, dropping a token
/// from its front or back at random (as Google's `truncate_seq_pair`).
pub fn truncate_pair(
    a: &mut Vec<u32>,
    b: &mut Vec<u32>,
    max_tokens: usize,
    rng: &mut fastrand::Rng,
) {
    while a.len() + b.len() > max_tokens {
        let longer = if a.len() > b.len() { &mut *a } else { &mut *b };
        if rng.bool() {
            longer.remove(0);
        } else {
            longer.pop();
        }
    }
}

/// `[CLS] a [SEP] b [SEP]` with segment ids (`b` empty: `[CLS] a [SEP]`).
pub fn pack(a: &[u32], b: &[u32]) -> (Vec<u32>, Vec<u32>) {
    pack_with(CLS, SEP, a, b)
}

/// [`pack`] with a vocabulary's own [CLS] and [SEP] ids.
pub fn pack_with(cls: u32, sep: u32, a: &[u32], b: &[u32]) -> (Vec<u32>, Vec<u32>) {
    let mut tokens = Vec::with_capacity(a.len() + b.len() + 3);
    tokens.push(cls);
    tokens.extend_from_slice(a);
    tokens.push(sep);
    let mut segments = vec![0; tokens.len()];
    if !b.is_empty() {
        tokens.extend_from_slice(b);
        tokens.push(sep);
        segments.resize(tokens.len(), 1);
    }
    (tokens, segments)
}

/// Sentence-pair instances from tokenized documents (Appendix A.1). With `nsp`, B is the actual
/// next text half of the time and text of another document otherwise; without, always the next.
pub fn make_instances(
    documents: &[Vec<Vec<u32>>],
    max_seq_len: usize,
    nsp: bool,
    seed: u64,
) -> Vec<Instance> {
    let max_tokens = max_seq_len.saturating_sub(3).max(2);
    let mut rng = fastrand::Rng::with_seed(seed);
    let mut instances = Vec::new();
    let non_empty: Vec<usize> = (0..documents.len())
        .filter(|&d| !documents[d].is_empty())
        .collect();
    for (index, document) in documents.iter().enumerate() {
        let mut chunk: Vec<&Vec<u32>> = Vec::new();
        let mut length = 0;
        let mut i = 0;
        while i < document.len() {
            chunk.push(&document[i]);
            length += document[i].len();
            if i + 1 == document.len() || length >= max_tokens {
                // A is the chunk's first sentences, B the rest (IsNext) or text from another
                // document (NotNext). A chunk of one sentence (longer than the budget, or a
                // document's last) is split inside the sentence: Google's script makes such a
                // chunk always NotNext, which at 64 tokens skews the labels and lets the length
                // of A give the label away.
                let random_next = nsp && non_empty.len() > 1 && rng.bool();
                let (mut a, next, a_end): (Vec<u32>, Vec<u32>, usize) = if chunk.len() >= 2 {
                    let a_end = rng.usize(1..chunk.len());
                    let flat =
                        |part: &[&Vec<u32>]| part.iter().flat_map(|s| s.iter().copied()).collect();
                    (flat(&chunk[..a_end]), flat(&chunk[a_end..]), a_end)
                } else {
                    let sentence = chunk[0];
                    let cut = if sentence.len() >= 2 {
                        rng.usize(1..sentence.len())
                    } else {
                        sentence.len()
                    };
                    (sentence[..cut].to_vec(), sentence[cut..].to_vec(), 1)
                };
                let mut b: Vec<u32> = Vec::new();
                if random_next {
                    let target = max_tokens.saturating_sub(a.len()).max(1);
                    let other = loop {
                        let pick = non_empty[rng.usize(..non_empty.len())];
                        if pick != index {
                            break pick;
                        }
                    };
                    let sentences = &documents[other];
                    let start = rng.usize(..sentences.len());
                    for sentence in &sentences[start..] {
                        b.extend_from_slice(sentence);
                        if b.len() >= target {
                            break;
                        }
                    }
                    // The unused sentences of this chunk go back to be used by the next one.
                    i -= chunk.len() - a_end;
                } else {
                    b = next;
                }
                if !b.is_empty() || !nsp {
                    truncate_pair(&mut a, &mut b, max_tokens, &mut rng);
                    let (tokens, segments) = pack(&a, &b);
                    instances.push(Instance {
                        tokens,
                        segments,
                        is_next: !random_next,
                        document: index,
                    });
                }
                chunk.clear();
                length = 0;
            }
            i += 1;
        }
    }
    instances
}

/// An instance corrupted for the masked LM.
#[derive(Debug, Clone, PartialEq)]
pub struct Masked {
    /// The input with the chosen positions replaced.
    pub input: Vec<u32>,
    /// Positions to predict, ascending.
    pub positions: Vec<usize>,
    /// The original tokens there.
    pub labels: Vec<u32>,
}

/// What happened to a selected position (§3.1: 80 % / 10 % / 10 %).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Corruption {
    /// Replaced by [MASK].
    Mask,
    /// Replaced by a random token.
    Random,
    /// Left unchanged.
    Unchanged,
}

/// Selects `round(15 %)` of the non-special tokens (at least one) and corrupts each: [MASK] with
/// probability 0.8, a random non-special token with 0.1, unchanged with 0.1 (§3.1, Appendix A.1).
pub fn mask_tokens(
    tokens: &[u32],
    vocab_size: usize,
    rng: &mut fastrand::Rng,
) -> (Masked, Vec<Corruption>) {
    let mut candidates: Vec<usize> = (0..tokens.len())
        .filter(|&i| tokens[i] as usize >= SPECIAL_TOKENS.len())
        .collect();
    let count = ((tokens.len() as f64 * 0.15).round() as usize)
        .max(1)
        .min(candidates.len());
    rng.shuffle(&mut candidates);
    let mut positions = candidates[..count].to_vec();
    positions.sort_unstable();
    let mut input = tokens.to_vec();
    let mut corruptions = Vec::with_capacity(count);
    for &position in &positions {
        let draw = rng.f64();
        let corruption = if draw < 0.8 {
            input[position] = MASK;
            Corruption::Mask
        } else if draw < 0.9 {
            input[position] = rng.u32(SPECIAL_TOKENS.len() as u32..vocab_size as u32);
            Corruption::Random
        } else {
            Corruption::Unchanged
        };
        corruptions.push(corruption);
    }
    let labels = positions.iter().map(|&p| tokens[p]).collect();
    (
        Masked {
            input,
            positions,
            labels,
        },
        corruptions,
    )
}

/// How many instances of each NSP label (`true` = IsNext).
pub fn label_counts(instances: &[Instance]) -> BTreeMap<bool, usize> {
    let mut counts = BTreeMap::new();
    for instance in instances {
        *counts.entry(instance.is_next).or_insert(0) += 1;
    }
    counts
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `documents` documents of `sentences` sentences; token ids encode (document, sentence).
    fn synthetic(documents: usize, sentences: usize) -> Vec<Vec<Vec<u32>>> {
        (0..documents)
            .map(|d| {
                (0..sentences)
                    .map(|s| vec![(100 + d * 1000 + s) as u32; 3 + (s * 7) % 30])
                    .collect()
            })
            .collect()
    }

    fn document_of(token: u32) -> usize {
        (token as usize - 100) / 1000
    }

    #[test]
    fn masking_selects_15_percent_and_corrupts_80_10_10() {
        let mut rng = fastrand::Rng::with_seed(5);
        let tokens: Vec<u32> = (0..100).map(|i| 5 + i).collect();
        let (mut selected, mut total) = (0usize, 0usize);
        let mut counts = BTreeMap::new();
        for _ in 0..2000 {
            let (masked, corruptions) = mask_tokens(&tokens, 1000, &mut rng);
            total += tokens.len();
            selected += masked.positions.len();
            for (corruption, &position) in corruptions.iter().zip(&masked.positions) {
                *counts.entry(*corruption).or_insert(0usize) += 1;
                match corruption {
                    Corruption::Mask => assert_eq!(masked.input[position], MASK),
                    Corruption::Unchanged => assert_eq!(masked.input[position], tokens[position]),
                    Corruption::Random => assert!(masked.input[position] >= 5),
                }
            }
            assert_eq!(
                masked.labels,
                masked
                    .positions
                    .iter()
                    .map(|&p| tokens[p])
                    .collect::<Vec<_>>()
            );
        }
        assert_eq!(selected as f64 / total as f64, 0.15);
        // 30,000 selections: the binomial standard error of a proportion p is √(p(1−p)/n), so
        // 4.5 standard errors either side (a false alarm about once in 150,000 runs).
        let n = selected as f64;
        for (corruption, p) in [
            (Corruption::Mask, 0.8),
            (Corruption::Random, 0.1),
            (Corruption::Unchanged, 0.1),
        ] {
            let observed = counts[&corruption] as f64 / n;
            let bound = 4.5 * (p * (1.0 - p) / n).sqrt();
            assert!(
                (observed - p).abs() < bound,
                "{corruption:?}: {observed} vs {p} ± {bound}"
            );
        }
    }

    #[test]
    fn special_tokens_are_never_masked() {
        let mut rng = fastrand::Rng::with_seed(1);
        let (tokens, _) = pack(&[10, 11, 12, 13, 14, 15, 16], &[20, 21, 22]);
        for _ in 0..200 {
            let (masked, _) = mask_tokens(&tokens, 50, &mut rng);
            assert!(masked.positions.iter().all(|&p| tokens[p] >= 5));
        }
    }

    #[test]
    fn half_the_pairs_are_next_and_a_next_pair_never_crosses_documents() {
        let documents = synthetic(40, 30);
        let instances = make_instances(&documents, 24, true, 3);
        let counts = label_counts(&instances);
        let share = counts[&true] as f64 / instances.len() as f64;
        // n ≈ 1000 instances: 4.5 standard errors of a fair coin.
        let bound = 4.5 * (0.25 / instances.len() as f64).sqrt();
        assert!(
            (share - 0.5).abs() < bound,
            "IsNext share {share} of {}",
            instances.len()
        );
        for instance in &instances {
            assert!(instance.tokens.len() <= 24);
            assert_eq!(instance.tokens[0], CLS);
            assert_eq!(*instance.tokens.last().unwrap(), SEP);
            let a_docs: Vec<usize> = (0..instance.tokens.len())
                .filter(|&i| instance.segments[i] == 0 && instance.tokens[i] >= 100)
                .map(|i| document_of(instance.tokens[i]))
                .collect();
            let b_docs: Vec<usize> = (0..instance.tokens.len())
                .filter(|&i| instance.segments[i] == 1 && instance.tokens[i] >= 100)
                .map(|i| document_of(instance.tokens[i]))
                .collect();
            assert!(a_docs.iter().all(|&d| d == instance.document));
            assert!(!b_docs.is_empty());
            if instance.is_next {
                assert!(
                    b_docs.iter().all(|&d| d == instance.document),
                    "IsNext across documents"
                );
            } else {
                assert!(
                    b_docs.iter().all(|&d| d != instance.document),
                    "NotNext from its own document"
                );
            }
        }
        // Without NSP every B is the real continuation.
        let contiguous = make_instances(&documents, 24, false, 3);
        assert!(contiguous.iter().all(|i| i.is_next));
    }

    #[test]
    fn the_pre_training_corpus_holds_no_paraphrase_task_verse() {
        let documents = documents().unwrap();
        assert!(documents.iter().any(|d| d.id == "brown/ca01"));
        assert!(documents.iter().any(|d| d.id == "web/GEN.1"));
        assert!(
            !documents
                .iter()
                .any(|d| d.id.starts_with("web/MAT.") || d.id.starts_with("web/REV."))
        );
        assert_eq!(
            documents
                .iter()
                .filter(|d| d.id.starts_with("brown/"))
                .count(),
            500
        );
    }

    #[test]
    fn truncation_keeps_the_pair_within_budget_and_shortens_the_longer_side() {
        let mut rng = fastrand::Rng::with_seed(2);
        let (mut a, mut b) = ((0..10).collect::<Vec<u32>>(), (0..3).collect::<Vec<u32>>());
        truncate_pair(&mut a, &mut b, 8, &mut rng);
        assert_eq!((a.len(), b.len()), (5, 3));
    }
}
