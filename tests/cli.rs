//! The CLI surface: help, listing, and clear errors for bad input (never a panic).

use repro_suite::repro;

#[test]
fn help_teaches_the_commands() {
    let output = repro(&["--help"]);
    assert_eq!(output.code, 0);
    insta::assert_snapshot!(output.render(None));
}

#[test]
fn reproduce_help_lists_scale_backend_seed_and_data() {
    let output = repro(&["reproduce", "--help"]);
    assert_eq!(output.code, 0);
    for flag in ["--scale", "--backend", "--seed", "--data", "--resume"] {
        assert!(
            output.stdout.contains(flag),
            "{flag} missing from:\n{}",
            output.stdout
        );
    }
}

#[test]
fn list_shows_papers_with_arxiv_ids_scales_and_datasets() {
    let output = repro(&["list"]);
    assert_eq!(output.code, 0, "{}", output.stderr);
    insta::assert_snapshot!(output.render(None));
}

#[test]
fn unknown_paper_is_a_clear_error() {
    let output = repro(&["reproduce", "nosuchpaper", "--scale", "tiny"]);
    assert_eq!(output.code, 1);
    insta::assert_snapshot!(output.render(None));
}

#[test]
fn unknown_scale_and_backend_are_usage_errors() {
    let scale = repro(&["reproduce", "attention", "--scale", "huge"]);
    assert_eq!(scale.code, 2);
    assert!(
        scale.stderr.contains("unknown scale `huge`"),
        "{}",
        scale.stderr
    );
    let backend = repro(&["reproduce", "attention", "--backend", "tpu"]);
    assert_eq!(backend.code, 2);
    assert!(
        backend.stderr.contains("unknown backend `tpu`"),
        "{}",
        backend.stderr
    );
}

#[test]
fn backend_not_compiled_in_names_the_feature() {
    if repro_core::Backend::Cuda.compiled() {
        return;
    }
    let output = repro(&[
        "reproduce",
        "attention",
        "--scale",
        "tiny",
        "--backend",
        "cuda",
        "--quiet",
    ]);
    assert_eq!(output.code, 1);
    assert!(
        output.stderr.contains("--features cuda"),
        "{}",
        output.stderr
    );
}

#[test]
fn unknown_dataset_lists_the_known_ones() {
    let output = repro(&[
        "reproduce",
        "attention",
        "--scale",
        "tiny",
        "--data",
        "imagenet",
    ]);
    assert_eq!(output.code, 1);
    insta::assert_snapshot!(output.render(None));
}

#[test]
fn compare_without_a_stored_result_says_how_to_make_one() {
    let dir = tempfile::tempdir().unwrap();
    let results = dir.path().display().to_string();
    let output = repro(&[
        "compare",
        "attention",
        "--scale",
        "tiny",
        "--results",
        &results,
    ]);
    assert_eq!(output.code, 1);
    insta::assert_snapshot!(output.render(Some(dir.path())));
}

#[test]
fn compare_rejects_a_corrupt_result_file() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(dir.path().join("attention")).unwrap();
    std::fs::write(dir.path().join("attention/tiny-cpu.json"), "{ not json").unwrap();
    let results = dir.path().display().to_string();
    let output = repro(&[
        "compare",
        "attention",
        "--scale",
        "tiny",
        "--results",
        &results,
    ]);
    assert_eq!(output.code, 1);
    assert!(output.stderr.starts_with("error: "), "{}", output.stderr);
    assert!(output.stderr.contains("tiny-cpu.json"), "{}", output.stderr);
}

#[test]
fn only_trains_what_the_chosen_experiment_reads() {
    let dir = tempfile::tempdir().unwrap();
    let results = dir.path().join("results");
    let output = repro(&[
        "reproduce",
        "attention",
        "--scale",
        "tiny",
        "--only",
        "attention_heads",
        "--quiet",
        "--results",
        results.to_str().unwrap(),
        "--checkpoints",
        dir.path().join("checkpoints").to_str().unwrap(),
    ]);
    assert_eq!(output.code, 0, "{}", output.stderr);
    let report: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(results.join("attention/tiny-cpu.json")).unwrap(),
    )
    .unwrap();
    let mut trained: Vec<String> = report["trainings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| format!("{} seed {}", t["label"].as_str().unwrap(), t["seed"]))
        .collect();
    trained.sort();
    // The base (h=4 at tiny, trained once under its configuration's name) and the head variant.
    assert_eq!(trained, ["base seed 1", "h1 seed 1"]);
    let experiments: Vec<&str> = report["experiments"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["name"].as_str().unwrap())
        .collect();
    assert_eq!(experiments, ["attention_heads"]);
}

#[test]
fn only_with_an_unknown_experiment_lists_the_valid_ones_and_exits_2() {
    let output = repro(&[
        "reproduce",
        "attention",
        "--scale",
        "tiny",
        "--only",
        "nonsense",
    ]);
    assert_eq!(output.code, 2, "{}", output.stderr);
    insta::assert_snapshot!(output.render(None));
}
