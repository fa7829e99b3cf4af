//! `repro translate`: a trained Transformer from its checkpoint, decoding new sentences with the
//! paper's beam search (§6.1) or greedily.
//!
//! Everything comes from the checkpoint directory: the architecture from `config.json` (the run's
//! [`RunConfig`]), the weights from `model.bpk`, the joint BPE vocabulary from `tokenizer.json`.

use std::path::Path;

use anyhow::Context;
use burn::module::Module;
use burn::tensor::Device;
use repro_core::apps::{Search, Translator};
use repro_core::checkpoint::{self, StoredIdentity};
use repro_core::data::Tokenizer;
use repro_core::train::TrainingState;

use crate::data;
use crate::decoding::{self, Decoding};
use crate::experiments::RunConfig;
use crate::model::Transformer;

/// Sentences decoded together.
const BATCH: usize = 32;

/// A Transformer loaded for translation.
pub struct TransformerTranslator {
    model: Transformer,
    tokenizer: Tokenizer,
    config: RunConfig,
    device: Device,
    summary: String,
}

impl TransformerTranslator {
    /// Loads the checkpoint in `step_dir` (with its `identity`) onto `device`.
    pub fn load(
        step_dir: &Path,
        identity: &StoredIdentity,
        device: &Device,
    ) -> anyhow::Result<Self> {
        let config: RunConfig = serde_json::from_value(identity.identity.config.clone())
            .context("the checkpoint's config.json is not a Transformer run of this version")?;
        let tokenizer_path = step_dir.join(checkpoint::TOKENIZER);
        let tokenizer = Tokenizer::from_json(
            &std::fs::read_to_string(&tokenizer_path)
                .with_context(|| format!("reading {}", tokenizer_path.display()))?,
        )?;
        tokenizer.ensure_reserved(&data::SPECIAL_TOKENS)?;
        anyhow::ensure!(
            tokenizer.vocab_size() == config.model.vocab_size,
            "tokenizer.json has {} pieces but the model expects {}",
            tokenizer.vocab_size(),
            config.model.vocab_size
        );
        let model_path = step_dir.join(checkpoint::MODEL);
        let model = config
            .model
            .init(device)
            .try_load_file(&model_path)
            .map_err(|error| anyhow::anyhow!("loading {}: {error:?}", model_path.display()))?;
        let state: TrainingState = serde_json::from_str(
            &std::fs::read_to_string(step_dir.join(checkpoint::STATE)).unwrap_or_default(),
        )
        .unwrap_or_default();
        let summary = format!(
            "attention / {} seed {} ({} scale), step {} of {}, dev ppl {:.2}",
            identity.identity.label,
            identity.identity.seed,
            identity.identity.scale,
            state.step,
            state.steps,
            state.final_dev_loss().exp()
        );
        Ok(Self {
            model,
            tokenizer,
            config,
            device: device.clone(),
            summary,
        })
    }
}

impl Translator for TransformerTranslator {
    fn translate(&self, sources: &[String], search: Search) -> anyhow::Result<Vec<String>> {
        let decoding = match search {
            Search::Greedy => Decoding::Greedy,
            Search::Beam { size, alpha } => Decoding::Beam { size, alpha },
        };
        let encoded: Vec<Vec<u32>> = sources
            .iter()
            .map(|text| data::encode_sentence(&self.tokenizer, text, self.config.data.max_tokens))
            .collect::<anyhow::Result<_>>()?;
        decoding::translate(
            &self.model,
            &encoded,
            decoding,
            BATCH,
            self.config.model.max_len,
            &self.device,
        )
        .iter()
        .map(|ids| data::decode(&self.tokenizer, ids))
        .collect()
    }

    fn describe(&self) -> String {
        self.summary.clone()
    }
}
