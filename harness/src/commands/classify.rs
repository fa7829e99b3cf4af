//! `repro classify`: label text with a fine-tuned checkpoint (architecture, label names and
//! tokenizer all come from the run directory).

use std::io::{BufRead, Write};
use std::path::PathBuf;

use anyhow::Context;
use repro_core::Backend;
use repro_core::checkpoint;

use crate::{UsageError, registry};

/// `repro classify`.
#[derive(clap::Args, Debug)]
#[command(after_help = "\
Examples:
  repro classify --checkpoint ~/.cache/repro/checkpoints/bert/small-cpu-brown-web/finetuning/base.movie_reviews.lr3e-4-seed1 \\
      'A gorgeous, witty, seductive movie.'
  repro classify --checkpoint DIR - < reviews.txt     one prediction per input line
  printf 'KJV verse\\tWEB verse\\n' | repro classify --checkpoint DIR   a pair task: two sentences, tab-separated

Each output line is `label<TAB>probability<TAB>input`. `repro checkpoints bert` lists the fine-tuned
runs (under finetuning/); the task and its labels are in the run's config.json.")]
pub struct ClassifyArgs {
    /// A fine-tuning run directory (it holds a LATEST file), as `repro checkpoints` lists them.
    #[arg(long, value_name = "DIR")]
    pub checkpoint: PathBuf,
    /// The text to classify; `-` (or nothing) reads one input per line from standard input.
    pub text: Option<String>,
    /// cpu, wgpu or cuda (the latter two need a build with their feature).
    #[arg(long, default_value = "cpu")]
    pub backend: Backend,
    /// Print which model classifies, on standard error.
    #[arg(long, short)]
    pub verbose: bool,
}

/// Classifies `args.text` (or each line of `stdin`), one line per input.
pub fn run(
    args: &ClassifyArgs,
    stdin: &mut dyn BufRead,
    out: &mut dyn Write,
    err: &mut dyn Write,
) -> anyhow::Result<()> {
    let (step_dir, identity) = checkpoint::open(&args.checkpoint)?;
    let paper = registry::find(&identity.identity.paper).with_context(|| {
        format!(
            "the checkpoint in {} names paper `{}`",
            args.checkpoint.display(),
            identity.identity.paper
        )
    })?;
    let device = args.backend.device()?;
    let classifier = paper.classifier(&step_dir.path, &identity, &device)?;
    if args.verbose {
        writeln!(err, "{}", classifier.describe())?;
    }
    let texts: Vec<String> = match args.text.as_deref() {
        Some("-") | None => stdin
            .lines()
            .collect::<Result<_, _>>()
            .context("reading standard input")?,
        Some(text) => vec![text.to_string()],
    };
    if texts.is_empty() {
        return Err(UsageError(
            "nothing to classify: give a text, or lines on standard input".into(),
        )
        .into());
    }
    for (text, prediction) in texts.iter().zip(classifier.classify(&texts)?) {
        writeln!(
            out,
            "{}\t{:.4}\t{text}",
            prediction.label, prediction.probability
        )?;
    }
    Ok(())
}
