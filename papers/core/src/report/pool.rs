//! Pooling: runs of one configuration made with different seeds, merged into one report and one
//! set of verdicts, so that a user sharpens a verdict by adding seeds without rerunning the old
//! ones.

use std::collections::BTreeSet;

use super::Report;
use crate::paper::Paper;

/// Merges `reports` (same paper, scale, backend, code version, scale settings and data; disjoint
/// seeds) into one: every metric's per-seed values, the trainings and their hypotheses, then
/// re-judges the claims on the pooled evidence. Runs made from a tree with uncommitted changes
/// are refused (their code version is unknown) unless `allow_dirty`.
pub fn pool(paper: &dyn Paper, reports: Vec<Report>, allow_dirty: bool) -> anyhow::Result<Report> {
    let mut reports = reports.into_iter();
    let mut pooled = reports
        .next()
        .ok_or_else(|| anyhow::anyhow!("nothing to pool: give two results files or more"))?;
    let mut sources = vec![pooled.provenance.command.clone()];
    let mut seeds: BTreeSet<u64> = pooled.seeds().into_iter().collect();
    for (index, report) in reports.enumerate() {
        let which = format!("result {}", index + 2);
        ensure_same_run(&pooled, &report, &which, allow_dirty)?;
        for seed in report.seeds() {
            anyhow::ensure!(
                seeds.insert(seed),
                "{which} repeats seed {seed}: pooled runs need disjoint seeds"
            );
        }
        for (into, from) in pooled.experiments.iter_mut().zip(report.experiments) {
            into.seeds.extend(from.seeds);
            into.wall_time_s += from.wall_time_s;
            for (name, metric) in from.metrics {
                let target = into.metrics.get_mut(&name).ok_or_else(|| {
                    anyhow::anyhow!("{which} has metric {}.{name}, the first has not", into.name)
                })?;
                anyhow::ensure!(
                    target.unit == metric.unit,
                    "{}.{name} is in {} in one result and {} in another",
                    into.name,
                    target.unit,
                    metric.unit
                );
                // Settings recorded as metrics (`d_model`, the base's `h`) are the same in both:
                // kept once. Per-seed values and timing repeats are pooled.
                if target.runs.is_empty()
                    && metric.runs.is_empty()
                    && target.values == metric.values
                {
                    continue;
                }
                target.values.extend(metric.values);
                target.runs.extend(metric.runs);
                // Per-instance scores stay one list per value, or none at all.
                if target.per_instance.len() + metric.per_instance.len() == target.values.len() {
                    target.per_instance.extend(metric.per_instance);
                } else {
                    target.per_instance.clear();
                }
            }
        }
        pooled.trainings.extend(report.trainings);
        pooled.provenance.wall_time_s += report.provenance.wall_time_s;
        sources.push(report.provenance.command);
    }
    pooled.provenance.command = format!("pooled: {}", sources.join(" + "));
    pooled.judge(paper)?;
    Ok(pooled)
}

/// Refuses to pool `other` into `first` unless they are runs of one configuration and code.
fn ensure_same_run(
    first: &Report,
    other: &Report,
    which: &str,
    allow_dirty: bool,
) -> anyhow::Result<()> {
    let same = |what: &str, a: String, b: String| -> anyhow::Result<()> {
        anyhow::ensure!(
            a == b,
            "cannot pool {which}: its {what} ({b}) differs from the first result's ({a})"
        );
        Ok(())
    };
    same("paper", first.paper.id.clone(), other.paper.id.clone())?;
    same("scale", first.scale.to_string(), other.scale.to_string())?;
    same(
        "backend",
        first.backend.to_string(),
        other.backend.to_string(),
    )?;
    for report in [first, other] {
        anyhow::ensure!(
            allow_dirty || !report.provenance.dirty,
            "cannot pool a run made from a tree with uncommitted changes (commit {}): its code \
             version is unknown (--allow-dirty pools it anyway)",
            report.provenance.commit
        );
    }
    same(
        "code version (commit)",
        first.provenance.commit.clone(),
        other.provenance.commit.clone(),
    )?;
    same(
        "scale settings",
        first.provenance.scale_config.to_string(),
        other.provenance.scale_config.to_string(),
    )?;
    same(
        "dataset",
        format!(
            "{} {}",
            first.provenance.dataset.name, first.provenance.dataset.sha256
        ),
        format!(
            "{} {}",
            other.provenance.dataset.name, other.provenance.dataset.sha256
        ),
    )?;
    anyhow::ensure!(
        first.references == other.references,
        "cannot pool {which}: its dev/test references differ from the first result's"
    );
    let names = |report: &Report| -> Vec<String> {
        report
            .experiments
            .iter()
            .map(|e| {
                let metrics: Vec<&str> = e.metrics.keys().map(String::as_str).collect();
                format!("{} [{}]", e.name, metrics.join(" "))
            })
            .collect()
    };
    same(
        "experiments and metrics",
        names(first).join(", "),
        names(other).join(", "),
    )
}
