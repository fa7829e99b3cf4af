//! The paper's synthetic tasks (§3.9.1 arithmetic, §3.9.2 word scrambling), the last-word cloze
//! (§3.1.2's format) and arbitrary-label classification (the family built so that in-context
//! learning can show at this scale, [`labels`]), as data: `tasks/*.toml` holds each task's templates, delimiters,
//! output type and metrics ([`TaskSpec`]); this module holds the generators its `generator`
//! table names.
//!
//! Every generator splits its items in two by a hash of the item (operand tuple, word, or the
//! document a passage comes from): [`Split::Train`] feeds the demonstrations and the training
//! text, [`Split::Eval`] the evaluation, so no evaluated problem is ever seen in training or
//! shown as its own demonstration.

use std::collections::BTreeSet;

use repro_core::data::split::fnv1a;
use repro_core::eval::{Doc, TaskSpec};

pub mod labels;

/// The task families, each a TOML file of the crate (name, file, text).
pub const FAMILIES: [(&str, &str, &str); 4] = [
    (
        "arithmetic",
        "papers/gpt3/tasks/arithmetic.toml",
        include_str!("../tasks/arithmetic.toml"),
    ),
    (
        "scrambling",
        "papers/gpt3/tasks/scrambling.toml",
        include_str!("../tasks/scrambling.toml"),
    ),
    (
        "cloze",
        "papers/gpt3/tasks/cloze.toml",
        include_str!("../tasks/cloze.toml"),
    ),
    (
        "labels",
        "papers/gpt3/tasks/labels.toml",
        include_str!("../tasks/labels.toml"),
    ),
];

/// One task and the family it belongs to.
#[derive(Debug, Clone, PartialEq)]
pub struct Task {
    /// `arithmetic`, `scrambling`, `cloze` or `labels`.
    pub family: &'static str,
    /// Its definition.
    pub spec: TaskSpec,
}

/// Every task, in family order.
pub fn all() -> anyhow::Result<Vec<Task>> {
    let mut tasks = Vec::new();
    for (family, file, text) in FAMILIES {
        for spec in TaskSpec::parse_family(file, text)? {
            Generator::parse(&spec)?;
            tasks.push(Task { family, spec });
        }
    }
    Ok(tasks)
}

/// The task called `name`, or an error listing the known ones.
pub fn find(name: &str) -> anyhow::Result<Task> {
    let tasks = all()?;
    let known: Vec<&str> = tasks.iter().map(|t| t.spec.name.as_str()).collect();
    let known = known.join(", ");
    tasks
        .into_iter()
        .find(|t| t.spec.name == name)
        .ok_or_else(|| anyhow::anyhow!("unknown task `{name}`; known tasks: {known}"))
}

/// Which side of the held-out split an instance is drawn from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Split {
    /// Demonstrations and training text.
    Train,
    /// The evaluation.
    Eval,
}

/// One item in five is held out.
const HELD_OUT_ONE_IN: u64 = 5;

/// The side of the split `key` (an operand tuple or a word) falls on.
pub fn split_of(key: &str) -> Split {
    if fnv1a(key).is_multiple_of(HELD_OUT_ONE_IN) {
        Split::Eval
    } else {
        Split::Train
    }
}

/// What the generators draw from besides numbers.
#[derive(Debug, Clone, Default)]
pub struct Sources {
    /// Frequent words, most frequent first (the scrambling tasks keep those of 5–14 letters).
    pub words: Vec<String>,
    /// Passages of training documents (the cloze's demonstrations and training text).
    pub train_passages: Vec<String>,
    /// Passages of held-out documents (the cloze's evaluation).
    pub eval_passages: Vec<String>,
}

/// The paper's word length limits: "of length more than 4 characters and less than 15".
pub const WORD_LENGTHS: std::ops::RangeInclusive<usize> = 5..=14;
/// The paper's 10,000 most frequent words.
pub const WORDS: usize = 10_000;
/// Characters random insertion puts between letters (the paper's example uses `.`, `!`, `/` and
/// the space).
const INSERTED: [char; 9] = ['.', ',', '!', '?', '/', ';', ':', '-', ' '];

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Operation {
    Plus,
    Minus,
    Times,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Transform {
    Cycle,
    Anagram { keep: usize },
    Insert,
    Reverse,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Generator {
    Arithmetic {
        operation: Operation,
        digits: u32,
    },
    Composite,
    Scramble(Transform),
    Cloze,
    /// Arbitrary-label classification with the `mapping`-th held-out mapping.
    Labels {
        mapping: usize,
    },
}

impl Generator {
    fn parse(spec: &TaskSpec) -> anyhow::Result<Self> {
        let table = &spec.generator;
        let text = |key: &str| -> anyhow::Result<&str> {
            table.get(key).and_then(|v| v.as_str()).ok_or_else(|| {
                anyhow::anyhow!("task `{}`: generator needs a string `{key}`", spec.name)
            })
        };
        let number = |key: &str| -> anyhow::Result<i64> {
            table.get(key).and_then(|v| v.as_integer()).ok_or_else(|| {
                anyhow::anyhow!("task `{}`: generator needs an integer `{key}`", spec.name)
            })
        };
        Ok(match text("kind")? {
            "arithmetic" => {
                let operation = match text("operation")? {
                    "plus" => Operation::Plus,
                    "minus" => Operation::Minus,
                    "times" => Operation::Times,
                    other => anyhow::bail!(
                        "task `{}`: unknown operation `{other}` (plus, minus, times)",
                        spec.name
                    ),
                };
                let digits = number("digits")?;
                anyhow::ensure!(
                    (1..=9).contains(&digits),
                    "task `{}`: digits must be 1–9, not {digits}",
                    spec.name
                );
                Generator::Arithmetic {
                    operation,
                    digits: digits as u32,
                }
            }
            "composite" => Generator::Composite,
            "scramble" => Generator::Scramble(match text("transform")? {
                "cycle" => Transform::Cycle,
                "anagram" => {
                    let keep = number("keep")?;
                    anyhow::ensure!(
                        (1..=2).contains(&keep),
                        "task `{}`: keep must be 1 or 2",
                        spec.name
                    );
                    Transform::Anagram {
                        keep: keep as usize,
                    }
                }
                "insert" => Transform::Insert,
                "reverse" => Transform::Reverse,
                other => anyhow::bail!(
                    "task `{}`: unknown transform `{other}` (cycle, anagram, insert, reverse)",
                    spec.name
                ),
            }),
            "cloze" => Generator::Cloze,
            "labels" => {
                let mapping = number("mapping")?;
                anyhow::ensure!(
                    (1..=100).contains(&mapping),
                    "task `{}`: mapping must be 1–100, not {mapping}",
                    spec.name
                );
                Generator::Labels {
                    mapping: mapping as usize,
                }
            }
            other => anyhow::bail!(
                "task `{}`: unknown generator `{other}` (arithmetic, composite, scramble, cloze, labels)",
                spec.name
            ),
        })
    }
}

/// `n` distinct instances of `spec` from the `split` side, deterministic for `seed`; fewer when
/// that side holds fewer.
pub fn generate(
    spec: &TaskSpec,
    sources: &Sources,
    split: Split,
    n: usize,
    seed: u64,
) -> anyhow::Result<Vec<Doc>> {
    let generator = Generator::parse(spec)?;
    // The cloze's two formats ask the same passages (as the paper asks LAMBADA's in both), so
    // their comparison is paired passage by passage; every other task draws its own.
    let stream = match generator {
        Generator::Cloze => "cloze",
        _ => spec.name.as_str(),
    };
    let mut rng = fastrand::Rng::with_seed(seed ^ fnv1a(stream));
    let mut seen = BTreeSet::new();
    let mut docs = Vec::with_capacity(n);
    match generator {
        Generator::Arithmetic { operation, digits } => {
            let bound = 10i64.pow(digits);
            // Rejection sampling: the split side holds ~80 % / 20 % of all tuples.
            for _ in 0..n.saturating_mul(50) {
                if docs.len() == n {
                    break;
                }
                let (a, b) = (rng.i64(0..bound), rng.i64(0..bound));
                let (word, answer) = match operation {
                    Operation::Plus => ("plus", a + b),
                    Operation::Minus => ("minus", a - b),
                    Operation::Times => ("times", a * b),
                };
                let key = format!("{a} {word} {b}");
                if split_of(&key) == split && seen.insert(key) {
                    docs.push(Doc::from_fields([
                        ("a", a.to_string()),
                        ("b", b.to_string()),
                        ("answer", answer.to_string()),
                    ]));
                }
            }
        }
        Generator::Composite => {
            for _ in 0..n.saturating_mul(50) {
                if docs.len() == n {
                    break;
                }
                let digits = [rng.i64(0..10), rng.i64(0..10), rng.i64(0..10)];
                let ops = [b"+-*"[rng.usize(0..3)], b"+-*"[rng.usize(0..3)]];
                let expression = format!(
                    "{}{}({}{}{})",
                    digits[0], ops[0] as char, digits[1], ops[1] as char, digits[2]
                );
                let inner = apply(ops[1], digits[1], digits[2]);
                let answer = apply(ops[0], digits[0], inner);
                if split_of(&expression) == split && seen.insert(expression.clone()) {
                    docs.push(Doc::from_fields([
                        ("expression", expression),
                        ("answer", answer.to_string()),
                    ]));
                }
            }
        }
        Generator::Scramble(transform) => {
            let mut words: Vec<&String> = sources
                .words
                .iter()
                .filter(|w| WORD_LENGTHS.contains(&w.chars().count()))
                .take(WORDS)
                .filter(|w| split_of(w) == split)
                .collect();
            rng.shuffle(&mut words);
            for word in words.into_iter().take(n) {
                docs.push(Doc::from_fields([
                    ("scrambled", scramble(word, transform, &mut rng)),
                    ("word", word.clone()),
                ]));
            }
        }
        Generator::Cloze => {
            let passages = match split {
                Split::Train => &sources.train_passages,
                Split::Eval => &sources.eval_passages,
            };
            let mut order: Vec<usize> = (0..passages.len()).collect();
            rng.shuffle(&mut order);
            for i in order {
                if docs.len() == n {
                    break;
                }
                if let Some((context, word)) = last_word(&passages[i])
                    && seen.insert(context.clone())
                {
                    docs.push(Doc::from_fields([("context", context), ("word", word)]));
                }
            }
        }
        // The task's own (held-out) mapping on both sides; only the filler words are split.
        Generator::Labels { mapping } => {
            let mapping = labels::task_mapping(sources, mapping)?;
            docs = labels::instances(&mapping, sources, split, n, &mut rng);
        }
    }
    Ok(docs)
}

/// The examples of one training document of `spec`: `k` draws from its training `pool`, except
/// for the label tasks, whose own mappings are never trained on: there, `k` instances of a fresh
/// random mapping over training-side words and labels (an episode, [`labels`]).
pub fn training_examples(
    spec: &TaskSpec,
    pool: &[Doc],
    sources: &Sources,
    k: usize,
    rng: &mut fastrand::Rng,
) -> anyhow::Result<Vec<Doc>> {
    Ok(match Generator::parse(spec)? {
        Generator::Labels { .. } => {
            let mapping = labels::random_mapping(sources, rng)?;
            labels::instances(&mapping, sources, Split::Train, k, rng)
        }
        _ => {
            anyhow::ensure!(
                !pool.is_empty(),
                "task `{}`: an empty training pool has nothing to write a document from",
                spec.name
            );
            (0..k)
                .map(|_| pool[rng.usize(..pool.len())].clone())
                .collect()
        }
    })
}

fn apply(op: u8, a: i64, b: i64) -> i64 {
    match op {
        b'+' => a + b,
        b'-' => a - b,
        _ => a * b,
    }
}

/// `word` distorted by `transform` (§3.9.2's definitions).
fn scramble(word: &str, transform: Transform, rng: &mut fastrand::Rng) -> String {
    let letters: Vec<char> = word.chars().collect();
    let n = letters.len();
    match transform {
        // "lyinevitab" for "inevitably": a rotation by 1..n letters.
        Transform::Cycle => {
            let by = rng.usize(1..n.max(2));
            letters[by % n..].iter().chain(&letters[..by % n]).collect()
        }
        // Every letter but the first `keep` and the last `keep` shuffled; reshuffled (a few
        // times) when the shuffle gives the word back.
        Transform::Anagram { keep } => {
            if n <= 2 * keep {
                return word.to_string();
            }
            let mut middle = letters[keep..n - keep].to_vec();
            for _ in 0..10 {
                rng.shuffle(&mut middle);
                if middle != letters[keep..n - keep] {
                    break;
                }
            }
            letters[..keep]
                .iter()
                .chain(&middle)
                .chain(&letters[n - keep..])
                .collect()
        }
        // "s.u!c/c!e.s s i/o/n": a punctuation mark or space between each pair of letters.
        Transform::Insert => {
            let mut out = String::with_capacity(2 * n);
            for (i, c) in letters.iter().enumerate() {
                if i > 0 {
                    out.push(INSERTED[rng.usize(0..INSERTED.len())]);
                }
                out.push(*c);
            }
            out
        }
        // "stcejbo" for "objects".
        Transform::Reverse => letters.iter().rev().collect(),
    }
}

/// A passage cut before its last word: (context, word), the word without its punctuation;
/// `None` when the passage does not end in a word of letters.
fn last_word(passage: &str) -> Option<(String, String)> {
    let trimmed = passage.trim_end_matches(|c: char| !c.is_alphanumeric());
    let start = trimmed.rfind(char::is_whitespace)? + 1;
    let word = &trimmed[start..];
    (word.chars().all(char::is_alphabetic) && !word.is_empty())
        .then(|| (trimmed[..start].trim_end().to_string(), word.to_string()))
}

#[cfg(test)]
mod tests;
