//! The fine-tuning tasks (§4): one single-sentence task and one sentence-pair task, built from
//! embedded real text, with splits by a stable id and near-duplicates of training items removed.
//!
//! - **Movie-review polarity** (the paper's SST-2 role): 10,568 Rotten Tomatoes snippets derived
//!   from Pang & Lee, labelled positive/negative. SST-2 comes from the same reviews, so nothing
//!   here is ever trained on and then tested on SST-2.
//! - **Verse paraphrase** (MRPC-like, not MRPC): a King James verse paired with a World English
//!   Bible verse; label 1 when it is the same verse in the other translation, 0 when it is a hard
//!   negative: the verse of the same chapter whose WEB text shares the most words with the KJV
//!   verse. Built from the New Testament only, which pre-training never sees
//!   ([`crate::corpus::PARAPHRASE_BOOKS`]), and split by chapter so that a verse and its
//!   negatives stay in one split.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use repro_core::data::corpora::{self, BIBLE_EN_ES_GZ, ENGLISH_WEB_REFS_GZ, MOVIE_REVIEWS_GZ};
use repro_core::data::split::fnv1a;
use repro_core::data::{SplitSize, Splits, normalise, remove_near_duplicates, sample, split_by_id};

use crate::corpus::PARAPHRASE_BOOKS;
use crate::scale::TasksConfig;

/// One labelled example: a sentence, or a pair of them.
#[derive(Debug, Clone, PartialEq)]
pub struct Example {
    /// Stable id (the split is a hash of it).
    pub id: String,
    /// The sentence, or the first of the pair.
    pub text_a: String,
    /// The second sentence of a pair task.
    pub text_b: Option<String>,
    /// Index into the task's label names.
    pub label: usize,
}

/// A task with its splits.
#[derive(Debug, Clone)]
pub struct Task {
    /// `movie_reviews`, `verse_paraphrase`.
    pub name: &'static str,
    /// Label names by index.
    pub labels: Vec<String>,
    /// Train / dev / test examples.
    pub splits: Splits<Example>,
    /// What each split really held.
    pub sizes: Vec<SplitSize>,
}

impl Task {
    /// Checks that every split has examples and training has every label: a single-label or
    /// empty dataset cannot be fine-tuned on, and would otherwise give a meaningless accuracy.
    pub fn validate(&self) -> anyhow::Result<()> {
        for (split, examples) in [
            ("train", &self.splits.train),
            ("dev", &self.splits.dev),
            ("test", &self.splits.test),
        ] {
            anyhow::ensure!(
                !examples.is_empty(),
                "task {}: the {split} split is empty",
                self.name
            );
            if let Some(bad) = examples.iter().find(|e| e.label >= self.labels.len()) {
                anyhow::bail!(
                    "task {}: example {} has label {} of {}",
                    self.name,
                    bad.id,
                    bad.label,
                    self.labels.len()
                );
            }
        }
        let present: BTreeSet<usize> = self.splits.train.iter().map(|e| e.label).collect();
        anyhow::ensure!(
            present.len() == self.labels.len(),
            "task {}: the training split holds only the label(s) {:?} of {:?}; a classifier needs examples of every label",
            self.name,
            present.iter().map(|&l| &self.labels[l]).collect::<Vec<_>>(),
            self.labels
        );
        Ok(())
    }

    /// Accuracy of always predicting the most frequent training label, on `examples`.
    pub fn majority_accuracy(&self, examples: &[Example]) -> f64 {
        let mut counts = vec![0usize; self.labels.len()];
        for example in &self.splits.train {
            counts[example.label] += 1;
        }
        let majority = (0..counts.len())
            .max_by_key(|&l| (counts[l], usize::MAX - l))
            .unwrap_or(0);
        examples.iter().filter(|e| e.label == majority).count() as f64
            / examples.len().max(1) as f64
    }
}

/// Splits `examples` by a hash of `group(example)`, removes dev/test items whose normalised texts
/// occur in training, and samples each split to the scale's size.
fn split_and_sample(
    name: &'static str,
    labels: &[&str],
    examples: Vec<Example>,
    group: impl Fn(&Example) -> String,
    config: &TasksConfig,
) -> Task {
    let keyed: Vec<(String, Example)> = examples.into_iter().map(|e| (group(&e), e)).collect();
    let splits = split_by_id(
        keyed,
        |(key, _)| key,
        config.dev_percent,
        config.test_percent,
    );
    let strip = |items: Vec<(String, Example)>| -> Vec<Example> {
        items.into_iter().map(|(_, e)| e).collect()
    };
    from_splits(
        name,
        labels,
        Splits {
            train: strip(splits.train),
            dev: strip(splits.dev),
            test: strip(splits.test),
        },
        config,
    )
}

/// A task from given splits (a canonical dataset's own): dev/test items whose normalised texts
/// occur in training removed, each split sampled to the scale's size.
pub fn from_splits(
    name: &'static str,
    labels: &[&str],
    splits: Splits<Example>,
    config: &TasksConfig,
) -> Task {
    let train = splits.train;
    let keys = |e: &Example| -> Vec<String> {
        let mut keys = vec![normalise(&e.text_a)];
        if let Some(b) = &e.text_b {
            keys = vec![format!("{} || {}", normalise(&e.text_a), normalise(b))];
        }
        keys
    };
    let dev = remove_near_duplicates(&train, splits.dev, keys);
    let test = remove_near_duplicates(&train, splits.test, keys);
    let train = sample(train, config.max_train, 1);
    let dev_sample = sample(dev.items, config.max_eval, 2);
    let test_sample = sample(test.items, config.max_eval, 3);
    let sizes = vec![
        SplitSize::of(&format!("{name}/train"), &train, 0),
        SplitSize::of(&format!("{name}/dev"), &dev_sample, dev.removed),
        SplitSize::of(&format!("{name}/test"), &test_sample, test.removed),
    ];
    Task {
        name,
        labels: labels.iter().map(|l| l.to_string()).collect(),
        splits: Splits {
            train: train.items,
            dev: dev_sample.items,
            test: test_sample.items,
        },
        sizes,
    }
}

/// Movie-review polarity, split by a hash of the normalised text (so that a snippet repeated in
/// the corpus lands in one split).
pub fn movie_reviews(config: &TasksConfig) -> anyhow::Result<Task> {
    let rows = corpora::tsv("movie-review-sentences", MOVIE_REVIEWS_GZ, 3)?;
    let mut examples = Vec::with_capacity(rows.len());
    for (line, row) in rows.iter().enumerate() {
        let label = match row[0].as_str() {
            "neg" => 0,
            "pos" => 1,
            other => anyhow::bail!(
                "movie-review-sentences line {}: label `{other}` is neither pos nor neg",
                line + 1
            ),
        };
        examples.push(Example {
            id: format!("mr{}", line + 1),
            text_a: row[2].clone(),
            text_b: None,
            label,
        });
    }
    let task = split_and_sample(
        "movie_reviews",
        &["negative", "positive"],
        examples,
        |e| normalise(&e.text_a),
        config,
    );
    task.validate()?;
    Ok(task)
}

fn words(text: &str) -> BTreeSet<String> {
    normalise(text)
        .split(' ')
        .filter(|w| !w.is_empty())
        .map(str::to_string)
        .collect()
}

fn jaccard(a: &BTreeSet<String>, b: &BTreeSet<String>) -> f64 {
    let shared = a.intersection(b).count();
    shared as f64 / (a.len() + b.len() - shared).max(1) as f64
}

/// The KJV–WEB verse paraphrase task (MRPC-like): positives are the same verse in both
/// translations, negatives the same-chapter WEB verse of highest word overlap; a verse is a
/// positive or a negative by a hash of its reference (half each). Verses with more than
/// `pair_max_words` words on either side are left out.
pub fn verse_paraphrase(config: &TasksConfig) -> anyhow::Result<Task> {
    let web: HashMap<String, String> = corpora::tsv("english-web-refs", ENGLISH_WEB_REFS_GZ, 2)?
        .into_iter()
        .map(|row| (row[0].clone(), row[1].clone()))
        .collect();
    // Chapter → verses (reference, KJV, WEB), in canonical order.
    let mut chapters: BTreeMap<String, Vec<(String, String, String)>> = BTreeMap::new();
    for row in corpora::tsv("bible-en-es", BIBLE_EN_ES_GZ, 3)? {
        let reference = &row[0];
        let mut parts = reference.split('.');
        let (Some(book), Some(chapter)) = (parts.next(), parts.next()) else {
            anyhow::bail!("bible-en-es: malformed reference `{reference}`");
        };
        if !PARAPHRASE_BOOKS.contains(&book) {
            continue;
        }
        let Some(web_text) = web.get(reference) else {
            continue;
        };
        let short = |text: &str| text.split_whitespace().count() <= config.pair_max_words;
        if short(&row[1]) && short(web_text) {
            chapters
                .entry(format!("{book}.{chapter}"))
                .or_default()
                .push((reference.clone(), row[1].clone(), web_text.clone()));
        }
    }
    let mut examples = Vec::new();
    for verses in chapters.values() {
        let web_words: Vec<BTreeSet<String>> = verses.iter().map(|(_, _, w)| words(w)).collect();
        for (i, (reference, kjv, web_text)) in verses.iter().enumerate() {
            let negative = fnv1a(reference) % 2 == 1;
            let kjv_words = words(kjv);
            let hardest = (0..verses.len())
                .filter(|&j| j != i && normalise(&verses[j].2) != normalise(web_text))
                .max_by(|&x, &y| {
                    jaccard(&kjv_words, &web_words[x])
                        .total_cmp(&jaccard(&kjv_words, &web_words[y]))
                        .then(y.cmp(&x))
                });
            let (text_b, label) = match (negative, hardest) {
                (true, Some(j)) => (verses[j].2.clone(), 0),
                _ => (web_text.clone(), 1),
            };
            examples.push(Example {
                id: reference.clone(),
                text_a: kjv.clone(),
                text_b: Some(text_b),
                label,
            });
        }
    }
    let chapter = |e: &Example| {
        e.id.rsplit_once('.')
            .map_or(e.id.clone(), |(c, _)| c.to_string())
    };
    let task = split_and_sample(
        "verse_paraphrase",
        &["different verse", "same verse"],
        examples,
        chapter,
        config,
    );
    task.validate()?;
    Ok(task)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config() -> TasksConfig {
        TasksConfig {
            dev_percent: 10,
            test_percent: 10,
            max_train: 100_000,
            max_eval: 100_000,
            pair_max_words: 20,
        }
    }

    #[test]
    fn movie_reviews_are_balanced_split_without_leaks() {
        let task = movie_reviews(&config()).unwrap();
        let total = task.splits.train.len() + task.splits.dev.len() + task.splits.test.len();
        let removed: usize = task.sizes.iter().map(|s| s.duplicates_removed).sum();
        assert_eq!(total + removed, 10_568);
        let train: BTreeSet<String> = task
            .splits
            .train
            .iter()
            .map(|e| normalise(&e.text_a))
            .collect();
        assert!(
            task.splits
                .test
                .iter()
                .all(|e| !train.contains(&normalise(&e.text_a)))
        );
        let positive = task.splits.train.iter().filter(|e| e.label == 1).count() as f64;
        assert!((positive / task.splits.train.len() as f64 - 0.5).abs() < 0.02);
        assert!(task.majority_accuracy(&task.splits.test) < 0.55);
    }

    #[test]
    fn verse_pairs_are_half_paraphrases_and_negatives_come_from_the_same_chapter() {
        let task = verse_paraphrase(&config()).unwrap();
        let all: Vec<&Example> = task
            .splits
            .train
            .iter()
            .chain(&task.splits.dev)
            .chain(&task.splits.test)
            .collect();
        let positives = all.iter().filter(|e| e.label == 1).count() as f64;
        assert!(
            (positives / all.len() as f64 - 0.5).abs() < 0.05,
            "{positives} of {}",
            all.len()
        );
        let web: HashMap<String, String> = corpora::tsv("web", ENGLISH_WEB_REFS_GZ, 2)
            .unwrap()
            .into_iter()
            .map(|r| (r[0].clone(), r[1].clone()))
            .collect();
        for example in &all {
            assert!(PARAPHRASE_BOOKS.contains(&example.id.split('.').next().unwrap()));
            let b = example.text_b.as_ref().unwrap();
            assert_eq!(example.label == 1, *b == web[&example.id], "{}", example.id);
        }
        // Split by chapter: no chapter in two splits.
        let chapters = |examples: &[Example]| -> BTreeSet<String> {
            examples
                .iter()
                .map(|e| e.id.rsplit_once('.').unwrap().0.to_string())
                .collect()
        };
        assert!(chapters(&task.splits.train).is_disjoint(&chapters(&task.splits.test)));
        assert!(chapters(&task.splits.train).is_disjoint(&chapters(&task.splits.dev)));
    }

    #[test]
    fn a_single_label_or_empty_dataset_is_refused() {
        let mut task = movie_reviews(&TasksConfig {
            max_train: 50,
            max_eval: 20,
            ..config()
        })
        .unwrap();
        for example in &mut task.splits.train {
            example.label = 1;
        }
        let error = task.validate().unwrap_err().to_string();
        assert!(
            error.contains("holds only the label(s) [\"positive\"]"),
            "{error}"
        );
        task.splits.dev.clear();
        assert_eq!(
            task.validate().unwrap_err().to_string(),
            "task movie_reviews: the dev split is empty"
        );
    }
}
