//! The Transformer trains to the same numbers on the wgpu backend as on the CPU (flex) backend.
//!
//! Runs in every build with `--features wgpu` (the default of `make test`); CI installs Mesa's
//! software Vulkan (lavapipe) so that it runs there, and on a Linux machine with no Vulkan driver
//! it is skipped with a printed reason. Both backends start from identical weights (drawn on the
//! CPU), see identical batches and apply identical dropout masks (drawn on the CPU, see
//! `repro_core::determinism`); only the order of floating-point reductions differs, and training
//! amplifies such differences over many steps. So the comparison is a short training of the
//! `tiny` model (40 steps, every layer type: sinusoidal and learned positions), whose every
//! training-loss point and dev loss must agree within 0.01 nats, and the greedy translations of
//! the trained models, which must be the same sentences (up to two of sixteen flipped by a
//! near-tie).
#![cfg(feature = "wgpu")]

use burn::tensor::Device;
use repro_attention::data::{self, EncodedPair};
use repro_attention::decoding::greedy;
use repro_attention::model::{PositionalEncoding, TransformerConfig};
use repro_attention::scale::scale_config;
use repro_attention::training::{self, TrainingRun};
use repro_core::progress::Progress;
use repro_core::{Backend, Scale};

/// Why wgpu cannot run here, if it cannot: a Linux machine needs a Vulkan driver's ICD file.
fn no_gpu_reason() -> Option<String> {
    if !cfg!(target_os = "linux") {
        return None;
    }
    let variables = ["VK_ICD_FILENAMES", "VK_DRIVER_FILES"];
    if variables.iter().any(|v| std::env::var_os(v).is_some()) {
        return None;
    }
    let dirs = [
        "/usr/share/vulkan/icd.d",
        "/etc/vulkan/icd.d",
        "/usr/local/share/vulkan/icd.d",
    ];
    let found = dirs.iter().any(|dir| {
        std::fs::read_dir(dir)
            .map(|entries| {
                entries
                    .flatten()
                    .any(|e| e.path().extension().is_some_and(|x| x == "json"))
            })
            .unwrap_or(false)
    });
    (!found).then(|| {
        "no Vulkan driver (no ICD file under /usr/share/vulkan/icd.d); `apt-get install \
         mesa-vulkan-drivers` provides a software one"
            .to_string()
    })
}

/// What a short training on `device` gives: training-loss curve, dev losses, greedy outputs.
fn train_on(
    device: &Device,
    positional: PositionalEncoding,
    train: &[EncodedPair],
    dev: &[EncodedPair],
    vocab: usize,
) -> (Vec<f64>, Vec<f64>, Vec<Vec<u32>>) {
    let config = scale_config(Scale::Tiny).unwrap();
    let model = TransformerConfig::new(vocab)
        .with_d_model(config.model.d_model)
        .with_n_heads(config.model.n_heads)
        .with_d_ff(config.model.d_ff)
        .with_n_layers(config.model.n_layers)
        .with_dropout(config.model.dropout)
        .with_max_len(config.model.max_len)
        .with_positional(positional)
        .with_pad_id(data::PAD as usize);
    let mut training_config = config.training.clone();
    training_config.steps = 40;
    training_config.eval_every = 10;
    let trained = training::train(
        TrainingRun {
            name: "backend check".into(),
            model: &model,
            training: &training_config,
            seed: 1,
            train,
            dev,
            checkpoints: None,
        },
        device,
        &Progress::hidden(),
    )
    .unwrap();
    let sources: Vec<Vec<u32>> = dev[..16].iter().map(|pair| pair.source.clone()).collect();
    let outputs = greedy(&trained.model, &sources, config.model.max_len, device);
    let curve = |points: &[(f64, f64)]| points.iter().map(|&(_, loss)| loss).collect();
    (
        curve(&trained.state.train_loss),
        curve(&trained.state.dev_loss),
        outputs,
    )
}

#[test]
fn tiny_training_on_wgpu_matches_cpu_within_tolerance() {
    if let Some(reason) = no_gpu_reason() {
        println!("skipped: {reason}");
        return;
    }
    let config = scale_config(Scale::Tiny).unwrap();
    let splits =
        data::load_splits("bible-en-es", &config.data, std::path::Path::new("unused")).unwrap();
    let selected = data::select(splits, &config.data).unwrap().splits;
    let tokenizer = data::train_bpe(&selected.train, config.data.vocab_size).unwrap();
    let encode = |pairs| data::encode_pairs(&tokenizer, pairs, config.data.max_tokens).unwrap();
    let (train, dev) = (encode(&selected.train), encode(&selected.dev));
    let cpu = Backend::Cpu.device().unwrap();
    let wgpu = Backend::Wgpu.device().unwrap();
    let mut compared = 0;
    for positional in [PositionalEncoding::Sinusoidal, PositionalEncoding::Learned] {
        let vocab = tokenizer.vocab_size();
        let (cpu_curve, cpu_dev, cpu_out) = train_on(&cpu, positional, &train, &dev, vocab);
        let (wgpu_curve, wgpu_dev, wgpu_out) = train_on(&wgpu, positional, &train, &dev, vocab);
        assert_eq!(cpu_curve.len(), 4);
        assert_eq!(cpu_curve.len(), wgpu_curve.len());
        for (what, a, b) in [
            ("training loss", &cpu_curve, &wgpu_curve),
            ("dev loss", &cpu_dev, &wgpu_dev),
        ] {
            for (x, y) in a.iter().zip(b.iter()) {
                println!("{positional:?} {what}: cpu {x:.5}, wgpu {y:.5} nats");
                assert!(
                    (x - y).abs() < 0.01,
                    "{positional:?} {what}: cpu {x} vs wgpu {y}"
                );
                compared += 1;
            }
        }
        // Near-ties in the logits may flip an argmax; beyond that the sentences are the same.
        let same = cpu_out
            .iter()
            .zip(&wgpu_out)
            .filter(|(a, b)| a == b)
            .count();
        assert!(
            same >= 14,
            "{positional:?}: only {same} of 16 greedy translations agree"
        );
    }
    assert_eq!(compared, 16, "every curve point compared");
}
