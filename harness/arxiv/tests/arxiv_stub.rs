//! `repro arxiv stub` in a temporary workspace shaped like the suite's: the files it writes, the
//! registrations (sorted, atomic, undone on failure) and its refusals.
//!
//! That a stub compiles against the real `repro_core::Paper` trait is checked without building
//! burn here: `tests/golden-stub/` is the stub of a recorded response, committed as a member of
//! the suite's workspace (so `cargo test --workspace` compiles it against the real trait), and
//! [`the_stub_of_a_recorded_paper_is_the_committed_golden_crate`] checks that the generator
//! writes exactly those files. After an intended change, `UPDATE_GOLDEN=1 cargo test -p
//! repro-arxiv --test arxiv_stub` rewrites them.

mod arxiv_support;

use std::path::{Path, PathBuf};
use std::process::Command;

use arxiv_support::{TestServer, fixture};
use clap::Parser;
use repro_arxiv::atom::parse_feed;
use repro_arxiv::cli::{ArxivArgs, run};
use repro_arxiv::stub;

#[derive(Parser)]
#[command(name = "repro")]
struct Cli {
    #[command(subcommand)]
    command: Sub,
}

#[derive(clap::Subcommand)]
enum Sub {
    Arxiv(ArxivArgs),
}

const ROOT_TOML: &str = r#"[workspace]
resolver = "3"
members = [
    "harness",
    "papers/core",
    # papers (kept sorted; `repro arxiv stub` appends here)
    "papers/attention",
]

[workspace.package]
version = "0.1.0"
edition = "2024"
rust-version = "1.85"
license = "MIT OR Apache-2.0"

[workspace.dependencies]
anyhow = "1"
repro-core = { path = "papers/core" }
repro-attention = { path = "papers/attention" }
"#;

const HARNESS_TOML: &str = r#"[package]
name = "repro-harness"
version.workspace = true
edition.workspace = true
publish = false

[dependencies]
repro-core.workspace = true
# papers (kept sorted; `repro arxiv stub` appends here)
repro-attention.workspace = true
anyhow.workspace = true
"#;

fn write(path: &Path, text: &str) {
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, text).unwrap();
}

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// A workspace with `harness` (the real registry.rs), `papers/core` and `papers/attention` (its
/// manifest and published numbers: what the stub's clash checks read).
fn workspace() -> tempfile::TempDir {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path();
    write(&root.join("Cargo.toml"), ROOT_TOML);
    write(&root.join("harness/Cargo.toml"), HARNESS_TOML);
    write(&root.join("harness/src/lib.rs"), "pub mod registry;\n");
    write(
        &root.join("harness/src/registry.rs"),
        &read(&manifest_dir().join("../src/registry.rs")),
    );
    write(
        &root.join("papers/core/Cargo.toml"),
        "[package]\nname = \"repro-core\"\nversion.workspace = true\nedition.workspace = true\n\n[dependencies]\nanyhow.workspace = true\n",
    );
    write(
        &root.join("papers/attention/Cargo.toml"),
        "[package]\nname = \"repro-attention\"\nversion.workspace = true\nedition.workspace = true\n\n[dependencies]\nrepro-core.workspace = true\nanyhow.workspace = true\n",
    );
    write(
        &root.join("papers/attention/published.toml"),
        &read(&manifest_dir().join("../../papers/attention/published.toml")),
    );
    tmp
}

fn manifest_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

struct Outcome {
    ok: bool,
    out: String,
    err: String,
}

fn stub_cli(server: &TestServer, root: &Path, args: &[&str]) -> Outcome {
    let api = server.api_url();
    let root_s = root.to_string_lossy().into_owned();
    let cache = root.join(".cache").to_string_lossy().into_owned();
    let mut argv = vec![
        "repro",
        "arxiv",
        "--api-url",
        &api,
        "--request-interval",
        "0",
        "--cache-dir",
        &cache,
    ];
    argv.extend(["stub", "--root", &root_s]);
    argv.extend(args);
    let Sub::Arxiv(arxiv) = Cli::try_parse_from(&argv)
        .unwrap_or_else(|e| panic!("{e}"))
        .command;
    let (mut out, mut err) = (Vec::new(), Vec::new());
    let result = run(&arxiv, &mut out, &mut err);
    let mut err = String::from_utf8(err).unwrap();
    if let Err(e) = &result {
        err.push_str(&format!("error: {e:#}\n"));
    }
    Outcome {
        ok: result.is_ok(),
        out: String::from_utf8(out).unwrap(),
        err,
    }
}

/// The three registration files.
fn registrations(root: &Path) -> [String; 3] {
    [
        read(&root.join("Cargo.toml")),
        read(&root.join("harness/Cargo.toml")),
        read(&root.join("harness/src/registry.rs")),
    ]
}

#[test]
fn stubs_register_sorted_with_the_paper_s_metadata() {
    let ws = workspace();
    let root = ws.path();
    let bert = TestServer::always(fixture("api-legacy-1810.04805v2.xml"));
    let o = stub_cli(&bert, root, &["1810.04805"]);
    assert!(o.ok, "{}", o.err);
    assert!(
        o.out.starts_with(
            "created papers/bert-pre-training/ for arXiv 1810.04805v2: BERT: Pre-training"
        ),
        "{}",
        o.out
    );
    let attention =
        TestServer::always(fixture("api-1706.03762.xml").replace("1706.03762", "1706.99999"));
    let o = stub_cli(&attention, root, &["1706.99999", "--name", "alpha"]);
    assert!(o.ok, "{}", o.err);

    let [members, deps, registry] = registrations(root);
    assert!(
        members.contains(
            "    # papers (kept sorted; `repro arxiv stub` appends here)\n    \"papers/alpha\",\n    \"papers/attention\",\n    \"papers/bert-pre-training\",\n]"
        ),
        "{members}"
    );
    assert!(
        deps.contains(
            "# papers (kept sorted; `repro arxiv stub` appends here)\nrepro-alpha = { path = \"../papers/alpha\" }\nrepro-attention.workspace = true\nrepro-bert-pre-training = { path = \"../papers/bert-pre-training\" }\nanyhow"
        ),
        "{deps}"
    );
    assert!(
        registry.contains(
            "        // papers (kept sorted; `repro arxiv stub` inserts here)\n        repro_alpha::paper(),\n        repro_attention::paper(),\n        repro_bert::paper(),\n        repro_bert_pre_training::paper(),\n        repro_gpt3::paper(),\n    ]"
        ),
        "{registry}"
    );

    let dir = root.join("papers/bert-pre-training");
    let cargo = read(&dir.join("Cargo.toml"));
    assert!(cargo.starts_with("[package]\nname = \"repro-bert-pre-training\"\ndescription = \"BERT: Pre-training of Deep Bidirectional Transformers for Language Understanding (arXiv 1810.04805) — stub\"\nversion.workspace = true\n"), "{cargo}");
    let lib = read(&dir.join("src/lib.rs"));
    assert!(lib.starts_with("//! BERT: Pre-training of Deep Bidirectional Transformers for Language Understanding (Devlin et al., 2018; arXiv 1810.04805).\n"), "{lib}");
    assert!(
        lib.contains("id: \"bert-pre-training\",\n            arxiv_id: \"1810.04805\",\n"),
        "{lib}"
    );
    assert!(
        lib.contains("authors: \"Devlin et al.\",\n            year: 2018,"),
        "{lib}"
    );

    let published: toml::Value = toml::from_str(&read(&dir.join("published.toml"))).unwrap();
    let paper = &published["paper"];
    assert_eq!(paper["arxiv_id"].as_str(), Some("1810.04805"));
    assert_eq!(paper["version"].as_str(), Some("v2"));
    assert_eq!(paper["year"].as_integer(), Some(2018));
    assert_eq!(paper["authors"].as_array().unwrap().len(), 4);
    assert_eq!(paper["primary_category"].as_str(), Some("cs.CL"));
    assert_eq!(
        paper["url"].as_str(),
        Some("https://arxiv.org/abs/1810.04805")
    );
    assert!(
        published.get("result").is_none(),
        "the results template is commented out"
    );

    let readme = read(&dir.join("README.md"));
    assert!(readme.starts_with("# BERT: Pre-training of Deep Bidirectional Transformers for Language Understanding\n\nJacob Devlin, Ming-Wei Chang"), "{readme}");
    assert!(
        readme.contains("```bibtex\n@misc{devlin2018bert,\n"),
        "{readme}"
    );
    assert!(
        readme.contains("[PDF](https://arxiv.org/pdf/1810.04805)"),
        "{readme}"
    );

    // The generated code is formatted as `cargo fmt` would.
    let rustfmt = Command::new("rustfmt")
        .args(["--edition", "2024", "--check"])
        .arg(dir.join("src/lib.rs"))
        .output();
    if let Ok(output) = rustfmt {
        assert!(
            output.status.success(),
            "stub lib.rs is not rustfmt-clean:\n{}",
            String::from_utf8_lossy(&output.stdout)
        );
    }
}

/// The files of the committed golden stub, relative to its directory.
const GOLDEN_FILES: [&str; 4] = ["Cargo.toml", "src/lib.rs", "published.toml", "README.md"];

#[test]
fn the_stub_of_a_recorded_paper_is_the_committed_golden_crate() {
    let ws = workspace();
    let root = ws.path();
    let server = TestServer::always(fixture("api-legacy-1810.04805v2.xml"));
    let o = stub_cli(&server, root, &["1810.04805", "--name", "golden-stub"]);
    assert!(o.ok, "{}", o.err);
    let golden = manifest_dir().join("tests/golden-stub");
    let update = std::env::var_os("UPDATE_GOLDEN").is_some();
    for file in GOLDEN_FILES {
        let generated = read(&root.join("papers/golden-stub").join(file));
        if update {
            write(&golden.join(file), &generated);
        }
        assert_eq!(
            read(&golden.join(file)),
            generated,
            "tests/golden-stub/{file} is not what `repro arxiv stub` writes today; rerun with \
             UPDATE_GOLDEN=1 if the change is intended"
        );
    }
    // The golden crate is a member of the suite's workspace: it is compiled against the real
    // `Paper` trait by every `cargo test --workspace`.
    let members = read(&manifest_dir().join("../../Cargo.toml"));
    assert!(
        members.contains("\"harness/arxiv/tests/golden-stub\""),
        "{members}"
    );
}

#[test]
fn stub_refuses_clashes_and_bad_names_without_writing() {
    let ws = workspace();
    let root = ws.path();
    let before = registrations(root);
    let attention = TestServer::always(fixture("api-1706.03762.xml"));
    let refused = |args: &[&str], why: &str| {
        let o = stub_cli(&attention, root, args);
        assert!(!o.ok, "{args:?} was accepted");
        assert!(o.err.contains(why), "{args:?}: {}", o.err);
        assert_eq!(
            registrations(root),
            before,
            "{args:?} changed the registrations"
        );
    };
    refused(
        &["https://arxiv.org/abs/1706.03762"],
        "arXiv 1706.03762 is already in the suite as papers/attention",
    );
    let other = TestServer::always(fixture("api-legacy-1810.04805v2.xml"));
    let o = stub_cli(&other, root, &["1810.04805", "--name", "attention"]);
    assert!(
        !o.ok && o.err.contains("papers/attention already exists"),
        "{}",
        o.err
    );
    for (name, why) in [
        ("../evil", "invalid paper name `../evil`"),
        ("core", "one of the suite's own crates"),
        ("Bert", "invalid paper name"),
        ("a--b", "invalid"),
    ] {
        let o = stub_cli(&other, root, &["1810.04805", "--name", name]);
        assert!(!o.ok && o.err.contains(why), "{name}: {}", o.err);
    }
    assert_eq!(registrations(root), before);
    let papers: Vec<String> = std::fs::read_dir(root.join("papers"))
        .unwrap()
        .map(|d| d.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(papers.len(), 2, "{papers:?}");
}

#[test]
fn stub_dry_run_prints_and_writes_nothing() {
    let ws = workspace();
    let root = ws.path();
    let before = registrations(root);
    let server = TestServer::always(fixture("api-legacy-1810.04805v2.xml"));
    let o = stub_cli(
        &server,
        root,
        &["1810.04805", "--dry-run", "--name", "bert-stub"],
    );
    assert!(o.ok, "{}", o.err);
    assert!(
        o.out
            .contains("=== would create papers/bert-stub/src/lib.rs\n//! BERT"),
        "{}",
        o.out
    );
    assert!(
        o.out.contains(
            "=== would add to harness/src/registry.rs:\n        repro_bert_stub::paper(),\n"
        ),
        "{}",
        o.out
    );
    assert!(!root.join("papers/bert-stub").exists());
    assert_eq!(registrations(root), before);
}

#[test]
fn a_missing_marker_is_a_clear_error_before_anything_is_written() {
    let ws = workspace();
    let root = ws.path();
    let registry = root.join("harness/src/registry.rs");
    write(
        &registry,
        &read(&registry).replace(
            "// papers (kept sorted; `repro arxiv stub` inserts here)",
            "// papers",
        ),
    );
    let before = registrations(root);
    let server = TestServer::always(fixture("api-legacy-1810.04805v2.xml"));
    let o = stub_cli(&server, root, &["1810.04805"]);
    assert!(!o.ok);
    assert!(o.err.contains("harness/src/registry.rs has no line `// papers (kept sorted; `repro arxiv stub` inserts here)`"), "{}", o.err);
    assert_eq!(registrations(root), before);
    assert!(!root.join("papers/bert-pre-training").exists());
}

#[test]
fn a_failing_step_undoes_the_earlier_ones() {
    let ws = workspace();
    let root = ws.path();
    let before = registrations(root);
    let entry = parse_feed(&fixture("api-legacy-1810.04805v2.xml"))
        .unwrap()
        .entries
        .remove(0);
    let plan = stub::plan(root, &entry, Some("bert-stub")).unwrap();
    // Someone edits the registry between planning and writing: the third edit must fail.
    let registry = root.join("harness/src/registry.rs");
    let edited = format!("{}// edited meanwhile\n", read(&registry));
    write(&registry, &edited);
    let err = stub::apply(root, &plan).unwrap_err();
    assert!(
        err.to_string()
            .contains("harness/src/registry.rs changed while the stub was being written"),
        "{err}"
    );
    let [members, deps, _] = registrations(root);
    assert_eq!(
        [members, deps],
        [before[0].clone(), before[1].clone()],
        "earlier edits were not undone"
    );
    assert!(
        !root.join("papers/bert-stub").exists(),
        "the crate directory was left behind"
    );
}

#[test]
fn slugs_derive_from_titles() {
    let entry = |title: &str| {
        let mut e = parse_feed(&fixture("api-1706.03762.xml"))
            .unwrap()
            .entries
            .remove(0);
        e.title = title.to_string();
        e
    };
    assert_eq!(
        stub::derive_slug(&entry("Attention Is All You Need")),
        "attention-is-all"
    );
    assert_eq!(
        stub::derive_slug(&entry("The Curious Case of Neural Text Degeneration")),
        "curious-case-of"
    );
    assert_eq!(
        stub::derive_slug(&entry("Łukasz's Über-Model")),
        "lukasz-s-uber"
    );
    assert_eq!(stub::derive_slug(&entry("0")), "arxiv-1706-03762");
    assert_eq!(
        stub::derive_slug(&entry("GPT-4 Technical Report")),
        "gpt-4-technical"
    );
}

/// The markers `stub` edits after are in the suite's real files.
#[test]
fn the_real_workspace_has_the_markers() {
    let dir = manifest_dir().join("../..");
    for (file, marker) in [
        ("Cargo.toml", stub::MEMBERS_MARKER),
        ("harness/Cargo.toml", stub::DEPS_MARKER),
        ("harness/src/registry.rs", stub::REGISTRY_MARKER),
    ] {
        let text = std::fs::read_to_string(dir.join(file))
            .unwrap_or_else(|error| panic!("{file}: {error}"));
        assert!(
            text.lines().any(|l| l.trim() == marker),
            "{file} lacks `{marker}`"
        );
    }
}
