//! `repro finetune`: fine-tune a downloaded Hugging Face BERT on a task with the paper's recipe
//! (§4: every weight trained, learning rate chosen on dev, test scored once).

use std::io::Write;
use std::path::PathBuf;

use repro_bert::transfer::{TransferRun, finetune_checkpoint};
use repro_core::Backend;
use repro_core::data::download::cache_dir;
use repro_core::progress::Progress;

/// `repro finetune`.
#[derive(clap::Args, Debug)]
#[command(after_help = "\
Examples (they need the network):
  git clone https://huggingface.co/google/bert_uncased_L-2_H-128_A-2     # BERT-Tiny (Turc et al. 2019)
  repro finetune --model bert_uncased_L-2_H-128_A-2 --task sst2 --lr 1e-4,5e-5,3e-5 --epochs 4
                        # Turc et al.: 83.2 on GLUE's SST-2 test; here GLUE's dev is the test split
  repro finetune --model ~/.cache/repro/models/all-MiniLM-L6-v2 --task movie_reviews --max-train 4000

The directory needs config.json, vocab.txt or tokenizer.json, and model.safetensors (convert a
pytorch_model.bin with `safetensors.torch.save_file`). sst2 and mrpc download GLUE's files into the
verified cache; movie_reviews and verse_paraphrase are embedded.")]
pub struct FinetuneArgs {
    /// The Hugging Face checkpoint directory.
    #[arg(long, value_name = "DIR")]
    pub model: PathBuf,
    /// movie_reviews, verse_paraphrase (embedded), sst2 or mrpc (GLUE, downloaded).
    #[arg(long)]
    pub task: String,
    /// Learning rates searched on dev (the paper: 5e-5, 3e-5, 2e-5).
    #[arg(long, value_delimiter = ',', default_values_t = vec![5e-5, 3e-5, 2e-5])]
    pub lr: Vec<f64>,
    /// Epochs (the paper: 2 to 4).
    #[arg(long, default_value_t = 3, value_parser = clap::value_parser!(u64).range(1..))]
    pub epochs: u64,
    /// Examples per batch (the paper: 16 or 32).
    #[arg(long, default_value_t = 32, value_parser = clap::value_parser!(u64).range(1..))]
    pub batch: u64,
    /// Tokens per input ([CLS] and [SEP] included).
    #[arg(long, default_value_t = 128, value_parser = clap::value_parser!(u64).range(4..))]
    pub max_len: u64,
    /// At most this many training examples [default: all].
    #[arg(long, value_name = "N")]
    pub max_train: Option<usize>,
    /// Seed of the classifier head, batch order and dropout.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// cpu, wgpu or cuda (the latter two need a build with their feature).
    #[arg(long, default_value = "cpu")]
    pub backend: Backend,
}

/// Fine-tunes and prints the grid, the chosen rate and the test accuracy.
pub fn run(args: &FinetuneArgs, out: &mut dyn Write) -> anyhow::Result<()> {
    let device = args.backend.device()?;
    let run = TransferRun {
        task: args.task.clone(),
        learning_rates: args.lr.clone(),
        epochs: args.epochs as usize,
        batch_size: args.batch as usize,
        max_seq_len: args.max_len as usize,
        max_train: args.max_train.unwrap_or(usize::MAX),
        seed: args.seed,
    };
    let result = finetune_checkpoint(
        &args.model,
        &run,
        &cache_dir(),
        &device,
        &Progress::new(true),
    )?;
    let (train, dev, test) = result.sizes;
    writeln!(
        out,
        "{} ({train} train / {dev} dev / {test} test examples), {} epochs, batch {}",
        args.task, args.epochs, args.batch
    )?;
    for (rate, accuracy) in &result.grid {
        writeln!(out, "  lr {rate:e}: dev accuracy {accuracy:.2} %")?;
    }
    writeln!(
        out,
        "chosen on dev: lr {:e}; test accuracy {:.2} %",
        result.chosen, result.test_accuracy
    )?;
    Ok(())
}
