//! `repro list`: the registry as a table.

use std::io::Write;

use repro_core::Scale;

use crate::registry;

/// Prints each paper with its arXiv id, scales, datasets and experiments.
pub fn run(out: &mut dyn Write) -> anyhow::Result<()> {
    let scales: Vec<&str> = Scale::ALL.iter().map(|scale| scale.name()).collect();
    for paper in registry::papers() {
        let info = paper.info();
        writeln!(
            out,
            "{}  arXiv:{}  {} ({}, {})",
            info.id, info.arxiv_id, info.title, info.authors, info.year
        )?;
        writeln!(out, "  scales: {} (default small)", scales.join(", "))?;
        if info.datasets.is_empty() {
            writeln!(out, "  datasets: none yet")?;
        }
        for dataset in &info.datasets {
            let default = if dataset.default { " [default]" } else { "" };
            writeln!(
                out,
                "  data {}{default}: {}",
                dataset.name, dataset.description
            )?;
        }
        let experiments = paper.experiments();
        if experiments.is_empty() {
            writeln!(out, "  experiments: none yet (stub)")?;
        }
        for experiment in experiments {
            writeln!(
                out,
                "  experiment {}: {}",
                experiment.name, experiment.reproduces
            )?;
        }
        writeln!(out)?;
    }
    Ok(())
}
