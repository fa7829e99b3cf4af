//! Tests of [`Report`]: built from a tiny fake paper, rendered, written and loaded back.

use std::collections::BTreeMap;
use std::fs;

use super::*;
use crate::claims::{Claim, Verdict, arm, higher};
use crate::paper::{DatasetInfo, ExperimentInfo, PaperInfo};
use crate::published::Published;
use crate::run::{RunContext, RunOutput, Series};

/// Two published numbers (one this run reproduces, one whose metric it does not produce) and
/// one claim.
struct FakePaper;

const PUBLISHED: &str = r#"
[paper]
arxiv_id = "1706.03762"
title = "Attention Is All You Need"
authors = ["Ashish Vaswani", "Noam Shazeer"]
year = 2017

[[result]]
key = "table3.A.heads_8.bleu"
table = "Table 3"
row = "(A) h=8 | base"
metric = "BLEU"
dataset = "newstest2013"
value = 25.8
reproduced_by = "heads.h8_bleu"
notes = "beam 4"

[[result]]
key = "table3.A.heads_8.ppl"
table = "Table 3"
row = "(A) h=8"
metric = "PPL (dev)"
dataset = "newstest2013"
value = 4.92
higher_is_better = false
reproduced_by = "heads.dev_ppl"
"#;

impl Paper for FakePaper {
    fn info(&self) -> PaperInfo {
        PaperInfo {
            id: "fake",
            arxiv_id: "1706.03762",
            title: "Attention Is All You Need",
            authors: "Vaswani et al.",
            year: 2017,
            datasets: vec![DatasetInfo {
                name: "toy",
                description: "a toy corpus",
                default: true,
            }],
        }
    }

    fn published(&self) -> anyhow::Result<Published> {
        Published::from_toml(PUBLISHED)
    }

    fn experiments(&self) -> Vec<ExperimentInfo> {
        vec![ExperimentInfo {
            name: "heads",
            reproduces: "Table 3 (A): number of heads",
        }]
    }

    fn claims(&self) -> Vec<Claim> {
        vec![Claim {
            id: "multi_head",
            statement: "Multi-head attention beats single-head attention",
            source: "§6.2, Table 3 (A)",
            evaluate: |m| higher(m, arm("h=8", "heads.h8_bleu"), arm("h=1", "heads.h1_bleu")),
        }]
    }

    fn run(&self, _ctx: &RunContext) -> anyhow::Result<RunOutput> {
        anyhow::bail!("the fake paper does not train")
    }
}

fn experiments() -> Vec<ExperimentResult> {
    vec![ExperimentResult {
        name: "heads".into(),
        reproduces: "Table 3 (A): number of heads".into(),
        seeds: vec![1, 2],
        metrics: BTreeMap::from([
            ("h8_bleu".to_string(), Metric::new(vec![3.1, 3.5], "BLEU")),
            ("h1_bleu".to_string(), Metric::new(vec![2.0, 2.2], "BLEU")),
        ]),
        curves: vec![Curve {
            id: "heads-train_loss".into(),
            title: "Training loss".into(),
            x_label: "step".into(),
            y_label: "loss (nats/token)".into(),
            log_x: false,
            series: vec![
                Series {
                    label: "h=8".into(),
                    points: vec![(0.0, 5.0), (10.0, 4.0), (20.0, 3.2)],
                },
                Series {
                    label: "h=1".into(),
                    points: vec![(0.0, 5.0), (10.0, 4.3), (20.0, 3.6)],
                },
            ],
        }],
        notes: vec!["d_model=32, 2 layers".into()],
        wall_time_s: 1.3,
    }]
}

fn provenance() -> Provenance {
    Provenance {
        commit: "0123456789abcdef".into(),
        dirty: true,
        seed: 1,
        device: "Flex(0)".into(),
        versions: BTreeMap::from([
            ("repro".into(), "0.1.0".into()),
            ("burn".into(), BURN_VERSION.into()),
        ]),
        started_at: "2025-01-02T03:04:05Z".into(),
        wall_time_s: 187.0,
        splits: Vec::new(),
        scale_config: serde_json::Value::Null,
        dataset: DatasetProvenance {
            name: "toy".into(),
            sha256: "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855".into(),
            description: "a toy corpus".into(),
            size_bytes: Some(1234),
        },
        protocol: BTreeMap::from([("bleu_signature".into(), "nrefs:1|case:mixed|tok:13a".into())]),
        machine: Machine {
            os: "linux".into(),
            arch: "x86_64".into(),
            cpus: 2,
        },
        command: "repro reproduce fake --scale tiny".into(),
    }
}

fn report() -> Report {
    Report::new(
        &FakePaper,
        Scale::Tiny,
        Backend::Cpu,
        provenance(),
        RunOutput {
            experiments: experiments(),
            ..RunOutput::default()
        },
    )
    .unwrap()
}

#[test]
fn comparison_follows_published_order_and_marks_missing_metrics() {
    let report = report();
    let keys: Vec<&str> = report
        .comparison
        .iter()
        .map(|row| row.key.as_str())
        .collect();
    assert_eq!(keys, ["table3.A.heads_8.bleu", "table3.A.heads_8.ppl"]);
    assert_eq!(
        report.comparison[0].reproduced,
        Some(Metric::new(vec![3.1, 3.5], "BLEU"))
    );
    assert_eq!(report.comparison[1].reproduced, None);
    assert!(!report.comparison[1].higher_is_better);
    let text = report.render_text();
    assert!(
        text.contains("heads.dev_ppl not produced by this run"),
        "{text}"
    );
}

#[test]
fn claims_are_evaluated_from_the_run() {
    let report = report();
    assert_eq!(report.claims.len(), 1);
    assert_eq!(report.claims[0].outcome.verdict, Verdict::Holds);
    assert_eq!(report.seeds(), [1, 2]);
}

#[test]
fn json_round_trips() {
    let report = report();
    let json = serde_json::to_string_pretty(&report).unwrap();
    let back: Report = serde_json::from_str(&json).unwrap();
    assert_eq!(back, report);
    assert_eq!(back.render_text(), report.render_text());
}

#[test]
fn render_text_is_deterministic_and_stable() {
    let report = report();
    let stable = report.render_text_with(RenderOptions::STABLE);
    assert_eq!(stable, report.render_text_with(RenderOptions::STABLE));
    for volatile in [
        "0123456789abcdef",
        "2025-01-02",
        "3 min 07 s",
        "1.3 s",
        "x86_64",
    ] {
        assert!(
            !stable.contains(volatile),
            "stable rendering shows `{volatile}`"
        );
        assert!(
            report.render_text().contains(volatile),
            "full rendering lacks `{volatile}`"
        );
    }
    insta::assert_snapshot!("render_text_stable", stable);
}

#[test]
fn render_markdown_snapshot() {
    insta::assert_snapshot!(
        "render_markdown_stable",
        report().render_markdown_with(RenderOptions::STABLE)
    );
}

#[test]
fn write_produces_json_markdown_and_svgs_atomically() {
    let dir = tempfile::tempdir().unwrap();
    let report = report();
    let written = report.write(dir.path()).unwrap();
    let names: Vec<String> = written
        .iter()
        .map(|p| {
            p.strip_prefix(dir.path())
                .unwrap()
                .to_string_lossy()
                .into_owned()
        })
        .collect();
    assert_eq!(
        names,
        [
            "fake/tiny-cpu.json",
            "fake/tiny-cpu.md",
            "fake/tiny-cpu.svg",
            "fake/tiny-cpu-heads-train_loss.svg",
            "fake/tiny-cpu-claim-multi_head.svg",
        ]
    );
    // Nothing else (no temporary files) is left behind.
    let mut on_disk: Vec<String> = fs::read_dir(dir.path().join("fake"))
        .unwrap()
        .map(|e| format!("fake/{}", e.unwrap().file_name().to_string_lossy()))
        .collect();
    on_disk.sort();
    let mut expected = names.clone();
    expected.sort();
    assert_eq!(on_disk, expected);

    let markdown = fs::read_to_string(dir.path().join("fake/tiny-cpu.md")).unwrap();
    for svg in &names[2..] {
        let file = svg.trim_start_matches("fake/");
        assert!(
            markdown.contains(&format!("]({file})")),
            "markdown does not link {file}"
        );
        let content = fs::read_to_string(dir.path().join(svg)).unwrap();
        assert!(content.starts_with("<svg"), "{svg}");
    }
    let curve = fs::read_to_string(dir.path().join("fake/tiny-cpu-heads-train_loss.svg")).unwrap();
    assert!(curve.contains("Training loss"));
    let claim = fs::read_to_string(dir.path().join("fake/tiny-cpu-claim-multi_head.svg")).unwrap();
    assert!(claim.contains("Multi-head attention beats single-head attention — holds"));

    let path = Report::json_path(dir.path(), "fake", Scale::Tiny, Backend::Cpu);
    assert_eq!(Report::load(&path).unwrap(), report);
}

#[test]
fn figure_names_are_file_safe_and_unique() {
    let mut report = report();
    let mut copy = report.experiments[0].curves[0].clone();
    copy.id = "heads/train loss".into();
    report.experiments[0].curves.push(copy.clone());
    report.experiments[0].curves.push(copy);
    let figures = report.figures();
    assert_eq!(figures.main.as_deref(), Some("tiny-cpu.svg"));
    assert_eq!(
        figures.curves[0],
        [
            "tiny-cpu-heads-train_loss.svg",
            "tiny-cpu-heads_train_loss.svg",
            "tiny-cpu-heads_train_loss-2.svg"
        ]
    );
    report.experiments[0].curves.clear();
    assert_eq!(report.figures().main, None);
}

#[test]
fn load_explains_missing_corrupt_and_foreign_files() {
    let dir = tempfile::tempdir().unwrap();
    let missing = Report::load(&dir.path().join("nope.json"))
        .unwrap_err()
        .to_string();
    assert!(
        missing.contains("no results at") && missing.contains("nope.json"),
        "{missing}"
    );

    let corrupt = dir.path().join("corrupt.json");
    fs::write(&corrupt, "{\"schema\": 1, \"paper\": ").unwrap();
    let error = format!("{:#}", Report::load(&corrupt).unwrap_err());
    assert!(
        error.contains("corrupt.json is not a valid results file"),
        "{error}"
    );

    let future = dir.path().join("future.json");
    fs::write(&future, "{\"schema\": 99}").unwrap();
    let error = Report::load(&future).unwrap_err().to_string();
    assert!(
        error.contains("schema 99") && error.contains("reads schema 2"),
        "{error}"
    );
}

#[test]
fn collect_fills_machine_versions_and_time() {
    let started = DateTime::parse_from_rfc3339("2025-01-02T03:04:05.678+01:00")
        .unwrap()
        .with_timezone(&Utc);
    let dataset = provenance().dataset;
    let provenance = Provenance::collect(
        7,
        "Flex(0)".into(),
        dataset,
        BTreeMap::new(),
        "repro reproduce".into(),
        RunStart {
            source: SourceState {
                commit: "abc123".into(),
                dirty: true,
            },
            at: started,
        },
        2.5,
    );
    assert_eq!(provenance.started_at, "2025-01-02T02:04:05Z");
    assert_eq!(provenance.commit, "abc123");
    assert!(provenance.dirty);
    assert!(provenance.machine.cpus >= 1);
    // The versions are what this build resolved: burn and tokenizers as Cargo.lock pins them,
    // rustc as it reports itself.
    let lock =
        fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../../Cargo.lock")).unwrap();
    for package in ["burn", "tokenizers"] {
        let pinned = lock
            .split("[[package]]")
            .find(|entry| entry.contains(&format!("name = \"{package}\"\n")))
            .and_then(|entry| entry.split("version = \"").nth(1))
            .and_then(|rest| rest.split('"').next())
            .unwrap();
        assert_eq!(provenance.versions[package], pinned, "{package}");
    }
    assert!(
        provenance.versions["rustc"].starts_with("rustc 1."),
        "{:?}",
        provenance.versions
    );
    assert_eq!(provenance.versions["repro"], env!("CARGO_PKG_VERSION"));
}

#[test]
fn source_state_reads_the_commit_and_sees_uncommitted_changes() {
    let dir = tempfile::tempdir().unwrap();
    let git = |args: &[&str]| {
        let ok = std::process::Command::new("git")
            .arg("-C")
            .arg(dir.path())
            .args([
                "-c",
                "user.name=t",
                "-c",
                "user.email=t@t",
                "-c",
                "commit.gpgsign=false",
            ])
            .args(args)
            .output()
            .map(|out| out.status.success())
            .unwrap_or(false);
        assert!(ok, "git {args:?}");
    };
    if std::process::Command::new("git")
        .arg("--version")
        .output()
        .is_err()
    {
        eprintln!("skipped: git is not installed");
        return;
    }
    assert_eq!(SourceState::of(dir.path()).commit, "unknown");
    git(&["init", "-q"]);
    fs::write(dir.path().join("a.txt"), "a").unwrap();
    git(&["add", "a.txt"]);
    git(&["commit", "-q", "-m", "a"]);
    let clean = SourceState::of(dir.path());
    assert_eq!(clean.commit.len(), 40, "{clean:?}");
    assert!(clean.commit.chars().all(|c| c.is_ascii_hexdigit()));
    assert!(!clean.dirty);
    // A run's own outputs do not make the tree dirty: results/ is written, not code.
    fs::create_dir_all(dir.path().join("results/paper")).unwrap();
    fs::write(dir.path().join("results/paper/small-cpu.json"), "{}").unwrap();
    assert!(!SourceState::of(dir.path().join("results").as_path()).dirty);
    assert!(!SourceState::of(dir.path()).dirty);
    fs::write(dir.path().join("a.txt"), "changed").unwrap();
    let dirty = SourceState::of(dir.path());
    assert_eq!(dirty.commit, clean.commit);
    assert!(dirty.dirty);
}

#[test]
fn stub_without_experiments_or_claims_renders() {
    struct Stub;
    impl Paper for Stub {
        fn info(&self) -> PaperInfo {
            PaperInfo {
                datasets: Vec::new(),
                ..FakePaper.info()
            }
        }
        fn published(&self) -> anyhow::Result<Published> {
            Published::from_toml(
                "[paper]\narxiv_id = \"1\"\ntitle = \"T\"\nauthors = []\nyear = 2024\n",
            )
        }
        fn experiments(&self) -> Vec<ExperimentInfo> {
            Vec::new()
        }
        fn claims(&self) -> Vec<Claim> {
            Vec::new()
        }
        fn run(&self, _ctx: &RunContext) -> anyhow::Result<RunOutput> {
            Ok(RunOutput::default())
        }
    }
    let report = Report::new(
        &Stub,
        Scale::Tiny,
        Backend::Cpu,
        provenance(),
        RunOutput::default(),
    )
    .unwrap();
    assert!(report.render_text().contains("(no experiments yet)"));
    assert!(report.render_markdown().contains("No experiments yet."));
    let dir = tempfile::tempdir().unwrap();
    assert_eq!(report.write(dir.path()).unwrap().len(), 2);
}
