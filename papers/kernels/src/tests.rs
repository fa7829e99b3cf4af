//! Each fused kernel against burn's decomposed ops through the public functions, on the autodiff
//! flex device: the same values and the same gradients within float tolerance; and the
//! switches that choose between them.

use burn::module::Param;
use burn::nn::{LayerNorm, LayerNormConfig, LinearConfig};
use burn::tensor::{Bool, Device, Int, Tensor, TensorData};

use super::*;

fn device() -> Device {
    Device::flex().autodiff()
}

fn random<const D: usize>(shape: [usize; D], seed: u64, scale: f32) -> Tensor<D> {
    let n = shape.iter().product();
    Tensor::from_data(
        TensorData::new(cpu::tests::random(n, seed, scale), shape),
        &device(),
    )
}

fn values<const D: usize>(t: Tensor<D>) -> Vec<f32> {
    t.into_data()
        .convert::<f32>()
        .try_into_vec::<f32>()
        .unwrap()
}

#[track_caller]
fn assert_close(fused: &[f32], decomposed: &[f32], tolerance: f32, what: &str) {
    assert_eq!(fused.len(), decomposed.len(), "{what}");
    let worst = fused
        .iter()
        .zip(decomposed)
        .map(|(a, b)| (a - b).abs() / (1.0 + b.abs()))
        .fold(0.0f32, f32::max);
    assert!(
        worst <= tolerance,
        "{what}: fused and decomposed differ by {worst:e} (relative)"
    );
}

/// Runs `f` fused and decomposed; `f` returns (outputs, gradients) as plain values.
fn both(f: impl Fn() -> Vec<Vec<f32>>) -> (Vec<Vec<f32>>, Vec<Vec<f32>>) {
    (
        with_kernels(Kernels::ALL, &f),
        with_kernels(Kernels::NONE, &f),
    )
}

#[test]
fn layer_norm_matches_the_decomposed_version_with_gradients() {
    let (fused, decomposed) = both(|| {
        let mut norm: LayerNorm = LayerNormConfig::new(48).init(&device());
        norm.gamma = Param::from_tensor(random([48], 2, 1.0).require_grad());
        norm.beta = Some(Param::from_tensor(random([48], 3, 1.0).require_grad()));
        let x = random([4, 33, 48], 1, 3.0).require_grad();
        let y = layer_norm(x.clone(), &norm, 1e-5);
        let weights = random([4, 33, 48], 4, 1.0);
        let grads = (y.clone() * weights).sum().backward();
        vec![
            values(y),
            values(x.grad(&grads).unwrap()),
            values(norm.gamma.val().grad(&grads).unwrap()),
            values(norm.beta.as_ref().unwrap().val().grad(&grads).unwrap()),
        ]
    });
    for (what, (f, d)) in ["y", "dx", "dγ", "dβ"]
        .iter()
        .zip(fused.iter().zip(&decomposed))
    {
        assert_close(f, d, 2e-5, what);
    }
}

fn attention_case(hidden: impl Fn() -> Hidden) -> (Vec<Vec<f32>>, Vec<Vec<f32>>) {
    both(|| {
        let scores = random([2, 3, 7, 7], 5, 4.0).require_grad();
        let probs = attention_weights(scores.clone(), 2.0, hidden());
        let grads = (probs.clone() * random([2, 3, 7, 7], 6, 1.0))
            .sum()
            .backward();
        vec![values(probs), values(scores.grad(&grads).unwrap())]
    })
}

#[test]
fn attention_weights_match_with_every_kind_of_mask() {
    let mask = |rows: usize| {
        let bits: Vec<bool> = cpu::tests::random(2 * rows * 7, 7, 1.0)
            .iter()
            .map(|v| *v > 0.2)
            .collect();
        Tensor::<4, Bool>::from_data(TensorData::new(bits, [2, 1, rows, 7]), &device())
    };
    for (name, hidden) in [
        (
            "nothing",
            Box::new(|| Hidden::Nothing) as Box<dyn Fn() -> Hidden>,
        ),
        ("future", Box::new(|| Hidden::Future)),
        ("per-query mask", Box::new(move || Hidden::Where(mask(7)))),
        ("key mask", Box::new(move || Hidden::Where(mask(1)))),
    ] {
        let (fused, decomposed) = attention_case(hidden);
        assert_close(&fused[0], &decomposed[0], 1e-6, &format!("{name}: weights"));
        assert_close(
            &fused[1],
            &decomposed[1],
            1e-5,
            &format!("{name}: d scores"),
        );
    }
}

#[test]
fn the_fused_attention_core_matches_with_masks_and_dropout() {
    let mask = |rows: usize| {
        let bits: Vec<bool> = cpu::tests::random(2 * rows * 9, 14, 1.0)
            .iter()
            .map(|v| *v > 0.3)
            .collect();
        Tensor::<4, Bool>::from_data(TensorData::new(bits, [2, 1, rows, 9]), &device())
    };
    // (name, queries, keys, hidden, dropout); causal heads of more than 32 queries are
    // computed in blocks that skip the hidden keys.
    type Case = (
        &'static str,
        usize,
        usize,
        Box<dyn Fn() -> Hidden>,
        Option<(f64, u64)>,
    );
    let cases: Vec<Case> = vec![
        ("causal", 9, 9, Box::new(|| Hidden::Future), None),
        (
            "causal, dropout",
            9,
            9,
            Box::new(|| Hidden::Future),
            Some((0.2, 5)),
        ),
        (
            "causal, 3 blocks, dropout",
            70,
            70,
            Box::new(|| Hidden::Future),
            Some((0.1, 8)),
        ),
        (
            "causal, the last 40 of 70 positions",
            40,
            70,
            Box::new(|| Hidden::Future),
            None,
        ),
        (
            "nothing hidden, 4 queries",
            4,
            9,
            Box::new(|| Hidden::Nothing),
            None,
        ),
        (
            "key mask, dropout",
            4,
            9,
            Box::new(move || Hidden::Where(mask(1))),
            Some((0.1, 6)),
        ),
        (
            "per-query mask",
            9,
            9,
            Box::new(move || Hidden::Where(mask(9))),
            None,
        ),
    ];
    for (name, queries, keys, hidden, dropout) in cases {
        let (fused, decomposed) = both(|| {
            let q = random([2, queries, 3, 4], 15, 1.0).require_grad();
            let k = random([2, keys, 3, 4], 16, 1.0).require_grad();
            let v = random([2, keys, 3, 4], 17, 1.0).require_grad();
            let out = attention(q.clone(), k.clone(), v.clone(), 2.0, hidden(), dropout);
            let grads = (out.clone() * random([2, queries, 3, 4], 18, 1.0))
                .sum()
                .backward();
            vec![
                values(out),
                values(q.grad(&grads).unwrap()),
                values(k.grad(&grads).unwrap()),
                values(v.grad(&grads).unwrap()),
            ]
        });
        for (what, (f, d)) in ["out", "dq", "dk", "dv"]
            .iter()
            .zip(fused.iter().zip(&decomposed))
        {
            assert_close(f, d, 1e-5, &format!("{name}: {what}"));
        }
    }
}

/// Packed attention's output and dQKV: (packed kernel, split views through the separate kernel).
fn packed_and_split(
    length: usize,
    causal: bool,
    dropout: Option<(f64, u64)>,
) -> (Vec<Vec<f32>>, Vec<Vec<f32>>) {
    let run = |packed: bool| {
        let qkv = random([2, length, 3 * 12], 19, 1.0).require_grad();
        let out = if packed {
            packed_attention(qkv.clone(), 3, 2.0, causal, dropout)
        } else {
            let parts = qkv.clone().reshape([2, length, 3, 3, 4]);
            let [q, k, v] =
                [0, 1, 2].map(|i| parts.clone().narrow(2, i, 1).reshape([2, length, 3, 4]));
            let hidden = if causal {
                Hidden::Future
            } else {
                Hidden::Nothing
            };
            attention(q, k, v, 2.0, hidden, dropout).reshape([2, length, 12])
        };
        let grads = (out.clone() * random([2, length, 12], 20, 1.0))
            .sum()
            .backward();
        vec![values(out), values(qkv.grad(&grads).unwrap())]
    };
    (run(true), run(false))
}

#[test]
fn packed_attention_is_the_split_one_bit_for_bit_and_matches_the_decomposed_one() {
    for (length, causal, dropout) in [
        (9, true, None),
        (70, true, Some((0.1, 8))),
        (9, false, None),
    ] {
        let name = format!("length {length}, causal {causal}, dropout {dropout:?}");
        // The packed kernel reads q, k and v in place and writes dQKV packed: the same
        // products on the same values as the separate kernel on split copies.
        let (packed, split) =
            with_kernels(Kernels::ALL, || packed_and_split(length, causal, dropout));
        assert_eq!(packed, split, "{name}");
        let (decomposed, _) =
            with_kernels(Kernels::NONE, || packed_and_split(length, causal, dropout));
        for (what, (f, d)) in ["out", "dqkv"].iter().zip(packed.iter().zip(&decomposed)) {
            assert_close(f, d, 1e-5, &format!("{name}: {what}"));
        }
    }
}

#[test]
fn cross_entropy_matches_with_smoothing_and_ignored_rows() {
    for (smoothing, ignore) in [(0.0, None), (0.1, None), (0.1, Some(0)), (0.0, Some(-100))] {
        let (fused, decomposed) = both(|| {
            let logits = random([13, 50], 8, 5.0).require_grad();
            let mut labels: Vec<i64> = (0..13).map(|i| (i * 7 % 50) as i64).collect();
            if let Some(ignore) = ignore {
                labels[2] = ignore;
                labels[9] = ignore;
            }
            let labels = Tensor::<1, Int>::from_data(TensorData::new(labels, [13]), &device());
            let loss = cross_entropy(logits.clone(), labels, smoothing, ignore);
            let grads = loss.clone().backward();
            vec![values(loss), values(logits.grad(&grads).unwrap())]
        });
        let what = format!("ε {smoothing}, ignore {ignore:?}");
        assert_close(&fused[0], &decomposed[0], 1e-6, &format!("{what}: loss"));
        assert_close(
            &fused[1],
            &decomposed[1],
            1e-6,
            &format!("{what}: d logits"),
        );
    }
}

#[test]
fn gelu_matches_both_forms() {
    for tanh in [false, true] {
        let (fused, decomposed) = both(|| {
            let x = random([1000], 9, 5.0).require_grad();
            let y = gelu(x.clone(), tanh);
            let grads = (y.clone() * random([1000], 10, 1.0)).sum().backward();
            vec![values(y), values(x.grad(&grads).unwrap())]
        });
        assert_close(&fused[0], &decomposed[0], 2e-6, "gelu");
        assert_close(&fused[1], &decomposed[1], 2e-6, "gelu'");
    }
}

#[test]
fn matmul_is_burns_product_bit_for_bit_with_gradients() {
    // 200·192·200 is above burn-flex's threshold for a multi-threaded product, 9·7·5 below it;
    // the second operand is used as it is and as a transposed view (the tied output layers).
    for (m, k, n) in [(9, 7, 5), (200, 192, 200)] {
        for transposed in [false, true] {
            let (fused, decomposed) = both(|| {
                let a = random([m, k], 21, 1.0).require_grad();
                let b = if transposed {
                    random([n, k], 22, 1.0).require_grad()
                } else {
                    random([k, n], 22, 1.0).require_grad()
                };
                let rhs = if transposed {
                    b.clone().transpose()
                } else {
                    b.clone()
                };
                let c = matmul(a.clone(), rhs);
                let grads = (c.clone() * random([m, n], 23, 1.0)).sum().backward();
                vec![
                    values(c),
                    values(a.grad(&grads).unwrap()),
                    values(b.grad(&grads).unwrap()),
                ]
            });
            assert_eq!(
                fused, decomposed,
                "({m}, {k}) · ({k}, {n}), transposed {transposed}"
            );
        }
    }
}

#[test]
fn linear_matches_burns_linear_with_gradients() {
    use burn::nn::LinearConfig;
    for bias in [true, false] {
        let (fused, decomposed) = both(|| {
            let mut layer: Linear = LinearConfig::new(24, 40).with_bias(bias).init(&device());
            layer.weight = Param::from_tensor(random([24, 40], 31, 1.0).require_grad());
            layer.bias = bias.then(|| Param::from_tensor(random([40], 32, 1.0).require_grad()));
            let x = random([3, 11, 24], 33, 2.0).require_grad();
            let y = linear(x.clone(), &layer);
            assert_eq!(y.dims(), [3, 11, 40]);
            let grads = (y.clone() * random([3, 11, 40], 34, 1.0)).sum().backward();
            let mut out = vec![
                values(y),
                values(x.grad(&grads).unwrap()),
                values(layer.weight.val().grad(&grads).unwrap()),
            ];
            if let Some(b) = &layer.bias {
                out.push(values(b.val().grad(&grads).unwrap()));
            }
            out
        });
        assert_eq!(fused.len(), decomposed.len());
        for (i, (f, d)) in fused.iter().zip(&decomposed).enumerate() {
            assert_close(
                f,
                d,
                1e-6,
                &format!("linear output/gradient {i}, bias {bias}"),
            );
        }
    }
}

#[test]
fn dropout_matches_the_host_mask_with_gradients() {
    let (fused, decomposed) = both(|| {
        let x = random([3, 50, 70], 12, 2.0).require_grad();
        let y = dropout(x.clone(), 0.25, 77);
        let grads = (y.clone() * random([3, 50, 70], 13, 1.0)).sum().backward();
        vec![values(y), values(x.grad(&grads).unwrap())]
    });
    // Bit for bit: the same mask, the same products.
    assert_eq!(fused, decomposed);
    let dropped = fused[0].iter().filter(|&&v| v == 0.0).count() as f64 / fused[0].len() as f64;
    assert!((dropped - 0.25).abs() < 0.02, "{dropped}");
}

#[test]
fn without_autodiff_the_fused_ops_compute_the_same_values() {
    let flex = Device::flex();
    let x = Tensor::<2>::from_data(
        TensorData::new(cpu::tests::random(64, 11, 2.0), [8, 8]),
        &flex,
    );
    let fused = with_kernels(Kernels::ALL, || {
        values(attention_weights(
            x.clone().reshape([1, 1, 8, 8]),
            1.0,
            Hidden::Future,
        ))
    });
    let decomposed = with_kernels(Kernels::NONE, || {
        values(attention_weights(
            x.reshape([1, 1, 8, 8]),
            1.0,
            Hidden::Future,
        ))
    });
    assert_close(&fused, &decomposed, 1e-6, "inference weights");
}

#[test]
fn the_switch_parses_names_and_rejects_unknown_ones() {
    assert_eq!(Kernels::parse("all").unwrap(), Kernels::ALL);
    assert_eq!(Kernels::parse("none").unwrap(), Kernels::NONE);
    let only = Kernels::parse("layer_norm,gelu").unwrap();
    assert!(only.enabled(Kernel::LayerNorm) && only.enabled(Kernel::Gelu));
    assert!(!only.enabled(Kernel::CrossEntropy));
    assert_eq!(only.describe(), "layer_norm,gelu");
    let but = Kernels::parse("-cross_entropy").unwrap();
    assert!(!but.enabled(Kernel::CrossEntropy) && but.enabled(Kernel::AttentionSoftmax));
    let error = Kernels::parse("layer_norms").unwrap_err();
    assert!(error.contains("unknown kernel `layer_norms`"), "{error}");
    assert!(Kernels::parse("gelu,-layer_norm").is_err());
}

/// The fused flex ops a small GPT-like block calls, forward and backward, under `kernels`.
fn fused_calls(kernels: Kernels) -> Vec<&'static str> {
    with_kernels(kernels, || {
        flex::CALLS.with(|calls| calls.borrow_mut().clear());
        let x = random([2, 5, 12], 30, 1.0).require_grad();
        let qkv = linear(x.clone(), &LinearConfig::new(12, 36).init(&device()));
        let context = packed_attention(qkv, 3, 2.0, true, Some((0.1, 3)));
        let hidden = gelu(context, true);
        let norm = layer_norm(hidden, &LayerNormConfig::new(12).init(&device()), 1e-5);
        let logits = matmul(norm.reshape([10, 12]), random([12, 7], 31, 1.0));
        let labels = Tensor::<1, Int>::from_data([0, 1, 2, 3, 4, 5, 6, 0, 1, 2], &device());
        let _ = cross_entropy(logits, labels, 0.1, None).backward();
        flex::CALLS.with(|calls| calls.take())
    })
}

#[test]
fn the_public_functions_run_the_fused_ops_forward_and_backward() {
    // Each output matches burn's to the bit or within tolerance, so only this shows that the
    // fused path, not burn's, computed it.
    let fused = fused_calls(Kernels::ALL);
    for op in [
        "fused_matmul",
        "fused_packed_attention_stats",
        "fused_packed_attention_backward",
        "fused_gelu",
        "fused_gelu_backward",
        "fused_layer_norm_stats",
        "fused_layer_norm_backward",
        "fused_cross_entropy_stats",
        "fused_cross_entropy_backward",
    ] {
        assert!(fused.contains(&op), "{op} was not called: {fused:?}");
    }
    assert_eq!(fused_calls(Kernels::NONE), Vec::<&str>::new());
}

#[test]
fn the_fused_path_is_taken_only_where_it_applies() {
    let flex = Device::flex();
    assert!(with_kernels(Kernels::ALL, || fused(
        Kernel::Gelu,
        &flex,
        DType::F32
    )));
    assert!(with_kernels(Kernels::ALL, || fused(
        Kernel::Gelu,
        &flex.clone().autodiff(),
        DType::F32
    )));
    assert!(!with_kernels(Kernels::NONE, || fused(
        Kernel::Gelu,
        &flex,
        DType::F32
    )));
    assert!(!with_kernels(Kernels::ALL, || fused(
        Kernel::Gelu,
        &flex,
        DType::F64
    )));
}
