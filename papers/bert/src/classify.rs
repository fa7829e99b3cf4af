//! `repro classify`: a fine-tuned BERT from its checkpoint. The architecture, the task's label
//! names and the input length come from `config.json` (the run's [`FinetuneConfig`]), the weights
//! from `model.bpk`, the WordPiece vocabulary from `tokenizer.json`.

use std::path::Path;

use anyhow::Context;
use burn::module::Module;
use burn::tensor::Device;
use repro_core::apps::{Classifier, Prediction};
use repro_core::checkpoint::{self, StoredIdentity};
use repro_core::data::Tokenizer;
use repro_core::train::TrainingState;

use crate::corpus::SPECIAL_TOKENS;
use crate::experiments::FinetuneConfig;
use crate::finetuning::{self, Encoded, argmax};
use crate::model::BertClassifier;

/// A fine-tuned classifier.
pub struct BertTextClassifier {
    model: BertClassifier,
    tokenizer: Tokenizer,
    config: FinetuneConfig,
    device: Device,
    summary: String,
}

impl BertTextClassifier {
    /// Loads the checkpoint in `step_dir` (with its `identity`) onto `device`.
    pub fn load(
        step_dir: &Path,
        identity: &StoredIdentity,
        device: &Device,
    ) -> anyhow::Result<Self> {
        let config: FinetuneConfig = serde_json::from_value(identity.identity.config.clone()).with_context(|| {
            format!(
                "run `{}` is not a fine-tuning run (pre-training checkpoints have no classifier; `repro checkpoints` lists the fine-tuned ones under finetuning/)",
                identity.identity.label
            )
        })?;
        let tokenizer_path = step_dir.join(checkpoint::TOKENIZER);
        let tokenizer = Tokenizer::from_json(
            &std::fs::read_to_string(&tokenizer_path)
                .with_context(|| format!("reading {}", tokenizer_path.display()))?,
        )?;
        tokenizer.ensure_reserved(&SPECIAL_TOKENS)?;
        anyhow::ensure!(
            tokenizer.vocab_size() == config.model.vocab_size,
            "tokenizer.json has {} pieces but the model's embedding has {}",
            tokenizer.vocab_size(),
            config.model.vocab_size
        );
        let model_path = step_dir.join(checkpoint::MODEL);
        let model = config
            .model
            .init_classifier(config.labels.len(), device)
            .try_load_file(&model_path)
            .map_err(|error| anyhow::anyhow!("loading {}: {error:?}", model_path.display()))?;
        let state: TrainingState = serde_json::from_str(
            &std::fs::read_to_string(step_dir.join(checkpoint::STATE)).unwrap_or_default(),
        )
        .unwrap_or_default();
        let summary = format!(
            "bert / {} seed {} ({} scale), task {} (labels: {}), step {} of {}",
            identity.identity.label,
            identity.identity.seed,
            identity.identity.scale,
            config.task,
            config.labels.join(", "),
            state.step,
            state.steps
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

impl Classifier for BertTextClassifier {
    fn classify(&self, texts: &[String]) -> anyhow::Result<Vec<Prediction>> {
        let pair_task = self.config.pair;
        let mut encoded = Vec::with_capacity(texts.len());
        for text in texts {
            let (a, b) = match text.split_once('\t') {
                Some((a, b)) => (a, Some(b)),
                None => (text.as_str(), None),
            };
            anyhow::ensure!(
                b.is_some() == pair_task,
                "task {} takes {}; got {:?}",
                self.config.task,
                if pair_task {
                    "two sentences separated by a tab"
                } else {
                    "one sentence (no tab)"
                },
                text
            );
            let (tokens, segments) =
                finetuning::encode_text(&self.tokenizer, a, b, self.config.max_seq_len)?;
            encoded.push(Encoded {
                tokens,
                segments,
                label: 0,
            });
        }
        let probabilities = finetuning::probabilities(&self.model, &encoded, &self.device);
        Ok(probabilities
            .iter()
            .map(|p| {
                let best = argmax(p);
                Prediction {
                    label: self.config.labels[best].clone(),
                    probability: f64::from(p[best]),
                }
            })
            .collect())
    }

    fn describe(&self) -> String {
        self.summary.clone()
    }
}
