//! Criterion micro-benchmarks of the hot operations at the `small` models' shapes, each fused
//! (as the papers run) beside burn's decomposed ops, forward and backward on the autodiff CPU
//! device; and the matrix product against the processor's fp32 peak.
//!
//! ```text
//! make bench-kernels                  # every group, ~2 minutes
//! make bench-kernels FILTER=attention # one group
//! ```

use std::hint::black_box;

use burn::module::Param;
use burn::nn::{LayerNorm, LayerNormConfig};
use burn::tensor::{Device, Int, Tensor, TensorData};
use criterion::{BenchmarkId, Criterion, Throughput, criterion_group};
use repro_kernels::{Hidden, Kernels, attention, cross_entropy, gelu, layer_norm, with_kernels};

/// The `repro` binary's allocator (see Cargo.toml); its freed pages are kept in `main` below.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn device() -> Device {
    Device::flex().autodiff()
}

fn random<const D: usize>(shape: [usize; D], seed: u64) -> Tensor<D> {
    let n: usize = shape.iter().product();
    let mut state = seed | 1;
    let values: Vec<f32> = (0..n)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            (state >> 40) as f32 / (1u64 << 24) as f32 - 0.5
        })
        .collect();
    Tensor::from_data(TensorData::new(values, shape), &device())
}

/// Both ways of computing an op: the fused kernels, and burn's own ops.
const WAYS: [(&str, Kernels); 2] = [("fused", Kernels::ALL), ("decomposed", Kernels::NONE)];

/// GPT `l` of the small scale: 8 windows of 256 tokens, width 128, 4 heads, vocabulary 2000.
const ROWS: usize = 8 * 256;

fn layer_norm_forward_backward(c: &mut Criterion) {
    let mut group = c.benchmark_group("layer_norm (2048 × 128), forward + backward");
    group.throughput(Throughput::Elements((ROWS * 128) as u64));
    for (way, kernels) in WAYS {
        let mut norm: LayerNorm = LayerNormConfig::new(128).init(&device());
        norm.gamma = Param::from_tensor(random([128], 1).require_grad());
        let x = random([8, 256, 128], 2).require_grad();
        group.bench_function(way, |b| {
            b.iter(|| {
                with_kernels(kernels, || {
                    let y = layer_norm(x.clone(), &norm, 1e-5);
                    black_box(y.sum().backward());
                })
            })
        });
    }
    group.finish();
}

fn attention_forward_backward(c: &mut Criterion) {
    let mut group =
        c.benchmark_group("attention core (8 × 256, 4 heads of 32), forward + backward");
    for (hidden_name, hidden) in [("causal", Hidden::Future), ("no mask", Hidden::Nothing)] {
        for (way, kernels) in WAYS {
            let q = random([8, 256, 4, 32], 3).require_grad();
            let k = random([8, 256, 4, 32], 4).require_grad();
            let v = random([8, 256, 4, 32], 5).require_grad();
            group.bench_function(BenchmarkId::new(way, hidden_name), |b| {
                b.iter(|| {
                    with_kernels(kernels, || {
                        let out = attention(
                            q.clone(),
                            k.clone(),
                            v.clone(),
                            32f64.sqrt(),
                            hidden.clone(),
                            None,
                        );
                        black_box(out.sum().backward());
                    })
                })
            });
        }
    }
    group.finish();
}

fn cross_entropy_forward_backward(c: &mut Criterion) {
    let mut group = c.benchmark_group(
        "log-softmax + label-smoothed cross-entropy (2048 × 2000), forward + backward",
    );
    group.throughput(Throughput::Elements((ROWS * 2000) as u64));
    let labels: Vec<i64> = (0..ROWS as i64).map(|i| (i * 7919) % 2000).collect();
    let labels = Tensor::<1, Int>::from_data(TensorData::new(labels, [ROWS]), &device());
    for (way, kernels) in WAYS {
        let logits = random([ROWS, 2000], 6).require_grad();
        group.bench_function(way, |b| {
            b.iter(|| {
                with_kernels(kernels, || {
                    let loss = cross_entropy(logits.clone(), labels.clone(), 0.1, Some(0));
                    black_box(loss.backward());
                })
            })
        });
    }
    group.finish();
}

fn gelu_forward_backward(c: &mut Criterion) {
    let mut group = c.benchmark_group("GELU (2048 × 512), forward + backward");
    group.throughput(Throughput::Elements((ROWS * 512) as u64));
    for (way, kernels) in WAYS {
        let x = random([ROWS, 512], 7).require_grad();
        group.bench_function(way, |b| {
            b.iter(|| {
                with_kernels(kernels, || {
                    black_box(gelu(x.clone(), false).sum().backward())
                })
            })
        });
    }
    group.finish();
}

/// The fp32 peak, measured in `main` before any group runs: measured after them, rayon's
/// threads still spinning from the last group took a core (117 GFLOP/s read instead of 233).
static PEAK: std::sync::OnceLock<f64> = std::sync::OnceLock::new();

fn matmul_against_peak(c: &mut Criterion) {
    let peak = *PEAK.get_or_init(|| repro_kernels::fp32_peak_gflops(rayon::current_num_threads()));
    let mut group = c.benchmark_group(format!(
        "matmul, inference (fp32 peak {peak:.0} GFLOP/s on {} threads)",
        rayon::current_num_threads()
    ));
    let flex = Device::flex();
    // The GPT's projections and its output layer, and a square product.
    for (m, k, n) in [
        (ROWS, 128, 384),
        (ROWS, 128, 512),
        (ROWS, 128, 2000),
        (1024, 1024, 1024),
    ] {
        let a = Tensor::<2>::from_data(random([m, k], 8).into_data(), &flex);
        let b = Tensor::<2>::from_data(random([k, n], 9).into_data(), &flex);
        group.throughput(Throughput::Elements((2 * m * k * n) as u64));
        group.bench_function(
            format!("{m}×{k} · {k}×{n} (elements/s = FLOP/s)"),
            |bench| bench.iter(|| black_box(a.clone().matmul(b.clone()).into_data())),
        );
    }
    group.finish();
}

criterion_group! {
    name = kernels;
    config = Criterion::default().sample_size(20).warm_up_time(std::time::Duration::from_millis(500))
        .measurement_time(std::time::Duration::from_secs(3));
    targets = layer_norm_forward_backward, attention_forward_backward, cross_entropy_forward_backward,
        gelu_forward_backward, matmul_against_peak
}
/// `criterion_main!` with the binary's allocator setting first: freed pages are never purged
/// (`mi_option_purge_delay` = -1, index 15 of mimalloc's `mi_option_e`; see harness/src/main.rs).
fn main() {
    // SAFETY: sets a process-wide option before any thread is started.
    unsafe { libmimalloc_sys::mi_option_set(15, -1) };
    PEAK.get_or_init(|| repro_kernels::fp32_peak_gflops(rayon::current_num_threads()));
    kernels();
    Criterion::default().configure_from_args().final_summary();
}
