//! The command-line surface: the subcommands (each with its arguments beside its code in
//! [`crate::commands`]) and the dispatch, with all I/O passed in.

use std::io::{BufRead, Write};

use clap::{Parser, Subcommand};

use crate::commands::{
    bench, bleu, checkpoints, classify, compare, embed, finetune, generate, lambada, list,
    reproduce, tasks, translate,
};

/// Reproduce landmark NLP/LLM papers at small scale, compare with the published numbers, use the
/// trained models, and follow new papers on arXiv.
#[derive(Parser, Debug)]
#[command(name = "repro", version, about, long_about = None, after_help = EXAMPLES)]
pub struct Cli {
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

const EXAMPLES: &str = "\
Examples:
  repro list                                   papers, arXiv ids, scales, datasets, experiments
  repro reproduce attention                    train + evaluate at the small scale on the CPU
  repro reproduce attention --scale tiny       the same in seconds
  repro reproduce attention --only attention_heads   one experiment, only what it trains
  repro compare attention                      re-print the stored table, no training
  repro checkpoints                            the trained runs, with their step and dev metric
  repro tasks gpt3 2d_plus --shots 3           the exact few-shot prompt a GPT model sees
  repro lambada --checkpoint DIR               a GPT on the canonical LAMBADA (verified download)
  repro generate --checkpoint DIR --prompt 'And God said' --top-p 0.9   sampled text
  repro translate --checkpoint DIR 'In the beginning was the Word.'
  repro classify --checkpoint DIR 'A gorgeous, witty movie.'   a fine-tuned BERT
  echo 'A man plays a guitar.' | repro embed --model DIR      sentence embeddings (HF BERT)
  echo 'The cat sat.' | repro bleu ref.txt     sacreBLEU-compatible BLEU
  repro arxiv show 1706.03762 --bibtex         metadata and BibTeX from arXiv";

/// The subcommands.
#[derive(Subcommand, Debug)]
pub enum Command {
    /// List the papers with their arXiv ids, scales, datasets and experiments.
    List,
    /// Train and evaluate a paper's experiments, print published vs reproduced, write results/.
    Reproduce(reproduce::ReproduceArgs),
    /// Re-render a stored result (results/<paper>/<scale>-<backend>.json) without training.
    Compare(compare::CompareArgs),
    /// List the trained runs (checkpoints) with their configuration, step and dev metric.
    Checkpoints(checkpoints::CheckpointsArgs),
    /// Sample text from a trained GPT checkpoint (or a Hugging Face GPT-2), streamed.
    Generate(generate::GenerateArgs),
    /// Show a paper's evaluation instances and the exact prompts its models see.
    Tasks(tasks::TasksArgs),
    /// Score a GPT checkpoint on the canonical LAMBADA test set (downloaded, SHA-256 verified).
    Lambada(lambada::LambadaArgs),
    /// Translate text with a trained Transformer checkpoint.
    Translate(translate::TranslateArgs),
    /// Label text with a fine-tuned BERT checkpoint.
    Classify(classify::ClassifyArgs),
    /// Sentence embeddings from a Hugging Face BERT checkpoint (JSON lines).
    Embed(embed::EmbedArgs),
    /// Fine-tune a Hugging Face BERT checkpoint on a task (learning rate chosen on dev).
    Finetune(finetune::FinetuneArgs),
    /// Corpus BLEU exactly as sacreBLEU 2.x scores it by default.
    Bleu(bleu::BleuArgs),
    /// Training and scoring speed of each paper's small model beside its PyTorch twin.
    Bench(bench::BenchArgs),
    /// Fetch, search and track arXiv papers; turn one into a paper crate.
    Arxiv(repro_arxiv::cli::ArxivArgs),
}

/// The streams a command reads and writes.
pub struct Io<'a> {
    /// Standard input (`repro bleu`, `repro translate -`).
    pub stdin: &'a mut dyn BufRead,
    /// Results.
    pub stdout: &'a mut dyn Write,
    /// Progress, status and errors.
    pub stderr: &'a mut dyn Write,
}

/// Runs a parsed command line.
pub fn execute(cli: Cli, io: Io) -> anyhow::Result<()> {
    match cli.command {
        Command::List => list::run(io.stdout),
        Command::Reproduce(args) => reproduce::run(&args, io.stdout, io.stderr),
        Command::Compare(args) => compare::run(&args, io.stdout),
        Command::Checkpoints(args) => checkpoints::run(&args, io.stdout),
        Command::Generate(args) => generate::run(&args, io.stdout, io.stderr),
        Command::Tasks(args) => tasks::run(&args, io.stdout),
        Command::Lambada(args) => lambada::run(&args, io.stdout),
        Command::Translate(args) => translate::run(&args, io.stdin, io.stdout, io.stderr),
        Command::Classify(args) => classify::run(&args, io.stdin, io.stdout, io.stderr),
        Command::Embed(args) => embed::run(&args, io.stdin, io.stdout),
        Command::Finetune(args) => finetune::run(&args, io.stdout),
        Command::Bleu(args) => bleu::run(&args, io.stdin, io.stdout),
        Command::Bench(args) => bench::run(&args, io.stdout, io.stderr),
        Command::Arxiv(args) => repro_arxiv::cli::run(&args, io.stdout, io.stderr),
    }
}
