//! `repro generate`: sampled text from a trained GPT checkpoint (a reproduction run, or a
//! Hugging Face GPT-2 directory), streamed as it is decoded.

use std::io::Write;
use std::path::PathBuf;

use repro_core::Backend;
use repro_gpt3::sample::Sampling;

/// `repro generate`.
#[derive(clap::Args, Debug)]
#[command(after_help = "\
Examples:
  repro generate --checkpoint ~/.cache/repro/checkpoints/gpt3/small-cpu-brown-web-tasks/l-seed1 \\
      --prompt 'Q: What is 12 plus 31? A:' --max-tokens 4 --temperature 0
  repro generate --checkpoint DIR --prompt 'And God said' --top-p 0.9 --seed 7
  repro generate --checkpoint ~/models/gpt2 --prompt 'The meaning of life is'   a Hugging Face GPT-2

The text after the prompt is printed as it is sampled; the same seed gives the same text.
`repro checkpoints gpt3` lists the trained runs.")]
pub struct GenerateArgs {
    /// A GPT run directory (it holds a LATEST file) or a Hugging Face GPT-2 directory
    /// (config.json, model.safetensors, tokenizer.json).
    #[arg(long, value_name = "DIR")]
    pub checkpoint: PathBuf,
    /// The text to continue.
    #[arg(long)]
    pub prompt: String,
    /// Most tokens to sample (stops earlier at <|endoftext|>).
    #[arg(long, default_value_t = 64, value_name = "N")]
    pub max_tokens: usize,
    /// Softmax temperature; 0 is greedy decoding.
    #[arg(long, default_value_t = 1.0, value_name = "T")]
    pub temperature: f64,
    /// Sample only among the K most probable tokens.
    #[arg(long, value_name = "K")]
    pub top_k: Option<usize>,
    /// Sample only within the smallest set of tokens whose probability reaches P (nucleus).
    #[arg(long, value_name = "P")]
    pub top_p: Option<f64>,
    /// Seed of the draws.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// cpu, wgpu or cuda (the latter two need a build with their feature).
    #[arg(long, default_value = "cpu")]
    pub backend: Backend,
    /// Print which model generates, on standard error.
    #[arg(long, short)]
    pub verbose: bool,
}

/// Streams the continuation of `args.prompt` to `out`.
pub fn run(args: &GenerateArgs, out: &mut dyn Write, err: &mut dyn Write) -> anyhow::Result<()> {
    let sampling = Sampling::new(args.temperature, args.top_k, args.top_p, args.seed)?;
    let device = args.backend.device()?;
    let generator = repro_gpt3::generator::load(&args.checkpoint, &device)?;
    if args.verbose {
        writeln!(err, "{}", generator.description)?;
    }
    repro_gpt3::sample::generate(
        &generator.model,
        &generator.tokenizer,
        &args.prompt,
        args.max_tokens,
        &sampling,
        &device,
        &mut |piece| {
            out.write_all(piece.as_bytes())?;
            out.flush()?;
            Ok(())
        },
    )?;
    writeln!(out)?;
    Ok(())
}
