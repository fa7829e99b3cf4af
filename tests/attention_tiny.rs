//! The `tiny` reproduction of "Attention Is All You Need", end to end through the CLI: the
//! rendered table and claim verdicts are snapshotted (CPU backend, deterministic), and the result
//! files are checked.
//!
//! Wall-clock timings (Table 1's layer times, tokens/s, wall times) are the only numbers that
//! vary between runs; they are redacted, and so is the verdict of the timing claim.

use std::sync::OnceLock;

use repro_suite::{Output, repro};

/// One tiny run shared by the tests of this file (it takes a few seconds).
fn tiny_run() -> &'static (Output, tempfile::TempDir) {
    static RUN: OnceLock<(Output, tempfile::TempDir)> = OnceLock::new();
    RUN.get_or_init(|| {
        let dir = tempfile::tempdir().unwrap();
        let results = dir.path().join("results");
        let checkpoints = dir.path().join("checkpoints");
        let output = repro(&[
            "reproduce",
            "attention",
            "--scale",
            "tiny",
            "--quiet",
            "--no-provenance",
            "--results",
            results.to_str().unwrap(),
            "--checkpoints",
            checkpoints.to_str().unwrap(),
        ]);
        (output, dir)
    })
}

/// Replaces what wall-clock time decides with placeholders.
fn redact_timings(text: &str) -> String {
    let mut text = regex::Regex::new(r"\d+(\.\d+)?( vs \d+(\.\d+)?)? ms")
        .unwrap()
        .replace_all(text, "[ms]")
        .into_owned();
    text = regex::Regex::new(r"\d+ tokens/s")
        .unwrap()
        .replace_all(&text, "[n] tokens/s")
        .into_owned();
    text = regex::Regex::new(r"wall time \d+(\.\d+)? s")
        .unwrap()
        .replace_all(&text, "wall time [s]")
        .into_owned();
    text = regex::Regex::new(r"faster at \d+ of")
        .unwrap()
        .replace_all(&text, "faster at [k] of")
        .into_owned();
    // The verdict word in front of the timing claim.
    regex::Regex::new(r"(?m)^(\s*)(holds|fails|inconclusive)(\s+Self-attention layers are faster)")
        .unwrap()
        .replace_all(&text, "$1[timing]$3")
        .into_owned()
}

#[test]
fn tiny_table_and_claims_snapshot() {
    let (output, _dir) = tiny_run();
    assert_eq!(output.code, 0, "{}", output.stderr);
    insta::assert_snapshot!(redact_timings(&output.stdout));
}

#[test]
fn tiny_run_writes_json_markdown_and_plots() {
    let (output, dir) = tiny_run();
    assert_eq!(output.code, 0, "{}", output.stderr);
    let folder = dir.path().join("results/attention");
    for file in ["tiny-cpu.json", "tiny-cpu.md", "tiny-cpu.svg"] {
        assert!(folder.join(file).is_file(), "{file} missing");
    }
    let svgs = std::fs::read_dir(&folder)
        .unwrap()
        .filter(|e| e.as_ref().unwrap().path().extension().unwrap() == "svg")
        .count();
    // Main figure, two learning curves per trained experiment, the timing curve, one per claim.
    assert!(svgs >= 1 + 2 * 5 + 1 + 7, "only {svgs} plots");
    let report: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(folder.join("tiny-cpu.json")).unwrap())
            .unwrap();
    let provenance = &report["provenance"];
    assert_eq!(
        provenance["dataset"]["sha256"],
        "939575ea40baf9d9c0ef0ad6f599b9498b78967c2f2d01d545ab5d382e172e2c"
    );
    assert!(
        provenance["protocol"]["bleu_signature"]
            .as_str()
            .unwrap()
            .starts_with("nrefs:1|case:mixed|eff:no|tok:13a|smooth:exp|version:2.")
    );
    assert_eq!(provenance["seed"], 1);
    assert_eq!(report["claims"].as_array().unwrap().len(), 7);
    // `repro compare` re-renders the same table from the JSON, without training.
    let compare = repro(&[
        "compare",
        "attention",
        "--scale",
        "tiny",
        "--results",
        dir.path().join("results").to_str().unwrap(),
    ]);
    assert_eq!(compare.code, 0, "{}", compare.stderr);
    assert!(compare.stdout.contains("Published vs reproduced"));
    let table = |text: &str| {
        text.split("Claims")
            .next()
            .unwrap()
            .split("Published vs reproduced")
            .nth(1)
            .unwrap()
            .to_string()
    };
    assert_eq!(table(&compare.stdout), table(&output.stdout));
}

#[test]
fn same_seed_same_numbers() {
    let (first, _dir) = tiny_run();
    let dir = tempfile::tempdir().unwrap();
    let second = repro(&[
        "reproduce",
        "attention",
        "--scale",
        "tiny",
        "--quiet",
        "--no-provenance",
        "--results",
        dir.path().join("r").to_str().unwrap(),
        "--checkpoints",
        dir.path().join("c").to_str().unwrap(),
    ]);
    assert_eq!(second.code, 0, "{}", second.stderr);
    assert_eq!(
        redact_timings(&first.stdout),
        redact_timings(&second.stdout)
    );
}
