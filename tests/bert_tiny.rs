//! The `tiny` reproduction of BERT, end to end through the CLI, and the applications on what it
//! trained: `repro classify` on a fine-tuned checkpoint, `repro embed` on all-MiniLM-L6-v2.
//!
//! As for the Transformer (`attention_tiny.rs`), what is snapshotted holds on any CPU: the table
//! with every decimal number replaced by `[x]`; the numbers themselves are checked against
//! `tests/expected/bert-tiny.json` with stated tolerances (`UPDATE_EXPECTED=1` rewrites it), and
//! the same-seed determinism test is exact.

use std::collections::BTreeMap;
use std::sync::OnceLock;

use repro_suite::{Output, repro, repro_with_stdin, workspace_root};

fn run_tiny(dir: &std::path::Path) -> Output {
    repro(&[
        "reproduce",
        "bert",
        "--scale",
        "tiny",
        "--quiet",
        "--no-provenance",
        "--results",
        dir.join("results").to_str().unwrap(),
        "--checkpoints",
        dir.join("checkpoints").to_str().unwrap(),
    ])
}

/// One tiny run shared by the tests of this file (seconds).
fn tiny_run() -> &'static (Output, tempfile::TempDir) {
    static RUN: OnceLock<(Output, tempfile::TempDir)> = OnceLock::new();
    RUN.get_or_init(|| {
        let dir = tempfile::tempdir().unwrap();
        let output = run_tiny(dir.path());
        (output, dir)
    })
}

fn metrics(dir: &std::path::Path) -> BTreeMap<String, (String, Vec<f64>)> {
    let text = std::fs::read_to_string(dir.join("results/bert/tiny-cpu.json")).unwrap();
    let report: serde_json::Value = serde_json::from_str(&text).unwrap();
    let mut out = BTreeMap::new();
    for experiment in report["experiments"].as_array().unwrap() {
        for (name, metric) in experiment["metrics"].as_object().unwrap() {
            let values = metric["values"]
                .as_array()
                .unwrap()
                .iter()
                .map(|v| v.as_f64().unwrap_or(f64::NAN))
                .collect();
            out.insert(
                format!("{}.{name}", experiment["name"].as_str().unwrap()),
                (metric["unit"].as_str().unwrap().to_string(), values),
            );
        }
    }
    out
}

/// Every decimal number, throughput and the machine-dependent probe line replaced.
fn structure(text: &str) -> String {
    let text = regex::Regex::new(r"[-+]?\d+\.\d+(e[-+]?\d+)?")
        .unwrap()
        .replace_all(text, "[x]");
    let text = regex::Regex::new(r"\d+ tokens/s")
        .unwrap()
        .replace_all(&text, "[n] tokens/s");
    let text = regex::Regex::new(r" {2,}").unwrap().replace_all(&text, " ");
    let text = regex::Regex::new(r"-{3,}")
        .unwrap()
        .replace_all(&text, "---");
    // The frozen-MiniLM probe runs only where the model is cached.
    text.lines()
        .filter(|line| {
            !line.contains("minilm") && !line.contains("MiniLM") && !line.contains("all-MiniLM")
        })
        .collect::<Vec<_>>()
        .join("\n")
        + "\n"
}

#[test]
fn tiny_table_and_claims_snapshot() {
    let (output, _) = tiny_run();
    assert_eq!(output.code, 0, "{}", output.stderr);
    insta::assert_snapshot!(structure(&output.stdout));
}

/// How far a number may move between CPU models: accuracies on ~100 examples by a few
/// predictions near 0.5, losses in their third decimal.
fn tolerance(unit: &str, value: f64) -> f64 {
    match unit {
        "nats" => 0.02,
        "ppl" => 0.02 * value,
        "%" => 3.0,
        _ => 0.0,
    }
}

#[test]
fn tiny_numbers_match_the_expected_ones_within_stated_tolerances() {
    let (output, dir) = tiny_run();
    assert_eq!(output.code, 0, "{}", output.stderr);
    let reproduced: BTreeMap<String, (String, Vec<f64>)> = metrics(dir.path())
        .into_iter()
        .filter(|(key, _)| !key.contains("minilm"))
        .collect();
    let path = workspace_root().join("tests/expected/bert-tiny.json");
    if std::env::var_os("UPDATE_EXPECTED").is_some() {
        let json: BTreeMap<&String, &Vec<f64>> =
            reproduced.iter().map(|(k, (_, v))| (k, v)).collect();
        std::fs::write(&path, serde_json::to_string_pretty(&json).unwrap() + "\n").unwrap();
    }
    let expected: BTreeMap<String, Vec<f64>> =
        serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    assert_eq!(
        expected.keys().collect::<Vec<_>>(),
        reproduced.keys().collect::<Vec<_>>()
    );
    for (key, want) in &expected {
        let (unit, got) = &reproduced[key];
        assert_eq!(got.len(), want.len(), "{key}: number of values");
        for (g, w) in got.iter().zip(want) {
            let allowed = tolerance(unit, *w);
            assert!(
                (g - w).abs() <= allowed,
                "{key}: {g} {unit}, expected {w} ± {allowed}"
            );
        }
    }
    // Pre-training learns: the held-out masked-LM perplexity is far below the 600-piece
    // vocabulary's uniform 600; the NSP labels are balanced (about half IsNext).
    assert!(reproduced["pretraining.mlm_ppl"].1[0] < 450.0);
    assert!(
        reproduced["pretraining.nsp_majority_accuracy"].1[0] < 56.0,
        "NSP labels are not balanced"
    );
}

#[test]
fn the_same_seed_gives_the_same_numbers() {
    let (output, dir) = tiny_run();
    assert_eq!(output.code, 0, "{}", output.stderr);
    let again = tempfile::tempdir().unwrap();
    let second = run_tiny(again.path());
    assert_eq!(second.code, 0, "{}", second.stderr);
    assert_eq!(metrics(dir.path()), metrics(again.path()));
}

#[test]
fn classify_reads_task_labels_and_tokenizer_from_a_fine_tuned_checkpoint() {
    let (output, dir) = tiny_run();
    assert_eq!(output.code, 0, "{}", output.stderr);
    let root = dir.path().join("checkpoints/finetuning");
    let movie = root.join("base.movie_reviews.lr1e-3-seed1");
    let one = repro(&[
        "classify",
        "--checkpoint",
        movie.to_str().unwrap(),
        "a gorgeous, witty, seductive movie.",
    ]);
    assert_eq!(one.code, 0, "{}", one.stderr);
    let fields: Vec<&str> = one.stdout.trim_end().split('\t').collect();
    assert!(
        ["negative", "positive"].contains(&fields[0]),
        "{}",
        one.stdout
    );
    let probability: f64 = fields[1].parse().unwrap();
    assert!((0.5..=1.0).contains(&probability));
    assert_eq!(fields[2], "a gorgeous, witty, seductive movie.");
    // Standard input: one line per input, same answer for the same text.
    let many = repro_with_stdin(
        &["classify", "--checkpoint", movie.to_str().unwrap(), "-"],
        "a gorgeous, witty, seductive movie.\ndull and lifeless.\n",
    );
    assert_eq!(many.code, 0, "{}", many.stderr);
    assert_eq!(many.stdout.lines().count(), 2);
    assert_eq!(many.stdout.lines().next().unwrap(), one.stdout.trim_end());
    // The pair task wants two sentences.
    let pairs = root.join("base.verse_paraphrase.lr1e-3-seed1");
    let wrong = repro(&[
        "classify",
        "--checkpoint",
        pairs.to_str().unwrap(),
        "only one sentence",
    ]);
    assert_ne!(wrong.code, 0);
    assert!(
        wrong.stderr.contains("two sentences separated by a tab"),
        "{}",
        wrong.stderr
    );
    let pair = repro(&[
        "classify",
        "--checkpoint",
        pairs.to_str().unwrap(),
        "Jesus wept.\tJesus wept.",
    ]);
    assert_eq!(pair.code, 0, "{}", pair.stderr);
    assert!(
        pair.stdout.starts_with("same verse\t") || pair.stdout.starts_with("different verse\t")
    );
    // A pre-training checkpoint has no classifier.
    let pretrained = dir.path().join("checkpoints/pretraining/base-seed1");
    let refused = repro(&[
        "classify",
        "--checkpoint",
        pretrained.to_str().unwrap(),
        "text",
    ]);
    assert_ne!(refused.code, 0);
    assert!(
        refused.stderr.contains("is not a fine-tuning run"),
        "{}",
        refused.stderr
    );
}

#[test]
fn embed_prints_unit_sentence_embeddings_of_minilm() {
    let dir = repro_bert::probe::minilm_dir(&repro_core::data::cache_dir());
    if !dir.join("model.safetensors").exists() {
        println!(
            "skipped: all-MiniLM-L6-v2 is not in {} (`make bert-setup`)",
            dir.display()
        );
        return;
    }
    let output = repro_with_stdin(
        &["embed", "--model", dir.to_str().unwrap()],
        "A man is playing a guitar.\nA person plays the guitar.\nThe stock market fell today.\n",
    );
    assert_eq!(output.code, 0, "{}", output.stderr);
    let vectors: Vec<Vec<f64>> = output
        .stdout
        .lines()
        .map(|line| {
            let value: serde_json::Value = serde_json::from_str(line).unwrap();
            value["embedding"]
                .as_array()
                .unwrap()
                .iter()
                .map(|v| v.as_f64().unwrap())
                .collect()
        })
        .collect();
    assert_eq!(vectors.len(), 3);
    let dot = |a: &[f64], b: &[f64]| a.iter().zip(b).map(|(x, y)| x * y).sum::<f64>();
    for v in &vectors {
        assert_eq!(v.len(), 384);
        assert!((dot(v, v) - 1.0).abs() < 1e-5);
    }
    // Paraphrases are close, unrelated sentences are not (the reference gives 0.85 and -0.05).
    assert!(dot(&vectors[0], &vectors[1]) > 0.8);
    assert!(dot(&vectors[0], &vectors[2]) < 0.2);
}
