//! The command-line surface, declared with clap.

use std::io::Write;
use std::path::PathBuf;

use clap::{Parser, Subcommand};
use repro_core::{Backend, Scale};

use crate::commands;

/// Reproduce landmark NLP/LLM papers at small scale, compare with the published numbers, and
/// follow new papers on arXiv.
#[derive(Parser, Debug)]
#[command(name = "repro", version, about, long_about = None, after_help = EXAMPLES)]
pub struct Cli {
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

const EXAMPLES: &str = "\
Examples:
  repro list                                   papers, arXiv ids, scales and datasets
  repro reproduce attention                    train + evaluate at the small scale on the CPU
  repro reproduce attention --scale tiny       the same in seconds
  repro compare attention                      re-print the stored table, no training
  echo 'The cat sat.' | repro bleu ref.txt     sacreBLEU-compatible BLEU
  repro arxiv show 1706.03762 --bibtex         metadata and BibTeX from arXiv";

/// The subcommands.
#[derive(Subcommand, Debug)]
pub enum Command {
    /// List the papers with their arXiv ids, scales, datasets and experiments.
    List,
    /// Train and evaluate a paper's experiments, print published vs reproduced, write results/.
    Reproduce(ReproduceArgs),
    /// Re-render a stored result (results/<paper>/<scale>-<backend>.json) without training.
    Compare(CompareArgs),
    /// Corpus BLEU exactly as sacreBLEU 2.x scores it by default.
    Bleu(commands::bleu::BleuArgs),
    /// Fetch, search and track arXiv papers; turn one into a paper crate.
    Arxiv(crate::arxiv::cli::ArxivArgs),
}

/// `repro reproduce`.
#[derive(clap::Args, Debug)]
#[command(after_help = "\
Examples:
  repro reproduce attention                          small scale on the CPU (minutes)
  repro reproduce attention --scale tiny --seed 3    seconds; another seed
  repro reproduce attention --backend wgpu           needs a build with `--features wgpu`
  repro reproduce attention --resume                 continue an interrupted run from its checkpoints")]
pub struct ReproduceArgs {
    /// Paper id (see `repro list`).
    pub paper: String,
    /// tiny (seconds, for tests), small (minutes on a laptop CPU) or base (the paper's own sizes).
    #[arg(long, default_value = "small", env = "SCALE")]
    pub scale: Scale,
    /// cpu (burn flex, deterministic), wgpu (needs --features wgpu) or cuda (needs --features cuda).
    #[arg(long, default_value = "cpu", env = "BACKEND")]
    pub backend: Backend,
    /// Base seed; scales with several seeds use seed, seed + 1, …
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Dataset (see `repro list`); default: the paper's offline default.
    #[arg(long = "data")]
    pub data: Option<String>,
    /// Where results/<paper>/<scale>-<backend>.{json,md,svg} go.
    #[arg(long, default_value = "results")]
    pub results: PathBuf,
    /// Checkpoint directory [default: <cache>/checkpoints/<paper>/<scale>-<backend>-seed<seed>-<data>].
    #[arg(long)]
    pub checkpoints: Option<PathBuf>,
    /// Continue from the checkpoints of an interrupted run (same numbers as an uninterrupted one).
    #[arg(long)]
    pub resume: bool,
    /// Print no progress bars or phase lines.
    #[arg(long, short)]
    pub quiet: bool,
    /// Print the table without provenance (commit, times): stable across runs.
    #[arg(long, hide = true)]
    pub no_provenance: bool,
}

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

/// Runs a parsed command line.
pub fn execute(cli: Cli, stdout: &mut dyn Write, stderr: &mut dyn Write) -> anyhow::Result<()> {
    match cli.command {
        Command::List => commands::list::run(stdout),
        Command::Reproduce(args) => commands::reproduce::run(&args, stdout, stderr),
        Command::Compare(args) => commands::compare::run(&args, stdout),
        Command::Bleu(args) => commands::bleu::run(&args, &mut std::io::stdin().lock(), stdout),
        Command::Arxiv(args) => crate::arxiv::cli::run(&args, stdout, stderr),
    }
}
