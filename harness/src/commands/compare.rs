//! `repro compare`: re-render a stored result without training.

use std::io::Write;
use std::path::PathBuf;

use repro_core::report::Report;
use repro_core::{Backend, Scale};

use crate::registry;

/// `repro compare`.
#[derive(clap::Args, Debug)]
#[command(after_help = "\
Every verdict is recomputed from the stored per-seed metrics with the current rules; where it
differs from the stored verdict, a note says so.

Examples:
  repro compare attention --scale small --backend cpu --format markdown
  repro compare attention --pool results/attention/small-cpu.json seeds-11-13/attention/small-cpu.json
      one table and one set of verdicts from runs made with different seeds")]
pub struct CompareArgs {
    /// Paper id (see `repro list`).
    pub paper: String,
    /// Scale of the stored run.
    #[arg(long, default_value = "small")]
    pub scale: Scale,
    /// Backend of the stored run.
    #[arg(long, default_value = "cpu")]
    pub backend: Backend,
    /// Results directory.
    #[arg(long, default_value = "results")]
    pub results: PathBuf,
    /// text (terminal), markdown, or json.
    #[arg(long, default_value = "text", value_parser = ["text", "markdown", "json"])]
    pub format: String,
    /// Pool these results files (same scale, backend, code version and settings; different
    /// seeds) into one table and one set of verdicts.
    #[arg(long, num_args = 2.., value_name = "JSON")]
    pub pool: Vec<PathBuf>,
    /// Pool runs made from trees with uncommitted changes too (their code may differ).
    #[arg(long, requires = "pool")]
    pub allow_dirty: bool,
}

/// Prints the stored table of `args.paper` at the given scale and backend (or the pooled table
/// of `args.pool`), with every verdict re-judged.
pub fn run(args: &CompareArgs, out: &mut dyn Write) -> anyhow::Result<()> {
    let paper = registry::find(&args.paper)?;
    if !args.pool.is_empty() {
        let reports = args
            .pool
            .iter()
            .map(|path| Report::load(path))
            .collect::<anyhow::Result<Vec<_>>>()?;
        let pooled = repro_core::report::pool(paper.as_ref(), reports, args.allow_dirty)?;
        return print(&pooled, &args.format, &[], out);
    }
    let path = args
        .results
        .join(paper.info().id)
        .join(format!("{}-{}.json", args.scale, args.backend));
    if !path.exists() {
        anyhow::bail!(
            "no stored result at {}; run `repro reproduce {} --scale {} --backend {}` first",
            path.display(),
            args.paper,
            args.scale,
            args.backend
        );
    }
    let mut report = Report::load(&path)?;
    let changed = report.judge(paper.as_ref())?;
    print(&report, &args.format, &changed, out)
}

fn print(
    report: &Report,
    format: &str,
    changed: &[String],
    out: &mut dyn Write,
) -> anyhow::Result<()> {
    match format {
        "markdown" => write!(out, "{}", report.render_markdown())?,
        "json" => writeln!(out, "{}", serde_json::to_string_pretty(report)?)?,
        _ => write!(out, "{}", report.render_text())?,
    }
    if format != "json" {
        for line in changed {
            writeln!(
                out,
                "note: re-judged with the current rules, a verdict differs from the stored one: {line}"
            )?;
        }
    }
    Ok(())
}
