//! Arbitrary-label classification: the family built so that in-context learning can show at this
//! scale if the models can read their context, and the measure of whether they do.
//!
//! Why it exists: every other task here tells a model trained on its format what to do from the
//! question alone ("What is 48 plus 76?"), so demonstrations add nothing a small model can use
//! (GPT-3's own 125M model gets 0–2 % on 2D+ few-shot). Here they carry what the question lacks.
//! Each task is one two-class problem no model has seen: two held-out class words named by two
//! other held-out words as labels, unrelated to them (Wei et al. 2023's "semantically unrelated
//! labels"), e.g. `river` → `kings`, `market` → `husband`. An instance is a filler word and one of
//! the two class words, `"bright river:"`, and the answer is its class's label. The question alone
//! cannot say which label goes with which word, so zero-shot accuracy is 50 % by construction; a
//! model that reads the demonstrations (`"old river: kings"`) and finds the one with the same
//! class word can answer. That is in-context learning in the paper's sense (§2: the task is
//! specified only by the demonstrations, no weights change), the few-shot classification of Chan
//! et al. (2022); one-shot shows one class, few-shot (almost always) both.
//!
//! What it takes: copying a label from the demonstration whose class word matches, the
//! content-based lookup of induction heads (Olsson et al. 2022), which `crate::induction` probes.
//!
//! What is held out: class words and labels are split by a hash ([`super::split_of`]); every
//! task's mapping takes both from the held-out side, so no evaluated mapping occurs in training.
//! The training text holds *episodes* instead: documents of several examples of one random
//! mapping over training-side words (bursty, as Chan et al. find in-context learning needs), so
//! the only way to predict a label there is from the document itself.

use std::collections::BTreeSet;

use repro_core::eval::Doc;

use super::{Sources, Split, split_of};

/// Classes of every task: two, so chance is 50 %.
pub const CLASSES: usize = 2;
/// The most frequent words are skipped as class and filler words (mostly function words:
/// "the river" would read as a phrase, not an item).
const SKIP_MOST_FREQUENT: usize = 100;
/// Class words, labels and filler words come from this many frequent words after those: words the
/// model has seen in real text, most of them one token of the BPE, so that answering takes
/// copying one token it knows.
const VOCABULARY: usize = 600;
/// Letters of a class word, label or filler word.
const WORD_LENGTHS: std::ops::RangeInclusive<usize> = 4..=9;

/// One task's problem: class `i` is `keys[i]`, named `labels[i]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mapping {
    /// The class words.
    pub keys: [String; CLASSES],
    /// Their labels.
    pub labels: [String; CLASSES],
}

/// Words that may be a class word, a label or a filler word, on `split`'s side, most frequent
/// first.
fn vocabulary(sources: &Sources, split: Split) -> Vec<&String> {
    sources
        .words
        .iter()
        .skip(SKIP_MOST_FREQUENT)
        .take(VOCABULARY)
        .filter(|w| WORD_LENGTHS.contains(&w.chars().count()) && split_of(w) == split)
        .collect()
}

/// Task `index`'s mapping (1, 2, …): held-out words, a fixed shuffle of them cut into groups of
/// two class words and two labels, so no two tasks share a word.
pub fn task_mapping(sources: &Sources, index: usize) -> anyhow::Result<Mapping> {
    anyhow::ensure!(index >= 1, "label tasks are numbered from 1");
    let mut words = vocabulary(sources, Split::Eval);
    fastrand::Rng::with_seed(0x6c61_6265_6c73).shuffle(&mut words);
    let at = (index - 1) * 2 * CLASSES;
    anyhow::ensure!(
        at + 2 * CLASSES <= words.len(),
        "label task {index}: the corpus has only {} held-out words to make labels of",
        words.len()
    );
    Ok(Mapping {
        keys: std::array::from_fn(|i| words[at + i].clone()),
        labels: std::array::from_fn(|i| words[at + CLASSES + i].clone()),
    })
}

/// A random mapping of training-side words (a training episode's).
pub fn random_mapping(sources: &Sources, rng: &mut fastrand::Rng) -> anyhow::Result<Mapping> {
    let words = vocabulary(sources, Split::Train);
    anyhow::ensure!(
        words.len() > 2 * CLASSES,
        "too few training-side words for a label episode"
    );
    let picked = distinct(rng, words.len());
    Ok(Mapping {
        keys: std::array::from_fn(|i| words[picked[i]].clone()),
        labels: std::array::from_fn(|i| words[picked[CLASSES + i]].clone()),
    })
}

fn distinct(rng: &mut fastrand::Rng, n: usize) -> [usize; 2 * CLASSES] {
    let mut picked = [0; 2 * CLASSES];
    let mut chosen = 0;
    while chosen < 2 * CLASSES {
        let i = rng.usize(..n);
        if !picked[..chosen].contains(&i) {
            picked[chosen] = i;
            chosen += 1;
        }
    }
    picked
}

/// Up to `n` distinct instances of `mapping`, their filler words from `split`'s side (never a
/// class word), each class equally likely.
pub fn instances(
    mapping: &Mapping,
    sources: &Sources,
    split: Split,
    n: usize,
    rng: &mut fastrand::Rng,
) -> Vec<Doc> {
    let fillers: Vec<&String> = vocabulary(sources, split)
        .into_iter()
        .filter(|w| !mapping.keys.contains(w) && !mapping.labels.contains(w))
        .collect();
    let mut seen = BTreeSet::new();
    let mut docs = Vec::with_capacity(n);
    if fillers.is_empty() {
        return docs;
    }
    for _ in 0..n.saturating_mul(20) {
        if docs.len() == n {
            break;
        }
        let class = rng.usize(..CLASSES);
        let filler = fillers[rng.usize(..fillers.len())];
        if seen.insert((filler, class)) {
            docs.push(Doc {
                choices: mapping.labels.to_vec(),
                gold: Some(class),
                ..Doc::from_fields([
                    ("filler", filler.clone()),
                    ("key", mapping.keys[class].clone()),
                    ("label", mapping.labels[class].clone()),
                ])
            });
        }
    }
    docs
}
