use super::*;
use repro_core::eval::build_prompt;

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
fn there_are_the_papers_ten_arithmetic_five_scrambling_and_two_cloze_tasks() {
    let tasks = all().unwrap();
    let count = |family: &str| tasks.iter().filter(|t| t.family == family).count();
    assert_eq!(
        (count("arithmetic"), count("scrambling"), count("cloze")),
        (10, 5, 2)
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
        let train = generate(&task.spec, &sources(), Split::Train, 2000, 1).unwrap();
        let eval = generate(&task.spec, &sources(), Split::Eval, 100, 2).unwrap();
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
