//! Data: the offline parallel corpus, its leak-free splits, the joint BPE vocabulary, and batches.
//!
//! The offline default is the public-domain English→Spanish Bible (King James Version 1769 /
//! Reina-Valera 1909, verse-aligned; provenance in `papers/core/data/README.md`), embedded in `repro_core` so a
//! reproduction needs no network. Verses are split by a hash of their reference (`GEN.1.1`), so no
//! verse is in two splits and the split does not depend on the corpus order; dev and test verses
//! whose English or Spanish side (normalised) also occurs in training are removed, because the
//! Bible repeats formulaic verses ("And the LORD spake unto Moses, saying,") that a model would
//! otherwise be scored on after memorising them. The paper's own data (WMT 2014) and the usual
//! small benchmarks (Multi30k) are downloaded on request by [`crate::canonical`].
//!
//! Tokenizer: one BPE vocabulary shared by source and target (§5.1: "a shared source-target
//! vocabulary"), trained on the training split only, with SentencePiece-style `▁` word
//! boundaries so decoding gives back detokenized text for BLEU.

use std::io::Read;
use std::path::Path;

use anyhow::Context;
use burn::tensor::{Device, Int, Tensor};
use repro_core::data::batch::pad_rows;
use repro_core::data::{SplitSize, Splits, Tokenizer, normalise, remove_near_duplicates, sample};
use sha2::{Digest, Sha256};

use crate::scale::DataConfig;

/// The embedded corpus: `ref<TAB>english<TAB>spanish` per line, gzip-compressed.
pub use repro_core::data::corpora::BIBLE_EN_ES_GZ;

/// Reserved token ids, identical in every vocabulary this crate trains.
pub const PAD: u32 = 0;
/// Beginning of a target sequence (the decoder's first input).
pub const BOS: u32 = 1;
/// End of a sequence.
pub const EOS: u32 = 2;
/// Unknown piece (rare with BPE; characters unseen in training).
pub const UNK: u32 = 3;
/// The reserved tokens, in id order.
pub const SPECIAL_TOKENS: [&str; 4] = ["<pad>", "<s>", "</s>", "<unk>"];

/// A sentence pair with its reference (verse id or line number).
#[derive(Debug, Clone, PartialEq)]
pub struct Pair {
    /// Stable identifier (`GEN.1.1`).
    pub id: String,
    /// Source sentence.
    pub source: String,
    /// Target sentence.
    pub target: String,
}

/// SHA-256 of the embedded corpus, for provenance.
pub fn bible_sha256() -> String {
    format!("{:x}", Sha256::digest(BIBLE_EN_ES_GZ))
}

/// SHA-256 of the data `dataset` stands for: the embedded corpus's, or for a canonical dataset
/// the hash of its pinned files' names and checksums.
pub fn dataset_sha256(dataset: &str) -> String {
    match dataset {
        "bible-en-es" => bible_sha256(),
        name => match crate::canonical::spec(name) {
            Ok(spec) => {
                let pinned: String = spec
                    .files
                    .iter()
                    .map(|file| format!("{} {}\n", file.sha256, file.name))
                    .collect();
                format!("{:x}", Sha256::digest(pinned.as_bytes()))
            }
            Err(_) => "unknown".to_string(),
        },
    }
}

/// Reads the embedded English→Spanish corpus.
pub fn bible_en_es() -> anyhow::Result<Vec<Pair>> {
    let mut text = String::new();
    flate2::read::GzDecoder::new(BIBLE_EN_ES_GZ)
        .read_to_string(&mut text)
        .context("decompressing the embedded bible-en-es corpus")?;
    text.lines()
        .enumerate()
        .map(|(number, line)| {
            let mut fields = line.split('\t');
            match (fields.next(), fields.next(), fields.next()) {
                (Some(id), Some(english), Some(spanish)) => Ok(Pair {
                    id: id.to_string(),
                    source: english.to_string(),
                    target: spanish.to_string(),
                }),
                _ => anyhow::bail!(
                    "bible-en-es line {}: expected 3 tab-separated fields",
                    number + 1
                ),
            }
        })
        .collect()
}

/// The corpus named `dataset`, split into train/dev/test (the embedded corpus by a hash of each
/// verse's reference, `config`'s percentages; a canonical dataset by its own splits).
pub fn load_splits(
    dataset: &str,
    config: &DataConfig,
    cache_dir: &Path,
) -> anyhow::Result<Splits<Pair>> {
    match dataset {
        "bible-en-es" => Ok(repro_core::data::split_by_id(
            bible_en_es()?,
            |pair| &pair.id,
            config.dev_percent,
            config.test_percent,
        )),
        name => {
            let corpus = crate::canonical::load(name, cache_dir)?;
            let to_pairs = |split: Vec<(String, String)>, prefix: &str| -> Vec<Pair> {
                split
                    .into_iter()
                    .enumerate()
                    .map(|(i, (source, target))| Pair {
                        id: format!("{prefix}.{i}"),
                        source,
                        target,
                    })
                    .collect()
            };
            Ok(Splits {
                train: to_pairs(corpus.train, "train"),
                dev: to_pairs(corpus.dev, "dev"),
                test: to_pairs(corpus.test, "test"),
            })
        }
    }
}

/// Keeps pairs whose both sides have at most `max_words` whitespace-separated words.
pub fn filter_by_words(pairs: Vec<Pair>, max_words: usize) -> Vec<Pair> {
    let words = |text: &str| text.split_whitespace().count();
    pairs
        .into_iter()
        .filter(|pair| words(&pair.source) <= max_words && words(&pair.target) <= max_words)
        .collect()
}

/// The pairs a run uses and what each split really held.
#[derive(Debug, Clone)]
pub struct Selected {
    /// The pairs, by split.
    pub splits: Splits<Pair>,
    /// Train, dev and test sizes as used.
    pub sizes: Vec<SplitSize>,
}

/// Filters by length, removes dev/test near-duplicates of training pairs (either side, normalised)
/// and samples each split to its configured size (a fixed shuffle, seed 0: the run's seed varies
/// only initialisation, batch order and dropout).
pub fn select(splits: Splits<Pair>, config: &DataConfig) -> anyhow::Result<Selected> {
    let train = sample(
        filter_by_words(splits.train, config.max_words),
        config.train_pairs,
        0,
    );
    let keys = |pair: &Pair| vec![normalise(&pair.source), normalise(&pair.target)];
    let dev = remove_near_duplicates(
        &train.items,
        filter_by_words(splits.dev, config.max_words),
        keys,
    );
    let test = remove_near_duplicates(
        &train.items,
        filter_by_words(splits.test, config.max_words),
        keys,
    );
    let (dev_removed, test_removed) = (dev.removed, test.removed);
    let dev = sample(dev.items, config.dev_pairs, 0);
    let test = sample(test.items, config.test_pairs, 0);
    let sizes = vec![
        SplitSize::of("train", &train, 0),
        SplitSize::of("dev", &dev, dev_removed),
        SplitSize::of("test", &test, test_removed),
    ];
    anyhow::ensure!(
        sizes.iter().all(|size| size.used > 0),
        "the data left an empty split ({})",
        sizes
            .iter()
            .map(SplitSize::describe)
            .collect::<Vec<_>>()
            .join(", ")
    );
    Ok(Selected {
        splits: Splits {
            train: train.items,
            dev: dev.items,
            test: test.items,
        },
        sizes,
    })
}

/// Trains the joint BPE vocabulary of `vocab_size` pieces on both sides of `pairs`.
pub fn train_bpe(pairs: &[Pair], vocab_size: usize) -> anyhow::Result<Tokenizer> {
    let sentences = pairs
        .iter()
        .flat_map(|pair| [pair.source.as_str(), pair.target.as_str()]);
    Tokenizer::train_bpe(sentences, vocab_size, &SPECIAL_TOKENS)
}

/// Text of `ids`, stopping at EOS and skipping special tokens.
pub fn decode(tokenizer: &Tokenizer, ids: &[u32]) -> anyhow::Result<String> {
    let end = ids.iter().position(|&id| id == EOS).unwrap_or(ids.len());
    tokenizer.decode(&ids[..end])
}

/// A pair as token ids: source ends with EOS; target is the decoder output (ends with EOS).
#[derive(Debug, Clone, PartialEq)]
pub struct EncodedPair {
    /// Source ids followed by EOS.
    pub source: Vec<u32>,
    /// Target ids followed by EOS (the decoder input is BOS followed by all but the last).
    pub target: Vec<u32>,
}

/// `text` as ids truncated to `max_tokens - 1`, followed by EOS.
pub fn encode_sentence(
    tokenizer: &Tokenizer,
    text: &str,
    max_tokens: usize,
) -> anyhow::Result<Vec<u32>> {
    let mut ids = tokenizer.encode(text)?;
    ids.truncate(max_tokens.saturating_sub(1));
    ids.push(EOS);
    Ok(ids)
}

/// Encodes pairs, truncating each side to `max_tokens` (EOS included).
pub fn encode_pairs(
    tokenizer: &Tokenizer,
    pairs: &[Pair],
    max_tokens: usize,
) -> anyhow::Result<Vec<EncodedPair>> {
    pairs
        .iter()
        .map(|pair| {
            Ok(EncodedPair {
                source: encode_sentence(tokenizer, &pair.source, max_tokens)?,
                target: encode_sentence(tokenizer, &pair.target, max_tokens)?,
            })
        })
        .collect()
}

/// A batch as tensors: padded source (B, S), decoder input (B, T) and output (B, T).
pub struct Batch {
    /// Source ids followed by EOS, padded.
    pub source: Tensor<2, Int>,
    /// BOS followed by the target without its last token, padded.
    pub target_input: Tensor<2, Int>,
    /// The target ids followed by EOS, padded.
    pub target_output: Tensor<2, Int>,
}

/// Builds the tensors of a batch of pairs on `device`.
pub fn make_batch(pairs: &[&EncodedPair], device: &Device) -> Batch {
    let sources: Vec<&[u32]> = pairs.iter().map(|pair| pair.source.as_slice()).collect();
    let inputs: Vec<Vec<u32>> = pairs
        .iter()
        .map(|pair| {
            std::iter::once(BOS)
                .chain(pair.target[..pair.target.len() - 1].iter().copied())
                .collect()
        })
        .collect();
    let inputs: Vec<&[u32]> = inputs.iter().map(Vec::as_slice).collect();
    let outputs: Vec<&[u32]> = pairs.iter().map(|pair| pair.target.as_slice()).collect();
    Batch {
        source: pad_rows(&sources, PAD, device),
        target_input: pad_rows(&inputs, PAD, device),
        target_output: pad_rows(&outputs, PAD, device),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn embedded_corpus_matches_its_provenance() {
        // The sha256 published in data/README.md for the file copied from shared/data.
        assert_eq!(
            bible_sha256(),
            "939575ea40baf9d9c0ef0ad6f599b9498b78967c2f2d01d545ab5d382e172e2c"
        );
        let pairs = bible_en_es().unwrap();
        assert_eq!(pairs.len(), 30_787);
        assert_eq!(pairs[0].id, "GEN.1.1");
        assert!(pairs[0].source.starts_with("In the beginning"));
    }

    #[test]
    fn the_bible_splits_hold_no_verse_twice_and_no_copy_of_a_training_verse() {
        let config = DataConfig {
            dev_percent: 4,
            test_percent: 4,
            max_words: 16,
            train_pairs: 100_000,
            dev_pairs: 100_000,
            test_pairs: 100_000,
            vocab_size: 100,
            max_tokens: 32,
        };
        let splits = load_splits("bible-en-es", &config, Path::new("/nonexistent")).unwrap();
        let selected = select(splits, &config).unwrap();
        let mut ids = std::collections::HashSet::new();
        let all = &selected.splits;
        for pair in all.train.iter().chain(&all.dev).chain(&all.test) {
            assert!(ids.insert(pair.id.clone()), "{} in two splits", pair.id);
        }
        let seen: std::collections::HashSet<String> =
            all.train.iter().map(|p| normalise(&p.source)).collect();
        assert!(
            all.test
                .iter()
                .all(|p| !seen.contains(&normalise(&p.source)))
        );
        // The formulaic verses are there to be found: the removal counts them.
        let [train, dev, test] = [&selected.sizes[0], &selected.sizes[1], &selected.sizes[2]];
        assert_eq!(train.used, 6109);
        assert!(dev.duplicates_removed > 0 && test.duplicates_removed > 0);
        assert_eq!(dev.used + dev.duplicates_removed, 220);
        assert_eq!(test.used + test.duplicates_removed, 291);
    }

    #[test]
    fn bpe_round_trips_and_reserves_special_ids() {
        let pairs = filter_by_words(bible_en_es().unwrap(), 12);
        let tokenizer = train_bpe(&pairs[..500], 400).unwrap();
        assert_eq!(tokenizer.token_to_id("<pad>"), Some(PAD));
        assert_eq!(tokenizer.token_to_id("</s>"), Some(EOS));
        let text = &pairs[3].source;
        let mut ids = tokenizer.encode(text).unwrap();
        ids.push(EOS);
        ids.push(7); // anything after EOS is ignored
        assert_eq!(&decode(&tokenizer, &ids).unwrap(), text);
    }
}
