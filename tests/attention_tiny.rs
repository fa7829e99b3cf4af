//! The `tiny` reproduction of "Attention Is All You Need", end to end through the CLI.
//!
//! Floats from the CPU backend differ in their last digits between CPU models, so what is
//! snapshotted must hold on any x86-64 or aarch64 machine: the rendered table with every decimal
//! number replaced by `[x]` (its structure: rows, claims, verdicts, notes), and, apart, every
//! reproduced metric checked against `tests/expected/attention-tiny.json` with explicit
//! tolerances far wider than such differences and far narrower than a real regression (a model
//! that stops learning, or a decoder that emits nothing, leaves them). The same-machine
//! determinism test stays exact. `UPDATE_EXPECTED=1` rewrites the expected numbers.

use std::collections::BTreeMap;
use std::sync::OnceLock;

use repro_suite::{Output, repro, workspace_root};

/// One tiny run shared by the tests of this file (it takes about 15 s on 2 cores).
fn tiny_run() -> &'static (Output, tempfile::TempDir) {
    static RUN: OnceLock<(Output, tempfile::TempDir)> = OnceLock::new();
    RUN.get_or_init(|| {
        let dir = tempfile::tempdir().unwrap();
        let output = run_tiny(dir.path(), "1");
        (output, dir)
    })
}

fn run_tiny(dir: &std::path::Path, seed: &str) -> Output {
    repro(&[
        "reproduce",
        "attention",
        "--scale",
        "tiny",
        "--seed",
        seed,
        "--quiet",
        "--no-provenance",
        "--results",
        dir.join("results").to_str().unwrap(),
        "--checkpoints",
        dir.join("checkpoints").to_str().unwrap(),
    ])
}

fn report(dir: &std::path::Path) -> serde_json::Value {
    let text = std::fs::read_to_string(dir.join("results/attention/tiny-cpu.json")).unwrap();
    serde_json::from_str(&text).unwrap()
}

/// Every decimal number (and what only wall-clock time decides) replaced by placeholders.
/// Columns are padded to their widest cell, which a number one digit longer on another machine
/// would change: runs of spaces and rules are collapsed too.
fn structure(text: &str) -> String {
    let text = regex::Regex::new(r"[-+]?\d+\.\d+")
        .unwrap()
        .replace_all(text, "[x]")
        .into_owned();
    let text = without_timings(&text);
    let text = regex::Regex::new(r" {2,}").unwrap().replace_all(&text, " ");
    regex::Regex::new(r"-{3,}")
        .unwrap()
        .replace_all(&text, "---")
        .into_owned()
}

/// The text without what wall-clock time decides: the timing claim's verdict and explanation,
/// and the timing metrics' lines.
fn without_timings(text: &str) -> String {
    let verdict = regex::Regex::new(
        r"(?m)^(\s*)(holds|fails|inconclusive)\s+(Self-attention layers are faster)",
    )
    .unwrap();
    let text = verdict.replace_all(text, "$1[timing]  $3");
    let tokens = regex::Regex::new(r"\d+ tokens/s").unwrap();
    let text = tokens.replace_all(&text, "[n] tokens/s");
    text.lines()
        .map(|line| {
            let trimmed = line.trim_start();
            if trimmed.starts_with("at d = ") {
                "                [timing explanation]".to_string()
            } else if trimmed.starts_with("attention_ms.") || trimmed.starts_with("recurrent_ms.") {
                format!(
                    "    {} [timing]",
                    trimmed.split_whitespace().next().unwrap_or("")
                )
            } else {
                line.to_string()
            }
        })
        .collect::<Vec<_>>()
        .join("\n")
        + "\n"
}

#[test]
fn tiny_table_and_claims_snapshot() {
    let (output, _dir) = tiny_run();
    assert_eq!(output.code, 0, "{}", output.stderr);
    insta::assert_snapshot!(structure(&output.stdout));
}

/// How far a reproduced number may move between CPU models. Another CPU computes matrix
/// products with other kernels and block sizes (gemm picks AVX2 or AVX-512 at run time and sizes
/// its blocks by the caches), and 300 training steps carry those last-digit differences into the
/// trained model. Measured on one machine: the AVX2 and AVX-512 kernels, seeds 1-4, differed by
/// at most 0.017 nats of dev loss and 0.14 BLEU; computing the linear layers as one (B·T, d)
/// product instead of B per-sequence ones (the same sums, blocked otherwise) moved the arm
/// without dropout, which over-fits and so amplifies them, by 0.064 nats, 6 % perplexity and
/// 1.3 BLEU, every other arm by at most 0.012 nats and 0.32 BLEU. These bounds are above that,
/// still below the seed spread of a model that trains unstably (0.14 nats at lr_factor 1.0) and
/// far from one that did not learn (ln 400 = 6.0 nats; the base-model checks below).
fn tolerance(unit: &str, value: f64) -> f64 {
    match unit {
        "nats" => 0.1,
        "ppl" => 0.1 * value,
        "BLEU" => 1.5,
        _ => 0.0,
    }
}

#[test]
fn tiny_numbers_match_the_expected_ones_within_stated_tolerances() {
    let (output, dir) = tiny_run();
    assert_eq!(output.code, 0, "{}", output.stderr);
    let report = report(dir.path());
    let mut reproduced = BTreeMap::new();
    for experiment in report["experiments"].as_array().unwrap() {
        if experiment["name"] == "self_attention_complexity" {
            continue; // wall-clock times
        }
        for (name, metric) in experiment["metrics"].as_object().unwrap() {
            let unit = metric["unit"].as_str().unwrap().to_string();
            let values: Vec<f64> = metric["values"]
                .as_array()
                .unwrap()
                .iter()
                .map(|v| v.as_f64().unwrap())
                .collect();
            reproduced.insert(
                format!("{}.{name}", experiment["name"].as_str().unwrap()),
                (unit, values),
            );
        }
    }
    let path = workspace_root().join("tests/expected/attention-tiny.json");
    if std::env::var_os("UPDATE_EXPECTED").is_some() {
        let json: BTreeMap<&String, &Vec<f64>> =
            reproduced.iter().map(|(k, (_, v))| (k, v)).collect();
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, serde_json::to_string_pretty(&json).unwrap() + "\n").unwrap();
    }
    let expected: BTreeMap<String, Vec<f64>> =
        serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    assert_eq!(
        expected.keys().collect::<Vec<_>>(),
        reproduced.keys().collect::<Vec<_>>(),
        "the tiny run produces other metrics than tests/expected/attention-tiny.json lists"
    );
    let mut checked = 0;
    for (key, want) in &expected {
        let (unit, got) = &reproduced[key];
        assert_eq!(got.len(), want.len(), "{key}");
        for (g, w) in got.iter().zip(want) {
            let allowed = tolerance(unit, *w);
            assert!(
                (g - w).abs() <= allowed,
                "{key}: {g} {unit}, expected {w} ± {allowed}"
            );
            checked += 1;
        }
    }
    assert!(checked >= 20, "only {checked} numbers checked");
    // The tiny scale learns something visible: BLEU well above zero and perplexity far below
    // the vocabulary's 400 (a decoding or training regression shows here first).
    let bleu = &reproduced["base_model.test_bleu"].1[0];
    assert!(*bleu > 1.0, "test BLEU {bleu}");
    let ppl = &reproduced["base_model.dev_ppl"].1[0];
    assert!(*ppl < 100.0, "dev ppl {ppl}");
}

#[test]
fn tiny_run_writes_json_markdown_plots_and_honest_provenance() {
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
    let report = report(dir.path());
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
    // The split sizes are what the run used, not the configuration's requests.
    let splits = provenance["splits"].as_array().unwrap();
    let dev = splits.iter().find(|s| s["split"] == "dev").unwrap();
    let references = report["references"]["dev"].as_array().unwrap();
    assert_eq!(dev["used"].as_u64().unwrap() as usize, references.len());
    assert!(dev["duplicates_removed"].as_u64().unwrap() > 0);
    // The scale's settings and the versions that computed the numbers.
    assert_eq!(provenance["scale_config"]["model"]["d_model"], 32);
    for version in ["burn", "tokenizers", "rustc"] {
        assert!(provenance["versions"][version].is_string(), "{version}");
    }
    // Every training stores its decoded hypotheses, one per reference.
    for training in report["trainings"].as_array().unwrap() {
        let hypotheses = training["hypotheses"]["dev"].as_array().unwrap();
        assert_eq!(hypotheses.len(), references.len(), "{}", training["label"]);
    }
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
    assert!(
        !compare.stdout.contains("note: re-judged"),
        "{}",
        compare.stdout
    );
}

#[test]
fn same_seed_same_numbers() {
    let (first, _dir) = tiny_run();
    let dir = tempfile::tempdir().unwrap();
    let second = run_tiny(dir.path(), "1");
    assert_eq!(second.code, 0, "{}", second.stderr);
    // Exactly the same numbers, to the last printed digit, but for wall-clock timings.
    assert_eq!(
        without_timings(&first.stdout),
        without_timings(&second.stdout)
    );
}

/// `repro compare` recomputes the verdicts from the stored per-seed metrics: edit them, and the
/// verdict follows (and a note says it differs from the stored one).
#[test]
fn compare_rejudges_edited_per_seed_metrics() {
    let (output, dir) = tiny_run();
    assert_eq!(output.code, 0, "{}", output.stderr);
    let mut report = report(dir.path());
    let claim = |report: &serde_json::Value, id: &str| -> String {
        report["claims"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["id"] == id)
            .unwrap()["verdict"]
            .as_str()
            .unwrap()
            .to_string()
    };
    assert_eq!(claim(&report, "dropout_avoids_overfitting"), "inconclusive");
    // Three clearly separated seeds per arm, from plateaued trainings.
    let experiments = report["experiments"].as_array_mut().unwrap();
    let regularization = experiments
        .iter_mut()
        .find(|e| e["name"] == "regularization")
        .unwrap();
    regularization["metrics"]["no_dropout.dev_nll"]["values"] = serde_json::json!([4.9, 5.0, 4.95]);
    regularization["metrics"]["base.dev_nll"]["values"] = serde_json::json!([4.2, 4.25, 4.22]);
    for training in report["trainings"].as_array_mut().unwrap() {
        training["dev_loss_improvement"] = serde_json::json!(0.001);
    }
    let edited = tempfile::tempdir().unwrap();
    let path = edited.path().join("attention/tiny-cpu.json");
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(&path, serde_json::to_string_pretty(&report).unwrap()).unwrap();
    let compare = repro(&[
        "compare",
        "attention",
        "--scale",
        "tiny",
        "--results",
        edited.path().to_str().unwrap(),
    ]);
    assert_eq!(compare.code, 0, "{}", compare.stderr);
    assert!(
        compare.stdout.contains(
            "note: re-judged with the current rules, a verdict differs from the stored one: \
             dropout_avoids_overfitting: stored inconclusive → now holds"
        ),
        "{}",
        compare.stdout
    );
    assert!(
        compare.stdout.contains("n = 3 vs 3 seeds"),
        "{}",
        compare.stdout
    );
}

/// `--pool` merges runs made with other seeds into one table and one set of verdicts.
#[test]
fn pooling_two_runs_gives_the_pooled_n() {
    let (first, dir) = tiny_run();
    assert_eq!(first.code, 0, "{}", first.stderr);
    let other = tempfile::tempdir().unwrap();
    let second = run_tiny(other.path(), "2");
    assert_eq!(second.code, 0, "{}", second.stderr);
    let files = [
        dir.path().join("results/attention/tiny-cpu.json"),
        other.path().join("results/attention/tiny-cpu.json"),
    ];
    let pooled = repro(&[
        "compare",
        "attention",
        "--scale",
        "tiny",
        "--allow-dirty",
        "--pool",
        files[0].to_str().unwrap(),
        files[1].to_str().unwrap(),
    ]);
    assert_eq!(pooled.code, 0, "{}", pooled.stderr);
    assert!(pooled.stdout.contains("seeds 1, 2"), "{}", pooled.stdout);
    assert!(
        pooled.stdout.contains("n = 2 vs 2 seeds"),
        "{}",
        pooled.stdout
    );
    // The same seed twice is refused.
    let twice = repro(&[
        "compare",
        "attention",
        "--scale",
        "tiny",
        "--allow-dirty",
        "--pool",
        files[0].to_str().unwrap(),
        files[0].to_str().unwrap(),
    ]);
    assert_eq!(twice.code, 1);
    assert!(twice.stderr.contains("repeats seed 1"), "{}", twice.stderr);
}
