use super::*;
use crate::eval::model::DummyModel;

fn choices(texts: &[&str]) -> Vec<String> {
    texts.iter().map(|t| t.to_string()).collect()
}

#[test]
fn each_normalisation_takes_its_own_argmax() {
    // Hand-computed: raw favours the short choice, per-character the long one, and the
    // unconditional correction the one the context raises most over its prior.
    let choices = choices(&["no", "absolutely"]);
    let logprobs = [-3.0, -5.0];
    assert_eq!(
        best_choice(&logprobs, &choices, None, Normalisation::None).unwrap(),
        0
    );
    // -3/2 = -1.5 against -5/10 = -0.5
    assert_eq!(
        best_choice(&logprobs, &choices, None, Normalisation::Characters).unwrap(),
        1
    );
    // -3 - (-4) = 1 against -5 - (-5.5) = 0.5
    let prior = [-4.0, -5.5];
    assert_eq!(
        best_choice(
            &logprobs,
            &choices,
            Some(&prior),
            Normalisation::Unconditional
        )
        .unwrap(),
        0
    );
    let prior = [-1.0, -9.0];
    assert_eq!(
        best_choice(
            &logprobs,
            &choices,
            Some(&prior),
            Normalisation::Unconditional
        )
        .unwrap(),
        1
    );
    // Ties go to the first.
    assert_eq!(
        best_choice(&[-1.0, -1.0], &choices, None, Normalisation::None).unwrap(),
        0
    );
    assert!(best_choice(&[], &[], None, Normalisation::None).is_err());
}

fn spec(output_type: &str, metrics: &str) -> TaskSpec {
    toml::from_str(&format!(
        r#"
name = "t"
version = 3
output_type = "{output_type}"
doc_to_text = "Q: {{q}} A:"
doc_to_target = "{{a}}"
until = ["\n"]
metrics = [{metrics}]
generator = {{}}
"#
    ))
    .unwrap()
}

fn qa(q: &str, a: &str) -> Doc {
    Doc::from_fields([("q", q), ("a", a)])
}

#[test]
fn greedy_answers_are_matched_exactly_after_trimming() {
    let spec = spec("generate_until", r#""exact_match""#);
    let docs = [qa("1+1", "2"), qa("2+2", "4")];
    let mut lm = DummyModel::new(100);
    lm.generations
        .insert("Q: 1+1 A:".into(), " 2\nQ: 3+3 A: 6".into());
    lm.generations.insert("Q: 2+2 A:".into(), " 5".into());
    let evaluation = evaluate(&spec, &lm, &docs, &[], 0, 7).unwrap();
    assert_eq!(evaluation.metrics["exact_match"], 50.0);
    assert_eq!(evaluation.correct, [true, false]);
    assert_eq!(
        (evaluation.version, evaluation.n, evaluation.seed),
        (3, 2, 7)
    );
}

#[test]
fn multiple_choice_reports_raw_and_length_normalised_accuracy() {
    let spec = spec("multiple_choice", r#""acc", "acc_norm", "answer_logprob""#);
    let mut doc = qa("colour of snow?", "");
    doc.choices = choices(&["red", "white as milk"]);
    doc.gold = Some(1);
    let mut lm = DummyModel::new(100);
    let ll = |logprob| Loglikelihood {
        logprob,
        is_greedy: false,
        tokens: 1,
    };
    lm.loglikelihoods
        .insert(("Q: colour of snow? A:".into(), " red".into()), ll(-4.0));
    lm.loglikelihoods.insert(
        ("Q: colour of snow? A:".into(), " white as milk".into()),
        ll(-6.0),
    );
    let evaluation = evaluate(&spec, &lm, &[doc], &[], 0, 0).unwrap();
    assert_eq!(evaluation.metrics["acc"], 0.0);
    assert_eq!(evaluation.metrics["acc_norm"], 100.0);
    assert!(!evaluation.metrics.contains_key("acc_uncond"));
    // The gold choice's log-likelihood, not the best one's.
    assert_eq!(evaluation.metrics["answer_logprob"], -6.0);
}

#[test]
fn a_cloze_is_scored_by_greedy_match_and_per_target_perplexity() {
    let spec = spec("loglikelihood", r#""acc", "perplexity""#);
    let docs = [qa("a", "x"), qa("b", "y")];
    let mut lm = DummyModel::new(100);
    for (q, a, logprob, is_greedy) in [("a", "x", -1.0, true), ("b", "y", -3.0, false)] {
        lm.loglikelihoods.insert(
            (format!("Q: {q} A:"), format!(" {a}")),
            Loglikelihood {
                logprob,
                is_greedy,
                tokens: 1,
            },
        );
    }
    let evaluation = evaluate(&spec, &lm, &docs, &[], 0, 0).unwrap();
    assert_eq!(evaluation.metrics["acc"], 50.0);
    assert!((evaluation.metrics["perplexity"] - 2f64.exp()).abs() < 1e-12);
    // Not asked for, not reported.
    assert!(!evaluation.metrics.contains_key("answer_logprob"));
}

#[test]
fn the_answer_log_likelihood_of_a_free_form_task_scores_delimiter_and_answer() {
    let spec = spec("generate_until", r#""exact_match", "answer_logprob""#);
    let docs = [qa("1+1", "2"), qa("2+2", "4")];
    let mut lm = DummyModel::new(100);
    lm.generations.insert("Q: 1+1 A:".into(), " 2".into());
    for (q, a, logprob) in [("1+1", "2", -0.5), ("2+2", "4", -2.5)] {
        lm.loglikelihoods.insert(
            (format!("Q: {q} A:"), format!(" {a}")),
            Loglikelihood {
                logprob,
                is_greedy: false,
                tokens: 1,
            },
        );
    }
    let evaluation = evaluate(&spec, &lm, &docs, &[], 0, 0).unwrap();
    assert_eq!(evaluation.metrics["exact_match"], 50.0);
    // (−0.5 − 2.5) / 2: the mean over answers, from the scores of " 2" and " 4" exactly.
    assert_eq!(evaluation.metrics["answer_logprob"], -1.5);
    let spec = self::spec("loglikelihood", r#""acc", "answer_logprob""#);
    let evaluation = evaluate(&spec, &lm, &docs, &[], 0, 0).unwrap();
    assert_eq!(evaluation.metrics["answer_logprob"], -1.5);
}

#[test]
fn demonstrations_are_seeded_distinct_and_never_the_question() {
    let spec = spec("generate_until", r#""exact_match""#);
    let pool: Vec<Doc> = (0..20).map(|i| qa(&i.to_string(), "x")).collect();
    let lm = DummyModel::new(10_000);
    let docs = [pool[3].clone(), qa("new", "y")];
    let first = prompts(&spec, &lm, &docs, &pool, 19, 5).unwrap();
    assert_eq!(first, prompts(&spec, &lm, &docs, &pool, 19, 5).unwrap());
    assert_ne!(first, prompts(&spec, &lm, &docs, &pool, 19, 6).unwrap());
    // All 19 others, each once, and not the question itself.
    assert!(!first[0].context.contains("Q: 3 A: x"));
    assert_eq!(first[0].context.matches(" A: x").count(), 19);
    let error = prompts(&spec, &lm, &docs, &pool, 21, 5).unwrap_err();
    assert!(error.to_string().contains("pool holds 20"), "{error}");
}

#[test]
fn the_k_used_is_reported_when_the_window_cuts_it() {
    let spec = spec("generate_until", r#""exact_match""#);
    let pool: Vec<Doc> = (0..10).map(|i| qa(&i.to_string(), "x")).collect();
    // "Q: n A: x\n\n" is 11 bytes; the question 9, the answer room 16 (default max_new_tokens).
    let lm = DummyModel::new(9 + 16 + 3 * 11);
    let evaluation = evaluate(&spec, &lm, &[qa("new", "y")], &pool, 8, 1).unwrap();
    assert_eq!((evaluation.shots_requested, evaluation.shots_min), (8, 3));
}
