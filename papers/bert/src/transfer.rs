//! Fine-tuning a downloaded Hugging Face BERT (`repro finetune`): the paper's §4 recipe on a
//! real pre-trained encoder, e.g. Turc et al.'s BERT-Tiny (google/bert_uncased_L-2_H-128_A-2)
//! on SST-2, whose published GLUE-test accuracy is 83.2.

use std::path::Path;

use burn::tensor::Device;
use repro_core::progress::Progress;

use crate::finetuning::{self, FinetuningRun};
use crate::scale::TasksConfig;
use crate::tasks::{self, Task};

/// What `repro finetune` runs.
#[derive(Debug, Clone)]
pub struct TransferRun {
    /// `movie_reviews`, `verse_paraphrase` (embedded) or `sst2`, `mrpc` (downloaded).
    pub task: String,
    /// Learning rates searched on dev.
    pub learning_rates: Vec<f64>,
    /// Epochs.
    pub epochs: usize,
    /// Examples per batch.
    pub batch_size: usize,
    /// Tokens per input.
    pub max_seq_len: usize,
    /// At most this many training examples.
    pub max_train: usize,
    /// Seed of the classifier head, batch order and dropout.
    pub seed: u64,
}

/// The outcome: dev accuracy per learning rate, the chosen one, and its test accuracy.
#[derive(Debug, Clone)]
pub struct TransferResult {
    /// (learning rate, dev accuracy %).
    pub grid: Vec<(f64, f64)>,
    /// The learning rate of the best dev accuracy.
    pub chosen: f64,
    /// Test accuracy (%) of the chosen run.
    pub test_accuracy: f64,
    /// The task's split sizes (train, dev, test).
    pub sizes: (usize, usize, usize),
}

/// Loads `task` (downloading GLUE's when asked) with the splits of `config`.
pub fn load_task(task: &str, config: &TasksConfig, cache_dir: &Path) -> anyhow::Result<Task> {
    use repro_core::data::Splits;
    let task = match task {
        "movie_reviews" => tasks::movie_reviews(config)?,
        "verse_paraphrase" => tasks::verse_paraphrase(config)?,
        "sst2" => {
            let (train, dev, test) = crate::canonical::sst2(cache_dir, None)?;
            tasks::from_splits(
                "sst2",
                &["negative", "positive"],
                Splits { train, dev, test },
                config,
            )
        }
        "mrpc" => {
            let (train, dev, test) = crate::canonical::mrpc(cache_dir, None)?;
            tasks::from_splits(
                "mrpc",
                &["not paraphrase", "paraphrase"],
                Splits { train, dev, test },
                config,
            )
        }
        other => anyhow::bail!(
            "unknown task `{other}`; tasks: movie_reviews, verse_paraphrase (embedded), sst2, mrpc (GLUE, downloaded)"
        ),
    };
    task.validate()?;
    Ok(task)
}

/// Fine-tunes the checkpoint in `model_dir` on `run.task`, every weight trained, choosing the
/// learning rate on dev and scoring the chosen run on test once.
pub fn finetune_checkpoint(
    model_dir: &Path,
    run: &TransferRun,
    cache_dir: &Path,
    device: &Device,
    progress: &Progress,
) -> anyhow::Result<TransferResult> {
    anyhow::ensure!(!run.learning_rates.is_empty(), "no learning rate to try");
    let loaded = crate::hf::load(model_dir, device)?;
    if loaded.fresh_pooler {
        progress.println(&format!(
            "{}: no pooler in the checkpoint; it starts from seed 0 and is trained with the rest",
            model_dir.display()
        ));
    }
    let config = TasksConfig {
        dev_percent: 10,
        test_percent: 10,
        max_train: run.max_train,
        max_eval: usize::MAX,
        pair_max_words: 60,
    };
    let task = load_task(&run.task, &config, cache_dir)?;
    let max_len = run.max_seq_len.min(loaded.config.max_position_embeddings);
    let encode = |examples| finetuning::encode(&loaded.tokenizer, examples, max_len);
    let (train, dev, test) = (
        encode(&task.splits.train)?,
        encode(&task.splits.dev)?,
        encode(&task.splits.test)?,
    );
    let mut grid = Vec::new();
    let mut best: Option<(f64, f64, crate::model::BertClassifier)> = None;
    for &learning_rate in &run.learning_rates {
        let trained = finetuning::finetune(
            FinetuningRun {
                name: format!("fine-tune {} lr {learning_rate:e}", run.task),
                model: &loaded.config,
                encoder: Some(&loaded.model),
                labels: task.labels.len(),
                learning_rate,
                epochs: run.epochs,
                batch_size: run.batch_size,
                seed: run.seed,
                train: &train,
                dev: &dev,
                checkpoints: None,
            },
            device,
            progress,
        )?;
        let accuracy = 100.0 * finetuning::accuracy(&trained.model, &dev, device);
        grid.push((learning_rate, accuracy));
        // Ties go to the smaller rate, as in the reproduction's selection.
        let better = best.as_ref().is_none_or(|(score, rate, _)| {
            accuracy > *score || (accuracy == *score && learning_rate < *rate)
        });
        if better {
            best = Some((accuracy, learning_rate, trained.model));
        }
    }
    let Some((_, chosen, model)) = best else {
        anyhow::bail!("no learning rate to try");
    };
    Ok(TransferResult {
        test_accuracy: 100.0 * finetuning::accuracy(&model, &test, device),
        grid,
        chosen,
        sizes: (train.len(), dev.len(), test.len()),
    })
}
