//! The `tiny` reproduction on the wgpu backend agrees with the CPU (flex) backend.
//!
//! Runs in every build with `--features wgpu` (the default of `make test`); CI installs Mesa's
//! software Vulkan (lavapipe) so that it runs there, and on a Linux machine with no Vulkan driver
//! it is skipped with a printed reason. Both backends start from identical weights (drawn on the
//! CPU), see identical batches and apply identical dropout masks (drawn on the CPU, see
//! `repro_core::determinism`); only the order of floating-point reductions differs. So the
//! numbers agree within a tight tolerance, not bitwise: every dev loss within 0.01 nats and every
//! point of the training-loss curves within 0.01 nats. Two experiments are compared (the base
//! model, and learned vs sinusoidal positions), which between them run every kind of layer.
#![cfg(feature = "wgpu")]

use repro_suite::repro;

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

fn run(backend: &str, dir: &std::path::Path) -> serde_json::Value {
    let results = dir.join(backend);
    let checkpoints = dir.join(format!("{backend}-checkpoints"));
    let output = repro(&[
        "reproduce",
        "attention",
        "--scale",
        "tiny",
        "--only",
        "base_model,positional_encoding",
        "--quiet",
        "--backend",
        backend,
        "--results",
        results.to_str().unwrap(),
        "--checkpoints",
        checkpoints.to_str().unwrap(),
    ]);
    assert_eq!(output.code, 0, "{backend}: {}", output.stderr);
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
        .unwrap_or_else(|| panic!("no experiment {name}"))
}

#[test]
fn tiny_reproduction_on_wgpu_matches_cpu_within_tolerance() {
    if let Some(reason) = no_gpu_reason() {
        println!("skipped: {reason}");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let cpu = run("cpu", dir.path());
    let wgpu = run("wgpu", dir.path());
    let mut compared = 0;
    for name in ["base_model", "positional_encoding"] {
        let (a, b) = (experiment(&cpu, name), experiment(&wgpu, name));
        for (metric, value) in a["metrics"].as_object().unwrap() {
            if !metric.ends_with("dev_nll") {
                continue;
            }
            let (x, y) = (
                value["values"][0].as_f64().unwrap(),
                b["metrics"][metric]["values"][0].as_f64().unwrap(),
            );
            println!("{name}.{metric}: cpu {x:.5}, wgpu {y:.5} nats");
            assert!((x - y).abs() < 0.01, "{name}.{metric}: cpu {x} vs wgpu {y}");
            compared += 1;
        }
        let curves = |report: &serde_json::Value| -> Vec<f64> {
            report["curves"]
                .as_array()
                .unwrap()
                .iter()
                .find(|c| c["id"].as_str().unwrap().ends_with("train_loss"))
                .unwrap()["series"]
                .as_array()
                .unwrap()
                .iter()
                .flat_map(|s| {
                    s["points"]
                        .as_array()
                        .unwrap()
                        .iter()
                        .map(|p| p[1].as_f64().unwrap())
                })
                .collect()
        };
        let (x, y) = (curves(a), curves(b));
        assert_eq!(x.len(), y.len(), "{name}: curves of different lengths");
        for (x, y) in x.iter().zip(&y) {
            assert!(
                (x - y).abs() < 0.01,
                "{name} training loss: cpu {x} vs wgpu {y}"
            );
            compared += 1;
        }
    }
    // base: 1 dev loss + 6 curve points; positional: 2 dev losses + 2 × 6 curve points.
    assert!(
        compared >= 21,
        "only {compared} numbers compared: did a metric name change?"
    );
}
