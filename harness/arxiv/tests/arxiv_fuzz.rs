//! The parsers never panic: mutation fuzzing over every fixture, bounded in time so that it runs in
//! CI; and the 2.8 MB full daily feed parses well under a second.
//!
//! `REPRO_FUZZ_SECS` (default 3) sets the time budget and `REPRO_FUZZ_SEED` the seed (default
//! fixed, so that a failure reproduces); a panic names the seed, the case and where the input
//! was saved.

mod arxiv_support;

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::PathBuf;
use std::time::{Duration, Instant};

use arxiv_support::shared_fixtures;
use repro_arxiv::atom::parse_feed;
use repro_arxiv::oai::parse_oai;
use repro_arxiv::rss::parse_daily_feed;
use repro_arxiv::{ArxivId, bibtex};

/// Every fixture small enough to mutate quickly.
fn corpus() -> Vec<(String, Vec<u8>)> {
    let mut dirs = vec![PathBuf::from(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/arxiv"
    ))];
    dirs.extend(shared_fixtures());
    let mut files = Vec::new();
    for dir in dirs {
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            let bytes = std::fs::read(&path).unwrap();
            if path.extension().is_some_and(|e| e == "xml") && bytes.len() < 100_000 {
                files.push((
                    path.file_name().unwrap().to_string_lossy().into_owned(),
                    bytes,
                ));
            }
        }
    }
    files.sort();
    files
}

const TOKENS: &[&str] = &[
    "<",
    ">",
    "&",
    "&amp;",
    "&#0;",
    "&#x110000;",
    "&#65;",
    "&bogus;",
    "<![CDATA[",
    "]]>",
    "<!--",
    "-->",
    "\"",
    "'",
    "</entry>",
    "<entry>",
    "<item>",
    "</item>",
    "<id>",
    "</id>",
    "<title>",
    "</title>",
    "<?xml version='1.0'?>",
    "<!DOCTYPE x [<!ENTITY e 'x'>]>",
    "\u{0}",
    "é",
    "💥",
    "v0",
    "v99999999999",
    "oai:arXiv.org:",
    "arXiv:",
    "99999999999999999999999",
    "-1",
    "Announce Type:",
    "Abstract:",
    "(",
    ")",
    ",",
    "http://arxiv.org/abs/",
    "http://arxiv.org/api/errors#x",
    " xmlns:a='b'",
    " a='1' a='2'",
    "<a:b:c>",
];

fn mutate(rng: &mut fastrand::Rng, input: &[u8]) -> Vec<u8> {
    let mut data = input.to_vec();
    for _ in 0..rng.usize(1..=4) {
        let len = data.len().max(1);
        match rng.u8(0..7) {
            0 if !data.is_empty() => {
                let at = rng.usize(..data.len());
                data[at] = rng.u8(..);
            }
            1 if !data.is_empty() => {
                let at = rng.usize(..data.len());
                let end = (at + rng.usize(1..64)).min(data.len());
                data.drain(at..end);
            }
            2 => {
                let at = rng.usize(..=data.len());
                let token = TOKENS[rng.usize(..TOKENS.len())].as_bytes();
                data.splice(at..at, token.iter().copied());
            }
            3 if !data.is_empty() => {
                let at = rng.usize(..data.len());
                let end = (at + rng.usize(1..512)).min(data.len());
                let copy = data[at..end].to_vec();
                let to = rng.usize(..=data.len());
                data.splice(to..to, copy);
            }
            4 => data.truncate(rng.usize(..len)),
            5 if data.len() > 2 => {
                // Swap two slices of equal length.
                let n = rng.usize(1..=(data.len() / 2).min(256));
                let a = rng.usize(..=data.len() - 2 * n);
                let b = rng.usize(a + n..=data.len() - n);
                let (left, right) = data.split_at_mut(b);
                left[a..a + n].swap_with_slice(&mut right[..n]);
            }
            _ => {
                // Replace a digit with an extreme number.
                let from = rng.usize(..len).min(data.len());
                if let Some(offset) = data[from..].iter().position(u8::is_ascii_digit) {
                    let at = from + offset;
                    let token = ["0", "99999999999999999999", "-5", ""][rng.usize(..4)].as_bytes();
                    data.splice(at..at + 1, token.iter().copied());
                }
            }
        }
    }
    data
}

/// Everything a response goes through.
fn exercise(text: &str) {
    if let Ok(feed) = parse_feed(text) {
        for entry in &feed.entries {
            let _ = bibtex::to_bibtex(entry);
            let _ = serde_json::to_string(entry).unwrap();
        }
    }
    let _ = parse_daily_feed(text);
    let _ = parse_oai(text);
    let _ = ArxivId::parse(text.get(..text.len().min(64)).unwrap_or(""));
}

#[test]
fn parsers_never_panic_on_mutated_fixtures() {
    let budget = Duration::from_secs_f64(
        std::env::var("REPRO_FUZZ_SECS")
            .ok()
            .and_then(|s| s.parse().ok())
            .unwrap_or(3.0),
    );
    let seed: u64 = std::env::var("REPRO_FUZZ_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(0x5EED_A7C1);
    let corpus = corpus();
    assert!(corpus.len() >= 7, "fixtures missing");
    let mut rng = fastrand::Rng::with_seed(seed);
    let started = Instant::now();
    let mut cases = 0u64;
    // Quiet the default hook: a panic is reported below, with how to reproduce it.
    let hook = std::panic::take_hook();
    std::panic::set_hook(Box::new(|_| {}));
    while started.elapsed() < budget {
        let (name, original) = &corpus[rng.usize(..corpus.len())];
        let mutated = mutate(&mut rng, original);
        let text = String::from_utf8_lossy(&mutated);
        if let Err(panic) = catch_unwind(AssertUnwindSafe(|| exercise(&text))) {
            std::panic::set_hook(hook);
            let saved = std::env::temp_dir().join(format!("repro-arxiv-fuzz-{seed}-{cases}.xml"));
            let _ = std::fs::write(&saved, &mutated);
            let message = panic
                .downcast_ref::<String>()
                .cloned()
                .or_else(|| panic.downcast_ref::<&str>().map(|s| s.to_string()));
            panic!(
                "parser panicked on case {cases} (seed {seed}, from {name}), input saved at {}: {message:?}",
                saved.display()
            );
        }
        cases += 1;
    }
    std::panic::set_hook(hook);
    eprintln!(
        "{cases} mutated inputs in {:.1}s (seed {seed})",
        started.elapsed().as_secs_f64()
    );
    assert!(cases > 100, "only {cases} cases ran");
}

#[test]
fn full_daily_feed_parses_well_under_a_second() {
    let Some(dir) = shared_fixtures() else { return };
    let text = std::fs::read_to_string(dir.join("rss-2024-full-all-archives.FULL.xml")).unwrap();
    assert!(text.len() > 2_700_000);
    // Best of three, so that a busy machine does not fail the test.
    let mut best = Duration::MAX;
    for _ in 0..3 {
        let started = Instant::now();
        let feed = parse_daily_feed(&text).unwrap();
        best = best.min(started.elapsed());
        assert_eq!(feed.items.len(), 1504);
    }
    eprintln!("2.8 MB daily feed parsed in {best:?}");
    assert!(best < Duration::from_secs(1), "{best:?}");
}

/// Property: any id that parses prints to a form that parses back to the same id.
#[test]
fn parsed_ids_round_trip() {
    let mut rng = fastrand::Rng::with_seed(7);
    let digits = |rng: &mut fastrand::Rng, len: std::ops::Range<usize>| {
        let n = rng.usize(len);
        (0..n)
            .map(|_| char::from(b'0' + rng.u8(0..10)))
            .collect::<String>()
    };
    let prefixes = [
        "",
        "arXiv:",
        "https://arxiv.org/abs/",
        "http://export.arxiv.org/pdf/",
        "arxiv.org/html/",
        "xx:",
    ];
    let archives = [
        "hep-th",
        "math.GT",
        "cs",
        "astro-ph",
        "physics.optics",
        "hepth",
        "Math",
    ];
    let mut parsed = 0;
    for _ in 0..20_000 {
        let mut s = prefixes[rng.usize(..prefixes.len())].to_string();
        let month = format!("{:02}", rng.u8(0..14));
        if rng.bool() {
            s.push_str(&format!(
                "{}{month}.{}",
                digits(&mut rng, 2..3),
                digits(&mut rng, 3..7)
            ));
        } else {
            let archive = archives[rng.usize(..archives.len())];
            s.push_str(&format!(
                "{archive}/{}{month}{}",
                digits(&mut rng, 2..3),
                digits(&mut rng, 2..5)
            ));
        }
        if rng.bool() {
            s.push_str(&format!("v{}", digits(&mut rng, 0..3)));
        }
        if rng.u8(0..4) == 0 {
            s.push_str([".pdf", "/", "?x=1", "#s", " "][rng.usize(..5)]);
        }
        if let Ok(id) = ArxivId::parse(&s) {
            parsed += 1;
            let again = ArxivId::parse(&id.to_string()).unwrap();
            assert_eq!(again, id, "{s:?}");
            assert_eq!(ArxivId::parse(&id.abs_url()).unwrap(), id);
            assert_eq!(
                ArxivId::parse(&format!("{}.pdf", id.pdf_url())).unwrap(),
                id
            );
        }
    }
    assert!(parsed > 1000, "only {parsed} generated ids parsed");
}
