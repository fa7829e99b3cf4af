//! Claims: a paper's headline statements as computed predicates over reproduced metrics, judged
//! by stated tests that a sceptical reviewer can check.
//!
//! A verdict is never written by hand, and it must not reverse when only the seed changes:
//! - [`higher`]: "a is higher than b". The (1 − 2α) interval of Δ = mean(a) − mean(b) over seeds
//!   ([`crate::stats::difference_interval`]: Welch's t, or the replicated arm's spread when the
//!   other arm has one seed), widened for BLEU by the paired bootstrap over the scored sentences
//!   and, for means over evaluated instances that both arms share, by the instances' sampling
//!   variance ([`crate::stats::instance_variance`]); `holds` when it lies above 0, `fails` when
//!   below, `inconclusive` otherwise.
//! - [`about_equal`]: two one-sided tests (TOST) against a margin stated in the metric's unit with
//!   its reason: `holds` when the interval lies inside ±margin, `fails` when wholly outside,
//!   `inconclusive` otherwise (so a noisier run is *less* likely to hold, never more).
//! - [`increasing`]: an ordered series (sizes, shots) rises from first to last with no step down.
//!
//! These are claims about models, so they compare converged trainings: when a compared run's dev
//! loss was still improving by [`crate::stats::PLATEAU_THRESHOLD`] or more over its last fifth,
//! the verdict is `inconclusive` and says which run. Every explanation names the test, n per arm,
//! Δ with its interval, the level and the margin.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::metrics::bleu::{BleuConfig, SegmentStats, segment_stats};
use crate::run::{Metric, Metrics};
use crate::stats::{self, ALPHA, BOOTSTRAP_RESAMPLES, BOOTSTRAP_SEED, Interval, PLATEAU_THRESHOLD};

/// The outcome of testing a claim at this scale.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Verdict {
    /// The reproduced metrics support the claim beyond the stated test.
    Holds,
    /// The reproduced metrics contradict the claim beyond the stated test.
    Fails,
    /// The evidence cannot tell, the runs did not converge, or the metrics are missing.
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
    /// The numbers and the rule that decided.
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

/// One side of a comparison: a label and the metric key it reads.
#[derive(Debug, Clone)]
pub struct Arm {
    /// How the explanation names it (`h=8`).
    pub label: String,
    /// The `experiment.metric` key.
    pub key: String,
}

/// The arm `label` reading metric `key`.
pub fn arm(label: impl Into<String>, key: impl Into<String>) -> Arm {
    Arm {
        label: label.into(),
        key: key.into(),
    }
}

/// The equivalence margin of [`about_equal`], in the metric's unit, with the reason for its size.
#[derive(Debug, Clone, Copy)]
pub struct Margin {
    /// Half-width of the equivalence region.
    pub value: f64,
    /// Why this size (`the smallest perplexity change the paper discusses as an effect`).
    pub why: &'static str,
}

/// `label mean ± sd unit` (or `label value unit` with one seed).
fn describe(label: &str, metric: &Metric) -> String {
    let decimals = decimals(&metric.unit);
    if metric.values.len() >= 2 {
        format!(
            "{label} {:.decimals$} ± {:.decimals$} {}",
            metric.mean(),
            metric.std(),
            metric.unit
        )
    } else {
        format!("{label} {:.decimals$} {}", metric.mean(), metric.unit)
    }
}

/// Nats are small numbers: three decimals; everything else two.
fn decimals(unit: &str) -> usize {
    if unit == "nats" { 3 } else { 2 }
}

/// Everything a two-arm rule computes before deciding.
struct Compared {
    interval: Interval,
    /// `n = 3 vs 3 seeds`, the test, the bootstrap when there is one.
    method: String,
    /// Runs still improving, as `label seed s (x %)`; empty when all plateaued.
    unconverged: Vec<String>,
    unit: String,
    evidence: Vec<Evidence>,
    arms: String,
}

fn compare(metrics: &Metrics, a: &Arm, b: &Arm) -> anyhow::Result<Compared> {
    let (ma, mb) = (metrics.get(&a.key)?, metrics.get(&b.key)?);
    anyhow::ensure!(
        ma.unit == mb.unit,
        "{} is in {} but {} in {}",
        a.key,
        ma.unit,
        b.key,
        mb.unit
    );
    let (extra, bootstrap) = sentence_variance(metrics, ma, mb);
    // Questions are a sample too: where both arms score the same instances, their sampling
    // variance is added to the seeds' (else a one-question difference that every seed shares
    // would read as certain).
    // Per-instance scores count only where every value has its list.
    let complete = |m: &Metric| m.per_instance.len() == m.values.len();
    let instances = (complete(ma) && complete(mb))
        .then(|| stats::instance_variance(&ma.per_instance, &mb.per_instance))
        .flatten();
    let instance_extra = instances.map_or(0.0, |(variance, _)| variance);
    // Two readings of the same runs (seed by seed) are paired; other arms are independent.
    let paired = !ma.runs.is_empty() && ma.runs == mb.runs && extra == 0.0;
    let interval = if paired {
        stats::paired_difference_interval(&ma.values, &mb.values, instance_extra, ALPHA)
    } else {
        stats::difference_interval(&ma.values, &mb.values, extra + instance_extra, ALPHA)
    }
    .map_err(|why| anyhow::anyhow!("{why}"))?;
    let mut method = format!(
        "n = {} vs {} seeds, {}",
        ma.values.len(),
        mb.values.len(),
        interval.method
    );
    if let Some(bootstrap) = bootstrap {
        method.push_str(&format!(", + {bootstrap}"));
    }
    if let Some((_, n)) = instances {
        method.push_str(&format!(
            ", + instance sampling over the {n} shared instances"
        ));
    }
    let mut unconverged = not_converged(metrics, &a.label, ma);
    unconverged.extend(not_converged(metrics, &b.label, mb));
    Ok(Compared {
        interval,
        method,
        unconverged,
        unit: ma.unit.clone(),
        evidence: vec![
            Evidence {
                label: a.label.clone(),
                metric: ma.clone(),
            },
            Evidence {
                label: b.label.clone(),
                metric: mb.clone(),
            },
        ],
        arms: format!("{} vs {}", describe(&a.label, ma), describe(&b.label, mb)),
    })
}

/// The runs behind `metric` whose dev loss was still improving, as `label seed s (+x.x %)`.
fn not_converged(metrics: &Metrics, label: &str, metric: &Metric) -> Vec<String> {
    metric
        .runs
        .iter()
        .filter_map(|key| metrics.trainings.get(key))
        // NaN (a curve too short to tell) counts as not converged.
        .filter(|run| {
            run.dev_loss_improvement.is_nan() || run.dev_loss_improvement >= PLATEAU_THRESHOLD
        })
        .map(|run| {
            format!(
                "{label} seed {} ({:+.1} %)",
                run.seed,
                100.0 * run.dev_loss_improvement
            )
        })
        .collect()
}

/// For two BLEU scores over the same split with stored hypotheses: the paired-bootstrap
/// variance of Δ and a description; otherwise none (and, for BLEU, why).
fn sentence_variance(metrics: &Metrics, a: &Metric, b: &Metric) -> (f64, Option<String>) {
    let (Some(split), Some(other)) = (&a.scored_on, &b.scored_on) else {
        return (0.0, None);
    };
    let missing = |why: String| (0.0, Some(format!("no sentence-level uncertainty ({why})")));
    if split != other {
        return missing(format!("scored on {split} and {other}"));
    }
    let Some(references) = metrics.references.get(split) else {
        return missing(format!("the {split} references are not stored"));
    };
    let config = BleuConfig::default();
    let systems = |metric: &Metric| -> Option<Vec<Vec<SegmentStats>>> {
        metric
            .runs
            .iter()
            .map(|key| {
                let hypotheses = metrics.trainings.get(key)?.hypotheses.get(split)?;
                segment_stats(hypotheses, references, &config).ok()
            })
            .collect()
    };
    match (systems(a), systems(b)) {
        (Some(sa), Some(sb)) if !sa.is_empty() && !sb.is_empty() => {
            let variance = stats::paired_bootstrap_variance(
                &sa,
                &sb,
                &config,
                BOOTSTRAP_RESAMPLES,
                BOOTSTRAP_SEED,
            );
            (
                variance,
                Some(format!(
                    "paired bootstrap over {} {split} sentences ({BOOTSTRAP_RESAMPLES} resamples)",
                    references.len()
                )),
            )
        }
        _ => missing("hypotheses not stored".to_string()),
    }
}

fn interval_text(interval: &Interval, unit: &str) -> String {
    let d = decimals(unit);
    format!(
        "Δ = {:+.d$} {unit}, {:.0} % CI [{:+.d$}, {:+.d$}]",
        interval.delta,
        100.0 * (1.0 - 2.0 * ALPHA),
        interval.low,
        interval.high
    )
}

fn unconverged_text(runs: &[String]) -> String {
    format!(
        "not converged: the dev loss of {} still improved by {:.0} % or more over the last fifth \
         of training; a claim about models needs plateaued runs",
        runs.join(", "),
        100.0 * PLATEAU_THRESHOLD
    )
}

/// Claim "`a` is higher than `b`" (for a lower-is-better metric, put the arm the claim says is
/// worse first): one-sided at level [`ALPHA`].
pub fn higher(metrics: &Metrics, a: Arm, b: Arm) -> anyhow::Result<ClaimOutcome> {
    let compared = compare(metrics, &a, &b)?;
    let interval = &compared.interval;
    let (verdict, why) = if !compared.unconverged.is_empty() {
        (
            Verdict::Inconclusive,
            unconverged_text(&compared.unconverged),
        )
    } else if interval.low > 0.0 {
        (Verdict::Holds, "the interval lies above 0".to_string())
    } else if interval.high < 0.0 {
        (Verdict::Fails, "the interval lies below 0".to_string())
    } else {
        (
            Verdict::Inconclusive,
            "the interval contains 0: the runs cannot tell the arms apart".to_string(),
        )
    };
    Ok(ClaimOutcome {
        verdict,
        explanation: format!(
            "{}: {} ({}); one-sided test at α = {ALPHA} → {}: {why}.",
            compared.arms,
            interval_text(interval, &compared.unit),
            compared.method,
            verdict.name()
        ),
        evidence: compared.evidence,
    })
}

/// Claim "`a` and `b` are about equal": two one-sided tests at level [`ALPHA`] against ±`margin`.
pub fn about_equal(
    metrics: &Metrics,
    a: Arm,
    b: Arm,
    margin: Margin,
) -> anyhow::Result<ClaimOutcome> {
    let compared = compare(metrics, &a, &b)?;
    let interval = &compared.interval;
    let m = margin.value;
    let (verdict, why) = if !compared.unconverged.is_empty() {
        (
            Verdict::Inconclusive,
            unconverged_text(&compared.unconverged),
        )
    } else if interval.low > -m && interval.high < m {
        (
            Verdict::Holds,
            "the interval lies inside the margin".to_string(),
        )
    } else if interval.low > m || interval.high < -m {
        (
            Verdict::Fails,
            "the interval lies wholly outside the margin".to_string(),
        )
    } else {
        (
            Verdict::Inconclusive,
            "the interval straddles the margin: equivalence can be neither shown nor ruled out"
                .to_string(),
        )
    };
    let d = decimals(&compared.unit);
    Ok(ClaimOutcome {
        verdict,
        explanation: format!(
            "{}: {} ({}); equivalence by two one-sided tests at α = {ALPHA} with margin \
             ±{m:.d$} {} ({}) → {}: {why}.",
            compared.arms,
            interval_text(interval, &compared.unit),
            compared.method,
            compared.unit,
            margin.why,
            verdict.name()
        ),
        evidence: compared.evidence,
    })
}

/// Claim "`a` is not worse than `b` by more than `margin`" (non-inferiority, for a
/// higher-is-better metric): `holds` when the interval of Δ = a − b lies above −margin, `fails`
/// when it lies wholly below, `inconclusive` otherwise.
pub fn not_worse(
    metrics: &Metrics,
    a: Arm,
    b: Arm,
    margin: Margin,
) -> anyhow::Result<ClaimOutcome> {
    let compared = compare(metrics, &a, &b)?;
    let interval = &compared.interval;
    let m = margin.value;
    let (verdict, why) = if !compared.unconverged.is_empty() {
        (
            Verdict::Inconclusive,
            unconverged_text(&compared.unconverged),
        )
    } else if interval.low > -m {
        (
            Verdict::Holds,
            "the interval lies above −margin".to_string(),
        )
    } else if interval.high < -m {
        (
            Verdict::Fails,
            "the interval lies wholly below −margin".to_string(),
        )
    } else {
        (
            Verdict::Inconclusive,
            "the interval straddles −margin: non-inferiority can be neither shown nor ruled out"
                .to_string(),
        )
    };
    let d = decimals(&compared.unit);
    Ok(ClaimOutcome {
        verdict,
        explanation: format!(
            "{}: {} ({}); non-inferiority by a one-sided test at α = {ALPHA} with margin \
             {m:.d$} {} ({}) → {}: {why}.",
            compared.arms,
            interval_text(interval, &compared.unit),
            compared.method,
            compared.unit,
            margin.why,
            verdict.name()
        ),
        evidence: compared.evidence,
    })
}

/// Claim "the metric rises along `arms`" (ordered: sizes, shots): holds when the last arm is
/// higher than the first ([`higher`]'s test) and no step between neighbours goes significantly
/// down; fails when the first is significantly higher than the last.
pub fn increasing(metrics: &Metrics, arms: &[Arm]) -> anyhow::Result<ClaimOutcome> {
    anyhow::ensure!(arms.len() >= 2, "an ordered claim needs two arms or more");
    let (first, last) = (&arms[0], &arms[arms.len() - 1]);
    let overall = compare(metrics, last, first)?;
    let mut steps = Vec::new();
    let mut step_down = None;
    for pair in arms.windows(2) {
        let step = compare(metrics, &pair[1], &pair[0])?;
        if step.interval.high < 0.0 && step_down.is_none() {
            step_down = Some(format!("{} → {}", pair[0].label, pair[1].label));
        }
        steps.push(format!(
            "{} → {}: {}",
            pair[0].label,
            pair[1].label,
            interval_text(&step.interval, &step.unit)
        ));
    }
    let mut unconverged = overall.unconverged.clone();
    for arm in &arms[1..arms.len() - 1] {
        unconverged.extend(not_converged(metrics, &arm.label, metrics.get(&arm.key)?));
    }
    let interval = &overall.interval;
    let (verdict, why) = if !unconverged.is_empty() {
        (Verdict::Inconclusive, unconverged_text(&unconverged))
    } else if interval.high < 0.0 {
        (
            Verdict::Fails,
            format!("{} is higher than {}", first.label, last.label),
        )
    } else if let Some(down) = step_down {
        (
            Verdict::Inconclusive,
            format!("the series goes down at {down}"),
        )
    } else if interval.low > 0.0 {
        (
            Verdict::Holds,
            format!(
                "{} is higher than {} and no step goes down",
                last.label, first.label
            ),
        )
    } else {
        (
            Verdict::Inconclusive,
            format!("{} and {} cannot be told apart", first.label, last.label),
        )
    };
    let mut evidence = Vec::new();
    for arm in arms {
        evidence.push(Evidence {
            label: arm.label.clone(),
            metric: metrics.get(&arm.key)?.clone(),
        });
    }
    let labels: Vec<String> = evidence
        .iter()
        .map(|e| describe(&e.label, &e.metric))
        .collect();
    Ok(ClaimOutcome {
        verdict,
        explanation: format!(
            "{}: last vs first {} ({}); steps {}; one-sided tests at α = {ALPHA} → {}: {why}.",
            labels.join(", "),
            interval_text(interval, &overall.unit),
            overall.method,
            steps.join("; "),
            verdict.name()
        ),
        evidence,
    })
}

/// The per-claim verdicts of `stored` that differ from `now`, as `id: stored → now` lines.
pub fn changed_verdicts(stored: &[ClaimReport], now: &[ClaimReport]) -> Vec<String> {
    let before: BTreeMap<&str, Verdict> = stored
        .iter()
        .map(|c| (c.id.as_str(), c.outcome.verdict))
        .collect();
    now.iter()
        .filter_map(|claim| {
            let old = before.get(claim.id.as_str())?;
            (*old != claim.outcome.verdict).then(|| {
                format!(
                    "{}: stored {} → now {}",
                    claim.id,
                    old.name(),
                    claim.outcome.verdict.name()
                )
            })
        })
        .collect()
}

#[cfg(test)]
mod tests;
