//! `repro arxiv show|search|track` end to end against a local server: what they print, what they
//! record, and how they fail.

mod arxiv_support;

use std::path::Path;

use arxiv_support::{Reply, TestServer, entry_xml, feed_xml, fixture};
use clap::{CommandFactory, Parser};
use repro_arxiv::cli::{ArxivArgs, run};
use repro_arxiv::track::TrackingState;

/// The CLI as the harness wires it: `repro arxiv …`.
#[derive(Parser)]
#[command(name = "repro")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(clap::Subcommand)]
enum Command {
    Arxiv(ArxivArgs),
}

struct Outcome {
    ok: bool,
    out: String,
    err: String,
}

/// Runs `repro arxiv <args>` against `server` with no throttle and a cache under `tmp`.
fn repro(server: &TestServer, tmp: &Path, args: &[&str]) -> Outcome {
    let cache = tmp.join("cache");
    let api = server.api_url();
    let mut argv = vec![
        "repro",
        "arxiv",
        "--api-url",
        &api,
        "--rss-url",
        &server.base,
        "--request-interval",
        "0",
    ];
    let cache = cache.to_string_lossy().into_owned();
    argv.extend(["--cache-dir", &cache]);
    argv.extend(args);
    let Command::Arxiv(arxiv) = Cli::try_parse_from(&argv)
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

#[test]
fn show_prints_every_field() {
    let tmp = tempfile::tempdir().unwrap();
    let server = TestServer::always(fixture("api-1706.03762.xml"));
    let o = repro(&server, tmp.path(), &["show", "arXiv:1706.03762"]);
    assert!(o.ok, "{}", o.err);
    let expected_head = "\
1706.03762v7  Attention Is All You Need
  Authors     Ashish Vaswani (Google Brain), Noam Shazeer, Niki Parmar, Jakob Uszkoreit, Llion Jones, Aidan N. Gomez (University of Toronto), Lukasz Kaiser, Illia Polosukhin
  Submitted   2017-06-12 (v1)
  Updated     2023-08-02 (v7)
  Categories  cs.CL (primary); also cs.LG
  Comment     15 pages, 5 figures
  Abstract    https://arxiv.org/abs/1706.03762v7
  PDF         https://arxiv.org/pdf/1706.03762v7

  The dominant sequence transduction models are based on complex recurrent or convolutional neural
";
    assert!(o.out.starts_with(expected_head), "{}", o.out);
    assert_eq!(
        server.hits()[0].param("id_list").as_deref(),
        Some("1706.03762")
    );
}

#[test]
fn show_accepts_urls_and_versions_and_caches() {
    let tmp = tempfile::tempdir().unwrap();
    let server = TestServer::always(fixture("api-1706.03762.xml"));
    assert!(
        repro(
            &server,
            tmp.path(),
            &["show", "https://arxiv.org/pdf/1706.03762v7.pdf"]
        )
        .ok
    );
    assert!(repro(&server, tmp.path(), &["show", "1706.03762v7"]).ok);
    assert_eq!(
        server.hits().len(),
        1,
        "the second show came from the cache"
    );
    assert!(repro(&server, tmp.path(), &["show", "1706.03762v7", "--no-cache"]).ok);
    assert_eq!(server.hits().len(), 2);
    assert_eq!(
        server.hits()[0].param("id_list").as_deref(),
        Some("1706.03762v7")
    );
}

#[test]
fn show_json() {
    let tmp = tempfile::tempdir().unwrap();
    let server = TestServer::always(fixture("api-1706.03762.xml"));
    let o = repro(&server, tmp.path(), &["show", "1706.03762", "--json"]);
    let json: serde_json::Value = serde_json::from_str(&o.out).unwrap();
    let p = &json[0];
    assert_eq!(p["id"], "1706.03762");
    assert_eq!(p["version"], 7);
    assert_eq!(p["versioned_id"], "1706.03762v7");
    assert_eq!(p["title"], "Attention Is All You Need");
    assert_eq!(p["authors"][0]["name"], "Ashish Vaswani");
    assert_eq!(p["authors"][0]["affiliations"][0], "Google Brain");
    assert_eq!(p["published"], "2017-06-12T17:57:34Z");
    assert_eq!(p["updated"], "2023-08-02T00:41:18Z");
    assert_eq!(p["primary_category"], "cs.CL");
    assert_eq!(p["categories"], serde_json::json!(["cs.CL", "cs.LG"]));
    assert_eq!(p["comment"], "15 pages, 5 figures");
    assert_eq!(p["doi"], serde_json::Value::Null);
    assert_eq!(p["pdf_url"], "https://arxiv.org/pdf/1706.03762v7");
    assert!(p["abstract"].as_str().unwrap().starts_with("The dominant"));
}

#[test]
fn show_bibtex_in_arxiv_export_format() {
    let tmp = tempfile::tempdir().unwrap();
    let server = TestServer::always(fixture("api-1706.03762.xml"));
    let o = repro(&server, tmp.path(), &["show", "1706.03762", "--bibtex"]);
    assert_eq!(
        o.out,
        "@misc{vaswani2017attention,
      title={Attention Is All You Need},
      author={Ashish Vaswani and Noam Shazeer and Niki Parmar and Jakob Uszkoreit and Llion Jones and Aidan N. Gomez and Lukasz Kaiser and Illia Polosukhin},
      year={2017},
      eprint={1706.03762},
      archivePrefix={arXiv},
      primaryClass={cs.CL},
      url={https://arxiv.org/abs/1706.03762},
}
"
    );
}

#[test]
fn show_rejects_a_malformed_id_before_any_request() {
    let tmp = tempfile::tempdir().unwrap();
    let server = TestServer::always(fixture("api-1706.03762.xml"));
    let o = repro(&server, tmp.path(), &["show", "1706.03762", "abc"]);
    assert!(!o.ok);
    assert!(o.err.contains("`abc` is not an arXiv id"), "{}", o.err);
    assert!(server.hits().is_empty());
}

#[test]
fn show_says_not_found_for_an_absent_id() {
    let tmp = tempfile::tempdir().unwrap();
    let server = TestServer::always(fixture("api-empty.xml"));
    let o = repro(&server, tmp.path(), &["show", "2312.99999"]);
    assert!(!o.ok);
    assert!(
        o.err.ends_with("error: not found on arXiv: 2312.99999\n"),
        "{}",
        o.err
    );
    assert_eq!(o.out, "");
}

#[test]
fn search_lists_results_and_total() {
    let tmp = tempfile::tempdir().unwrap();
    let server = TestServer::start(|_, hit| {
        let entries = vec![
            entry_xml("2401.00002v2", "Second Paper", "2024-02-01T00:00:00Z"),
            entry_xml("2401.00001v1", "First Paper", "2024-01-01T00:00:00Z"),
        ];
        let _ = hit;
        Reply::ok(feed_xml(42, 0, &entries))
    });
    let o = repro(
        &server,
        tmp.path(),
        &[
            "search",
            "ti:paper",
            "--category",
            "cs.CL",
            "--max",
            "2",
            "--sort",
            "updated",
        ],
    );
    assert!(o.ok, "{}", o.err);
    assert_eq!(
        o.out,
        "  1. 2401.00002v2     2024-01-01  cs.CL    Second Paper — Lovelace\n  2. 2401.00001v1     2024-01-01  cs.CL    First Paper — Lovelace\n"
    );
    assert!(
        o.err
            .contains("2 of 42 results for `(ti:paper) AND cat:cs.CL` (--max for more)"),
        "{}",
        o.err
    );
    let hit = &server.hits()[0];
    assert_eq!(
        hit.param("search_query").as_deref(),
        Some("(ti:paper) AND cat:cs.CL")
    );
    assert_eq!(hit.param("sortBy").as_deref(), Some("lastUpdatedDate"));

    let o = repro(
        &server,
        tmp.path(),
        &["search", "ti:paper", "--max", "2", "--json"],
    );
    let json: serde_json::Value = serde_json::from_str(&o.out).unwrap();
    assert_eq!(json["total_results"], 42);
    assert_eq!(json["entries"][1]["versioned_id"], "2401.00001v1");
}

#[test]
fn search_reports_the_api_error_feed() {
    let tmp = tempfile::tempdir().unwrap();
    let server =
        TestServer::start(|_, _| Reply::status(400, fixture("api-error-bad-id.http400.xml")));
    let o = repro(&server, tmp.path(), &["search", "id:bad"]);
    assert!(!o.ok);
    assert!(
        o.err
            .contains("error: arXiv rejected the request: incorrect id format for 1706.0376"),
        "{}",
        o.err
    );
}

/// A server whose results change between checks, as arXiv's do.
fn tracking_server() -> TestServer {
    TestServer::start(|n, _| {
        let entries = if n == 0 {
            vec![
                entry_xml("2401.00002v1", "Second", "2099-01-02T00:00:00Z"),
                entry_xml("2401.00001v1", "First", "2099-01-01T00:00:00Z"),
            ]
        } else {
            vec![
                entry_xml("2401.00003v1", "Third", "2099-01-04T00:00:00Z"),
                entry_xml("2401.00001v2", "First, revised", "2099-01-03T00:00:00Z"),
                entry_xml("2401.00002v1", "Second", "2099-01-02T00:00:00Z"),
            ]
        };
        Reply::ok(feed_xml(entries.len() as u64, 0, &entries))
    })
}

#[test]
fn track_reports_new_papers_then_updates_and_records_them() {
    let tmp = tempfile::tempdir().unwrap();
    let state = tmp.path().join("tracking.toml");
    let state_arg = state.to_string_lossy().into_owned();
    let server = tracking_server();
    let t = |args: &[&str]| {
        let mut all = vec!["track", "--state", &state_arg];
        all.extend(args);
        repro(&server, tmp.path(), &all)
    };

    let o = t(&[
        "--add",
        "ti:transformer",
        "--category",
        "cs.CL",
        "--category",
        "cs.LG",
        "--max",
        "20",
    ]);
    assert!(o.ok, "{}", o.err);
    assert_eq!(o.out, "tracking ti:transformer [cs.CL, cs.LG]\n");
    assert!(
        !t(&[
            "--add",
            "ti:transformer",
            "--category",
            "cs.CL",
            "--category",
            "cs.LG"
        ])
        .ok,
        "a duplicate query"
    );

    let o = t(&[]);
    assert!(o.ok, "{}", o.err);
    assert!(
        o.out
            .starts_with("== ti:transformer [cs.CL, cs.LG]: 2 new or updated of 2 looked at\n"),
        "{}",
        o.out
    );
    assert!(
        o.out
            .contains("  new     2401.00002v1     2099-01-02  cs.CL    Second — Lovelace\n"),
        "{}",
        o.out
    );
    let hit = &server.hits()[0];
    assert_eq!(
        hit.param("search_query").as_deref(),
        Some("(ti:transformer) AND (cat:cs.CL OR cat:cs.LG)")
    );
    assert_eq!(hit.param("sortBy").as_deref(), Some("lastUpdatedDate"));
    assert_eq!(hit.param("max_results").as_deref(), Some("20"));
    let saved = TrackingState::load(&state).unwrap();
    assert_eq!(saved.queries[0].seen, ["2401.00001v1", "2401.00002v1"]);
    let first_check = saved.queries[0].last_check.unwrap();

    // A dry run shows the same as a real run would, and writes nothing.
    let o = t(&["--dry-run"]);
    assert!(o.ok, "{}", o.err);
    assert!(o.out.contains("  new     2401.00003v1"), "{}", o.out);
    assert!(
        o.out.contains(
            "  update  2401.00001v2     2099-01-03  cs.CL    First, revised (was v1) — Lovelace"
        ),
        "{}",
        o.out
    );
    assert!(!o.out.contains("2401.00002"), "already reported: {}", o.out);
    assert!(
        o.err.contains("dry run: 2 findings not recorded"),
        "{}",
        o.err
    );
    assert_eq!(TrackingState::load(&state).unwrap(), saved);

    let o = t(&["--json"]);
    let json: serde_json::Value = serde_json::from_str(&o.out).unwrap();
    assert_eq!(json[0]["findings"][1]["kind"], "update");
    assert_eq!(json[0]["findings"][1]["previous_version"], 1);
    let saved = TrackingState::load(&state).unwrap();
    assert_eq!(
        saved.queries[0].seen,
        ["2401.00001v2", "2401.00002v1", "2401.00003v1"]
    );
    assert!(saved.queries[0].last_check.unwrap() >= first_check);

    let o = t(&["--list"]);
    assert!(
        o.out
            .starts_with(" 1. ti:transformer [cs.CL, cs.LG]\n    last checked "),
        "{}",
        o.out
    );
    assert!(
        o.out.contains("3 seen; up to 20 results per check"),
        "{}",
        o.out
    );
    let o = t(&["--remove", "1"]);
    assert_eq!(o.out, "stopped tracking ti:transformer [cs.CL, cs.LG]\n");
    assert!(TrackingState::load(&state).unwrap().queries.is_empty());
}

#[test]
fn track_since_bounds_the_look_back() {
    let tmp = tempfile::tempdir().unwrap();
    let state = tmp.path().join("tracking.toml");
    std::fs::write(&state, "[[query]]\nquery = \"ti:x\"\n").unwrap();
    let server = TestServer::start(|_, _| {
        let entries = vec![
            entry_xml("2401.00002v1", "Recent", "2024-03-01T00:00:00Z"),
            entry_xml("2401.00001v1", "Old", "2024-01-01T00:00:00Z"),
        ];
        Reply::ok(feed_xml(2, 0, &entries))
    });
    let o = repro(
        &server,
        tmp.path(),
        &[
            "track",
            "--state",
            &state.to_string_lossy(),
            "--since",
            "2024-02-01",
            "--dry-run",
        ],
    );
    assert!(o.ok, "{}", o.err);
    assert!(
        o.out
            .starts_with("== ti:x since 2024-02-01: 1 new or updated of 1 looked at\n"),
        "{}",
        o.out
    );
    assert!(!o.out.contains("Old"));
    let bad = Cli::try_parse_from(["repro", "arxiv", "track", "--since", "last week"])
        .err()
        .unwrap();
    assert!(
        bad.to_string()
            .contains("`last week` is not a date; use YYYY-MM-DD"),
        "{bad}"
    );
}

#[test]
fn track_feed_reports_announce_types() {
    let tmp = tempfile::tempdir().unwrap();
    let state = tmp.path().join("tracking.toml");
    std::fs::write(
        &state,
        "[feed]\ncategories = [\"cs.CL\"]\nseen = [\"1706.03762v5\"]\n",
    )
    .unwrap();
    let server = TestServer::start(|_, hit| {
        assert_eq!(hit.url, "/rss/cs.CL");
        Reply::ok(fixture("rss-cs.CL.xml"))
    });
    let o = repro(
        &server,
        tmp.path(),
        &["track", "--feed", "--state", &state.to_string_lossy()],
    );
    assert!(o.ok, "{}", o.err);
    let kinds: Vec<&str> = o
        .out
        .lines()
        .skip(1)
        .map(|l| l.split_whitespace().next().unwrap())
        .collect();
    assert_eq!(kinds, ["new", "cross", "update", "replace"], "{}", o.out);
    assert!(
        o.out
            .contains("1706.03762v7     2026-01-05  cs.CL    Attention Is All You Need (was v5)"),
        "{}",
        o.out
    );
    let saved = TrackingState::load(&state).unwrap();
    assert_eq!(saved.feed.unwrap().seen.len(), 4);
    // The same day again: nothing new.
    let o = repro(
        &server,
        tmp.path(),
        &["track", "--feed", "--state", &state.to_string_lossy()],
    );
    assert!(
        o.out
            .starts_with("== daily feed: cs.CL: 0 new or updated of 4 looked at\n"),
        "{}",
        o.out
    );
}

#[test]
fn track_without_state_explains_how_to_start() {
    let tmp = tempfile::tempdir().unwrap();
    let server = TestServer::always(String::new());
    std::fs::write(tmp.path().join("Cargo.toml"), "[workspace]\n").unwrap();
    let o = repro(
        &server,
        tmp.path(),
        &["track", "--root", &tmp.path().to_string_lossy()],
    );
    assert!(!o.ok);
    assert!(
        o.err
            .contains("papers/tracking.toml; start one with `repro arxiv track --add"),
        "{}",
        o.err
    );
}

#[test]
fn a_request_interval_below_3s_is_refused_for_arxiv_org() {
    let argv = [
        "repro",
        "arxiv",
        "--request-interval",
        "0.5",
        "show",
        "1706.03762",
    ];
    let Command::Arxiv(args) = Cli::try_parse_from(argv).unwrap().command;
    let err = run(&args, &mut Vec::new(), &mut Vec::new()).unwrap_err();
    assert!(
        err.to_string().contains("breaks arXiv's terms of use"),
        "{err}"
    );
}

#[test]
fn help_teaches_with_examples() {
    let mut cmd = Cli::command();
    let arxiv = cmd.find_subcommand_mut("arxiv").unwrap();
    let help = arxiv.render_long_help().to_string();
    assert!(
        help.contains("Examples:") && help.contains("repro arxiv stub"),
        "{help}"
    );
    for sub in ["show", "search", "track", "stub"] {
        let help = arxiv
            .find_subcommand_mut(sub)
            .unwrap()
            .render_long_help()
            .to_string();
        assert!(
            help.contains("Examples:\n  repro arxiv"),
            "`repro arxiv {sub} --help` has no examples:\n{help}"
        );
    }
}
