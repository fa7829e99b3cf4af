//! The canonical data, downloaded on request into the SHA-256-verified cache of
//! [`repro_core::data::download`]:
//!
//! | `--data`        | replaces                      | files                                                    |
//! |-----------------|-------------------------------|----------------------------------------------------------|
//! | `wikitext-103`  | the pre-training documents    | `wikitext-103-raw-v1.zip` (Merity et al. 2016), 28,475 Wikipedia articles |
//! | `glue`          | the two fine-tuning tasks     | GLUE SST-2 (`SST-2.zip`) and MRPC (`msr_paraphrase_{train,test}.txt`, `mrpc_dev_ids.tsv`) |
//!
//! Pins (URL, size, SHA-256) agree between Hugging Face `datasets`' legacy `dataset_infos.json`
//! (commit d7dfbc83) and TensorFlow Datasets' `url_checksums/glue.txt`; WikiText's also with
//! LanguageModelingDatasets.jl. GLUE's test labels are not public, so here SST-2's test split is
//! GLUE's dev set and dev is 872 long phrases of its training file (as many as GLUE's dev),
//! with every training phrase that overlaps one of them removed ([`sst2_dev_split`]); MRPC keeps
//! GLUE's train/dev split (`mrpc_dev_ids.tsv`) and its labelled test file.

use std::io::Read;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use repro_core::data::download::{RemoteFile, fetch_from};
use repro_core::data::split::fnv1a;

use crate::corpus::Document;
use crate::tasks::Example;

/// The dataset names `--data` accepts besides the offline default.
pub const NAMES: &[&str] = &["wikitext-103", "glue"];

/// WikiText-103, raw (not `<unk>`-replaced) text.
pub const WIKITEXT_103: RemoteFile = RemoteFile {
    name: "wikitext-103-raw-v1.zip",
    url: "https://wikitext.smerity.com/wikitext-103-raw-v1.zip",
    sha256: "91c00ae287f0d699e18605c84afc9e45c192bc6b7797ff8837e5474655a33794",
    size: Some(191_984_949),
};

/// GLUE SST-2.
pub const SST2: RemoteFile = RemoteFile {
    name: "SST-2.zip",
    url: "https://dl.fbaipublicfiles.com/glue/data/SST-2.zip",
    sha256: "d67e16fb55739c1b32cdce9877596db1c127dc322d93c082281f64057c16deaa",
    size: Some(7_439_277),
};

/// MRPC training file (GLUE's train + dev).
pub const MRPC_TRAIN: RemoteFile = RemoteFile {
    name: "msr_paraphrase_train.txt",
    url: "https://dl.fbaipublicfiles.com/senteval/senteval_data/msr_paraphrase_train.txt",
    sha256: "60a9b09084528f0673eedee2b69cb941920f0b8cd0eeccefc464a98768457f89",
    size: Some(1_047_044),
};

/// MRPC test file (labelled).
pub const MRPC_TEST: RemoteFile = RemoteFile {
    name: "msr_paraphrase_test.txt",
    url: "https://dl.fbaipublicfiles.com/senteval/senteval_data/msr_paraphrase_test.txt",
    sha256: "a04e271090879aaba6423d65b94950c089298587d9c084bf9cd7439bd785f784",
    size: Some(441_275),
};

/// The pairs of the training file that GLUE uses as MRPC's dev set.
pub const MRPC_DEV_IDS: RemoteFile = RemoteFile {
    name: "mrpc_dev_ids.tsv",
    url: "https://dl.fbaipublicfiles.com/glue/data/mrpc_dev_ids.tsv",
    sha256: "971d7767d81b997fd9060ade0ec23c4fc31cbb226a55d1bd4a1bac474eb81dc7",
    size: Some(6_222),
};

/// The pinned files of dataset `name`.
pub fn files(name: &str) -> Result<Vec<RemoteFile>> {
    match name {
        "wikitext-103" => Ok(vec![WIKITEXT_103]),
        "glue" => Ok(vec![SST2, MRPC_TRAIN, MRPC_TEST, MRPC_DEV_IDS]),
        other => bail!(
            "unknown dataset `{other}`: bert's are {}, and the offline default {}",
            NAMES.join(", "),
            crate::DEFAULT_DATASET
        ),
    }
}

fn fetch(
    file: &RemoteFile,
    cache: &Path,
    dataset: &str,
    base_url: Option<&str>,
) -> Result<PathBuf> {
    fetch_from(file, &cache.join(dataset), base_url)
        .with_context(|| format!("fetching {} for dataset {dataset}", file.name))
}

/// One member of a zip archive as text.
pub fn zip_member(archive: &Path, member: &str) -> Result<String> {
    let file =
        std::fs::File::open(archive).with_context(|| format!("opening {}", archive.display()))?;
    let mut zip = zip::ZipArchive::new(file)
        .with_context(|| format!("{} is not a zip archive", archive.display()))?;
    let mut entry = zip
        .by_name(member)
        .with_context(|| format!("{} has no member {member}", archive.display()))?;
    let mut text = String::new();
    entry
        .read_to_string(&mut text)
        .with_context(|| format!("reading {member} in {}", archive.display()))?;
    Ok(text)
}

/// Articles of a WikiText file: a line ` = Title = ` between blank lines starts one; section
/// headings (` = = … = = `) stay inside it. Paragraph lines are the sentences.
pub fn wikitext_articles(text: &str, prefix: &str) -> Vec<Document> {
    let lines: Vec<&str> = text.lines().collect();
    let is_title = |i: usize| {
        let line = lines[i].trim();
        line.starts_with("= ")
            && line.ends_with(" =")
            && !line.starts_with("= =")
            && (i == 0 || lines[i - 1].trim().is_empty())
            && lines.get(i + 1).is_none_or(|next| next.trim().is_empty())
    };
    let mut documents: Vec<Document> = Vec::new();
    for (i, line) in lines.iter().enumerate() {
        let trimmed = line.trim();
        if is_title(i) {
            let title = trimmed.trim_matches('=').trim();
            documents.push(Document {
                id: format!("{prefix}/{title}"),
                sentences: Vec::new(),
            });
        } else if !trimmed.is_empty()
            && !trimmed.starts_with("= ")
            && let Some(document) = documents.last_mut()
        {
            document.sentences.push(trimmed.to_string());
        }
    }
    documents.retain(|d| !d.sentences.is_empty());
    documents
}

/// WikiText-103's training articles (the pre-training documents of `--data wikitext-103`).
pub fn wikitext_103(cache: &Path, base_url: Option<&str>) -> Result<Vec<Document>> {
    let archive = fetch(&WIKITEXT_103, cache, "wikitext-103", base_url)?;
    let text = zip_member(&archive, "wikitext-103-raw/wiki.train.raw")?;
    Ok(wikitext_articles(&text, "wikitext-103"))
}

/// SST-2's `sentence<TAB>label` rows after the header.
pub fn sst2_rows(text: &str, file: &str) -> Result<Vec<Example>> {
    let mut rows = text.lines();
    match rows.next() {
        Some(header) if header.trim_end() == "sentence\tlabel" => {}
        other => bail!("{file}: expected the header `sentence<TAB>label`, found {other:?}"),
    }
    rows.enumerate()
        .filter(|(_, line)| !line.trim().is_empty())
        .map(|(i, line)| {
            let Some((sentence, label)) = line.rsplit_once('\t') else {
                bail!("{file} line {}: no tab", i + 2)
            };
            let label = match label.trim() {
                "0" => 0,
                "1" => 1,
                other => bail!("{file} line {}: label `{other}` is neither 0 nor 1", i + 2),
            };
            Ok(Example {
                id: format!("sst2-{file}-{}", i + 2),
                text_a: sentence.trim().to_string(),
                text_b: None,
                label,
            })
        })
        .collect()
}

/// SST-2 as (train, dev, test): dev carved from the training file ([`sst2_dev_split`]), test
/// GLUE's dev.
pub fn sst2(
    cache: &Path,
    base_url: Option<&str>,
) -> Result<(Vec<Example>, Vec<Example>, Vec<Example>)> {
    let archive = fetch(&SST2, cache, "glue", base_url)?;
    let train = sst2_rows(&zip_member(&archive, "SST-2/train.tsv")?, "train.tsv")?;
    let test = sst2_rows(&zip_member(&archive, "SST-2/dev.tsv")?, "dev.tsv")?;
    let (train, dev) = sst2_dev_split(train, SST2_DEV_SIZE);
    Ok((train, dev, test))
}

/// Dev examples carved from SST-2's training file: as many as GLUE's dev set.
const SST2_DEV_SIZE: usize = 872;

/// Shortest dev phrase, in words: a short phrase ("a gem") would take every training phrase
/// that contains it out of training.
const SST2_DEV_MIN_WORDS: usize = 8;

/// Splits SST-2's training file into (train, dev) without shared phrases. The file holds every
/// phrase of each parsed sentence ("a gorgeous , witty , seductive movie ." and "witty"), so a
/// dev set drawn by hash alone would be scored on sub-phrases of training examples and choose
/// hyper-parameters on leaked data. Dev is the `size` phrases of at least
/// [`SST2_DEV_MIN_WORDS`] words with the lowest hash, none inside another; every training phrase
/// contained in a dev phrase or containing one (on word boundaries) leaves training.
pub fn sst2_dev_split(phrases: Vec<Example>, size: usize) -> (Vec<Example>, Vec<Example>) {
    let padded = |e: &Example| format!(" {} ", e.text_a);
    let mut candidates: Vec<(u64, usize)> = phrases
        .iter()
        .enumerate()
        .filter(|(_, e)| e.text_a.split_whitespace().count() >= SST2_DEV_MIN_WORDS)
        .map(|(i, e)| (fnv1a(&e.text_a), i))
        .collect();
    candidates.sort_unstable();
    // Two long spans of one sentence nest; keep the first (by hash) of any nested pair so that
    // dev holds `size` distinct contexts.
    let overlap = |a: &str, b: &str| a.contains(b) || b.contains(a);
    let mut dev_index = std::collections::HashSet::new();
    let mut dev_text: Vec<String> = Vec::new();
    for &(_, i) in &candidates {
        if dev_text.len() == size {
            break;
        }
        let text = padded(&phrases[i]);
        if !dev_text.iter().any(|d| overlap(d, &text)) {
            dev_index.insert(i);
            dev_text.push(text);
        }
    }
    let mut train = Vec::new();
    let mut dev = Vec::new();
    for (i, example) in phrases.into_iter().enumerate() {
        if dev_index.contains(&i) {
            dev.push(example);
            continue;
        }
        let text = padded(&example);
        let overlaps = dev_text.iter().any(|d| {
            if text.len() <= d.len() {
                d.contains(&text)
            } else {
                text.contains(d.as_str())
            }
        });
        if !overlaps {
            train.push(example);
        }
    }
    (train, dev)
}

/// MRPC's `Quality<TAB>#1 ID<TAB>#2 ID<TAB>#1 String<TAB>#2 String` rows (BOM and header skipped).
pub fn mrpc_rows(text: &str, file: &str) -> Result<Vec<(String, Example)>> {
    let text = text.trim_start_matches('\u{feff}');
    let mut rows = text.lines();
    match rows.next() {
        Some(header) if header.starts_with("Quality\t") => {}
        other => bail!("{file}: expected the header `Quality<TAB>#1 ID…`, found {other:?}"),
    }
    rows.enumerate()
        .filter(|(_, line)| !line.trim().is_empty())
        .map(|(i, line)| {
            let fields: Vec<&str> = line.trim_end_matches('\r').split('\t').collect();
            anyhow::ensure!(
                fields.len() == 5,
                "{file} line {}: expected 5 tab-separated fields",
                i + 2
            );
            let label = match fields[0] {
                "0" => 0,
                "1" => 1,
                other => bail!(
                    "{file} line {}: quality `{other}` is neither 0 nor 1",
                    i + 2
                ),
            };
            let pair = format!("{}\t{}", fields[1], fields[2]);
            Ok((
                pair.clone(),
                Example {
                    id: format!("mrpc-{pair}"),
                    text_a: fields[3].to_string(),
                    text_b: Some(fields[4].to_string()),
                    label,
                },
            ))
        })
        .collect()
}

/// MRPC as (train, dev, test), GLUE's split.
pub fn mrpc(
    cache: &Path,
    base_url: Option<&str>,
) -> Result<(Vec<Example>, Vec<Example>, Vec<Example>)> {
    let read = |file: &RemoteFile| -> Result<String> {
        let path = fetch(file, cache, "glue", base_url)?;
        std::fs::read_to_string(&path).with_context(|| format!("reading {}", path.display()))
    };
    let dev_ids: std::collections::HashSet<String> = read(&MRPC_DEV_IDS)?
        .lines()
        .map(|l| l.trim_end_matches('\r').to_string())
        .filter(|l| !l.is_empty())
        .collect();
    let (dev, train): (Vec<_>, Vec<_>) = mrpc_rows(&read(&MRPC_TRAIN)?, MRPC_TRAIN.name)?
        .into_iter()
        .partition(|(pair, _)| dev_ids.contains(pair));
    let test = mrpc_rows(&read(&MRPC_TEST)?, MRPC_TEST.name)?;
    let strip = |rows: Vec<(String, Example)>| rows.into_iter().map(|(_, e)| e).collect();
    Ok((strip(train), strip(dev), strip(test)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wikitext_articles_start_at_titles_and_keep_their_sections() {
        let text = " \n = Valkyria Chronicles III = \n \n Senjō no Valkyria 3 is a game . \n \n = = Gameplay = = \n \n It is played . \n \n = Tower Building = \n \n The tower is tall . \n";
        let articles = wikitext_articles(text, "wt");
        assert_eq!(articles.len(), 2);
        assert_eq!(articles[0].id, "wt/Valkyria Chronicles III");
        assert_eq!(
            articles[0].sentences,
            vec!["Senjō no Valkyria 3 is a game .", "It is played ."]
        );
        assert_eq!(articles[1].sentences, vec!["The tower is tall ."]);
    }

    #[test]
    fn glue_files_parse_and_bad_rows_are_named() {
        let rows = sst2_rows(
            "sentence\tlabel\nhide new secretions \t0\na gem \t1\n",
            "train.tsv",
        )
        .unwrap();
        assert_eq!(
            (rows[0].text_a.as_str(), rows[0].label, rows[1].label),
            ("hide new secretions", 0, 1)
        );
        let error = sst2_rows("sentence\tlabel\nno label here\n", "train.tsv")
            .unwrap_err()
            .to_string();
        assert_eq!(error, "train.tsv line 2: no tab");
        let mrpc = mrpc_rows("\u{feff}Quality\t#1 ID\t#2 ID\t#1 String\t#2 String\n1\t702876\t702977\tAmrozi accused.\tReferring to him.\r\n", "m").unwrap();
        assert_eq!(mrpc[0].0, "702876\t702977");
        assert_eq!(mrpc[0].1.text_b.as_deref(), Some("Referring to him."));
        assert!(
            mrpc_rows("Quality\tx\n2\ta\tb\tc\td\n", "m")
                .unwrap_err()
                .to_string()
                .contains("neither 0 nor 1")
        );
        assert!(
            files("sst2")
                .unwrap_err()
                .to_string()
                .starts_with("unknown dataset `sst2`")
        );
    }

    #[test]
    fn sst2_dev_shares_no_phrase_with_train() {
        let example = |text: &str, label| Example {
            id: text.to_string(),
            text_a: text.to_string(),
            text_b: None,
            label,
        };
        let sentences = [
            "a gorgeous , witty , seductive movie that never lets up .",
            "the plot is nothing but boilerplate clichés from start to finish .",
            "it 's a charming and often affecting journey through the heart .",
        ];
        let mut phrases = Vec::new();
        for (s, sentence) in sentences.iter().enumerate() {
            let words: Vec<&str> = sentence.split(' ').collect();
            // Every contiguous span, as SST's parse trees give (a superset of them).
            for start in 0..words.len() {
                for end in start + 1..=words.len() {
                    phrases.push(example(&words[start..end].join(" "), s % 2));
                }
            }
        }
        phrases.push(example("witty", 1));
        let total = phrases.len();
        let (train, dev) = sst2_dev_split(phrases, 2);
        assert_eq!(dev.len(), 2);
        assert!(
            dev.iter()
                .all(|e| e.text_a.split(' ').count() >= SST2_DEV_MIN_WORDS)
        );
        for d in &dev {
            for t in &train {
                let (d, t) = (format!(" {} ", d.text_a), format!(" {} ", t.text_a));
                assert!(
                    !d.contains(&t) && !t.contains(&d),
                    "{t:?} overlaps dev {d:?}"
                );
            }
        }
        // Training keeps what does not overlap: at least the spans of the third sentence that
        // no dev phrase covers.
        assert!(train.len() + dev.len() < total && !train.is_empty());
    }

    #[test]
    fn a_member_is_read_from_a_zip_and_a_missing_one_is_named() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("a.zip");
        let mut zip = zip::ZipWriter::new(std::fs::File::create(&path).unwrap());
        zip.start_file("SST-2/dev.tsv", zip::write::FileOptions::default())
            .unwrap();
        std::io::Write::write_all(&mut zip, b"sentence\tlabel\nok \t1\n").unwrap();
        zip.finish().unwrap();
        assert_eq!(
            zip_member(&path, "SST-2/dev.tsv").unwrap(),
            "sentence\tlabel\nok \t1\n"
        );
        assert!(
            format!("{:#}", zip_member(&path, "SST-2/train.tsv").unwrap_err())
                .contains("has no member SST-2/train.tsv")
        );
    }
}
