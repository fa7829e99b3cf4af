//! `repro checkpoints`: the trained runs under the checkpoint cache, with their configuration,
//! step and dev metric.

use std::io::Write;
use std::path::PathBuf;

use repro_core::checkpoint;
use repro_core::data::download::cache_dir;

/// `repro checkpoints`.
#[derive(clap::Args, Debug)]
#[command(after_help = "\
Examples:
  repro checkpoints                 every trained run
  repro checkpoints attention       one paper's")]
pub struct CheckpointsArgs {
    /// Only this paper's runs.
    pub paper: Option<String>,
    /// Where to look [default: <cache>/checkpoints].
    #[arg(long, value_name = "DIR")]
    pub dir: Option<PathBuf>,
}

/// Prints one line per run directory.
pub fn run(args: &CheckpointsArgs, out: &mut dyn Write) -> anyhow::Result<()> {
    let root = args
        .dir
        .clone()
        .unwrap_or_else(|| cache_dir().join("checkpoints"));
    let found: Vec<checkpoint::Found> = checkpoint::find_all(&root)
        .into_iter()
        .filter(|found| {
            args.paper
                .as_deref()
                .is_none_or(|paper| found.identity.identity.paper == paper)
        })
        .collect();
    if found.is_empty() {
        writeln!(
            out,
            "no checkpoints under {}{}: `repro reproduce <paper>` trains and checkpoints runs",
            root.display(),
            args.paper
                .as_deref()
                .map(|p| format!(" for `{p}`"))
                .unwrap_or_default()
        )?;
        return Ok(());
    }
    for run in found {
        let who = &run.identity.identity;
        let state = &run.state;
        let status = if state.finished() {
            "finished"
        } else {
            "unfinished"
        };
        writeln!(
            out,
            "{}  {} {} seed {} ({} scale, data {}): step {}/{} {status}, dev loss {:.3} nats (ppl {:.2}), key {}",
            run.run_dir.display(),
            who.paper,
            who.label,
            who.seed,
            who.scale,
            who.dataset,
            state.step,
            state.steps,
            state.final_dev_loss(),
            state.final_dev_loss().exp(),
            run.identity.key
        )?;
    }
    Ok(())
}
