//! Data: the offline parallel corpus, its deterministic splits, and the joint BPE vocabulary.
//!
//! The offline default is the public-domain English→Spanish Bible (King James Version 1769 /
//! Reina-Valera 1909, verse-aligned; provenance in `data/README.md`), embedded in the crate so a
//! reproduction needs no network. Verses are split by a hash of their reference (`GEN.1.1`), so no
//! verse is in two splits and the split does not depend on the corpus order. The paper's own data
//! (WMT 2014) and the usual small benchmarks (Multi30k, IWSLT14) are downloaded on request by
//! [`crate::canonical`].
//!
//! Tokenizer: one BPE vocabulary shared by source and target (§5.1: "a shared source-target
//! vocabulary"), trained with Hugging Face `tokenizers` on the training split only, with
//! SentencePiece-style `▁` word boundaries so decoding gives back detokenized text for BLEU.

use std::io::Read;

use anyhow::Context;
use sha2::{Digest, Sha256};
use tokenizers::models::bpe::{BPE, BpeTrainerBuilder};
use tokenizers::normalizers::unicode::NFC;
use tokenizers::pre_tokenizers::metaspace::Metaspace;
use tokenizers::processors::PostProcessorWrapper;
use tokenizers::{AddedToken, TokenizerBuilder, TokenizerImpl};

/// The embedded corpus: `ref<TAB>english<TAB>spanish` per line, gzip-compressed.
pub const BIBLE_EN_ES_GZ: &[u8] = include_bytes!("../data/bible-en-es.tsv.gz");

/// Reserved token ids, identical in every vocabulary this crate trains.
pub const PAD: u32 = 0;
/// Beginning of a target sequence (the decoder's first input).
pub const BOS: u32 = 1;
/// End of a sequence.
pub const EOS: u32 = 2;
/// Unknown piece (rare with BPE; characters unseen in training).
pub const UNK: u32 = 3;
const SPECIAL_TOKENS: [&str; 4] = ["<pad>", "<s>", "</s>", "<unk>"];

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

/// Train/dev/test splits of a parallel corpus.
#[derive(Debug, Clone)]
pub struct Splits {
    /// Training pairs.
    pub train: Vec<Pair>,
    /// Development pairs (perplexity curves, Table 3's newstest2013 role).
    pub dev: Vec<Pair>,
    /// Test pairs (BLEU, Table 2's newstest2014 role).
    pub test: Vec<Pair>,
}

/// SHA-256 of the embedded corpus, for provenance.
pub fn bible_sha256() -> String {
    format!("{:x}", Sha256::digest(BIBLE_EN_ES_GZ))
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

/// FNV-1a, 64 bit: a fixed, documented hash so that splits never change with a library update.
fn fnv1a(text: &str) -> u64 {
    text.bytes().fold(0xcbf2_9ce4_8422_2325, |hash, byte| {
        (hash ^ u64::from(byte)).wrapping_mul(0x0100_0000_01b3)
    })
}

/// Splits by a hash of each pair's id: `test_percent`% test, `dev_percent`% dev, the rest train.
pub fn split_by_id(pairs: Vec<Pair>, dev_percent: u64, test_percent: u64) -> Splits {
    let mut splits = Splits {
        train: Vec::new(),
        dev: Vec::new(),
        test: Vec::new(),
    };
    for pair in pairs {
        let bucket = fnv1a(&pair.id) % 100;
        if bucket < test_percent {
            splits.test.push(pair);
        } else if bucket < test_percent + dev_percent {
            splits.dev.push(pair);
        } else {
            splits.train.push(pair);
        }
    }
    splits
}

/// Keeps pairs whose both sides have at most `max_words` whitespace-separated words.
pub fn filter_by_words(pairs: Vec<Pair>, max_words: usize) -> Vec<Pair> {
    let words = |text: &str| text.split_whitespace().count();
    pairs
        .into_iter()
        .filter(|pair| words(&pair.source) <= max_words && words(&pair.target) <= max_words)
        .collect()
}

/// The joint BPE tokenizer.
pub type Bpe = TokenizerImpl<BPE, NFC, Metaspace, PostProcessorWrapper, Metaspace>;

/// Trains a joint BPE vocabulary of `vocab_size` pieces on both sides of `pairs`.
pub fn train_bpe(pairs: &[Pair], vocab_size: usize) -> anyhow::Result<Bpe> {
    let special: Vec<AddedToken> = SPECIAL_TOKENS
        .iter()
        .map(|token| AddedToken::from(*token, true))
        .collect();
    let mut trainer = BpeTrainerBuilder::new()
        .vocab_size(vocab_size)
        .min_frequency(2)
        .show_progress(false)
        .special_tokens(special)
        .build();
    let mut tokenizer: Bpe = TokenizerBuilder::new()
        .with_model(BPE::default())
        .with_normalizer(Some(NFC))
        .with_pre_tokenizer(Some(Metaspace::default()))
        .with_post_processor(None)
        .with_decoder(Some(Metaspace::default()))
        .build()
        .map_err(|error| anyhow::anyhow!("building the BPE tokenizer: {error}"))?;
    let sentences = pairs
        .iter()
        .flat_map(|pair| [pair.source.as_str(), pair.target.as_str()]);
    tokenizer
        .train(&mut trainer, sentences)
        .map_err(|error| anyhow::anyhow!("training BPE: {error}"))?;
    for (id, token) in SPECIAL_TOKENS.iter().enumerate() {
        anyhow::ensure!(
            tokenizer.token_to_id(token) == Some(id as u32),
            "special token {token} did not get id {id}"
        );
    }
    Ok(tokenizer)
}

/// Token ids of `text`, without BOS/EOS.
pub fn encode(tokenizer: &Bpe, text: &str) -> anyhow::Result<Vec<u32>> {
    let encoding = tokenizer
        .encode(text, false)
        .map_err(|error| anyhow::anyhow!("encoding {text:?}: {error}"))?;
    Ok(encoding.get_ids().to_vec())
}

/// Text of `ids`, stopping at EOS and skipping special tokens.
pub fn decode(tokenizer: &Bpe, ids: &[u32]) -> anyhow::Result<String> {
    let end = ids.iter().position(|&id| id == EOS).unwrap_or(ids.len());
    tokenizer
        .decode(&ids[..end], true)
        .map_err(|error| anyhow::anyhow!("decoding {ids:?}: {error}"))
}

/// A pair as token ids: source ends with EOS; target is the decoder output (ends with EOS).
#[derive(Debug, Clone, PartialEq)]
pub struct EncodedPair {
    /// Source ids followed by EOS.
    pub source: Vec<u32>,
    /// Target ids followed by EOS (the decoder input is BOS followed by all but the last).
    pub target: Vec<u32>,
}

/// Encodes pairs, truncating each side to `max_tokens` (including EOS).
pub fn encode_pairs(
    tokenizer: &Bpe,
    pairs: &[Pair],
    max_tokens: usize,
) -> anyhow::Result<Vec<EncodedPair>> {
    pairs
        .iter()
        .map(|pair| {
            let mut source = encode(tokenizer, &pair.source)?;
            let mut target = encode(tokenizer, &pair.target)?;
            source.truncate(max_tokens - 1);
            target.truncate(max_tokens - 1);
            source.push(EOS);
            target.push(EOS);
            Ok(EncodedPair { source, target })
        })
        .collect()
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
    fn split_puts_each_verse_in_exactly_one_split() {
        let pairs = bible_en_es().unwrap();
        let total = pairs.len();
        let splits = split_by_id(pairs, 2, 2);
        assert_eq!(
            splits.train.len() + splits.dev.len() + splits.test.len(),
            total
        );
        let mut ids = std::collections::HashSet::new();
        for pair in splits.train.iter().chain(&splits.dev).chain(&splits.test) {
            assert!(ids.insert(pair.id.clone()), "{} in two splits", pair.id);
        }
        // Roughly 2% each, as requested.
        assert!(
            (400..850).contains(&splits.test.len()),
            "{}",
            splits.test.len()
        );
        assert!(
            (400..850).contains(&splits.dev.len()),
            "{}",
            splits.dev.len()
        );
    }

    #[test]
    fn bpe_round_trips_and_reserves_special_ids() {
        let pairs = filter_by_words(bible_en_es().unwrap(), 12);
        let tokenizer = train_bpe(&pairs[..500], 400).unwrap();
        assert_eq!(tokenizer.token_to_id("<pad>"), Some(PAD));
        assert_eq!(tokenizer.token_to_id("</s>"), Some(EOS));
        let text = &pairs[3].source;
        let mut ids = encode(&tokenizer, text).unwrap();
        ids.push(EOS);
        ids.push(7); // anything after EOS is ignored
        assert_eq!(&decode(&tokenizer, &ids).unwrap(), text);
    }
}
