//! `repro compare`: re-render a stored result without training.

use std::io::Write;

use repro_core::report::Report;

use crate::cli::CompareArgs;
use crate::registry;

/// Prints the stored table of `args.paper` at the given scale and backend.
pub fn run(args: &CompareArgs, out: &mut dyn Write) -> anyhow::Result<()> {
    let paper = registry::find(&args.paper)?;
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
    let report = Report::load(&path)?;
    match args.format.as_str() {
        "markdown" => write!(out, "{}", report.render_markdown())?,
        "json" => writeln!(out, "{}", serde_json::to_string_pretty(&report)?)?,
        _ => write!(out, "{}", report.render_text())?,
    }
    Ok(())
}
