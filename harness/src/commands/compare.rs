//! `repro compare`: re-render a stored result without training.

use std::io::Write;
use std::path::PathBuf;

use repro_core::report::Report;
use repro_core::{Backend, Scale};

use crate::registry;

/// `repro compare`.
#[derive(clap::Args, Debug)]
#[command(
    after_help = "Example:\n  repro compare attention --scale small --backend cpu --format markdown"
)]
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
}

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
