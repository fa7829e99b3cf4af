//! `repro lambada`: a GPT checkpoint (a reproduction run, or a Hugging Face GPT-2 directory)
//! scored on the canonical LAMBADA test set, downloaded and verified on first use, with
//! lm-evaluation-harness's `lambada_openai` protocol ([`repro_gpt3::lambada`]).

use std::io::Write;
use std::path::PathBuf;

use repro_core::Backend;
use repro_core::data::download::cache_dir;
use repro_core::progress::Progress;
use repro_gpt3::lambada;
use repro_gpt3::lm::GptLm;

/// `repro lambada`.
#[derive(clap::Args, Debug)]
#[command(after_help = "\
Examples:
  repro lambada --checkpoint ~/models/gpt2            Hugging Face GPT-2 124M: lm-eval reports 32.56 %
  repro lambada --checkpoint DIR --limit 500          the first 500 passages, a run of `make reproduce PAPER=gpt3`
  repro lambada --checkpoint DIR --file lambada_test.jsonl --json

The test set (OpenAI's detokenised LAMBADA, 5,153 passages, 1.8 MB) is downloaded on first use
into $REPRO_CACHE/lambada/ and checked against its SHA-256 (the pin lm-evaluation-harness uses);
$REPRO_DATA_MIRROR replaces the host. Scoring: the passage before its last space is the context,
' ' + the last word the continuation; correct when every token of it is the argmax.")]
pub struct LambadaArgs {
    /// A GPT run directory (it holds a LATEST file) or a Hugging Face GPT-2 directory
    /// (config.json, model.safetensors, tokenizer.json).
    #[arg(long, value_name = "DIR")]
    pub checkpoint: PathBuf,
    /// A local `lambada_test.jsonl`-shaped file instead of the verified download.
    #[arg(long, value_name = "FILE")]
    pub file: Option<PathBuf>,
    /// Score only the first N passages.
    #[arg(long, value_name = "N")]
    pub limit: Option<usize>,
    /// Passages per forward pass.
    #[arg(long, default_value_t = 16, value_name = "N")]
    pub batch: usize,
    /// cpu, wgpu or cuda (the latter two need a build with their feature).
    #[arg(long, default_value = "cpu")]
    pub backend: Backend,
    /// One JSON object instead of the table.
    #[arg(long)]
    pub json: bool,
    /// No progress bar.
    #[arg(long, short)]
    pub quiet: bool,
}

/// Scores the checkpoint and prints accuracy and perplexity beside the published numbers.
pub fn run(args: &LambadaArgs, out: &mut dyn Write) -> anyhow::Result<()> {
    anyhow::ensure!(args.limit != Some(0), "--limit must be at least 1");
    anyhow::ensure!(args.batch > 0, "--batch must be at least 1");
    let path = match &args.file {
        Some(file) => file.clone(),
        None => lambada::fetch(&cache_dir(), None)?,
    };
    let mut passages = lambada::read(&path)?;
    let canonical = args.file.is_none();
    if let Some(limit) = args.limit {
        passages.truncate(limit);
    }
    let device = args.backend.device()?;
    let generator = repro_gpt3::generator::load(&args.checkpoint, &device)?;
    let lm = GptLm {
        model: &generator.model,
        tokenizer: &generator.tokenizer,
        device: &device,
    };
    let progress = Progress::new(!args.quiet && !args.json);
    let phase = progress.phase("LAMBADA", passages.len() as u64, "passages");
    let mut reported = 0;
    let score = lambada::evaluate(&lm, &passages, args.batch, |done| {
        phase.inc((done - reported) as u64);
        reported = done;
    })?;
    phase.finish("");
    let whole = canonical && score.n == lambada::TEST_PASSAGES;
    if args.json {
        let value = serde_json::json!({
            "model": generator.description,
            "data": path.display().to_string(),
            "whole_test_set": whole,
            "score": score,
        });
        writeln!(out, "{}", serde_json::to_string_pretty(&value)?)?;
        return Ok(());
    }
    writeln!(out, "{}", generator.description)?;
    writeln!(
        out,
        "LAMBADA ({}{}): accuracy {:.2} %, perplexity {:.2} over {} passages",
        path.display(),
        if whole {
            ", the whole test set"
        } else {
            ", not the whole verified test set: not comparable to the published numbers"
        },
        score.accuracy,
        score.perplexity,
        score.n
    )?;
    writeln!(out, "protocol: {}", score.protocol)?;
    writeln!(out, "published, for comparison:")?;
    for (what, value) in lambada::PUBLISHED {
        writeln!(out, "  {value:>6.2} %  {what}")?;
    }
    Ok(())
}
