//! Splits that do not leak: train/dev/test by a hash of each item's stable id, dev and test
//! items that near-duplicate a training item removed, and samples that say how many items they
//! really got.

use std::collections::HashSet;

use serde::{Deserialize, Serialize};

/// Train, dev and test items.
#[derive(Debug, Clone, PartialEq)]
pub struct Splits<T> {
    /// Training items.
    pub train: Vec<T>,
    /// Development items (model selection, curves).
    pub dev: Vec<T>,
    /// Test items (reported once).
    pub test: Vec<T>,
}

/// FNV-1a, 64 bit: a fixed, documented hash, so splits never change with a library update.
pub fn fnv1a(text: &str) -> u64 {
    text.bytes().fold(0xcbf2_9ce4_8422_2325, |hash, byte| {
        (hash ^ u64::from(byte)).wrapping_mul(0x0100_0000_01b3)
    })
}

/// Splits by a hash of each item's `id`: `test_percent`% test, `dev_percent`% dev, the rest
/// train. An item's split depends on its id alone, not on the corpus order or size.
pub fn split_by_id<T>(
    items: Vec<T>,
    id: impl Fn(&T) -> &str,
    dev_percent: u64,
    test_percent: u64,
) -> Splits<T> {
    let mut splits = Splits {
        train: Vec::new(),
        dev: Vec::new(),
        test: Vec::new(),
    };
    for item in items {
        let bucket = fnv1a(id(&item)) % 100;
        if bucket < test_percent {
            splits.test.push(item);
        } else if bucket < test_percent + dev_percent {
            splits.dev.push(item);
        } else {
            splits.train.push(item);
        }
    }
    splits
}

/// Text reduced to what a near-duplicate shares: lowercase letters and digits, single spaces.
/// `"And the LORD spake unto Moses, saying,"` and `"and the lord spake unto moses saying"` are one.
pub fn normalise(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for word in text
        .split(|c: char| !c.is_alphanumeric())
        .filter(|word| !word.is_empty())
    {
        if !out.is_empty() {
            out.push(' ');
        }
        out.extend(word.chars().flat_map(char::to_lowercase));
    }
    out
}

/// Items left after removing near-duplicates, and how many were removed.
#[derive(Debug, Clone, PartialEq)]
pub struct Deduplicated<T> {
    /// The items kept, in their order.
    pub items: Vec<T>,
    /// Items removed because one of their keys is also a training item's.
    pub removed: usize,
}

/// Removes from `items` every item one of whose `keys` (already [`normalise`]d, e.g. both sides
/// of a sentence pair) is also a key of a training item: a dev or test item the model has seen.
pub fn remove_near_duplicates<T>(
    train: &[T],
    items: Vec<T>,
    keys: impl Fn(&T) -> Vec<String>,
) -> Deduplicated<T> {
    let seen: HashSet<String> = train.iter().flat_map(&keys).collect();
    let before = items.len();
    let items: Vec<T> = items
        .into_iter()
        .filter(|item| !keys(item).iter().any(|key| seen.contains(key)))
        .collect();
    Deduplicated {
        removed: before - items.len(),
        items,
    }
}

/// A deterministic sample and what it really holds.
#[derive(Debug, Clone, PartialEq)]
pub struct Sample<T> {
    /// The items drawn.
    pub items: Vec<T>,
    /// How many were asked for.
    pub requested: usize,
    /// How many there were to draw from.
    pub available: usize,
}

/// Up to `count` items: a shuffle fixed by `seed`, then the first `count`.
pub fn sample<T>(mut items: Vec<T>, count: usize, seed: u64) -> Sample<T> {
    let available = items.len();
    fastrand::Rng::with_seed(seed).shuffle(&mut items);
    items.truncate(count);
    Sample {
        items,
        requested: count,
        available,
    }
}

/// What a split of a run really held, for provenance.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SplitSize {
    /// `train`, `dev` or `test`.
    pub split: String,
    /// Items the scale asked for.
    pub requested: usize,
    /// Items left after filtering and de-duplication, before sampling.
    pub available: usize,
    /// Items used.
    pub used: usize,
    /// Items removed as near-duplicates of training items.
    pub duplicates_removed: usize,
}

impl SplitSize {
    /// The size of a split sampled as `sample` after removing `duplicates_removed` items.
    pub fn of<T>(split: &str, sample: &Sample<T>, duplicates_removed: usize) -> Self {
        Self {
            split: split.to_string(),
            requested: sample.requested,
            available: sample.available,
            used: sample.items.len(),
            duplicates_removed,
        }
    }

    /// Whether the split fell short of its requested size by more than 10 %.
    pub fn short(&self) -> bool {
        (self.used as f64) < 0.9 * self.requested as f64
    }

    /// `6109 train items (12000 requested; 6109 available)`, and the shortfall when short.
    pub fn describe(&self) -> String {
        let mut text = format!("{} {}", self.used, self.split);
        if self.duplicates_removed > 0 {
            text.push_str(&format!(
                " ({} near-duplicates of train removed)",
                self.duplicates_removed
            ));
        }
        if self.short() {
            text.push_str(&format!(
                " [short: {} requested, {} available]",
                self.requested, self.available
            ));
        }
        text
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_item_lands_in_one_split_decided_by_its_id() {
        let ids: Vec<String> = (0..2000)
            .map(|i| format!("BOOK.{}.{}", i / 30, i % 30))
            .collect();
        let splits = split_by_id(ids.clone(), |id| id, 5, 5);
        assert_eq!(
            splits.train.len() + splits.dev.len() + splits.test.len(),
            2000
        );
        assert!(
            (60..140).contains(&splits.test.len()),
            "{}",
            splits.test.len()
        );
        // Reversing the corpus changes no item's split.
        let reversed = split_by_id(ids.into_iter().rev().collect(), |id| id, 5, 5);
        let mut test = reversed.test.clone();
        test.reverse();
        assert_eq!(test, splits.test);
    }

    #[test]
    fn normalising_ignores_case_punctuation_and_spacing() {
        assert_eq!(
            normalise("And the LORD spake unto Moses,  saying,"),
            normalise("and the lord spake unto moses saying")
        );
        assert_eq!(normalise("¿Qué? ¡Sí!"), "qué sí");
        assert_ne!(normalise("In the beginning"), normalise("In the end"));
    }

    #[test]
    fn near_duplicates_of_train_are_removed_and_counted() {
        let train = vec![("And God said,", "Y dijo Dios:"), ("Amen.", "Amén.")];
        let dev = vec![
            ("and God said", "Y dijo Dios"),   // both sides seen
            ("Amen!", "Así sea."),             // the source side seen
            ("Jesus wept.", "Y lloró Jesús."), // new
        ];
        let keys = |pair: &(&str, &str)| vec![normalise(pair.0), normalise(pair.1)];
        let kept = remove_near_duplicates(&train, dev, keys);
        assert_eq!(kept.items, vec![("Jesus wept.", "Y lloró Jesús.")]);
        assert_eq!(kept.removed, 2);
    }

    #[test]
    fn a_sample_reports_what_it_got() {
        let drawn = sample((0..50).collect::<Vec<u32>>(), 80, 0);
        assert_eq!(
            (drawn.items.len(), drawn.requested, drawn.available),
            (50, 80, 50)
        );
        let size = SplitSize::of("dev", &drawn, 3);
        assert!(size.short());
        assert_eq!(
            size.describe(),
            "50 dev (3 near-duplicates of train removed) [short: 80 requested, 50 available]"
        );
        assert_eq!(
            sample((0..50).collect::<Vec<u32>>(), 10, 0).items,
            sample((0..50).collect::<Vec<u32>>(), 10, 0).items
        );
        assert!(!SplitSize::of("dev", &sample((0..50).collect::<Vec<u32>>(), 50, 0), 0).short());
    }
}
