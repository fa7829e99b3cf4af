//! The pre-training corpus (§2.2, scaled down): real English mixed with documents in which the
//! evaluation's task formats appear the way they would on the web, several examples of one task
//! in a row.
//!
//! Why the mix: GPT-3's 300B tokens of web text hold arithmetic drills, word games and
//! fill-in-the-blank exercises by the million; a 1M-token corpus of the Brown corpus and the
//! Bible holds none, and a model cannot learn in context a format it has never seen. Chan et al.
//! (2022, "Data Distributional Properties Drive Emergent In-Context Learning") show in-context
//! learning needs "bursty" data — items of one kind clustered within a context — so each task
//! document is 1..`max_examples_per_document` examples of one task, rendered exactly as a K-shot
//! prompt renders them (description, demonstrations, delimiters). `task_share` of the training
//! characters are task documents, spread evenly over the tasks; the rest is real text. A label
//! task's documents are episodes: examples of one random mapping of training-side words, fresh
//! per document ([`crate::tasks::labels`]), so they can be predicted only from the document.
//!
//! What is held out: real documents are split train/dev by a hash of their id (dev: the dev loss
//! and the cloze passages); task instances come from the generators' Train side only (operand
//! tuples and words are split by a hash, [`crate::tasks`]), so no evaluation instance, word or
//! passage occurs in training (tested).

use std::collections::BTreeMap;

use repro_core::data::corpora::{self, Document};
use repro_core::data::{Splits, Tokenizer, split_by_id};
use repro_core::eval::{Doc, OutputType, TaskSpec};

use crate::scale::CorpusConfig;
use crate::tasks::{self, Sources, Split, Task};

/// The one special token: GPT-2's document separator, id 0.
pub const END_OF_TEXT: &str = "<|endoftext|>";
/// Its id.
pub const END_OF_TEXT_ID: u32 = 0;

/// Instances each task's training pool holds (demonstrations and task documents draw from it).
pub const POOL_SIZE: usize = 2000;

/// The real documents (all WEB books: no downstream task is built from the Bible's books here),
/// split train/dev by id.
pub fn real_documents(config: &CorpusConfig) -> anyhow::Result<Splits<Document>> {
    let mut splits = split_by_id(corpora::documents(&[])?, |d| &d.id, config.dev_percent, 0);
    // A fixed shuffle before the cut, so that a smaller corpus still mixes Brown and the Bible.
    fastrand::Rng::with_seed(0).shuffle(&mut splits.train);
    splits.train.truncate(config.max_documents);
    Ok(splits)
}

/// The words of `documents` most frequent first (ties alphabetically), lowercase letters only:
/// the scrambling and label tasks' word list (the paper ranks by Norvig's web counts; we rank by
/// our own training text). A token with an apostrophe inside ("didn't", "king's") is no word of
/// the list: split there, it would give "didn", which is no word at all.
pub fn word_list(documents: &[Document]) -> Vec<String> {
    let apostrophe = |c: char| c == '\'' || c == '’';
    let mut counts: BTreeMap<String, usize> = BTreeMap::new();
    for sentence in documents.iter().flat_map(|d| &d.sentences) {
        for token in sentence.split(|c: char| !c.is_alphabetic() && !apostrophe(c)) {
            // Quotation marks around a word are not part of it.
            let word = token.trim_matches(apostrophe);
            if !word.is_empty() && word.chars().all(|c| c.is_ascii_lowercase()) {
                *counts.entry(word.to_string()).or_default() += 1;
            }
        }
    }
    let mut words: Vec<(String, usize)> = counts.into_iter().collect();
    words.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
    words.into_iter().map(|(word, _)| word).collect()
}

/// Passages of consecutive sentences, each at most `max_words` words (a sentence longer than that
/// alone is skipped): the cloze's contexts, LAMBADA's shape ("broad context" of a few sentences).
pub fn passages(documents: &[Document], max_words: usize) -> Vec<String> {
    let mut passages = Vec::new();
    for document in documents {
        let mut current: Vec<&str> = Vec::new();
        let mut words = 0;
        for sentence in &document.sentences {
            let n = sentence.split_whitespace().count();
            if words + n > max_words && !current.is_empty() {
                passages.push(current.join(" "));
                current.clear();
                words = 0;
            }
            if n <= max_words {
                current.push(sentence);
                words += n;
            }
        }
        if current.len() > 1 {
            passages.push(current.join(" "));
        }
    }
    passages
}

/// A task document: `examples` rendered as a K-shot prompt with its answer (description, the
/// first K − 1 as demonstrations, the last as the question, then its answer).
pub fn render_document(spec: &TaskSpec, examples: &[Doc]) -> anyhow::Result<String> {
    let (last, demos) = examples
        .split_last()
        .ok_or_else(|| anyhow::anyhow!("a task document needs an example"))?;
    let unlimited = |_: &str| Ok(0);
    let prompt = repro_core::eval::build_prompt(spec, last, demos, usize::MAX, &unlimited)?;
    Ok(match spec.output_type {
        OutputType::GenerateUntil => {
            format!(
                "{}{}{}",
                prompt.context, spec.target_delimiter, prompt.target
            )
        }
        OutputType::Loglikelihood => format!("{}{}", prompt.context, prompt.target),
        // The choices carry the target delimiter; the gold one is the answer.
        OutputType::MultipleChoice => {
            let gold = last
                .gold
                .and_then(|g| prompt.choices.get(g))
                .ok_or_else(|| anyhow::anyhow!("task `{}`: an example without gold", spec.name))?;
            format!("{}{gold}", prompt.context)
        }
    })
}

/// Every task's training pool and held-out instances.
pub struct TaskData {
    /// The task.
    pub task: Task,
    /// Training-side instances: demonstrations and task documents.
    pub pool: Vec<Doc>,
    /// Held-out instances: the evaluation.
    pub eval: Vec<Doc>,
}

/// Generates each task's pool and evaluation instances from `sources`.
pub fn task_data(sources: &Sources, instances: usize, seed: u64) -> anyhow::Result<Vec<TaskData>> {
    tasks::all()?
        .into_iter()
        .map(|task| {
            let pool = tasks::generate(&task.spec, sources, Split::Train, POOL_SIZE, seed)?;
            let eval = tasks::generate(&task.spec, sources, Split::Eval, instances, seed + 1)?;
            anyhow::ensure!(
                !pool.is_empty() && !eval.is_empty(),
                "task `{}` generated no instances",
                task.spec.name
            );
            Ok(TaskData { task, pool, eval })
        })
        .collect()
}

/// Task documents totalling about `characters` characters, spread evenly over the tasks, each
/// 1..=`max_examples` examples of one task in a row ([`tasks::training_examples`]: pool draws,
/// or for the label tasks one random episode); deterministic for `seed`.
pub fn task_documents(
    tasks: &[TaskData],
    sources: &Sources,
    characters: usize,
    max_examples: usize,
    seed: u64,
) -> anyhow::Result<Vec<String>> {
    let mut rng = fastrand::Rng::with_seed(seed ^ 0x7461_736b);
    let per_task = characters / tasks.len().max(1);
    let mut documents = Vec::new();
    for data in tasks {
        let mut written = 0;
        while written < per_task {
            let k = rng.usize(1..=max_examples);
            let examples =
                tasks::training_examples(&data.task.spec, &data.pool, sources, k, &mut rng)?;
            let text = render_document(&data.task.spec, &examples)?;
            written += text.len();
            documents.push(text);
        }
    }
    // Interleaved, so that a training window mixes kinds as web text does.
    rng.shuffle(&mut documents);
    Ok(documents)
}

/// The byte-level BPE vocabulary trained on the training texts.
pub fn train_tokenizer(texts: &[String], vocab_size: usize) -> anyhow::Result<Tokenizer> {
    Tokenizer::train_byte_level_bpe(texts.iter().map(String::as_str), vocab_size, &[END_OF_TEXT])
}

/// The texts tokenized and joined by `<|endoftext|>` into one stream, cut into windows of
/// `context + 1` tokens (inputs and their next tokens); the remainder is dropped.
pub fn windows(
    tokenizer: &Tokenizer,
    texts: &[String],
    context: usize,
) -> anyhow::Result<Vec<Vec<u32>>> {
    let mut stream = Vec::new();
    for text in texts {
        stream.extend(tokenizer.encode(text)?);
        stream.push(END_OF_TEXT_ID);
    }
    Ok(stream
        .chunks_exact(context + 1)
        .map(<[u32]>::to_vec)
        .collect())
}

/// SHA-256 over the embedded corpora and the task definitions: what a run's numbers depend on
/// besides its configuration.
pub fn dataset_sha256() -> String {
    use sha2::{Digest, Sha256};
    let mut pinned: String = [
        ("brown", corpora::BROWN_GZ),
        ("english-web-refs", corpora::ENGLISH_WEB_REFS_GZ),
    ]
    .iter()
    .map(|(name, gz)| format!("{} {name}\n", corpora::sha256(gz)))
    .collect();
    for (_, file, text) in tasks::FAMILIES {
        pinned.push_str(&format!("{:x} {file}\n", Sha256::digest(text.as_bytes())));
    }
    format!("{:x}", Sha256::digest(pinned.as_bytes()))
}

/// A real document as one text: its sentences joined by spaces.
pub fn document_text(document: &Document) -> String {
    document.sentences.join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn document(id: &str, sentences: &[&str]) -> Document {
        Document {
            id: id.into(),
            sentences: sentences.iter().map(|s| s.to_string()).collect(),
        }
    }

    #[test]
    fn words_are_ranked_by_frequency_then_alphabetically_without_contractions() {
        let docs = [document(
            "a",
            &[
                "the cat and the dog",
                "The dog, the end.",
                "'dog' didn’t bark",
            ],
        )];
        assert_eq!(
            word_list(&docs),
            ["dog", "the", "and", "bark", "cat", "end"]
        );
    }

    #[test]
    fn passages_gather_whole_sentences_within_the_word_limit() {
        let docs = [document(
            "a",
            &[
                "one two three.",
                "four five.",
                "six seven eight nine.",
                "ten.",
            ],
        )];
        assert_eq!(
            passages(&docs, 5),
            ["one two three. four five.", "six seven eight nine. ten."]
        );
    }

    #[test]
    fn windows_are_the_stream_cut_into_context_plus_one() {
        let tokenizer = train_tokenizer(&["ab ab ab ab".to_string()], 300).unwrap();
        let windows = windows(&tokenizer, &["ab".to_string(), "ab ab".to_string()], 2).unwrap();
        let ab = tokenizer.encode("ab").unwrap()[0];
        let space_ab = tokenizer.encode(" ab").unwrap()[0];
        assert_eq!(windows, [vec![ab, END_OF_TEXT_ID, ab]]);
        assert_ne!(ab, space_ab);
    }

    #[test]
    fn a_multiple_choice_document_ends_with_its_gold_answer() {
        let spec = tasks::find("labels_1").unwrap().spec;
        let item = |filler: &str, key: &str, gold: usize| Doc {
            choices: vec!["kings".into(), "husband".into()],
            gold: Some(gold),
            ..Doc::from_fields([("filler", filler), ("key", key), ("label", "")])
        };
        let text = render_document(
            &spec,
            &[item("bright", "river", 0), item("open", "market", 1)],
        )
        .unwrap();
        assert_eq!(text, "bright river: kings\nopen market: husband");
    }

    #[test]
    fn no_evaluation_instance_occurs_in_the_training_text() {
        let config = CorpusConfig {
            vocab_size: 400,
            context: 64,
            dev_percent: 5,
            max_documents: 60,
            task_share: 0.5,
            max_examples_per_document: 8,
        };
        let documents = real_documents(&config).unwrap();
        let sources = Sources {
            words: word_list(&documents.train),
            train_passages: passages(&documents.train, 40),
            eval_passages: passages(&documents.dev, 40),
        };
        let data = task_data(&sources, 40, 0).unwrap();
        let mut training = task_documents(&data, &sources, 400_000, 8, 0).unwrap();
        training.extend(documents.train.iter().map(document_text));
        let training = training.join("\n");
        // Each demonstration is a line of its own (the delimiters are newlines), so an instance
        // in the training text is a whole line: a substring test would flag "snomed = demons"
        // for "nomed = demon".
        let lines: std::collections::BTreeSet<&str> = training.lines().collect();
        let (mut checked, mut labels) = (0, 0);
        for task in &data {
            let spec = &task.task.spec;
            for doc in &task.eval {
                let shown = format!(
                    "{}{}{}",
                    spec.text(doc).unwrap(),
                    spec.target_delimiter,
                    spec.target(doc).unwrap()
                );
                assert!(
                    !lines.contains(shown.as_str()),
                    "{}: {shown:?} is in the training text",
                    spec.name
                );
                // A label task's mapping is never trained on: no class word is followed by its
                // label anywhere (whatever the filler word).
                if let (Ok(key), Ok(label)) = (doc.field("key"), doc.field("label")) {
                    let pair = format!(" {key}: {label}");
                    assert!(
                        !training.contains(&pair),
                        "{pair:?} is in the training text"
                    );
                    labels += 1;
                }
                if let Ok(context) = doc.field("context") {
                    assert!(
                        !training.contains(context),
                        "cloze passage {context:?} is trained on"
                    );
                }
                checked += 1;
            }
        }
        assert!(
            checked >= 21 * 30 && labels >= 4 * 30,
            "{checked}, {labels}"
        );
    }
}
