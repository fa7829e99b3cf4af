//! Tokenizers trained with Hugging Face `tokenizers` on a run's training split, saved beside its
//! checkpoints (the library's own JSON format), with reserved special ids checked.

use tokenizers::decoders::wordpiece::WordPiece as WordPieceDecoder;
use tokenizers::models::bpe::{BPE, BpeTrainerBuilder};
use tokenizers::models::wordpiece::{WordPiece, WordPieceTrainer};
use tokenizers::normalizers::bert::BertNormalizer;
use tokenizers::normalizers::unicode::NFC;
use tokenizers::pre_tokenizers::bert::BertPreTokenizer;
use tokenizers::pre_tokenizers::byte_level::ByteLevel;
use tokenizers::pre_tokenizers::metaspace::Metaspace;
use tokenizers::processors::PostProcessorWrapper;
use tokenizers::{AddedToken, TokenizerBuilder, TokenizerImpl};

/// A trained tokenizer.
#[derive(Clone)]
pub struct Tokenizer {
    inner: tokenizers::Tokenizer,
}

impl std::fmt::Debug for Tokenizer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Tokenizer({} pieces)", self.vocab_size())
    }
}

fn error(context: &str, error: impl std::fmt::Display) -> anyhow::Error {
    anyhow::anyhow!("{context}: {error}")
}

impl Tokenizer {
    /// A BPE vocabulary of `vocab_size` pieces (merges of pairs seen at least twice) trained on
    /// `texts`, with SentencePiece-style `▁` word boundaries so that decoding gives back
    /// detokenized text, NFC-normalised. `special[i]` gets id `i`.
    pub fn train_bpe<'a>(
        texts: impl Iterator<Item = &'a str> + Send,
        vocab_size: usize,
        special: &[&str],
    ) -> anyhow::Result<Self> {
        let tokens: Vec<AddedToken> = special
            .iter()
            .map(|token| AddedToken::from(*token, true))
            .collect();
        let mut trainer = BpeTrainerBuilder::new()
            .vocab_size(vocab_size)
            .min_frequency(2)
            .show_progress(false)
            .special_tokens(tokens)
            .build();
        let mut tokenizer: TokenizerImpl<BPE, NFC, Metaspace, PostProcessorWrapper, Metaspace> =
            TokenizerBuilder::new()
                .with_model(BPE::default())
                .with_normalizer(Some(NFC))
                .with_pre_tokenizer(Some(Metaspace::default()))
                .with_post_processor(None)
                .with_decoder(Some(Metaspace::default()))
                .build()
                .map_err(|e| error("building the BPE tokenizer", e))?;
        tokenizer
            .train(&mut trainer, texts)
            .map_err(|e| error("training BPE", e))?;
        let trained = Self {
            inner: tokenizers::Tokenizer::from(tokenizer),
        };
        trained.ensure_reserved(special)?;
        Ok(trained)
    }

    /// A byte-level BPE vocabulary of `vocab_size` pieces trained on `texts`, as GPT-2's
    /// (GPT-2 §2.2; GPT-3 §2.1 reuses it): the 256 bytes are the initial alphabet, so any text
    /// encodes without an unknown token; GPT-2's pre-tokenising regex with a space kept in front
    /// of a word (`Ġword`), no prefix space added, and decoding gives back the exact text.
    /// `special[i]` gets id `i`.
    pub fn train_byte_level_bpe<'a>(
        texts: impl Iterator<Item = &'a str> + Send,
        vocab_size: usize,
        special: &[&str],
    ) -> anyhow::Result<Self> {
        let tokens: Vec<AddedToken> = special
            .iter()
            .map(|token| AddedToken::from(*token, true))
            .collect();
        let mut trainer = BpeTrainerBuilder::new()
            .vocab_size(vocab_size)
            .min_frequency(2)
            .show_progress(false)
            .special_tokens(tokens)
            .initial_alphabet(ByteLevel::alphabet().into_iter().collect())
            .build();
        let byte_level = ByteLevel::new(false, true, true);
        let mut tokenizer: TokenizerImpl<BPE, NFC, ByteLevel, PostProcessorWrapper, ByteLevel> =
            TokenizerBuilder::new()
                .with_model(BPE::default())
                .with_normalizer(None)
                .with_pre_tokenizer(Some(byte_level))
                .with_post_processor(None)
                .with_decoder(Some(byte_level))
                .build()
                .map_err(|e| error("building the byte-level BPE tokenizer", e))?;
        tokenizer
            .train(&mut trainer, texts)
            .map_err(|e| error("training byte-level BPE", e))?;
        let trained = Self {
            inner: tokenizers::Tokenizer::from(tokenizer),
        };
        trained.ensure_reserved(special)?;
        Ok(trained)
    }

    /// An uncased WordPiece vocabulary of `vocab_size` pieces trained on `texts`, as BERT's
    /// (§3: "WordPiece embeddings … with a 30,000 token vocabulary"): BERT's normaliser
    /// (lowercase, accents stripped, control characters removed), BERT's pre-tokeniser (whitespace
    /// and punctuation), `##` continuation pieces. `special[i]` gets id `i`.
    pub fn train_wordpiece<'a>(
        texts: impl Iterator<Item = &'a str> + Send,
        vocab_size: usize,
        special: &[&str],
    ) -> anyhow::Result<Self> {
        let tokens: Vec<AddedToken> = special
            .iter()
            .map(|token| AddedToken::from(*token, true))
            .collect();
        let mut trainer = WordPieceTrainer::builder()
            .vocab_size(vocab_size)
            .min_frequency(2)
            .show_progress(false)
            .special_tokens(tokens)
            .build();
        let mut tokenizer: TokenizerImpl<
            WordPiece,
            BertNormalizer,
            BertPreTokenizer,
            PostProcessorWrapper,
            WordPieceDecoder,
        > = TokenizerBuilder::new()
            .with_model(WordPiece::default())
            .with_normalizer(Some(BertNormalizer::new(true, true, None, true)))
            .with_pre_tokenizer(Some(BertPreTokenizer))
            .with_post_processor(None)
            .with_decoder(Some(WordPieceDecoder::default()))
            .build()
            .map_err(|e| error("building the WordPiece tokenizer", e))?;
        tokenizer
            .train(&mut trainer, texts)
            .map_err(|e| error("training WordPiece", e))?;
        // The trainer numbers its initial alphabet in hash-map order, which changes from run to
        // run; WordPiece looks pieces up by text, so renumbering them in a fixed order (special
        // tokens first, then by text) tokenizes identically and makes the ids deterministic.
        let json = tokenizers::Tokenizer::from(tokenizer)
            .to_string(false)
            .map_err(|e| error("serialising the WordPiece tokenizer", e))?;
        let mut value: serde_json::Value = serde_json::from_str(&json)?;
        let vocab = value["model"]["vocab"]
            .as_object()
            .ok_or_else(|| anyhow::anyhow!("the trained WordPiece tokenizer has no vocabulary"))?;
        let mut pieces: Vec<String> = vocab.keys().cloned().collect();
        pieces.sort_by_key(|piece| {
            let special = special
                .iter()
                .position(|s| s == piece)
                .unwrap_or(special.len());
            (special, piece.clone())
        });
        value["model"]["vocab"] = serde_json::Value::Object(
            pieces
                .into_iter()
                .enumerate()
                .map(|(id, piece)| (piece, serde_json::Value::from(id)))
                .collect(),
        );
        let trained = Self::from_json(&value.to_string())?;
        trained.ensure_reserved(special)?;
        Ok(trained)
    }

    /// Reads a tokenizer saved with [`Tokenizer::to_json`] (or any `tokenizer.json`). Padding
    /// and truncation stored in the file are switched off: callers pad and truncate themselves.
    pub fn from_json(json: &str) -> anyhow::Result<Self> {
        let mut inner = json
            .parse::<tokenizers::Tokenizer>()
            .map_err(|e| error("reading tokenizer.json", e))?;
        inner.with_padding(None);
        inner
            .with_truncation(None)
            .map_err(|e| error("switching truncation off", e))?;
        Ok(Self { inner })
    }

    /// A BERT WordPiece tokenizer from a `vocab.txt` (one piece per line, ids by line), with
    /// BERT's normaliser (lower-casing and accent stripping when `lowercase`, as uncased
    /// checkpoints) and pre-tokeniser, for checkpoints that ship no `tokenizer.json`.
    pub fn from_bert_vocab(path: &std::path::Path, lowercase: bool) -> anyhow::Result<Self> {
        let file = path.to_string_lossy().to_string();
        let model = WordPiece::from_file(&file)
            .build()
            .map_err(|e| error(&format!("reading {file}"), e))?;
        let mut inner = tokenizers::Tokenizer::new(model);
        // Cased checkpoints keep case and accents; uncased ones strip accents with the case.
        inner.with_normalizer(Some(BertNormalizer::new(
            true,
            true,
            Some(lowercase),
            lowercase,
        )));
        inner.with_pre_tokenizer(Some(BertPreTokenizer));
        inner.with_decoder(Some(WordPieceDecoder::default()));
        Ok(Self { inner })
    }

    /// The tokenizer in Hugging Face's `tokenizer.json` format.
    pub fn to_json(&self) -> anyhow::Result<String> {
        self.inner
            .to_string(false)
            .map_err(|e| error("serialising the tokenizer", e))
    }

    /// Fails unless `special[i]` has id `i` (models hard-code padding, BOS, EOS … by id).
    pub fn ensure_reserved(&self, special: &[&str]) -> anyhow::Result<()> {
        for (id, token) in special.iter().enumerate() {
            let found = self.inner.token_to_id(token);
            anyhow::ensure!(
                found == Some(id as u32),
                "special token {token} has id {found:?}, expected {id}"
            );
        }
        Ok(())
    }

    /// Pieces in the vocabulary, special tokens included.
    pub fn vocab_size(&self) -> usize {
        self.inner.get_vocab_size(true)
    }

    /// The id of `token`, if it is in the vocabulary.
    pub fn token_to_id(&self, token: &str) -> Option<u32> {
        self.inner.token_to_id(token)
    }

    /// Token ids of `text`, without special tokens added.
    pub fn encode(&self, text: &str) -> anyhow::Result<Vec<u32>> {
        let encoding = self
            .inner
            .encode(text, false)
            .map_err(|e| error(&format!("encoding {text:?}"), e))?;
        Ok(encoding.get_ids().to_vec())
    }

    /// Text of `ids`, special tokens skipped.
    pub fn decode(&self, ids: &[u32]) -> anyhow::Result<String> {
        self.inner
            .decode(ids, true)
            .map_err(|e| error(&format!("decoding {ids:?}"), e))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const TEXT: [&str; 4] = [
        "In the beginning God created the heaven and the earth.",
        "And the earth was without form, and void.",
        "And God said, Let there be light: and there was light.",
        "And God saw the light, that it was good.",
    ];

    #[test]
    fn bpe_round_trips_reserves_special_ids_and_survives_json() {
        let special = ["<pad>", "<s>", "</s>", "<unk>"];
        let tokenizer = Tokenizer::train_bpe(TEXT.iter().copied(), 120, &special).unwrap();
        assert_eq!(tokenizer.token_to_id("<pad>"), Some(0));
        assert_eq!(tokenizer.token_to_id("</s>"), Some(2));
        let ids = tokenizer.encode(TEXT[2]).unwrap();
        assert_eq!(tokenizer.decode(&ids).unwrap(), TEXT[2]);
        let again = Tokenizer::from_json(&tokenizer.to_json().unwrap()).unwrap();
        assert_eq!(
            again.encode(TEXT[3]).unwrap(),
            tokenizer.encode(TEXT[3]).unwrap()
        );
        assert_eq!(again.vocab_size(), tokenizer.vocab_size());
        assert!(tokenizer.ensure_reserved(&["</s>"]).is_err());
        assert!(Tokenizer::from_json("{not json").is_err());
    }

    #[test]
    fn byte_level_bpe_encodes_any_text_exactly_and_trains_deterministically() {
        let special = ["<|endoftext|>"];
        let texts: Vec<String> = (0..10)
            .flat_map(|_| TEXT.iter().map(|t| t.to_string()))
            .collect();
        let train = || {
            Tokenizer::train_byte_level_bpe(texts.iter().map(String::as_str), 300, &special)
                .unwrap()
        };
        let tokenizer = train();
        assert_eq!(tokenizer.token_to_id("<|endoftext|>"), Some(0));
        // Bytes never seen in training, newlines and leading spaces all survive.
        for text in [
            "Q: What is 48 minus 76?\nA: -28",
            "  naïve → ✓\n\n",
            " the earth",
        ] {
            let ids = tokenizer.encode(text).unwrap();
            assert_eq!(tokenizer.decode(&ids).unwrap(), text);
        }
        // A frequent word with its leading space is one piece.
        assert_eq!(tokenizer.encode(" earth").unwrap().len(), 1);
        assert_eq!(tokenizer.to_json().unwrap(), train().to_json().unwrap());
    }

    #[test]
    fn wordpiece_is_uncased_splits_words_into_pieces_and_round_trips() {
        let special = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"];
        let texts: Vec<String> = (0..20)
            .flat_map(|_| TEXT.iter().map(|t| t.to_string()))
            .collect();
        let tokenizer =
            Tokenizer::train_wordpiece(texts.iter().map(String::as_str), 200, &special).unwrap();
        assert_eq!(tokenizer.token_to_id("[MASK]"), Some(4));
        // Uncased: case does not change the ids.
        assert_eq!(
            tokenizer.encode("AND GOD SAW").unwrap(),
            tokenizer.encode("and god saw").unwrap()
        );
        let ids = tokenizer.encode(TEXT[3]).unwrap();
        assert_eq!(
            tokenizer.decode(&ids).unwrap(),
            "and god saw the light, that it was good."
        );
        // A word never seen whole is spelled in `##` pieces, not mapped to [UNK].
        let ids = tokenizer.encode("lightearth").unwrap();
        assert!(ids.len() > 1 && !ids.contains(&1), "{ids:?}");
        let again = Tokenizer::from_json(&tokenizer.to_json().unwrap()).unwrap();
        assert_eq!(
            again.encode(TEXT[0]).unwrap(),
            tokenizer.encode(TEXT[0]).unwrap()
        );
    }
}
