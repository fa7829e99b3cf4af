//! A paper's experiments, declared once: one table (name, what it reproduces, the trainings it
//! reads, the function that measures it) that `repro list`, the run (`--only`) and the report
//! all read.

use std::time::Instant;

use crate::paper::ExperimentInfo;
use crate::run::{Curve, ExperimentResult, Metric};
use std::collections::BTreeMap;

/// One experiment of a paper: a table row group or a figure.
///
/// `L` is the paper's lab (its data, tokenizer and trained runs), `P` what it plans to train.
pub struct Experiment<L, P> {
    /// Function-like name (`attention_heads`), the prefix of its metric keys and `--only`'s word.
    pub name: &'static str,
    /// What it reproduces, in the paper's terms (`Table 3 (A): heads at fixed d_model`).
    pub reproduces: &'static str,
    /// The trainings it reads (empty for an experiment that trains nothing, like a timing).
    pub plan: fn(&L) -> Vec<P>,
    /// Measures it, reading the trainings of `plan` from the lab.
    pub measure: fn(&L) -> anyhow::Result<Measurement>,
}

/// What an experiment's function returns: [`ExperimentResult`] without the name and description,
/// which come from the table.
#[derive(Debug, Clone, Default)]
pub struct Measurement {
    /// Seeds the metrics were measured with.
    pub seeds: Vec<u64>,
    /// Metrics by name.
    pub metrics: BTreeMap<String, Metric>,
    /// Curves to plot.
    pub curves: Vec<Curve>,
    /// Settings and caveats.
    pub notes: Vec<String>,
    /// Compute time of what it read (shared trainings count in each experiment that reads them);
    /// when zero, the time the measurement itself took.
    pub wall_time_s: f64,
}

impl<L, P> Experiment<L, P> {
    /// Name and description, for `repro list` and [`crate::Paper::experiments`].
    pub fn info(&self) -> ExperimentInfo {
        ExperimentInfo {
            name: self.name,
            reproduces: self.reproduces,
        }
    }
}

/// The experiments `only` names (all of them when `only` is empty), in table order, or an error
/// that lists the valid names.
pub fn select<'t, L, P>(
    table: &'t [Experiment<L, P>],
    only: &[String],
) -> anyhow::Result<Vec<&'t Experiment<L, P>>> {
    if let Some(unknown) = only
        .iter()
        .find(|name| !table.iter().any(|e| e.name == name.as_str()))
    {
        anyhow::bail!(
            "unknown experiment `{unknown}`; valid: {}",
            table.iter().map(|e| e.name).collect::<Vec<_>>().join(", ")
        );
    }
    Ok(table
        .iter()
        .filter(|e| only.is_empty() || only.iter().any(|name| name == e.name))
        .collect())
}

/// Runs the experiments `only` selects: plans the union of their trainings, has `train` execute
/// it, then measures each experiment in table order.
pub fn run<L, P>(
    table: &[Experiment<L, P>],
    only: &[String],
    lab: &L,
    train: impl FnOnce(Vec<P>) -> anyhow::Result<()>,
) -> anyhow::Result<Vec<ExperimentResult>> {
    let selected = select(table, only)?;
    train(selected.iter().flat_map(|e| (e.plan)(lab)).collect())?;
    selected
        .into_iter()
        .map(|experiment| {
            let started = Instant::now();
            let measured = (experiment.measure)(lab)?;
            Ok(ExperimentResult {
                name: experiment.name.to_string(),
                reproduces: experiment.reproduces.to_string(),
                seeds: measured.seeds,
                metrics: measured.metrics,
                curves: measured.curves,
                notes: measured.notes,
                wall_time_s: if measured.wall_time_s > 0.0 {
                    measured.wall_time_s
                } else {
                    started.elapsed().as_secs_f64()
                },
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn measure_a(_: &()) -> anyhow::Result<Measurement> {
        Ok(Measurement {
            wall_time_s: 1.0,
            ..Measurement::default()
        })
    }

    const TABLE: [Experiment<(), &'static str>; 2] = [
        Experiment {
            name: "a",
            reproduces: "Table A",
            plan: |_| vec!["base", "a1"],
            measure: measure_a,
        },
        Experiment {
            name: "b",
            reproduces: "Table B",
            plan: |_| vec!["base", "b1"],
            measure: measure_a,
        },
    ];

    #[test]
    fn only_plans_what_the_selected_experiments_read() {
        let mut planned = Vec::new();
        let results = run(&TABLE, &["b".to_string()], &(), |runs| {
            planned = runs;
            Ok(())
        })
        .unwrap();
        assert_eq!(planned, vec!["base", "b1"]);
        assert_eq!(results.len(), 1);
        assert_eq!(results[0].name, "b");
        assert_eq!(results[0].reproduces, "Table B");
        assert_eq!(select(&TABLE, &[]).unwrap().len(), 2);
    }

    #[test]
    fn an_unknown_name_lists_the_valid_ones() {
        let error = select(&TABLE, &["nonsense".to_string()])
            .err()
            .unwrap()
            .to_string();
        assert_eq!(error, "unknown experiment `nonsense`; valid: a, b");
    }
}
