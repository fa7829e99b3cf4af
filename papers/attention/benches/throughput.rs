//! `make bench`: training and decoding throughput of the `small` base model on the CPU, against
//! the targets the `small` scale is budgeted for (the reproduction must stay "minutes on a
//! 2-core laptop"). Prints the numbers and exits non-zero when a target is missed.
//!
//! Targets (2 cores, flex backend): training ≥ 4,000 tokens/s; beam-4 decoding ≥ 20 sentences/s.

use std::time::Instant;

use burn::tensor::Device;
use repro_attention::data::{self, EncodedPair};
use repro_attention::decoding::{Decoding, translate};
use repro_attention::model::TransformerConfig;
use repro_attention::scale::scale_config;
use repro_attention::training::{self, TrainingConfig, TrainingRun};
use repro_core::Scale;
use repro_core::progress::Progress;

const TRAINING_TOKENS_PER_SECOND: f64 = 4_000.0;
const DECODING_SENTENCES_PER_SECOND: f64 = 20.0;

fn main() -> anyhow::Result<()> {
    let config = scale_config(Scale::Small)?;
    let pairs = data::filter_by_words(data::bible_en_es()?, config.data.max_words);
    let (train, dev) = (&pairs[..4000], &pairs[4000..4200]);
    let tokenizer = data::train_bpe(train, config.data.vocab_size)?;
    let train: Vec<EncodedPair> = data::encode_pairs(&tokenizer, train, config.data.max_tokens)?;
    let dev: Vec<EncodedPair> = data::encode_pairs(&tokenizer, dev, config.data.max_tokens)?;
    let model = TransformerConfig::new(tokenizer.vocab_size())
        .with_d_model(config.model.d_model)
        .with_n_heads(config.model.n_heads)
        .with_d_ff(config.model.d_ff)
        .with_n_layers(config.model.n_layers)
        .with_max_len(config.model.max_len);
    let steps = 60;
    let training_config = TrainingConfig {
        steps,
        eval_every: steps,
        checkpoint_every: steps,
        ..config.training.clone()
    };
    let device = Device::flex();
    let started = Instant::now();
    let trained = training::train(
        TrainingRun {
            name: "bench".into(),
            model: &model,
            training: &training_config,
            seed: 1,
            train: &train,
            dev: &dev,
            checkpoints: None,
        },
        &device,
        &Progress::hidden(),
    )?;
    let tokens_per_second = trained.state.tokens_per_second();
    println!(
        "training: {tokens_per_second:.0} tokens/s over {steps} steps ({:.1} s, {} parameters); target ≥ {TRAINING_TOKENS_PER_SECOND}",
        started.elapsed().as_secs_f64(),
        trained.parameters
    );
    let sources: Vec<Vec<u32>> = dev.iter().map(|pair| pair.source.clone()).collect();
    let started = Instant::now();
    let outputs = translate(
        &trained.model,
        &sources,
        Decoding::PAPER,
        config.decode_batch,
        config.model.max_len,
        &device,
    );
    let sentences_per_second = outputs.len() as f64 / started.elapsed().as_secs_f64();
    println!(
        "decoding: {sentences_per_second:.1} sentences/s (beam 4, α 0.6); target ≥ {DECODING_SENTENCES_PER_SECOND}"
    );
    anyhow::ensure!(
        tokens_per_second >= TRAINING_TOKENS_PER_SECOND,
        "training throughput below target"
    );
    anyhow::ensure!(
        sentences_per_second >= DECODING_SENTENCES_PER_SECOND,
        "decoding throughput below target"
    );
    Ok(())
}
