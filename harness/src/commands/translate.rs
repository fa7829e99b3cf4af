//! `repro translate`: translate with a trained Transformer, read from its checkpoint (architecture,
//! weights and tokenizer all come from the run directory).

use std::io::{BufRead, Write};
use std::path::PathBuf;

use anyhow::Context;
use repro_core::Backend;
use repro_core::apps::Search;
use repro_core::checkpoint;

use crate::{UsageError, registry};

/// `repro translate`.
#[derive(clap::Args, Debug)]
#[command(after_help = "\
Examples:
  repro translate --checkpoint ~/.cache/repro/checkpoints/attention/small-cpu-bible-en-es/base-seed1 \\
      'And God said, Let there be light.'
  repro translate --checkpoint DIR - < english.txt      one translation per input line
  repro translate --checkpoint DIR --greedy 'Amen.'

`repro checkpoints` lists the run directories a reproduction trained.")]
pub struct TranslateArgs {
    /// A run directory (it holds a LATEST file), as `repro checkpoints` lists them.
    #[arg(long, value_name = "DIR")]
    pub checkpoint: PathBuf,
    /// The sentence to translate; `-` (or nothing) reads one sentence per line from standard input.
    pub text: Option<String>,
    /// Beam size (the paper's §6.1: 4).
    #[arg(long, default_value_t = 4, value_parser = clap::value_parser!(u64).range(1..))]
    pub beam: u64,
    /// Length penalty α of beam search (the paper's: 0.6).
    #[arg(long, default_value_t = 0.6)]
    pub alpha: f64,
    /// Greedy decoding instead of beam search.
    #[arg(long, conflicts_with_all = ["beam", "alpha"])]
    pub greedy: bool,
    /// cpu, wgpu or cuda (the latter two need a build with their feature).
    #[arg(long, default_value = "cpu")]
    pub backend: Backend,
    /// Print which model translates, on standard error.
    #[arg(long, short)]
    pub verbose: bool,
}

/// Translates `args.text` (or each line of `stdin`) and prints one line per input.
pub fn run(
    args: &TranslateArgs,
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
    let translator = paper.translator(&step_dir.path, &identity, &device)?;
    if args.verbose {
        writeln!(err, "{}", translator.describe())?;
    }
    let sources: Vec<String> = match args.text.as_deref() {
        Some("-") | None => stdin
            .lines()
            .collect::<Result<_, _>>()
            .context("reading standard input")?,
        Some(text) => vec![text.to_string()],
    };
    if sources.is_empty() {
        return Err(UsageError(
            "nothing to translate: give a sentence, or lines on standard input".into(),
        )
        .into());
    }
    let search = if args.greedy {
        Search::Greedy
    } else {
        Search::Beam {
            size: args.beam as usize,
            alpha: args.alpha,
        }
    };
    for translation in translator.translate(&sources, search)? {
        writeln!(out, "{translation}")?;
    }
    Ok(())
}
