//! Claims: a paper's headline statements as computed predicates over reproduced metrics.
//!
//! A verdict is never written by hand. Comparisons use the spread over seeds: a difference inside
//! it is `inconclusive`, and with a single seed the claim's own stated tolerance stands in for the
//! spread (the evidence says so).

use serde::{Deserialize, Serialize};

use crate::run::{Metric, Metrics};

/// The outcome of testing a claim at this scale.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Verdict {
    /// The reproduced metrics support the claim beyond the seed spread.
    Holds,
    /// The reproduced metrics contradict the claim beyond the seed spread.
    Fails,
    /// The difference is inside the spread, or the metrics are missing.
    Inconclusive,
}

impl Verdict {
    /// Lowercase name for tables.
    pub fn name(self) -> &'static str {
        match self {
            Verdict::Holds => "holds",
            Verdict::Fails => "fails",
            Verdict::Inconclusive => "inconclusive",
        }
    }
}

/// A claim of a paper.
#[derive(Clone)]
pub struct Claim {
    /// Short id (`multi_head_beats_single_head`), also the plot's file name.
    pub id: &'static str,
    /// The claim in words, as the paper makes it.
    pub statement: &'static str,
    /// Where the paper makes it (`§6.2, Table 3 (A)`).
    pub source: &'static str,
    /// Computes the outcome from the reproduced metrics.
    pub evaluate: fn(&Metrics) -> anyhow::Result<ClaimOutcome>,
}

/// A labelled metric shown as evidence (and plotted).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Evidence {
    /// What it is (`h=1`, `h=8`).
    pub label: String,
    /// The metric with its per-seed values.
    pub metric: Metric,
}

/// What [`Claim::evaluate`] returns.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct ClaimOutcome {
    /// The computed verdict.
    pub verdict: Verdict,
    /// One or two sentences: the numbers and the rule that decided.
    pub explanation: String,
    /// The metrics compared.
    pub evidence: Vec<Evidence>,
}

/// A claim with its outcome, as stored in results and rendered in reports.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct ClaimReport {
    /// See [`Claim::id`].
    pub id: String,
    /// See [`Claim::statement`].
    pub statement: String,
    /// See [`Claim::source`].
    pub source: String,
    /// The outcome.
    #[serde(flatten)]
    pub outcome: ClaimOutcome,
}

impl Claim {
    /// Evaluates the claim; a missing metric makes it inconclusive rather than an error.
    pub fn report(&self, metrics: &Metrics) -> ClaimReport {
        let outcome = (self.evaluate)(metrics).unwrap_or_else(|error| ClaimOutcome {
            verdict: Verdict::Inconclusive,
            explanation: format!("not evaluated: {error:#}"),
            evidence: Vec::new(),
        });
        ClaimReport {
            id: self.id.to_string(),
            statement: self.statement.to_string(),
            source: self.source.to_string(),
            outcome,
        }
    }
}

/// The spread a difference of means must exceed: the standard deviation of the difference over
/// seeds, or `tolerance` when that is larger (always with a single seed).
fn spread(a: &Metric, b: &Metric, tolerance: f64) -> (f64, String) {
    let seeds = a.values.len().min(b.values.len());
    if seeds >= 2 {
        let sd = (a.std().powi(2) + b.std().powi(2)).sqrt();
        if sd >= tolerance {
            return (sd, format!("seed spread ±{sd:.2} over {seeds} seeds"));
        }
        return (
            tolerance,
            format!("tolerance ±{tolerance} (seed spread ±{sd:.2} over {seeds} seeds)"),
        );
    }
    (
        tolerance,
        format!("tolerance ±{tolerance}, single seed: no seed spread measured"),
    )
}

/// The two compared metrics, labelled, as evidence.
fn pair(a_label: &str, a: &Metric, b_label: &str, b: &Metric) -> Vec<Evidence> {
    [(a_label, a), (b_label, b)]
        .into_iter()
        .map(|(label, metric)| Evidence {
            label: label.to_string(),
            metric: metric.clone(),
        })
        .collect()
}

fn describe(label: &str, metric: &Metric) -> String {
    if metric.values.len() >= 2 {
        format!(
            "{label} {:.2}±{:.2} {}",
            metric.mean(),
            metric.std(),
            metric.unit
        )
    } else {
        format!("{label} {:.2} {}", metric.mean(), metric.unit)
    }
}

/// Claim "`a` is higher than `b`": holds when the difference of means exceeds the spread, fails
/// when it is below minus the spread, inconclusive in between.
pub fn higher(
    a_label: &str,
    a: &Metric,
    b_label: &str,
    b: &Metric,
    tolerance: f64,
) -> ClaimOutcome {
    let difference = a.mean() - b.mean();
    let (spread, rule) = spread(a, b, tolerance);
    let verdict = if !difference.is_finite() {
        Verdict::Inconclusive
    } else if difference > spread {
        Verdict::Holds
    } else if difference < -spread {
        Verdict::Fails
    } else {
        Verdict::Inconclusive
    };
    ClaimOutcome {
        verdict,
        explanation: format!(
            "{} vs {}: Δ = {difference:+.2}, {rule}.",
            describe(a_label, a),
            describe(b_label, b)
        ),
        evidence: pair(a_label, a, b_label, b),
    }
}

/// Claim "`a` and `b` are about equal": holds when the difference of means is inside the spread,
/// fails otherwise.
pub fn about_equal(
    a_label: &str,
    a: &Metric,
    b_label: &str,
    b: &Metric,
    tolerance: f64,
) -> ClaimOutcome {
    let difference = a.mean() - b.mean();
    let (spread, rule) = spread(a, b, tolerance);
    let verdict = if !difference.is_finite() {
        Verdict::Inconclusive
    } else if difference.abs() <= spread {
        Verdict::Holds
    } else {
        Verdict::Fails
    };
    ClaimOutcome {
        verdict,
        explanation: format!(
            "{} vs {}: |Δ| = {:.2}, {rule}.",
            describe(a_label, a),
            describe(b_label, b),
            difference.abs()
        ),
        evidence: pair(a_label, a, b_label, b),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn m(values: &[f64]) -> Metric {
        Metric::new(values.to_vec(), "BLEU")
    }

    #[test]
    fn higher_uses_seed_spread() {
        assert_eq!(
            higher("a", &m(&[10.0, 10.2]), "b", &m(&[8.0, 8.1]), 0.1).verdict,
            Verdict::Holds
        );
        assert_eq!(
            higher("a", &m(&[8.0, 8.1]), "b", &m(&[10.0, 10.2]), 0.1).verdict,
            Verdict::Fails
        );
        // A difference of 0.5 inside a spread of ~1.4 is not evidence either way.
        assert_eq!(
            higher("a", &m(&[9.0, 11.0]), "b", &m(&[9.0, 10.0]), 0.1).verdict,
            Verdict::Inconclusive
        );
    }

    #[test]
    fn single_seed_falls_back_to_tolerance_and_says_so() {
        let outcome = higher("a", &m(&[10.0]), "b", &m(&[9.5]), 1.0);
        assert_eq!(outcome.verdict, Verdict::Inconclusive);
        assert!(
            outcome.explanation.contains("single seed"),
            "{}",
            outcome.explanation
        );
    }

    #[test]
    fn about_equal_holds_inside_and_fails_outside() {
        assert_eq!(
            about_equal("a", &m(&[10.0, 10.4]), "b", &m(&[10.1, 10.3]), 0.5).verdict,
            Verdict::Holds
        );
        assert_eq!(
            about_equal("a", &m(&[14.0, 14.1]), "b", &m(&[10.1, 10.3]), 0.5).verdict,
            Verdict::Fails
        );
    }

    #[test]
    fn missing_metric_is_inconclusive_not_a_panic() {
        let claim = Claim {
            id: "x",
            statement: "s",
            source: "§1",
            evaluate: |metrics| {
                Ok(higher(
                    "a",
                    metrics.get("nope.bleu")?,
                    "b",
                    metrics.get("nope.bleu")?,
                    0.0,
                ))
            },
        };
        let report = claim.report(&Metrics::default());
        assert_eq!(report.outcome.verdict, Verdict::Inconclusive);
        assert!(report.outcome.explanation.contains("nope.bleu"));
    }
}
