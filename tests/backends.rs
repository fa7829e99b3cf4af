//! The `tiny` reproduction on the wgpu backend agrees with the CPU (flex) backend.
//!
//! Run with `make test-wgpu` (`--features wgpu`); CI uses Mesa's software Vulkan (lavapipe).
//! Both backends start from identical weights (drawn on the CPU), see identical batches and apply
//! identical dropout masks (drawn on the CPU, see `repro_attention::dropout`); only the order of
//! floating-point reductions differs. So the numbers agree within a tight tolerance, not bitwise:
//! every dev perplexity within 0.1 % (relative) and every point of the training-loss curves
//! within 0.01 nats. Measured on lavapipe: dev perplexities agree to ≤ 1e-5 relative. BLEU at
//! `tiny` (40 sentences after 30 steps) is 0 on both and is not compared.
#![cfg(feature = "wgpu")]

use repro_suite::repro;

fn run(backend: &str, dir: &std::path::Path) -> serde_json::Value {
    let results = dir.join(backend);
    let checkpoints = dir.join(format!("{backend}-checkpoints"));
    let output = repro(&[
        "reproduce",
        "attention",
        "--scale",
        "tiny",
        "--quiet",
        "--backend",
        backend,
        "--results",
        results.to_str().unwrap(),
        "--checkpoints",
        checkpoints.to_str().unwrap(),
    ]);
    assert_eq!(output.code, 0, "{backend}: {}", output.stderr);
    println!("{}", output.stdout);
    let text =
        std::fs::read_to_string(results.join(format!("attention/tiny-{backend}.json"))).unwrap();
    serde_json::from_str(&text).unwrap()
}

fn experiment<'a>(report: &'a serde_json::Value, name: &str) -> &'a serde_json::Value {
    report["experiments"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["name"] == name)
        .unwrap()
}

#[test]
fn tiny_reproduction_on_wgpu_matches_cpu_within_tolerance() {
    let dir = tempfile::tempdir().unwrap();
    let cpu = run("cpu", dir.path());
    let wgpu = run("wgpu", dir.path());
    for name in [
        "base_model",
        "attention_heads",
        "model_size",
        "regularization",
        "positional_encoding",
    ] {
        let (a, b) = (experiment(&cpu, name), experiment(&wgpu, name));
        for (metric, value) in a["metrics"].as_object().unwrap() {
            if !metric.ends_with("dev_ppl") {
                continue;
            }
            let (x, y) = (
                value["values"][0].as_f64().unwrap(),
                b["metrics"][metric]["values"][0].as_f64().unwrap(),
            );
            println!("{name}.{metric}: cpu {x:.4}, wgpu {y:.4}");
            assert!(
                (x - y).abs() / x < 1e-3,
                "{name}.{metric}: cpu {x} vs wgpu {y}"
            );
        }
        let curve = |report: &serde_json::Value| -> Vec<f64> {
            report["curves"]
                .as_array()
                .unwrap()
                .iter()
                .find(|c| c["id"].as_str().unwrap().ends_with("train_loss"))
                .unwrap()["series"][0]["points"]
                .as_array()
                .unwrap()
                .iter()
                .map(|p| p[1].as_f64().unwrap())
                .collect()
        };
        for (x, y) in curve(a).iter().zip(curve(b)) {
            assert!(
                (x - y).abs() < 0.01,
                "{name} training loss: cpu {x} vs wgpu {y}"
            );
        }
    }
}
