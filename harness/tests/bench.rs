//! `repro bench` end to end: it writes a workload of real batches, measures this suite's side in
//! processes of its own, reports tokens/s, GFLOP/s and memory, says why PyTorch is missing when
//! it is, and (where `make bench-setup` installed PyTorch) the twins accept our workloads.
//! Speeds are printed, never asserted: targets live in `make bench`, not in tests.

use std::path::Path;
use std::process::Command;

fn repro(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_repro"))
        .args(args)
        .output()
        .expect("repro runs")
}

fn quick_bench(
    results: &Path,
    workloads: &Path,
    alternations: &str,
    extra: &[&str],
) -> std::process::Output {
    let mut args = vec![
        "bench",
        "--papers",
        "attention",
        "--alternations",
        alternations,
        "--steps",
        "2",
        "--warmup",
        "1",
        "--min-seconds",
        "0",
        "--quiet",
        "--results",
        results.to_str().unwrap(),
        "--workloads",
        workloads.to_str().unwrap(),
    ];
    args.extend_from_slice(extra);
    repro(&args)
}

#[test]
fn bench_measures_this_suite_in_both_phases_and_says_why_pytorch_is_missing() {
    let dir = tempfile::tempdir().unwrap();
    let out = quick_bench(
        &dir.path().join("results"),
        &dir.path().join("workloads"),
        "2",
        &["--no-reference", "--baseline"],
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(
        stderr.contains("PyTorch reference: not measured (--no-reference)"),
        "{stderr}"
    );
    let report: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(dir.path().join("results/bench.json")).unwrap(),
    )
    .unwrap();
    let comparisons = report["comparisons"].as_array().unwrap();
    let phases: Vec<&str> = comparisons
        .iter()
        .map(|c| c["phase"].as_str().unwrap())
        .collect();
    assert_eq!(phases, ["train", "score"]);
    for comparison in comparisons {
        let labels: Vec<&str> = comparison["sides"]
            .as_array()
            .unwrap()
            .iter()
            .map(|s| s["label"].as_str().unwrap())
            .collect();
        assert_eq!(labels, ["repro", "repro (REPRO_KERNELS=none)"]);
        for side in comparison["sides"].as_array().unwrap() {
            let runs = side["runs"].as_array().unwrap();
            assert_eq!(runs.len(), 2, "one run per alternation");
            for run in runs {
                assert!(run["tokens_per_s"].as_f64().unwrap() > 0.0);
                assert!(run["final_loss"].as_f64().unwrap().is_finite());
                assert_eq!(run["parameters"], comparison["parameters"]);
            }
            assert!(side["gflops"].as_f64().unwrap() > 0.0);
        }
        assert!(
            comparison["ratios"].as_array().unwrap().is_empty(),
            "no PyTorch, no ratio"
        );
    }
    assert!(report["machine"]["fp32_peak_gflops"].as_f64().unwrap() > 0.0);
    let markdown = std::fs::read_to_string(dir.path().join("results/bench.md")).unwrap();
    assert!(markdown.contains("| attention | train |"), "{markdown}");
    assert!(
        markdown.contains("## What each optimisation buys"),
        "{markdown}"
    );
    assert!(
        markdown.contains("every fused kernel (burn's decomposed ops)"),
        "{markdown}"
    );
    assert!(
        dir.path()
            .join("workloads/workload-attention.json")
            .exists()
    );
}

#[test]
fn one_side_measured_by_hand_prints_one_line_and_a_bad_workload_is_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let workloads = dir.path().join("workloads");
    let out = quick_bench(
        &dir.path().join("results"),
        &workloads,
        "1",
        &["--no-reference"],
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let workload = workloads.join("workload-attention.json");
    let out = repro(&[
        "bench",
        "--measure",
        "attention",
        "--workload",
        workload.to_str().unwrap(),
        "--phases",
        "score",
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(lines.len(), 1, "{stdout}");
    let measured: serde_json::Value = serde_json::from_str(lines[0]).unwrap();
    assert_eq!(measured["impl"], "repro");
    assert_eq!(measured["phase"], "score");

    let bad = dir.path().join("bad.json");
    std::fs::write(&bad, "{\"model\": \"attention\"}").unwrap();
    let out = repro(&[
        "bench",
        "--measure",
        "attention",
        "--workload",
        bad.to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("is not a workload"), "{stderr}");
    let out = repro(&["bench", "--papers", "nonsense", "--no-reference"]);
    assert!(String::from_utf8_lossy(&out.stderr).contains("unknown paper `nonsense`"));
}

#[test]
fn the_pytorch_twins_accept_our_workloads_with_the_same_parameter_count() {
    let python = Path::new(env!("CARGO_MANIFEST_DIR")).join("../.venv-reference/bin/python");
    let has_torch = python.exists()
        && Command::new(&python)
            .args(["-c", "import torch"])
            .status()
            .is_ok_and(|s| s.success());
    if !has_torch {
        eprintln!("skipped: no PyTorch in .venv-reference (`make bench-setup` installs it)");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let twins = Path::new(env!("CARGO_MANIFEST_DIR")).join("../bench/twins.py");
    let out = quick_bench(
        &dir.path().join("results"),
        &dir.path().join("workloads"),
        "1",
        &[
            "--python",
            python.to_str().unwrap(),
            "--twins",
            twins.to_str().unwrap(),
        ],
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let report: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(dir.path().join("results/bench.json")).unwrap(),
    )
    .unwrap();
    for comparison in report["comparisons"].as_array().unwrap() {
        // The twin exits with an error unless its parameter count equals ours.
        let twin = &comparison["sides"][1];
        assert_eq!(twin["label"], "pytorch");
        assert_eq!(twin["runs"][0]["parameters"], comparison["parameters"]);
        assert_eq!(comparison["ratios"].as_array().unwrap().len(), 1);
    }
}
