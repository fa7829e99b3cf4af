use super::*;
use repro_core::eval::build_prompt;
use std::collections::BTreeMap;

fn spec(name: &str) -> TaskSpec {
    find(name).unwrap().spec
}

fn sources() -> Sources {
    let words = [
        "inevitably",
        "corruption",
        "opponent",
        "succession",
        "objects",
        "government",
        "national",
        "without",
        "because",
        "between",
        "another",
        "through",
        "himself",
        "against",
        "children",
        "a",
        "the",
        "fourteenletter",
        "fifteenlettered",
    ];
    Sources {
        words: words.iter().map(|w| w.to_string()).collect(),
        train_passages: vec![
            "Alice was friends with Bob. Alice went to visit her friend Bob.".into(),
        ],
        eval_passages: vec!["George bought a ball, a glove, and a bat.".into()],
    }
}

fn number(doc: &Doc, field: &str) -> i64 {
    doc.field(field).unwrap().parse().unwrap()
}

#[test]
fn there_are_the_papers_ten_arithmetic_five_scrambling_and_two_cloze_tasks_and_four_label_tasks() {
    let tasks = all().unwrap();
    let count = |family: &str| tasks.iter().filter(|t| t.family == family).count();
    assert_eq!(
        (
            count("arithmetic"),
            count("scrambling"),
            count("cloze"),
            count("labels")
        ),
        (10, 5, 2, 4)
    );
    let error = find("3d_divide").unwrap_err().to_string();
    assert!(
        error.contains("unknown task `3d_divide`") && error.contains("2d_plus"),
        "{error}"
    );
}

#[test]
fn operands_are_uniform_below_ten_to_the_digits_and_answers_are_right() {
    for (name, bound) in [
        ("2d_plus", 100),
        ("3d_minus", 1000),
        ("5d_plus", 100_000),
        ("2d_times", 100),
    ] {
        let docs = generate(&spec(name), &sources(), Split::Train, 400, 1).unwrap();
        assert_eq!(docs.len(), 400);
        let mut negative = false;
        let mut largest = 0;
        for doc in &docs {
            let (a, b, answer) = (number(doc, "a"), number(doc, "b"), number(doc, "answer"));
            assert!(
                (0..bound).contains(&a) && (0..bound).contains(&b),
                "{name}: {a}, {b}"
            );
            largest = largest.max(a).max(b);
            let expected = match name {
                "2d_times" => a * b,
                n if n.ends_with("minus") => a - b,
                _ => a + b,
            };
            assert_eq!(answer, expected, "{name}: {a}, {b}");
            negative |= answer < 0;
        }
        // Uniform over the whole range, so some operands have all the digits.
        assert!(largest >= bound / 10, "{name}: largest operand {largest}");
        assert_eq!(
            negative,
            name.ends_with("minus"),
            "{name}: negative results"
        );
    }
}

#[test]
fn one_digit_composites_put_parentheses_around_the_last_two() {
    let docs = generate(&spec("1dc"), &sources(), Split::Eval, 200, 3).unwrap();
    let mut operators = BTreeSet::new();
    for doc in &docs {
        let e: Vec<char> = doc.field("expression").unwrap().chars().collect();
        assert_eq!(e.len(), 7, "{e:?}");
        assert!(e[0].is_ascii_digit() && e[3].is_ascii_digit() && e[5].is_ascii_digit());
        assert_eq!((e[2], e[6]), ('(', ')'));
        operators.extend([e[1], e[4]]);
        let d = |c: char| i64::from(c.to_digit(10).unwrap());
        let inner = apply(e[4] as u8, d(e[3]), d(e[5]));
        assert_eq!(number(doc, "answer"), apply(e[1] as u8, d(e[0]), inner));
    }
    assert_eq!(operators, BTreeSet::from(['+', '-', '*']));
    // The paper's example, by the same rule.
    assert_eq!(apply(b'+', 6, apply(b'*', 4, 8)), 38);
}

#[test]
fn scrambles_follow_the_papers_definitions() {
    let mut rng = fastrand::Rng::with_seed(7);
    for _ in 0..50 {
        let word = "inevitably";
        let cycled = scramble(word, Transform::Cycle, &mut rng);
        assert_ne!(cycled, word);
        assert!(
            format!("{cycled}{cycled}").contains(word),
            "{cycled} is not a rotation"
        );

        let a1 = scramble(word, Transform::Anagram { keep: 1 }, &mut rng);
        assert_eq!((&a1[..1], &a1[9..]), ("i", "y"));
        let a2 = scramble(word, Transform::Anagram { keep: 2 }, &mut rng);
        assert_eq!((&a2[..2], &a2[8..]), ("in", "ly"));
        for anagram in [&a1, &a2] {
            assert_ne!(anagram, word);
            let mut sorted: Vec<char> = anagram.chars().collect();
            sorted.sort();
            let mut expected: Vec<char> = word.chars().collect();
            expected.sort();
            assert_eq!(sorted, expected);
        }

        let inserted = scramble("succession", Transform::Insert, &mut rng);
        let chars: Vec<char> = inserted.chars().collect();
        assert_eq!(chars.len(), 19);
        assert!(
            chars
                .iter()
                .skip(1)
                .step_by(2)
                .all(|c| INSERTED.contains(c))
        );
        assert_eq!(chars.iter().step_by(2).collect::<String>(), "succession");

        assert_eq!(scramble("objects", Transform::Reverse, &mut rng), "stcejbo");
    }
}

#[test]
fn scrambling_uses_words_of_five_to_fourteen_letters() {
    let mut words = BTreeSet::new();
    for split in [Split::Train, Split::Eval] {
        for doc in generate(&spec("reversed_words"), &sources(), split, 100, 1).unwrap() {
            let word = doc.field("word").unwrap().to_string();
            assert!(WORD_LENGTHS.contains(&word.len()), "{word}");
            assert_eq!(split_of(&word), split);
            words.insert(word);
        }
    }
    assert!(words.contains("fourteenletter") && !words.contains("fifteenlettered"));
    assert!(!words.contains("the"));
}

#[test]
fn held_out_problems_never_appear_on_the_training_side() {
    for task in all().unwrap() {
        // The label tasks need hundreds of words; the others' checks are about these.
        let sources = if task.family == "labels" {
            many_words()
        } else {
            sources()
        };
        let train = generate(&task.spec, &sources, Split::Train, 2000, 1).unwrap();
        let eval = generate(&task.spec, &sources, Split::Eval, 100, 2).unwrap();
        assert!(!eval.is_empty(), "{}", task.spec.name);
        let questions: BTreeSet<String> =
            train.iter().map(|d| task.spec.text(d).unwrap()).collect();
        let keys = |d: &Doc| {
            d.fields
                .get("word")
                .cloned()
                .unwrap_or_else(|| task.spec.text(d).unwrap())
        };
        let train_keys: BTreeSet<String> = train.iter().map(keys).collect();
        for doc in &eval {
            assert!(
                !questions.contains(&task.spec.text(doc).unwrap()),
                "{}: {doc:?}",
                task.spec.name
            );
            assert!(
                !train_keys.contains(&keys(doc)),
                "{}: {doc:?}",
                task.spec.name
            );
        }
    }
}

#[test]
fn few_shot_prompts_are_byte_exact() {
    let unlimited = |_: &str| Ok(0);
    let doc = |pairs: &[(&str, &str)]| Doc::from_fields(pairs.iter().copied());
    let plus = spec("2d_plus");
    let prompt = build_prompt(
        &plus,
        &doc(&[("a", "48"), ("b", "76"), ("answer", "124")]),
        &[
            doc(&[("a", "3"), ("b", "5"), ("answer", "8")]),
            doc(&[("a", "34"), ("b", "53"), ("answer", "87")]),
        ],
        usize::MAX,
        &unlimited,
    )
    .unwrap();
    assert_eq!(
        prompt.context,
        "Q: What is 3 plus 5? A: 8\n\nQ: What is 34 plus 53? A: 87\n\nQ: What is 48 plus 76? A:"
    );
    assert_eq!(prompt.target, " 124");

    let cycle = spec("cycle_letters");
    let prompt = build_prompt(
        &cycle,
        &doc(&[("scrambled", "lyinevitab"), ("word", "inevitably")]),
        &[doc(&[("scrambled", "ruptioncor"), ("word", "corruption")])],
        usize::MAX,
        &unlimited,
    )
    .unwrap();
    assert_eq!(
        prompt.context,
        "Please unscramble the letters into a word, and write that word:\nruptioncor = corruption\nlyinevitab ="
    );
    assert_eq!(prompt.target, "inevitably");

    let blank = spec("cloze_blank");
    let prompt = build_prompt(
        &blank,
        &doc(&[
            ("context", "George bought a ball, a glove, and a"),
            ("word", "bat"),
        ]),
        &[doc(&[
            ("context", "Alice went to visit her friend"),
            ("word", "Bob"),
        ])],
        usize::MAX,
        &unlimited,
    )
    .unwrap();
    assert_eq!(
        prompt.context,
        "Alice went to visit her friend ___. → Bob\n\nGeorge bought a ball, a glove, and a ___. →"
    );
    assert_eq!(prompt.target, " bat");

    let labels = spec("labels_1");
    let item = |filler: &str, key: &str, gold: usize| Doc {
        choices: vec!["kings".into(), "husband".into()],
        gold: Some(gold),
        ..doc(&[
            ("filler", filler),
            ("key", key),
            ("label", ["kings", "husband"][gold]),
        ])
    };
    let prompt = build_prompt(
        &labels,
        &item("quiet", "river", 0),
        &[item("bright", "river", 0), item("open", "market", 1)],
        usize::MAX,
        &unlimited,
    )
    .unwrap();
    assert_eq!(
        prompt.context,
        "bright river: kings\nopen market: husband\nquiet river:"
    );
    assert_eq!(prompt.choices, [" kings", " husband"]);
}

#[test]
fn a_cloze_instance_is_its_passage_without_the_last_word() {
    assert_eq!(
        last_word("He went to Jerusalem."),
        Some(("He went to".to_string(), "Jerusalem".to_string()))
    );
    assert_eq!(last_word("It cost 40."), None);
    let docs = generate(&spec("cloze"), &sources(), Split::Eval, 10, 1).unwrap();
    assert_eq!(docs.len(), 1);
    assert_eq!(docs[0].field("word").unwrap(), "bat");
}

/// 800 distinct made-up "frequent" words of 4–9 letters, most frequent first.
fn many_words() -> Sources {
    let letter = |n: usize| (b'a' + (n % 26) as u8) as char;
    let words = (0..800)
        .map(|i: usize| {
            let stem: String = [letter(i / 676), letter(i / 26), letter(i)]
                .iter()
                .collect();
            stem + &"q".repeat(1 + i % 6)
        })
        .collect();
    Sources {
        words,
        ..Sources::default()
    }
}

#[test]
fn each_label_task_is_a_fixed_two_class_problem_of_held_out_words_and_labels() {
    let sources = many_words();
    let mut seen = BTreeSet::new();
    for index in 1..=4 {
        let name = format!("labels_{index}");
        let mapping = labels::task_mapping(&sources, index).unwrap();
        // Held-out words, none shared between class words and labels or between tasks.
        for word in mapping.keys.iter().chain(&mapping.labels) {
            assert_eq!(split_of(word), Split::Eval, "{name}: {word}");
            assert!(seen.insert(word.clone()), "{name}: {word} twice");
        }
        for split in [Split::Train, Split::Eval] {
            let docs = generate(&spec(&name), &sources, split, 150, 1).unwrap();
            assert_eq!(docs.len(), 150);
            let mut per_class = [0; labels::CLASSES];
            for doc in &docs {
                let gold = doc.gold.unwrap();
                per_class[gold] += 1;
                assert_eq!(doc.choices, mapping.labels);
                assert_eq!(doc.field("key").unwrap(), mapping.keys[gold]);
                assert_eq!(doc.field("label").unwrap(), mapping.labels[gold]);
                // Only the filler word is split: demonstrations and questions never share one.
                let filler = doc.field("filler").unwrap();
                assert_eq!(split_of(filler), split, "{name}: filler {filler}");
                assert!(
                    !mapping
                        .keys
                        .iter()
                        .chain(&mapping.labels)
                        .any(|w| w == filler)
                );
            }
            // Both classes, about equally often.
            assert!(per_class.iter().all(|&n| n > 45), "{per_class:?}");
        }
    }
}

#[test]
fn a_label_training_document_is_one_random_episode_of_training_side_words() {
    let sources = many_words();
    let task_mappings: Vec<labels::Mapping> = (1..=4)
        .map(|i| labels::task_mapping(&sources, i).unwrap())
        .collect();
    let mut rng = fastrand::Rng::with_seed(3);
    let mut mappings = BTreeSet::new();
    for _ in 0..50 {
        let docs = training_examples(&spec("labels_2"), &[], &sources, 12, &mut rng).unwrap();
        assert_eq!(docs.len(), 12);
        // One mapping within the document: each class word always has the same label...
        let labels = &docs[0].choices;
        let mut class_words: BTreeMap<usize, BTreeSet<&str>> = BTreeMap::new();
        for doc in &docs {
            class_words
                .entry(doc.gold.unwrap())
                .or_default()
                .insert(doc.field("key").unwrap());
        }
        assert!(class_words.values().all(|keys| keys.len() == 1));
        assert!(class_words.len() < 2 || class_words[&0] != class_words[&1]);
        for doc in &docs {
            assert_eq!(&doc.choices, labels);
            let gold = doc.gold.unwrap();
            assert_eq!(doc.field("label").unwrap(), labels[gold]);
            for word in [doc.field("key").unwrap(), doc.field("filler").unwrap()] {
                assert_eq!(split_of(word), Split::Train, "{word}");
            }
            assert!(labels.iter().all(|l| split_of(l) == Split::Train));
            for mapping in &task_mappings {
                assert!(!mapping.keys.iter().any(|k| k == doc.field("key").unwrap()));
                assert!(!mapping.labels.iter().any(|l| labels.contains(l)));
            }
        }
        mappings.insert(labels.clone());
    }
    // ...and a fresh one per document, so no label is learnable in the weights.
    assert!(mappings.len() > 40, "{}", mappings.len());
    // Other tasks' documents are draws from their pools.
    let pool = generate(&spec("2d_plus"), &sources, Split::Train, 5, 0).unwrap();
    let drawn = training_examples(&spec("2d_plus"), &pool, &sources, 3, &mut rng).unwrap();
    assert!(drawn.iter().all(|d| pool.contains(d)));
}

/// A model that answers a label question the one way the prompt allows: it finds the last
/// demonstration with the question's class word and prefers that demonstration's label; with no
/// such demonstration it has no preference (a tie, which goes to the first choice).
struct ReadsDemonstrations;

impl repro_core::eval::LanguageModel for ReadsDemonstrations {
    fn max_length(&self) -> usize {
        usize::MAX
    }
    fn token_count(&self, text: &str) -> anyhow::Result<usize> {
        Ok(text.split_whitespace().count())
    }
    fn loglikelihood(
        &self,
        requests: &[(String, String)],
    ) -> anyhow::Result<Vec<repro_core::eval::Loglikelihood>> {
        Ok(requests
            .iter()
            .map(|(context, choice)| {
                let mut lines: Vec<&str> = context.lines().collect();
                let question = lines.pop().unwrap();
                let key = question
                    .trim_end_matches(':')
                    .split_whitespace()
                    .last()
                    .unwrap();
                let shown = lines
                    .iter()
                    .rev()
                    .filter_map(|l| l.split_once(": "))
                    .find(|(q, _)| q.split_whitespace().last() == Some(key));
                let right = shown.is_some_and(|(_, label)| label == choice.trim());
                repro_core::eval::Loglikelihood {
                    logprob: if right { -1.0 } else { -2.0 },
                    is_greedy: right,
                    tokens: 1,
                }
            })
            .collect())
    }
    fn loglikelihood_rolling(
        &self,
        _: &[String],
    ) -> anyhow::Result<Vec<repro_core::eval::Loglikelihood>> {
        anyhow::bail!("a label task asks only for log-likelihoods")
    }
    fn generate_until(
        &self,
        _: &[repro_core::eval::GenerateRequest],
    ) -> anyhow::Result<Vec<String>> {
        anyhow::bail!("a label task asks only for log-likelihoods")
    }
}

#[test]
fn only_the_demonstrations_tell_a_label_task_so_a_model_that_reads_them_gains_with_k() {
    // What makes this family measure in-context learning: zero-shot, the prompt holds nothing
    // that names the labels' classes, so even a perfect reader is at chance; one demonstration
    // shows one class (right half the time, chance otherwise: ~75 %); sixteen show both.
    let sources = many_words();
    let spec = spec("labels_1");
    let pool = generate(&spec, &sources, Split::Train, 500, 0).unwrap();
    let eval = generate(&spec, &sources, Split::Eval, 100, 1).unwrap();
    let accuracy = |k| {
        repro_core::eval::score::evaluate(&spec, &ReadsDemonstrations, &eval, &pool, k, 1234)
            .unwrap()
            .metrics["acc"]
    };
    let (zero, one, few) = (accuracy(0), accuracy(1), accuracy(16));
    assert!((35.0..=65.0).contains(&zero), "zero-shot {zero}");
    assert!((60.0..=90.0).contains(&one), "one-shot {one}");
    assert!(few >= 99.0, "few-shot {few}");
}

#[test]
fn the_two_cloze_formats_ask_the_same_passages() {
    // Paired passage by passage, as the paper asks LAMBADA's passages in both formats.
    let passages = (0..30)
        .map(|i| {
            format!(
                "Passage {i} has a few words and ends in word{}.",
                "x".repeat(i % 7)
            )
        })
        .collect();
    let sources = Sources {
        eval_passages: passages,
        ..sources()
    };
    let plain = generate(&spec("cloze"), &sources, Split::Eval, 10, 1).unwrap();
    let blank = generate(&spec("cloze_blank"), &sources, Split::Eval, 10, 1).unwrap();
    assert_eq!(plain.len(), 10);
    assert_eq!(plain, blank);
}

#[test]
fn an_empty_pool_is_an_error_not_a_panic() {
    let mut rng = fastrand::Rng::with_seed(1);
    let error = training_examples(&spec("2d_plus"), &[], &sources(), 3, &mut rng).unwrap_err();
    assert!(error.to_string().contains("empty training pool"), "{error}");
}
