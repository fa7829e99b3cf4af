//! A reproduction killed mid-training (SIGKILL, no chance to clean up) and restarted with
//! `--resume` really continues from the checkpoint it left (not from scratch) and ends at exactly
//! the numbers of an uninterrupted run.

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

fn repro(results: &Path, checkpoints: &Path, resume: bool) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_repro"));
    command.args([
        "reproduce",
        "attention",
        "--scale",
        "tiny",
        "--quiet",
        "--no-provenance",
    ]);
    command
        .arg("--results")
        .arg(results)
        .arg("--checkpoints")
        .arg(checkpoints);
    if resume {
        command.arg("--resume");
    }
    command.stdout(Stdio::null()).stderr(Stdio::piped());
    command
}

/// The stored result of a run.
fn report(results: &Path) -> serde_json::Value {
    let text =
        std::fs::read_to_string(results.join("attention/tiny-cpu.json")).expect("result written");
    serde_json::from_str(&text).unwrap()
}

/// The reproduced metrics of a stored result, without wall-clock timings.
fn metrics(results: &Path) -> serde_json::Value {
    let report = report(results);
    let experiments: Vec<serde_json::Value> = report["experiments"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|experiment| experiment["name"] != "self_attention_complexity")
        .map(|experiment| serde_json::json!({"name": experiment["name"], "metrics": experiment["metrics"], "curves": experiment["curves"]}))
        .collect();
    serde_json::Value::Array(experiments)
}

#[test]
fn killed_run_resumes_to_the_same_numbers() {
    let dir = tempfile::tempdir().unwrap();
    let (reference, resumed, checkpoints, fresh) = (
        dir.path().join("reference"),
        dir.path().join("resumed"),
        dir.path().join("checkpoints"),
        dir.path().join("fresh-checkpoints"),
    );

    // Uninterrupted reference run.
    let status = repro(&reference, &fresh, false).status().unwrap();
    assert!(status.success());

    // Start again and kill it as soon as its first checkpoint is on disk.
    let mut child = repro(&resumed, &checkpoints, false).spawn().unwrap();
    let started = Instant::now();
    let pointer = checkpoints.join("base-seed1/LATEST");
    while !pointer.exists() {
        assert!(
            child.try_wait().unwrap().is_none(),
            "the run ended before its first checkpoint"
        );
        assert!(
            started.elapsed() < Duration::from_secs(120),
            "no checkpoint after 120 s"
        );
        std::thread::sleep(Duration::from_millis(2));
    }
    child.kill().unwrap();
    let status = child.wait().unwrap();
    assert!(!status.success(), "the run was not interrupted");
    assert!(!resumed.join("attention/tiny-cpu.json").exists());
    let left_at: usize = std::fs::read_to_string(&pointer)
        .unwrap()
        .trim()
        .trim_start_matches("step-")
        .parse()
        .unwrap();

    // Resume from the checkpoint: same final numbers and curves.
    let output = repro(&resumed, &checkpoints, true).output().unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert_eq!(metrics(&resumed), metrics(&reference));

    // It continued from where it was killed: the report records the step each training resumed
    // from (the one killed mid-way from its checkpoint; none would without `--resume`).
    let trainings = report(&resumed)["trainings"].clone();
    let base = trainings
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["label"] == "base" && t["seed"] == 1)
        .expect("the base training is recorded");
    assert_eq!(
        base["resumed_from"].as_u64(),
        Some(left_at as u64),
        "{trainings}"
    );
    assert!(left_at > 0);
    let reference_trainings = report(&reference)["trainings"].clone();
    assert!(
        reference_trainings
            .as_array()
            .unwrap()
            .iter()
            .all(|t| t.get("resumed_from").is_none()),
        "{reference_trainings}"
    );
}
