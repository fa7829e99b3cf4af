//! Criterion micro-benchmark: one step of beam search (§6.1: beam 4) with the `small` model —
//! the decoder over the cached prefix for every hypothesis of a batch, and the log-softmax over
//! the vocabulary that ranks their continuations — fused kernels beside burn's decomposed ops.
//! Training and scoring throughput, side by side with PyTorch, are `make bench`'s.
//!
//! ```text
//! make bench-kernels FILTER=beam
//! ```

use std::hint::black_box;

use burn::tensor::activation::log_softmax;
use burn::tensor::{Device, Int, Tensor, TensorData};
use criterion::{BenchmarkId, Criterion, criterion_group, criterion_main};
use repro_attention::data::PAD;
use repro_attention::model::TransformerConfig;
use repro_core::determinism::init_on_cpu;
use repro_kernels::{Kernels, with_kernels};

/// The `small` scale's model (N=2, d_model=64, h=4, d_ff=256, vocabulary 1000), a batch of
/// 32 sources of 16 tokens, 4 hypotheses each, 8 target tokens decoded so far.
fn beam_step(c: &mut Criterion) {
    let device = Device::flex();
    let config = TransformerConfig::new(1000)
        .with_d_model(64)
        .with_n_heads(4)
        .with_d_ff(256)
        .with_n_layers(2)
        .with_max_len(96)
        .with_pad_id(PAD as usize);
    let model = init_on_cpu(1, &device, |device| config.init(device));
    let (batch, beam, source_len, prefix) = (32usize, 4usize, 16usize, 8usize);
    let rows = batch * beam;
    let ids = |n: usize, len: usize, seed: i64| {
        let values: Vec<i64> = (0..n * len)
            .map(|i| 3 + (i as i64 * 7 + seed) % 990)
            .collect();
        Tensor::<2, Int>::from_data(TensorData::new(values, [n, len]), &device)
    };
    let source = ids(rows, source_len, 1);
    let memory = model.encode(source.clone());
    let memory_mask = repro_attention::model::padding_mask(&source, PAD as usize);
    let mut group = c.benchmark_group("beam search step (32 sources × beam 4, prefix 8)");
    for (way, kernels) in [("fused", Kernels::ALL), ("decomposed", Kernels::NONE)] {
        // The cache after `prefix` steps, built once; every iteration decodes the next token.
        let mut caches = model.start_decoding(memory.clone());
        with_kernels(kernels, || {
            for position in 0..prefix {
                model.decode_step(
                    ids(rows, 1, position as i64),
                    position,
                    &mut caches,
                    memory_mask.clone(),
                );
            }
        });
        group.bench_function(BenchmarkId::new(way, "decoder + log-softmax"), |b| {
            b.iter(|| {
                with_kernels(kernels, || {
                    let mut caches = caches.clone();
                    let logits = model.decode_step(
                        ids(rows, 1, 9),
                        prefix,
                        &mut caches,
                        memory_mask.clone(),
                    );
                    black_box(log_softmax(logits, 1).into_data())
                })
            })
        });
    }
    group.finish();
}

criterion_group! {
    name = decoding;
    config = Criterion::default().sample_size(30).measurement_time(std::time::Duration::from_secs(3));
    targets = beam_step
}
criterion_main!(decoding);
