//! The offline corpora the papers share, embedded (gzip) so that a reproduction needs no network.
//! Provenance, licences and checksums: `papers/core/data/README.md`.

use std::io::Read;

use anyhow::Context;
use sha2::{Digest, Sha256};

/// English→Spanish Bible verses (KJV 1769 / Reina-Valera 1909): `ref<TAB>en<TAB>es` per line.
pub const BIBLE_EN_ES_GZ: &[u8] = include_bytes!("../../data/bible-en-es.tsv.gz");
/// The World English Bible with verse references (`ref<TAB>text`), deuterocanon included.
pub const ENGLISH_WEB_REFS_GZ: &[u8] = include_bytes!("../../data/english-web-refs.tsv.gz");
/// The Brown corpus, one sentence per line: `file<TAB>genre<TAB>sentence`.
pub const BROWN_GZ: &[u8] = include_bytes!("../../data/brown.tsv.gz");
/// Rotten Tomatoes snippets (Pang & Lee via VADER): `label<TAB>mean_rating<TAB>text`.
pub const MOVIE_REVIEWS_GZ: &[u8] = include_bytes!("../../data/movie-review-sentences.tsv.gz");

/// The text of an embedded corpus (`name` for the error message).
pub fn text(name: &str, gz: &[u8]) -> anyhow::Result<String> {
    let mut text = String::new();
    flate2::read::GzDecoder::new(gz)
        .read_to_string(&mut text)
        .with_context(|| format!("decompressing the embedded {name} corpus"))?;
    Ok(text)
}

/// The lines of an embedded TSV corpus split into exactly `fields` fields, or an error naming the
/// corpus and line.
pub fn tsv(name: &str, gz: &[u8], fields: usize) -> anyhow::Result<Vec<Vec<String>>> {
    text(name, gz)?
        .lines()
        .enumerate()
        .map(|(number, line)| {
            let row: Vec<String> = line.split('\t').map(str::to_string).collect();
            anyhow::ensure!(
                row.len() == fields,
                "{name} line {}: expected {fields} tab-separated fields, found {}",
                number + 1,
                row.len()
            );
            Ok(row)
        })
        .collect()
}

/// A document of running text: sentences (Brown) or verses (WEB) in order.
#[derive(Debug, Clone, PartialEq)]
pub struct Document {
    /// `brown/ca01`, `web/GEN.1`.
    pub id: String,
    /// Its sentences or verses.
    pub sentences: Vec<String>,
}

/// The embedded English documents in corpus order: the 500 Brown files (~2,000 words each, 15
/// genres), then the World English Bible by chapter, leaving out the books in `exclude_books`
/// (USFM codes) — a paper keeps out the books its downstream tasks are built from.
pub fn documents(exclude_books: &[&str]) -> anyhow::Result<Vec<Document>> {
    let mut documents: Vec<Document> = Vec::new();
    let mut push = |id: String, sentence: &str| match documents.last_mut() {
        Some(last) if last.id == id => last.sentences.push(sentence.to_string()),
        _ => documents.push(Document {
            id,
            sentences: vec![sentence.to_string()],
        }),
    };
    for row in tsv("brown", BROWN_GZ, 3)? {
        push(format!("brown/{}", row[0]), &row[2]);
    }
    for row in tsv("english-web-refs", ENGLISH_WEB_REFS_GZ, 2)? {
        let mut parts = row[0].split('.');
        let (Some(book), Some(chapter)) = (parts.next(), parts.next()) else {
            anyhow::bail!("english-web-refs: malformed reference `{}`", row[0]);
        };
        if !exclude_books.contains(&book) {
            push(format!("web/{book}.{chapter}"), &row[1]);
        }
    }
    Ok(documents)
}

/// SHA-256 (hex) of an embedded corpus's compressed bytes, for provenance.
pub fn sha256(gz: &[u8]) -> String {
    format!("{:x}", Sha256::digest(gz))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_embedded_corpora_are_the_documented_ones() {
        // The checksums of papers/core/data/README.md.
        for (gz, sha) in [
            (
                BIBLE_EN_ES_GZ,
                "939575ea40baf9d9c0ef0ad6f599b9498b78967c2f2d01d545ab5d382e172e2c",
            ),
            (
                ENGLISH_WEB_REFS_GZ,
                "895f6fddb28dc67406217dd0593a2cd6c1b28c4edbabab2904b05cef0745e294",
            ),
            (
                BROWN_GZ,
                "fce0f4f4f5c5e7d5af9cbc24d98f2932710a9b48eb18fb25c1b6c882e39271c6",
            ),
            (
                MOVIE_REVIEWS_GZ,
                "6af5cebeeaf5b88d26342a39094c35a3832ff11b94ec529be296c63969fb3315",
            ),
        ] {
            assert_eq!(sha256(gz), sha);
        }
        assert_eq!(
            tsv("movie reviews", MOVIE_REVIEWS_GZ, 3).unwrap().len(),
            10_568
        );
        assert!(
            tsv("brown", BROWN_GZ, 2)
                .unwrap_err()
                .to_string()
                .contains("brown line 1")
        );
    }
}
