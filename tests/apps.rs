//! The trained models are usable: `repro checkpoints` lists what a reproduction trained, and
//! `repro translate` translates with one of its checkpoints.

use std::sync::OnceLock;

use repro_suite::{Output, repro, repro_with_stdin};

/// A tiny reproduction of the base model only, shared by the tests of this file.
fn trained() -> &'static (Output, tempfile::TempDir) {
    static RUN: OnceLock<(Output, tempfile::TempDir)> = OnceLock::new();
    RUN.get_or_init(|| {
        let dir = tempfile::tempdir().unwrap();
        let output = repro(&[
            "reproduce",
            "attention",
            "--scale",
            "tiny",
            "--only",
            "base_model",
            "--quiet",
            "--results",
            dir.path().join("results").to_str().unwrap(),
            "--checkpoints",
            dir.path().join("checkpoints").to_str().unwrap(),
        ]);
        (output, dir)
    })
}

fn checkpoint() -> String {
    let (output, dir) = trained();
    assert_eq!(output.code, 0, "{}", output.stderr);
    dir.path()
        .join("checkpoints/base-seed1")
        .display()
        .to_string()
}

#[test]
fn the_reproduction_says_where_its_checkpoints_are() {
    let (output, dir) = trained();
    assert_eq!(output.code, 0, "{}", output.stderr);
    let checkpoints = dir.path().join("checkpoints");
    assert!(
        output.stderr.contains(&format!(
            "checkpoints of the 1 trainings are in {}",
            checkpoints.display()
        )),
        "{}",
        output.stderr
    );
}

#[test]
fn checkpoints_lists_the_trained_runs_with_step_and_dev_metric() {
    let (_, dir) = trained();
    let _ = checkpoint();
    let root = dir.path().join("checkpoints");
    let listed = repro(&["checkpoints", "--dir", root.to_str().unwrap()]);
    assert_eq!(listed.code, 0, "{}", listed.stderr);
    let line = listed.stdout.trim();
    assert_eq!(listed.stdout.lines().count(), 1, "{}", listed.stdout);
    assert!(
        line.contains(
            "attention base seed 1 (tiny scale, data bible-en-es): step 300/300 finished, dev loss"
        ),
        "{line}"
    );
    let none = repro(&["checkpoints", "gpt3", "--dir", root.to_str().unwrap()]);
    assert!(
        none.stdout.starts_with("no checkpoints under"),
        "{}",
        none.stdout
    );
}

#[test]
fn translate_reads_model_config_and_tokenizer_from_the_checkpoint() {
    let checkpoint = checkpoint();
    let one = repro(&[
        "translate",
        "--checkpoint",
        &checkpoint,
        "In the beginning God created the heaven and the earth.",
    ]);
    assert_eq!(one.code, 0, "{}", one.stderr);
    assert_eq!(one.stdout.lines().count(), 1, "{}", one.stdout);
    // Standard input: one translation per line, the same as one at a time (sentences are
    // decoded independently), and deterministic.
    let many = repro_with_stdin(
        &["translate", "--checkpoint", &checkpoint, "-"],
        "In the beginning God created the heaven and the earth.\nAnd God said, Let there be light.\n",
    );
    assert_eq!(many.code, 0, "{}", many.stderr);
    let lines: Vec<&str> = many.stdout.lines().collect();
    assert_eq!(lines.len(), 2, "{}", many.stdout);
    assert_eq!(lines[0], one.stdout.trim_end());
    let greedy = repro(&[
        "translate",
        "--checkpoint",
        &checkpoint,
        "--greedy",
        "Amen.",
        "--verbose",
    ]);
    assert_eq!(greedy.code, 0, "{}", greedy.stderr);
    assert!(
        greedy
            .stderr
            .starts_with("attention / base seed 1 (tiny scale), step 300 of 300"),
        "{}",
        greedy.stderr
    );
}

/// The app decodes exactly as the reproduction did: the stored dev hypothesis of the base run is
/// what `repro translate` gives for the same source with the same beam.
#[test]
fn translate_gives_the_hypothesis_the_reproduction_stored() {
    let checkpoint = checkpoint();
    let (_, dir) = trained();
    let report: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(dir.path().join("results/attention/tiny-cpu.json")).unwrap(),
    )
    .unwrap();
    let base = &report["trainings"][0];
    let stored: Vec<&str> = base["hypotheses"]["dev"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| h.as_str().unwrap())
        .collect();
    // The dev sources, selected as the reproduction selects them.
    let config = repro_attention::scale::scale_config(repro_core::Scale::Tiny).unwrap();
    let splits = repro_attention::data::load_splits(
        "bible-en-es",
        &config.data,
        std::path::Path::new("unused"),
    )
    .unwrap();
    let dev = repro_attention::data::select(splits, &config.data)
        .unwrap()
        .splits
        .dev;
    assert_eq!(dev.len(), stored.len());
    let sources: String = dev[..8]
        .iter()
        .map(|pair| format!("{}\n", pair.source))
        .collect();
    let beam = config.beam_size.to_string();
    let translated = repro_with_stdin(
        &[
            "translate",
            "--checkpoint",
            &checkpoint,
            "--beam",
            &beam,
            "-",
        ],
        &sources,
    );
    assert_eq!(translated.code, 0, "{}", translated.stderr);
    let lines: Vec<&str> = translated.stdout.lines().collect();
    assert_eq!(lines, stored[..8].to_vec());
    assert!(lines.iter().any(|line| !line.is_empty()), "{lines:?}");
}

#[test]
fn translate_without_a_checkpoint_is_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let missing = repro(&[
        "translate",
        "--checkpoint",
        dir.path().join("nope").to_str().unwrap(),
        "x",
    ]);
    assert_eq!(missing.code, 1);
    assert!(
        missing.stderr.contains("no checkpoint at"),
        "{}",
        missing.stderr
    );
    let empty = repro(&[
        "translate",
        "--checkpoint",
        dir.path().to_str().unwrap(),
        "x",
    ]);
    assert_eq!(empty.code, 1);
    assert!(
        empty.stderr.contains("holds no complete checkpoint"),
        "{}",
        empty.stderr
    );
}
