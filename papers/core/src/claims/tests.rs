//! The verdict rules on cases with known answers.

use std::collections::BTreeMap;

use super::*;
use crate::checkpoint::RunKey;
use crate::lab::TrainingRecord;

fn record(key: &str, seed: u64, improvement: f64, dev: Option<Vec<String>>) -> TrainingRecord {
    TrainingRecord {
        label: key.to_string(),
        seed,
        key: RunKey(key.to_string()),
        steps: 100,
        resumed_from: None,
        parameters: 1,
        tokens_per_second: 1.0,
        train_seconds: 1.0,
        eval_seconds: 1.0,
        dev_loss_improvement: improvement,
        hypotheses: dev
            .map(|hypotheses| BTreeMap::from([("dev".to_string(), hypotheses)]))
            .unwrap_or_default(),
    }
}

/// Metrics `a` and `b` over converged runs (one per value).
fn metrics(a: &[f64], b: &[f64], unit: &str) -> Metrics {
    let mut out = Metrics::default();
    for (name, values) in [("a", a), ("b", b)] {
        let runs: Vec<RunKey> = (0..values.len())
            .map(|i| RunKey(format!("{name}{i}")))
            .collect();
        for (i, key) in runs.iter().enumerate() {
            out.trainings
                .insert(key.clone(), record(&key.0, i as u64 + 1, 0.001, None));
        }
        out.values.insert(
            format!("x.{name}"),
            Metric::new(values.to_vec(), unit).of_runs(runs),
        );
    }
    out
}

fn verdict_of_higher(m: &Metrics) -> Verdict {
    higher(m, arm("a", "x.a"), arm("b", "x.b")).unwrap().verdict
}

const MARGIN: Margin = Margin {
    value: 0.5,
    why: "test",
};

fn verdict_of_equal(m: &Metrics) -> Verdict {
    about_equal(m, arm("a", "x.a"), arm("b", "x.b"), MARGIN)
        .unwrap()
        .verdict
}

#[test]
fn higher_holds_fails_or_cannot_tell() {
    assert_eq!(
        verdict_of_higher(&metrics(&[10.0, 10.2, 10.1], &[8.0, 8.1, 8.2], "BLEU")),
        Verdict::Holds
    );
    assert_eq!(
        verdict_of_higher(&metrics(&[8.0, 8.1, 8.2], &[10.0, 10.2, 10.1], "BLEU")),
        Verdict::Fails
    );
    // A difference of 0.5 inside seed noise of ±1: no evidence either way.
    assert_eq!(
        verdict_of_higher(&metrics(&[9.0, 11.0, 10.5], &[9.0, 10.0, 10.0], "BLEU")),
        Verdict::Inconclusive
    );
}

#[test]
fn two_seeds_one_sd_apart_are_not_evidence() {
    // Δ = 1.5 with sd ≈ 1 per arm: the old rule (Δ > sqrt(sd_a² + sd_b²) ≈ 1.4) said "holds";
    // at one-sided α = 0.05 with 2 seeds per arm the interval is far wider.
    let m = metrics(&[10.0, 11.4], &[8.8, 9.6], "BLEU");
    assert_eq!(verdict_of_higher(&m), Verdict::Inconclusive);
}

#[test]
fn a_one_seed_arm_is_tested_with_the_three_seed_arm_s_spread() {
    // The old rule threw the spread away when one arm had a single seed and called Δ = −3 a
    // failure against a 0.05 tolerance, although the base seeds alone spread by 6.7.
    let m = metrics(&[44.5, 51.2, 47.9], &[50.9], "ppl");
    let outcome = higher(&m, arm("a", "x.a"), arm("b", "x.b")).unwrap();
    assert_eq!(
        outcome.verdict,
        Verdict::Inconclusive,
        "{}",
        outcome.explanation
    );
    assert!(
        outcome.explanation.contains("n = 3 vs 1 seeds")
            && outcome.explanation.contains("3-seed arm's spread"),
        "{}",
        outcome.explanation
    );
    // One seed on both sides: no spread is known at all.
    let single = metrics(&[10.0], &[9.0], "BLEU");
    let error = higher(&single, arm("a", "x.a"), arm("b", "x.b")).unwrap_err();
    assert!(error.to_string().contains("one seed per arm"));
}

#[test]
fn equivalence_holds_only_inside_the_margin_and_noise_makes_it_inconclusive() {
    // Tight and close: inside ±0.5.
    assert_eq!(
        verdict_of_equal(&metrics(&[10.0, 10.1, 10.05], &[10.1, 10.0, 10.12], "BLEU")),
        Verdict::Holds
    );
    // The same means, ten times noisier: the old rule (|Δ| ≤ spread) would hold *more* easily;
    // TOST cannot show equivalence.
    assert_eq!(
        verdict_of_equal(&metrics(&[9.0, 11.0, 10.5], &[11.0, 9.0, 10.3], "BLEU")),
        Verdict::Inconclusive
    );
    // Clearly apart, beyond the margin.
    assert_eq!(
        verdict_of_equal(&metrics(&[12.0, 12.1, 12.2], &[10.0, 10.1, 10.2], "BLEU")),
        Verdict::Fails
    );
}

#[test]
fn unconverged_runs_make_a_claim_about_models_inconclusive() {
    let mut m = metrics(&[10.0, 10.2, 10.1], &[8.0, 8.1, 8.2], "BLEU");
    m.trainings
        .get_mut(&RunKey("b1".into()))
        .unwrap()
        .dev_loss_improvement = 0.04;
    let outcome = higher(&m, arm("a", "x.a"), arm("b", "x.b")).unwrap();
    assert_eq!(outcome.verdict, Verdict::Inconclusive);
    assert!(
        outcome.explanation.contains("not converged")
            && outcome.explanation.contains("b seed 2 (+4.0 %)"),
        "{}",
        outcome.explanation
    );
}

#[test]
fn bleu_adds_the_sentence_level_uncertainty_of_a_paired_bootstrap() {
    let references: Vec<String> = (0..40)
        .map(|i| format!("the cat number {i} sat on the mat today"))
        .collect();
    // Arm a gets half the sentences right, arm b a few fewer: corpus BLEU differs by a margin
    // that seeds alone (identical seeds) would call certain.
    let hyps = |right: usize| -> Vec<String> {
        (0..40)
            .map(|i| {
                if i < right {
                    references[i].clone()
                } else {
                    format!("a dog {i} ran")
                }
            })
            .collect()
    };
    let mut m = metrics(&[0.0; 3], &[0.0; 3], "BLEU");
    let config = BleuConfig::default();
    for (name, right) in [("a", 20), ("b", 17)] {
        let score = crate::metrics::bleu::corpus_bleu(
            &hyps(right),
            std::slice::from_ref(&references),
            &config,
        )
        .unwrap()
        .score;
        let metric = m.values.get_mut(&format!("x.{name}")).unwrap();
        metric.values = vec![score, score + 0.01, score - 0.01];
        metric.scored_on = Some("dev".into());
        for key in metric.runs.clone() {
            m.trainings.get_mut(&key).unwrap().hypotheses =
                BTreeMap::from([("dev".to_string(), hyps(right))]);
        }
    }
    m.references.insert("dev".into(), references);
    let without = {
        let mut plain = m.clone();
        for metric in plain.values.values_mut() {
            metric.scored_on = None;
        }
        higher(&plain, arm("a", "x.a"), arm("b", "x.b")).unwrap()
    };
    assert_eq!(without.verdict, Verdict::Holds, "{}", without.explanation);
    let with = higher(&m, arm("a", "x.a"), arm("b", "x.b")).unwrap();
    assert!(
        with.explanation
            .contains("paired bootstrap over 40 dev sentences (1000 resamples)"),
        "{}",
        with.explanation
    );
    // 3 of 40 sentences is not a difference the test set can certify.
    assert_eq!(with.verdict, Verdict::Inconclusive, "{}", with.explanation);
}

#[test]
fn an_ordered_series_rises_or_not() {
    let mut m = metrics(&[1.0, 1.1, 1.05], &[3.0, 3.1, 3.05], "acc");
    m.values
        .insert("x.mid".into(), Metric::new(vec![2.0, 2.1, 2.05], "acc"));
    let arms = [
        arm("small", "x.a"),
        arm("mid", "x.mid"),
        arm("large", "x.b"),
    ];
    assert_eq!(increasing(&m, &arms).unwrap().verdict, Verdict::Holds);
    let falling = [
        arm("small", "x.b"),
        arm("mid", "x.mid"),
        arm("large", "x.a"),
    ];
    assert_eq!(increasing(&m, &falling).unwrap().verdict, Verdict::Fails);
    // Up overall, but down in the middle.
    m.values
        .insert("x.mid".into(), Metric::new(vec![5.0, 5.1, 5.05], "acc"));
    assert_eq!(
        increasing(&m, &arms).unwrap().verdict,
        Verdict::Inconclusive
    );
}

#[test]
fn explanations_name_the_test_n_interval_level_and_margin() {
    let m = metrics(&[10.0, 10.1, 10.05], &[10.1, 10.0, 10.12], "BLEU");
    let outcome = about_equal(&m, arm("a", "x.a"), arm("b", "x.b"), MARGIN).unwrap();
    for part in [
        "n = 3 vs 3 seeds",
        "Welch t over seeds",
        "90 % CI [",
        "α = 0.05",
        "margin ±0.50 BLEU (test)",
    ] {
        assert!(
            outcome.explanation.contains(part),
            "{part}: {}",
            outcome.explanation
        );
    }
}

#[test]
fn a_missing_metric_is_inconclusive_not_a_panic() {
    let claim = Claim {
        id: "x",
        statement: "s",
        source: "§1",
        evaluate: |m| higher(m, arm("a", "nope.bleu"), arm("b", "nope.bleu")),
    };
    let report = claim.report(&Metrics::default());
    assert_eq!(report.outcome.verdict, Verdict::Inconclusive);
    assert!(report.outcome.explanation.contains("nope.bleu"));
}

#[test]
fn changed_verdicts_are_listed() {
    let report = |verdict| ClaimReport {
        id: "c".into(),
        statement: String::new(),
        source: String::new(),
        outcome: ClaimOutcome {
            verdict,
            explanation: String::new(),
            evidence: Vec::new(),
        },
    };
    assert_eq!(
        changed_verdicts(&[report(Verdict::Holds)], &[report(Verdict::Inconclusive)]),
        vec!["c: stored holds → now inconclusive".to_string()]
    );
    assert!(changed_verdicts(&[report(Verdict::Holds)], &[report(Verdict::Holds)]).is_empty());
}

/// Metrics `a` and `b` read from the same runs (seed `i` gives `a[i]` and `b[i]`).
fn paired_metrics(a: &[f64], b: &[f64]) -> Metrics {
    let mut out = Metrics::default();
    let runs: Vec<RunKey> = (0..a.len()).map(|i| RunKey(format!("r{i}"))).collect();
    for (i, key) in runs.iter().enumerate() {
        out.trainings
            .insert(key.clone(), record(&key.0, i as u64 + 1, 0.001, None));
    }
    for (name, values) in [("a", a), ("b", b)] {
        out.values.insert(
            format!("x.{name}"),
            Metric::new(values.to_vec(), "%").of_runs(runs.clone()),
        );
    }
    out
}

#[test]
fn two_readings_of_the_same_runs_are_compared_pair_by_pair() {
    // Each seed's encoder is good or bad for both readings alike: the arms spread by ±5, their
    // difference by ±0.1. Unpaired, Δ = 1 is lost in the spread; paired, it is clear.
    let (a, b) = ([66.0, 71.0, 61.0], [65.0, 69.9, 60.1]);
    let paired = higher(&paired_metrics(&a, &b), arm("a", "x.a"), arm("b", "x.b")).unwrap();
    assert_eq!(paired.verdict, Verdict::Holds, "{}", paired.explanation);
    assert!(paired.explanation.contains("paired t over the 3 seeds"));
    let unpaired = higher(&metrics(&a, &b, "%"), arm("a", "x.a"), arm("b", "x.b")).unwrap();
    assert_eq!(
        unpaired.verdict,
        Verdict::Inconclusive,
        "{}",
        unpaired.explanation
    );
    assert!(unpaired.explanation.contains("Welch"));
}

#[test]
fn non_inferiority_holds_above_minus_margin_and_fails_wholly_below() {
    let margin = Margin {
        value: 2.0,
        why: "test",
    };
    let verdict = |a: &[f64], b: &[f64]| {
        not_worse(
            &paired_metrics(a, b),
            arm("a", "x.a"),
            arm("b", "x.b"),
            margin,
        )
        .unwrap()
        .verdict
    };
    // a 0.5 behind b, tightly: within 2 points.
    assert_eq!(
        verdict(&[64.5, 69.6, 59.4], &[65.0, 70.0, 60.0]),
        Verdict::Holds
    );
    // a far ahead: not worse, so it holds too (unlike equivalence).
    assert_eq!(
        verdict(&[75.0, 80.1, 69.9], &[65.0, 70.0, 60.0]),
        Verdict::Holds
    );
    // a 10 behind: fails.
    assert_eq!(
        verdict(&[55.0, 60.2, 49.9], &[65.0, 70.0, 60.0]),
        Verdict::Fails
    );
    // a 2 behind with noise: cannot tell.
    assert_eq!(
        verdict(&[60.0, 71.0, 57.0], &[65.0, 70.0, 60.0]),
        Verdict::Inconclusive
    );
}

#[test]
fn a_one_question_difference_that_every_seed_shares_is_not_a_verdict() {
    // Three seeds each answer the same 1 of 100 questions zero-shot and none few-shot: the
    // seeds' differences are identical (−1 point), so a t over seeds alone is a point and "fails".
    // The questions are a sample: with their variance the interval spans 0.
    let (few, zero) = ([0.0; 3], [1.0; 3]);
    let seeds_only = higher(
        &paired_metrics(&few, &zero),
        arm("few", "x.a"),
        arm("zero", "x.b"),
    )
    .unwrap();
    assert_eq!(
        seeds_only.verdict,
        Verdict::Fails,
        "{}",
        seeds_only.explanation
    );
    // Each arm's 3 seeds answer questions 0..right of 100 right.
    let with_answers = |mut metrics: Metrics, right: [(&str, usize); 2]| {
        for (key, right) in right {
            let answers = (0..3)
                .map(|_| {
                    (0..100)
                        .map(|i| if i < right { 100.0 } else { 0.0 })
                        .collect()
                })
                .collect();
            let metric = metrics.values.remove(key).unwrap();
            metrics
                .values
                .insert(key.into(), metric.with_instances(answers));
        }
        metrics
    };
    let with_questions = with_answers(paired_metrics(&few, &zero), [("x.a", 0), ("x.b", 1)]);
    let outcome = higher(&with_questions, arm("few", "x.a"), arm("zero", "x.b")).unwrap();
    assert_eq!(
        outcome.verdict,
        Verdict::Inconclusive,
        "{}",
        outcome.explanation
    );
    assert!(
        outcome
            .explanation
            .contains("instance sampling over the 100 shared instances"),
        "{}",
        outcome.explanation
    );
    // A difference of 40 questions of 100 still holds with the questions' variance.
    let clear = with_answers(
        paired_metrics(&[40.0, 41.0, 39.0], &[0.0; 3]),
        [("x.a", 40), ("x.b", 0)],
    );
    let outcome = higher(&clear, arm("a", "x.a"), arm("b", "x.b")).unwrap();
    assert_eq!(outcome.verdict, Verdict::Holds, "{}", outcome.explanation);
    // Lists for only some of the values are not used (the seeds alone decide, as before).
    let mut partial = with_answers(paired_metrics(&few, &zero), [("x.a", 0), ("x.b", 1)]);
    partial.values.get_mut("x.a").unwrap().per_instance.pop();
    let outcome = higher(&partial, arm("few", "x.a"), arm("zero", "x.b")).unwrap();
    assert_eq!(outcome.verdict, Verdict::Fails, "{}", outcome.explanation);
}
