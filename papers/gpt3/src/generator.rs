//! `repro generate`: a text generator from a checkpoint, either a run of this crate's
//! reproduction (a run directory with `LATEST`; architecture from its `config.json`, weights
//! from `model.bpk`, the byte-level BPE from `tokenizer.json`) or a Hugging Face GPT-2 directory
//! (`config.json` + `model.safetensors` + `tokenizer.json`, [`crate::hf`]).

use std::path::Path;

use anyhow::Context;
use burn::module::Module;
use burn::tensor::Device;
use repro_core::checkpoint::{self, StoredIdentity};
use repro_core::data::Tokenizer;

use crate::experiments::RunConfig;
use crate::hf;
use crate::model::Gpt;

/// A loaded decoder with its tokenizer and a line that says what it is.
pub struct Generator {
    /// The model.
    pub model: Gpt,
    /// Its tokenizer.
    pub tokenizer: Tokenizer,
    /// Paper, run, step (or the Hugging Face directory).
    pub description: String,
}

/// Loads the checkpoint in `dir` onto `device`.
pub fn load(dir: &Path, device: &Device) -> anyhow::Result<Generator> {
    if dir.join("model.safetensors").exists() {
        let (model, config) = hf::load(dir, device)?;
        let tokenizer = hf::load_tokenizer(dir, &config)?.with_context(|| {
            format!(
                "{} has no tokenizer.json to encode the prompt with",
                dir.display()
            )
        })?;
        return Ok(Generator {
            description: format!(
                "Hugging Face GPT-2 from {} ({} layers × {}, {} heads, context {})",
                dir.display(),
                config.n_layer,
                config.n_embd,
                config.n_head,
                config.n_positions
            ),
            model,
            tokenizer,
        });
    }
    let (step_dir, identity) = checkpoint::open(dir)?;
    from_run(&step_dir.path, &identity, device)
}

/// The model of a reproduction run's checkpoint in `step_dir`.
pub fn from_run(
    step_dir: &Path,
    identity: &StoredIdentity,
    device: &Device,
) -> anyhow::Result<Generator> {
    let run = &identity.identity;
    anyhow::ensure!(
        run.paper == "gpt3",
        "the checkpoint is of `{}` (run `{}`), which has no text generator; `repro checkpoints gpt3` lists GPT runs",
        run.paper,
        run.label
    );
    let config: RunConfig = serde_json::from_value(run.config.clone())
        .with_context(|| format!("run `{}`: config.json is not a GPT run's", run.label))?;
    let tokenizer_path = step_dir.join(checkpoint::TOKENIZER);
    let tokenizer = Tokenizer::from_json(
        &std::fs::read_to_string(&tokenizer_path)
            .with_context(|| format!("reading {}", tokenizer_path.display()))?,
    )?;
    anyhow::ensure!(
        tokenizer.vocab_size() == config.model.vocab_size,
        "tokenizer.json has {} tokens but the model's embedding has {}",
        tokenizer.vocab_size(),
        config.model.vocab_size
    );
    let model_path = step_dir.join(checkpoint::MODEL);
    let model = config
        .model
        .init(device)
        .try_load_file(&model_path)
        .map_err(|error| anyhow::anyhow!("loading {}: {error:?}", model_path.display()))?;
    Ok(Generator {
        model,
        tokenizer,
        description: format!(
            "gpt3 / size {} seed {} ({} scale; {} layers × {}, {} heads), {}",
            run.label,
            run.seed,
            run.scale.name(),
            config.model.n_layer,
            config.model.n_embd,
            config.model.n_head,
            step_dir.display()
        ),
    })
}
