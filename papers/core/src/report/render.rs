//! A report as text for the terminal and as Markdown for `results/`: header, published vs
//! reproduced, claims, experiments, dataset and protocol, provenance.
//!
//! Rendering is a pure function of the report (ordered maps, fixed rounding), so the same report
//! always renders the same bytes; [`RenderOptions::STABLE`] also leaves out what changes from run
//! to run (wall times, commit, machine), for snapshots.

use std::fmt::Write;

use super::{ComparisonRow, Report};
use crate::data::SplitSize;
use crate::lab::TrainingRecord;
use crate::run::Metric;

/// Decimals shown for reproduced numbers.
pub const DISPLAY_DECIMALS: usize = 2;

/// What a rendering includes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RenderOptions {
    /// Include what differs between otherwise identical runs: wall times, start time, commit,
    /// command, device, versions and machine.
    pub provenance: bool,
}

impl RenderOptions {
    /// Everything (the default; what `write` and the terminal use).
    pub const FULL: RenderOptions = RenderOptions { provenance: true };
    /// Only what a seeded run reproduces exactly: for snapshot tests.
    pub const STABLE: RenderOptions = RenderOptions { provenance: false };
}

impl Default for RenderOptions {
    fn default() -> Self {
        RenderOptions::FULL
    }
}

impl Report {
    /// The report for the terminal, with provenance.
    pub fn render_text(&self) -> String {
        self.render_text_with(RenderOptions::FULL)
    }

    /// The report for the terminal: aligned plain-text tables.
    pub fn render_text_with(&self, options: RenderOptions) -> String {
        let mut out = String::new();
        let paper = &self.paper;
        line(
            &mut out,
            format!("{} — {} ({})", paper.title, paper.authors, paper.year),
        );
        line(
            &mut out,
            format!("arXiv:{} <{}>", paper.arxiv_id, paper.url()),
        );
        let mut facts = vec![
            format!("scale {}", self.scale),
            format!("backend {}", self.backend),
            seeds_text(&self.seeds()),
            format!("dataset {}", self.provenance.dataset.name),
        ];
        if options.provenance {
            facts.push(format!(
                "wall time {}",
                duration(self.provenance.wall_time_s)
            ));
        }
        line(&mut out, facts.join(" · "));

        line(&mut out, "\nPublished vs reproduced".to_string());
        if self.comparison.is_empty() {
            line(
                &mut out,
                "  (no published numbers in published.toml yet)".to_string(),
            );
        } else {
            let reproduced_header = format!("Reproduced ({})", self.scale);
            let mut rows = vec![
                [
                    "Table",
                    "Row",
                    "Metric",
                    "Dataset (paper)",
                    "Published",
                    &reproduced_header,
                    "Note",
                ]
                .map(str::to_string),
            ];
            rows.extend(
                self.comparison
                    .iter()
                    .map(|row| comparison_cells(row, false)),
            );
            out.push_str(&table(
                &rows,
                &[false, false, false, false, true, true, false],
            ));
        }

        line(&mut out, "\nClaims".to_string());
        if self.claims.is_empty() {
            line(&mut out, "  (none)".to_string());
        }
        for claim in &self.claims {
            let verdict = claim.outcome.verdict.name();
            line(
                &mut out,
                format!("  {verdict:<12}  {} ({})", claim.statement, claim.source),
            );
            line(
                &mut out,
                format!("  {:<12}  {}", "", claim.outcome.explanation),
            );
        }

        line(&mut out, "\nExperiments".to_string());
        if self.experiments.is_empty() {
            line(&mut out, "  (no experiments yet)".to_string());
        }
        for experiment in &self.experiments {
            line(
                &mut out,
                format!("  {} — {}", experiment.name, experiment.reproduces),
            );
            let mut facts = vec![seeds_text(&experiment.seeds)];
            if options.provenance {
                facts.push(format!("wall time {}", duration(experiment.wall_time_s)));
            }
            line(&mut out, format!("    {}", facts.join(" · ")));
            let rows: Vec<[String; 2]> = experiment
                .metrics
                .iter()
                .map(|(name, metric)| [name.clone(), metric_text(metric)])
                .collect();
            for table_line in table(&rows, &[false, true]).lines() {
                line(&mut out, format!("    {table_line}"));
            }
            for note in &experiment.notes {
                line(&mut out, format!("    note: {note}"));
            }
        }

        line(&mut out, "\nDataset and protocol".to_string());
        let rows: Vec<[String; 2]> = self
            .protocol_facts()
            .into_iter()
            .map(|(k, v)| [k, v])
            .collect();
        for table_line in table(&rows, &[false, false]).lines() {
            line(&mut out, format!("  {table_line}"));
        }

        if options.provenance {
            line(&mut out, "\nProvenance".to_string());
            let rows: Vec<[String; 2]> = self
                .provenance_facts()
                .into_iter()
                .map(|(k, v)| [k, v])
                .collect();
            for table_line in table(&rows, &[false, false]).lines() {
                line(&mut out, format!("  {table_line}"));
            }
        }
        out
    }

    /// The report as Markdown, with provenance; links the SVG figures [`Report::write`] writes.
    pub fn render_markdown(&self) -> String {
        self.render_markdown_with(RenderOptions::FULL)
    }

    /// The report as Markdown.
    pub fn render_markdown_with(&self, options: RenderOptions) -> String {
        let mut out = String::new();
        let paper = &self.paper;
        let figures = self.figures();
        line(
            &mut out,
            format!(
                "# {} — reproduction at `{}` scale on `{}`\n",
                paper.title, self.scale, self.backend
            ),
        );
        let mut facts = vec![
            format!(
                "**Paper:** {} ({}), [arXiv:{}]({})",
                paper.authors,
                paper.year,
                paper.arxiv_id,
                paper.url()
            ),
            format!("**Seeds:** {}", join(&self.seeds())),
            format!("**Dataset:** `{}`", self.provenance.dataset.name),
        ];
        if options.provenance {
            facts.push(format!(
                "**Wall time:** {}",
                duration(self.provenance.wall_time_s)
            ));
        }
        line(&mut out, facts.join(" · "));
        if let Some(main) = &figures.main {
            line(&mut out, format!("\n![Learning curves]({main})"));
        }

        line(&mut out, "\n## Published vs reproduced\n".to_string());
        if self.comparison.is_empty() {
            line(
                &mut out,
                "No published numbers in `published.toml` yet.".to_string(),
            );
        } else {
            line(
                &mut out,
                format!(
                    "| Table | Row | Metric | Dataset (paper) | Published | Reproduced ({}) | Note |",
                    self.scale
                ),
            );
            line(&mut out, "|---|---|---|---|--:|--:|---|".to_string());
            for row in &self.comparison {
                let cells = comparison_cells(row, true).map(|cell| md_cell(&cell));
                line(&mut out, format!("| {} |", cells.join(" | ")));
            }
        }

        line(&mut out, "\n## Claims".to_string());
        if self.claims.is_empty() {
            line(&mut out, "\nNo claims yet.".to_string());
        }
        for (claim, figure) in self.claims.iter().zip(&figures.claims) {
            line(
                &mut out,
                format!(
                    "\n### {}: {}\n",
                    claim.outcome.verdict.name(),
                    claim.statement
                ),
            );
            line(&mut out, format!("*{}* · `{}`\n", claim.source, claim.id));
            line(&mut out, format!("{}\n", claim.outcome.explanation));
            line(&mut out, format!("![{}]({figure})", claim.id));
        }

        line(&mut out, "\n## Experiments".to_string());
        if self.experiments.is_empty() {
            line(&mut out, "\nNo experiments yet.".to_string());
        }
        for (experiment, curve_figures) in self.experiments.iter().zip(&figures.curves) {
            line(
                &mut out,
                format!(
                    "\n### `{}`: {}\n",
                    experiment.name,
                    one_line(&experiment.reproduces)
                ),
            );
            let mut facts = vec![format!("Seeds: {}", join(&experiment.seeds))];
            if options.provenance {
                facts.push(format!("wall time {}", duration(experiment.wall_time_s)));
            }
            line(&mut out, format!("{}\n", facts.join(" · ")));
            if !experiment.metrics.is_empty() {
                line(&mut out, "| Metric | Reproduced |\n|---|--:|".to_string());
                for (name, metric) in &experiment.metrics {
                    line(
                        &mut out,
                        format!("| `{}` | {} |", name, md_cell(&metric_text(metric))),
                    );
                }
                out.push('\n');
            }
            for note in &experiment.notes {
                line(&mut out, format!("- {}", one_line(note)));
            }
            for (curve, figure) in experiment.curves.iter().zip(curve_figures) {
                line(
                    &mut out,
                    format!("\n![{}]({figure})", one_line(&curve.title)),
                );
            }
        }

        line(&mut out, "\n## Dataset and protocol\n".to_string());
        for (key, value) in self.protocol_facts() {
            line(&mut out, format!("- **{key}:** {}", one_line(&value)));
        }
        if options.provenance {
            line(&mut out, "\n## Provenance\n".to_string());
            for (key, value) in self.provenance_facts() {
                line(&mut out, format!("- **{key}:** {}", one_line(&value)));
            }
        }
        out
    }

    /// Reproducible facts of the setup: seed, dataset, protocol.
    fn protocol_facts(&self) -> Vec<(String, String)> {
        let provenance = &self.provenance;
        let dataset = &provenance.dataset;
        let mut facts = vec![
            ("seed".to_string(), provenance.seed.to_string()),
            (
                "dataset".to_string(),
                format!("{} — {}", dataset.name, dataset.description),
            ),
            ("sha256".to_string(), dataset.sha256.clone()),
        ];
        if let Some(size) = dataset.size_bytes {
            facts.push(("size".to_string(), format!("{size} bytes")));
        }
        if !provenance.splits.is_empty() {
            let splits: Vec<String> = provenance.splits.iter().map(SplitSize::describe).collect();
            facts.push(("splits".to_string(), splits.join(" · ")));
        }
        if !self.trainings.is_empty() {
            facts.push(("trainings".to_string(), trainings_text(&self.trainings)));
        }
        facts.extend(
            provenance
                .protocol
                .iter()
                .map(|(k, v)| (k.clone(), v.clone())),
        );
        facts
    }

    /// Facts that differ between otherwise identical runs.
    fn provenance_facts(&self) -> Vec<(String, String)> {
        let provenance = &self.provenance;
        let dirty = if provenance.dirty {
            " (uncommitted changes)"
        } else {
            ""
        };
        let versions: Vec<String> = provenance
            .versions
            .iter()
            .map(|(k, v)| format!("{k} {v}"))
            .collect();
        let machine = &provenance.machine;
        vec![
            (
                "commit".to_string(),
                format!("{}{dirty}", provenance.commit),
            ),
            ("started".to_string(), provenance.started_at.clone()),
            ("wall time".to_string(), duration(provenance.wall_time_s)),
            ("command".to_string(), provenance.command.clone()),
            ("device".to_string(), provenance.device.clone()),
            ("versions".to_string(), versions.join(", ")),
            (
                "machine".to_string(),
                format!("{} {}, {} CPUs", machine.os, machine.arch, machine.cpus),
            ),
        ]
    }
}

/// The cells of a comparison row: table, row, metric, dataset, published, reproduced, note.
fn comparison_cells(row: &ComparisonRow, markdown: bool) -> [String; 7] {
    let reproduced = row
        .reproduced
        .as_ref()
        .map_or_else(|| "—".to_string(), metric_text);
    let missing = match (&row.reproduced_by, &row.reproduced) {
        (None, _) => Some("not reproduced at this scale".to_string()),
        (Some(key), None) if markdown => Some(format!("`{key}` not produced by this run")),
        (Some(key), None) => Some(format!("{key} not produced by this run")),
        (Some(_), Some(_)) => None,
    };
    let note = [missing, row.notes.clone()]
        .into_iter()
        .flatten()
        .collect::<Vec<_>>()
        .join("; ");
    // Each cell on one line, so that the columns stay aligned.
    [
        one_line(&row.table),
        one_line(&row.row),
        one_line(&row.metric),
        one_line(&row.dataset),
        published(row.published),
        reproduced,
        one_line(&note),
    ]
}

/// A reproduced metric: `mean ± std unit` over several seeds, `value unit` for one, `—` for none.
fn metric_text(metric: &Metric) -> String {
    if metric.values.is_empty() {
        return "—".to_string();
    }
    let unit = if metric.unit.is_empty() {
        String::new()
    } else {
        format!(" {}", metric.unit)
    };
    // Counts and settings (`h`, `d`, unitless) are whole numbers: no decimals.
    let whole = matches!(metric.unit.as_str(), "" | "h" | "d")
        && metric.values.iter().all(|v| v.fract() == 0.0);
    if whole && metric.values.len() == 1 {
        return format!("{}{unit}", metric.values[0]);
    }
    if metric.values.len() >= 2 {
        format!("{} ± {}{unit}", number(metric.mean()), number(metric.std()))
    } else {
        format!("{}{unit}", number(metric.mean()))
    }
}

/// A number with [`DISPLAY_DECIMALS`] decimals.
fn number(value: f64) -> String {
    format!("{value:.DISPLAY_DECIMALS$}")
}

/// A published number as printed (`27.3`, `100`), unless that needs more than
/// [`DISPLAY_DECIMALS`] decimals.
fn published(value: f64) -> String {
    let short = value.to_string();
    let fixed = number(value);
    if short.len() <= fixed.len() {
        short
    } else {
        fixed
    }
}

/// Seconds for people: `4.2 s`, `3 min 07 s`, `1 h 05 min`.
fn duration(seconds: f64) -> String {
    if !seconds.is_finite() || seconds < 0.0 {
        return "—".to_string();
    }
    if seconds < 60.0 {
        return format!("{seconds:.1} s");
    }
    let whole = seconds.round() as u64;
    if whole < 3600 {
        format!("{} min {:02} s", whole / 60, whole % 60)
    } else {
        format!("{} h {:02} min", whole / 3600, whole % 3600 / 60)
    }
}

/// `5 (base seeds 1, 2; h1 seed 1; …), 1000 steps each`, in label order.
fn trainings_text(trainings: &[TrainingRecord]) -> String {
    let mut by_label: Vec<(String, Vec<u64>)> = Vec::new();
    for training in trainings {
        match by_label
            .iter_mut()
            .find(|(label, _)| *label == training.label)
        {
            Some((_, seeds)) => seeds.push(training.seed),
            None => by_label.push((training.label.clone(), vec![training.seed])),
        }
    }
    let runs: Vec<String> = by_label
        .iter()
        .map(|(label, seeds)| format!("{label} {}", seeds_text(seeds)))
        .collect();
    let mut steps: Vec<usize> = trainings.iter().map(|t| t.steps).collect();
    steps.sort_unstable();
    steps.dedup();
    let steps = match steps.as_slice() {
        [one] => format!(", {one} steps each"),
        _ => String::new(),
    };
    format!("{} ({}){steps}", trainings.len(), runs.join("; "))
}

fn seeds_text(seeds: &[u64]) -> String {
    let noun = if seeds.len() == 1 { "seed" } else { "seeds" };
    format!("{noun} {}", join(seeds))
}

fn join(seeds: &[u64]) -> String {
    seeds
        .iter()
        .map(u64::to_string)
        .collect::<Vec<_>>()
        .join(", ")
}

/// Rows as aligned columns (two spaces apart, `right`-aligned where asked, a rule under the
/// first row when there is more than one), without trailing spaces.
fn table<const N: usize>(rows: &[[String; N]], right: &[bool; N]) -> String {
    let mut widths = [0usize; N];
    for row in rows {
        for (width, cell) in widths.iter_mut().zip(row) {
            *width = (*width).max(cell.chars().count());
        }
    }
    let format_row = |cells: &[String; N]| {
        let mut text = String::new();
        for (i, cell) in cells.iter().enumerate() {
            let pad = " ".repeat(widths[i] - cell.chars().count());
            if i > 0 {
                text.push_str("  ");
            }
            if right[i] {
                text.push_str(&pad);
                text.push_str(cell);
            } else {
                text.push_str(cell);
                text.push_str(&pad);
            }
        }
        text.trim_end().to_string()
    };
    let mut out = String::new();
    for (i, row) in rows.iter().enumerate() {
        let _ = writeln!(out, "{}", format_row(row));
        if i == 0 && rows.len() > 1 && N > 2 {
            let rule = widths.map(|w| "-".repeat(w));
            let _ = writeln!(out, "{}", rule.join("  "));
        }
    }
    out
}

/// A Markdown table cell: one line, `|` escaped.
fn md_cell(text: &str) -> String {
    one_line(text).replace('|', "\\|")
}

/// One line: runs of whitespace (newlines included) folded into single spaces.
fn one_line(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

fn line(out: &mut String, text: String) {
    out.push_str(&text);
    out.push('\n');
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_durations_and_metrics() {
        assert_eq!(published(27.3), "27.3");
        assert_eq!(published(100.0), "100");
        assert_eq!(published(0.123456), "0.12");
        assert_eq!(number(f64::NAN), "NaN");
        assert_eq!(duration(4.24), "4.2 s");
        assert_eq!(duration(187.0), "3 min 07 s");
        assert_eq!(duration(3900.0), "1 h 05 min");
        assert_eq!(duration(f64::NAN), "—");
        assert_eq!(
            metric_text(&Metric::new(vec![1.0, 3.0], "BLEU")),
            "2.00 ± 1.41 BLEU"
        );
        assert_eq!(metric_text(&Metric::new(vec![0.5], "")), "0.50");
        assert_eq!(metric_text(&Metric::new(vec![], "BLEU")), "—");
    }

    #[test]
    fn table_aligns_by_characters_not_bytes() {
        let rows = [
            ["a".to_string(), "Δ±".to_string(), "x".to_string()],
            ["long".to_string(), "1".to_string(), "y".to_string()],
        ];
        let text = table(&rows, &[false, true, false]);
        assert_eq!(text, "a     Δ±  x\n----  --  -\nlong   1  y\n");
    }

    #[test]
    fn markdown_cells_escape_pipes_and_newlines() {
        assert_eq!(md_cell("nrefs:1|case:mixed\nx"), "nrefs:1\\|case:mixed x");
    }
}
