//! `repro_core::metrics::bleu` against real sacreBLEU output.
//!
//! The golden file `tests/fixtures/bleu/golden.json` and its inputs (`hyps.txt`, `ref1.txt`,
//! `ref2.txt`: 300 perturbed King James Version verses, public domain) were made by
//! `tests/fixtures/bleu/make_golden.py` with sacrebleu 2.6.0 on Python 3.11.7:
//!
//! ```sh
//! pip install sacrebleu==2.6.0
//! python3 papers/core/tests/fixtures/bleu/make_golden.py ../shared/data/bible-en-es.tsv.gz
//! ```
//!
//! It holds `BLEU(**kwargs).corpus_score(...)` for ten configurations (1 and 2 references,
//! lowercase, `tokenize="none"`, every smoothing, effective order), `sentence_bleu` for each
//! segment, and the `sacrebleu` command's stdout (checked by the `repro bleu` tests). Floats are
//! stored as Python `repr` strings, i.e. exact f64s. No Python runs at test time.

use std::path::PathBuf;

use repro_core::metrics::bleu::{
    BleuConfig, BleuScore, SACREBLEU_VERSION, Smooth, Tokenizer, corpus_bleu, sentence_bleu,
    signature,
};
use serde_json::Value;

fn fixture_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/bleu")
}

/// The lines of a fixture file, split on `\n` only (as sacreBLEU reads files).
fn lines(name: &str) -> Vec<String> {
    let text = std::fs::read_to_string(fixture_dir().join(name)).expect("fixture file");
    let mut lines: Vec<String> = text.split('\n').map(str::to_owned).collect();
    assert_eq!(
        lines.pop().as_deref(),
        Some(""),
        "{name} ends with a newline"
    );
    lines
}

fn golden() -> Value {
    let text = std::fs::read_to_string(fixture_dir().join("golden.json")).expect("golden.json");
    serde_json::from_str(&text).expect("golden.json is JSON")
}

/// A Python `repr` float string, parsed exactly.
fn float(value: &Value) -> f64 {
    value
        .as_str()
        .expect("float as string")
        .parse()
        .expect("float")
}

fn u64s(value: &Value) -> [u64; 4] {
    let v: Vec<u64> = value
        .as_array()
        .expect("array")
        .iter()
        .map(|x| x.as_u64().expect("int"))
        .collect();
    v.try_into().expect("four numbers")
}

/// sacreBLEU's `BLEU(**kwargs)` as a [`BleuConfig`].
fn config(kwargs: &Value) -> BleuConfig {
    let method = kwargs
        .get("smooth_method")
        .and_then(Value::as_str)
        .unwrap_or("exp");
    let value = kwargs.get("smooth_value").and_then(Value::as_f64);
    BleuConfig {
        lowercase: kwargs
            .get("lowercase")
            .and_then(Value::as_bool)
            .unwrap_or(false),
        tokenize: kwargs
            .get("tokenize")
            .and_then(Value::as_str)
            .unwrap_or("13a")
            .parse()
            .expect("tokenizer"),
        smooth: Smooth::from_method(method, value).expect("smoothing"),
        effective_order: kwargs
            .get("effective_order")
            .and_then(Value::as_bool)
            .unwrap_or(false),
    }
}

/// Checks everything but the counts (which the caller checks, since add-k differs).
fn assert_close(what: &str, got: &BleuScore, want: &Value) {
    let score = float(&want["score"]);
    assert!(
        (got.score - score).abs() < 1e-9,
        "{what}: score {} vs sacreBLEU {score}",
        got.score
    );
    assert!((got.bp - float(&want["bp"])).abs() < 1e-12, "{what}: bp");
    for (n, p) in want["precisions"]
        .as_array()
        .expect("precisions")
        .iter()
        .enumerate()
    {
        assert!(
            (got.precisions[n] - float(p)).abs() < 1e-9,
            "{what}: precision {}",
            n + 1
        );
    }
    assert_eq!(
        got.sys_len,
        want["sys_len"].as_u64().expect("sys_len"),
        "{what}: sys_len"
    );
    assert_eq!(
        got.ref_len,
        want["ref_len"].as_u64().expect("ref_len"),
        "{what}: ref_len"
    );
}

#[test]
fn golden_file_is_for_this_sacrebleu_version() {
    assert_eq!(golden()["sacrebleu_version"], SACREBLEU_VERSION);
}

#[test]
fn corpus_bleu_matches_sacrebleu_in_every_configuration() {
    let hyps = lines("hyps.txt");
    let golden = golden();
    let cases = golden["corpus"].as_array().expect("corpus cases");
    assert_eq!(cases.len(), 10);
    for case in cases {
        let name = case["name"].as_str().expect("name");
        let refs: Vec<Vec<String>> = case["refs"]
            .as_array()
            .expect("refs")
            .iter()
            .map(|f| lines(f.as_str().expect("file name")))
            .collect();
        let config = config(&case["kwargs"]);
        let got = corpus_bleu(&hyps, &refs, &config).expect("scores");
        assert_close(name, &got, case);
        // sacreBLEU reports add-k counts with k added for orders 2 and up; ours are raw.
        let k = |n: usize| match config.smooth {
            Smooth::AddK(k) if n > 0 => k,
            _ => 0.0,
        };
        for n in 0..4 {
            let want_count = case["counts"][n].as_f64().expect("count");
            let want_total = case["totals"][n].as_f64().expect("total");
            assert_eq!(
                got.counts[n] as f64 + k(n),
                want_count,
                "{name}: count {}",
                n + 1
            );
            assert_eq!(
                got.totals[n] as f64 + k(n),
                want_total,
                "{name}: total {}",
                n + 1
            );
        }
        let sig = signature(&config, refs.len());
        assert_eq!(
            sig,
            case["signature"].as_str().expect("signature"),
            "{name}"
        );
        assert_eq!(
            got.format(1, &sig),
            case["text"].as_str().expect("text"),
            "{name}"
        );
    }
}

#[test]
fn sentence_bleu_matches_sacrebleu_on_every_segment() {
    let (hyps, ref1, ref2) = (lines("hyps.txt"), lines("ref1.txt"), lines("ref2.txt"));
    let golden = golden();
    let with_eff = golden["sentences"].as_array().expect("sentences");
    let without_eff = golden["sentence_scores_no_eff"].as_array().expect("scores");
    assert_eq!(
        (with_eff.len(), without_eff.len()),
        (hyps.len(), hyps.len())
    );
    let eff = BleuConfig {
        effective_order: true,
        ..BleuConfig::default()
    };
    for (i, hyp) in hyps.iter().enumerate() {
        let refs = [ref1[i].as_str(), ref2[i].as_str()];
        let got = sentence_bleu(hyp, &refs, &eff).expect("scores");
        let what = format!("segment {i} {hyp:?}");
        assert_close(&what, &got, &with_eff[i]);
        assert_eq!(got.counts, u64s(&with_eff[i]["counts"]), "{what}");
        assert_eq!(got.totals, u64s(&with_eff[i]["totals"]), "{what}");
        let plain = sentence_bleu(hyp, &refs, &BleuConfig::default()).expect("scores");
        assert!(
            (plain.score - float(&without_eff[i])).abs() < 1e-9,
            "{what}: no effective order"
        );
    }
}

#[test]
fn fixture_exercises_the_tricky_inputs() {
    // Guards against a regenerated fixture silently losing the cases that matter.
    let hyps = lines("hyps.txt").join("\n");
    for needle in [
        "<skipped>",
        "&quot;",
        "&amp;",
        "1,000",
        "3.5",
        "\u{a0}",
        " .\n",
        "\n\n",
    ] {
        assert!(hyps.contains(needle), "hyps.txt lacks {needle:?}");
    }
    assert!(lines("ref2.txt").iter().any(String::is_empty));
    assert_eq!(Tokenizer::default(), Tokenizer::ThirteenA);
}
