//! Tests of the canonical datasets: parsers on archives built here, and `load_spec` end to end
//! against a local HTTP server serving fake archives whose checksums the tests compute.

use super::*;
use flate2::{Compression, write::GzEncoder};
use repro_core::data::download::sha256_hex;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

fn tar_gz(entries: &[(&str, &str)]) -> Vec<u8> {
    let mut builder = tar::Builder::new(GzEncoder::new(Vec::new(), Compression::default()));
    for (path, text) in entries {
        let mut header = tar::Header::new_gnu();
        header.set_size(text.len() as u64);
        header.set_mode(0o644);
        builder
            .append_data(&mut header, path, text.as_bytes())
            .unwrap();
    }
    builder.into_inner().unwrap().finish().unwrap()
}

/// Serves `files` (URL path → bytes) on 127.0.0.1, counting requests; 404 for anything else.
struct Server {
    base: String,
    hits: Arc<AtomicUsize>,
    server: Arc<tiny_http::Server>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Server {
    fn start(files: HashMap<String, Vec<u8>>) -> Self {
        let server = Arc::new(tiny_http::Server::http("127.0.0.1:0").unwrap());
        let base = format!("http://{}", server.server_addr().to_ip().unwrap());
        let hits = Arc::new(AtomicUsize::new(0));
        let (srv, count) = (Arc::clone(&server), Arc::clone(&hits));
        let thread = std::thread::spawn(move || {
            for request in srv.incoming_requests() {
                count.fetch_add(1, Ordering::SeqCst);
                let response = match files.get(request.url()) {
                    Some(bytes) => tiny_http::Response::from_data(bytes.clone()),
                    None => {
                        tiny_http::Response::from_data(b"not found".to_vec()).with_status_code(404)
                    }
                };
                let _ = request.respond(response);
            }
        });
        Self {
            base,
            hits,
            server,
            thread: Some(thread),
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.server.unblock();
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// The real recipe `name` with its pins replaced by those of the fake `archives`, served on a
/// local server at the real URLs' paths.
fn fake(name: &str, archives: &[(&str, Vec<u8>)]) -> (DatasetSpec, Server) {
    let mut spec = spec(name).unwrap();
    let mut served = HashMap::new();
    for file in &mut spec.files {
        let bytes = &archives.iter().find(|(n, _)| *n == file.name).unwrap().1;
        file.sha256 = sha256_hex(bytes).leak();
        file.size = None;
        let path = &file.url[file.url.find("://").unwrap() + 3..];
        served.insert(path[path.find('/').unwrap()..].to_owned(), bytes.clone());
    }
    (spec, Server::start(served))
}

fn pairs(list: &[(&str, &str)]) -> Vec<(String, String)> {
    list.iter()
        .map(|(s, t)| (s.to_string(), t.to_string()))
        .collect()
}

#[test]
fn parse_plain_trims_and_drops_bom_and_trailing_blank_lines() {
    let text = "\u{feff}Ein Mann läuft.\r\n  Zwei Hunde. \n\n\n";
    assert_eq!(
        parse(text, Format::Plain),
        vec!["Ein Mann läuft.", "Zwei Hunde."]
    );
}

#[test]
fn parse_sgm_keeps_only_segments() {
    let text = "<srcset setid=\"newstest2014\" srclang=\"any\">\n<doc sysid=\"ref\" docid=\"1\">\n\
                <p>\n<seg id=\"1\">Gutach: Mehr Sicherheit für Fußgänger</seg>\n\
                <seg id=\"2\"> A & B </seg>\n</p>\n</doc>\n<segment>not a seg</segment>\n</srcset>\n";
    assert_eq!(
        parse(text, Format::Sgm),
        vec!["Gutach: Mehr Sicherheit für Fußgänger", "A & B"]
    );
}

#[test]
fn read_tar_prefers_first_candidate_and_skips_resource_forks() {
    let member = Member {
        archive: "t.tar.gz",
        paths: &["test.de", "test2016.de"],
        format: Format::Plain,
    };
    let bytes = tar_gz(&[
        ("./data/._test.de", "\u{0}\u{5}resource fork"),
        ("__MACOSX/data/test.de", "junk"),
        ("./data/test2016.de", "fallback\n"),
        ("./data/test.de", "preferred\n"),
        ("./data/other.de", "ignored\n"),
    ]);
    let reader = flate2::read::GzDecoder::new(&bytes[..]);
    let texts = read_tar(reader, &[member]).unwrap();
    assert_eq!(texts[&member], "preferred\n");

    let only_fallback = tar_gz(&[("mmt/test2016.de", "fallback\n")]);
    let texts = read_tar(flate2::read::GzDecoder::new(&only_fallback[..]), &[member]).unwrap();
    assert_eq!(texts[&member], "fallback\n");
}

#[test]
fn read_members_reports_missing_files() {
    let tmp = tempfile::tempdir().unwrap();
    let path = tmp.path().join("a.tgz");
    std::fs::write(&path, tar_gz(&[("train.en", "x\n")])).unwrap();
    let member = Member {
        archive: "a.tgz",
        paths: &["train.de"],
        format: Format::Plain,
    };
    let err = read_members(&path, &[member]).unwrap_err();
    assert!(
        format!("{err:#}").contains("no file matching [\"train.de\"]"),
        "{err:#}"
    );
}

#[test]
fn misaligned_sides_are_an_error() {
    let side = |paths| Member {
        archive: "a.tgz",
        paths,
        format: Format::Plain,
    };
    let part = Part {
        source: side(&["x.de"]),
        target: side(&["x.en"]),
    };
    let err = align(&part, "a\nb\nc\n", "a\nb\n").unwrap_err();
    assert!(
        err.to_string()
            .contains("has 3 sentences but [\"x.en\"] (a.tgz) has 2"),
        "{err}"
    );
    let kept = align(&part, "a\n\nc\n", "A\nB\nC\n").unwrap();
    assert_eq!(
        kept,
        pairs(&[("a", "A"), ("c", "C")]),
        "pairs with an empty side are dropped"
    );
}

#[test]
fn multi30k_end_to_end_from_local_server() {
    let (spec, server) = fake(
        "multi30k",
        &[
            (
                M30K_TRAIN,
                tar_gz(&[
                    ("train.de", "Ein Hund.\nZwei Katzen.\n\n"),
                    ("train.en", "A dog.\nTwo cats.\n\n"),
                ]),
            ),
            (
                M30K_VAL,
                tar_gz(&[("val.de", "Ein Ball.\n"), ("val.en", "A ball.\n")]),
            ),
            (
                M30K_TEST,
                tar_gz(&[
                    ("._test.de", "fork"),
                    ("test.de", "Ein Mann.\n"),
                    ("test.en", "A man.\n"),
                ]),
            ),
        ],
    );
    let tmp = tempfile::tempdir().unwrap();
    let corpus = load_spec(&spec, tmp.path(), Some(&server.base)).unwrap();
    assert_eq!(
        (corpus.source_lang.as_str(), corpus.target_lang.as_str()),
        ("de", "en")
    );
    assert_eq!(
        corpus.train,
        pairs(&[("Ein Hund.", "A dog."), ("Zwei Katzen.", "Two cats.")])
    );
    assert_eq!(corpus.dev, pairs(&[("Ein Ball.", "A ball.")]));
    assert_eq!(corpus.test, pairs(&[("Ein Mann.", "A man.")]));
    assert_eq!(server.hits.load(Ordering::SeqCst), 3);
    assert!(tmp.path().join("multi30k").join(M30K_TRAIN).is_file());

    let again = load_spec(&spec, tmp.path(), Some(&server.base)).unwrap();
    assert_eq!(again, corpus);
    assert_eq!(
        server.hits.load(Ordering::SeqCst),
        3,
        "verified cache: no new request"
    );
}

#[test]
fn wmt14_end_to_end_from_local_server() {
    let sgm = |lang: &str, lines: &[&str]| {
        let segs: String = lines
            .iter()
            .enumerate()
            .map(|(i, l)| format!("<seg id=\"{}\">{l}</seg>\n", i + 1))
            .collect();
        format!(
            "<refset setid=\"newstest2014\" trglang=\"{lang}\">\n<doc docid=\"d1\">\n{segs}</doc>\n</refset>\n"
        )
    };
    let (spec, server) = fake(
        "wmt14",
        &[
            (
                WMT_EUROPARL,
                tar_gz(&[
                    ("training/europarl-v7.fr-en.en", "French side, not wanted\n"),
                    (
                        "training/europarl-v7.de-en.en",
                        "Resumption of the session\n\nThank you.\n",
                    ),
                    (
                        "training/europarl-v7.de-en.de",
                        "Wiederaufnahme der Sitzungsperiode\nNur deutsch.\nDanke.\n",
                    ),
                ]),
            ),
            (
                WMT_COMMONCRAWL,
                tar_gz(&[
                    ("commoncrawl.de-en.de", "Hallo Welt\n"),
                    ("commoncrawl.de-en.en", "Hello world\n"),
                ]),
            ),
            (
                WMT_NC,
                tar_gz(&[
                    (
                        "training/news-commentary-v9.de-en.de",
                        "Gold zu 10.000 $?\n",
                    ),
                    ("training/news-commentary-v9.de-en.en", "$10,000 Gold?\n"),
                ]),
            ),
            (
                WMT_DEV,
                tar_gz(&[
                    ("dev/newstest2013.de", "Ein Satz.\n"),
                    ("dev/newstest2013.en", "A sentence.\n"),
                    (
                        "dev/newstest2014-deen-src.de.sgm",
                        &sgm("de", &["Gutach: Mehr Sicherheit", "Zweiter"]),
                    ),
                    (
                        "dev/newstest2014-deen-ref.en.sgm",
                        &sgm("en", &["Gutach: Increased safety", "Second"]),
                    ),
                ]),
            ),
        ],
    );
    let tmp = tempfile::tempdir().unwrap();
    let corpus = load_spec(&spec, tmp.path(), Some(&server.base)).unwrap();
    assert_eq!(
        (corpus.source_lang.as_str(), corpus.target_lang.as_str()),
        ("en", "de")
    );
    assert_eq!(
        corpus.train,
        pairs(&[
            (
                "Resumption of the session",
                "Wiederaufnahme der Sitzungsperiode"
            ),
            ("Thank you.", "Danke."),
            ("Hello world", "Hallo Welt"),
            ("$10,000 Gold?", "Gold zu 10.000 $?"),
        ])
    );
    assert_eq!(corpus.dev, pairs(&[("A sentence.", "Ein Satz.")]));
    assert_eq!(
        corpus.test,
        pairs(&[
            ("Gutach: Increased safety", "Gutach: Mehr Sicherheit"),
            ("Second", "Zweiter")
        ])
    );
    assert_eq!(server.hits.load(Ordering::SeqCst), 4);
}

#[test]
fn unpinned_and_unknown_datasets_are_clear_errors() {
    let tmp = tempfile::tempdir().unwrap();
    let err = load("iwslt14", tmp.path()).unwrap_err();
    assert!(
        err.to_string()
            .starts_with("no pinned checksum for iwslt14"),
        "{err}"
    );
    let err = load("wmt99", tmp.path()).unwrap_err();
    assert!(err.to_string().contains("unknown dataset `wmt99`"), "{err}");
    assert!(err.to_string().contains("multi30k"), "{err}");
    assert!(
        std::fs::read_dir(tmp.path()).unwrap().next().is_none(),
        "nothing downloaded"
    );
}

#[test]
fn real_pins_are_well_formed() {
    for name in ["multi30k", "wmt14"] {
        let spec = spec(name).unwrap();
        for file in &spec.files {
            assert_eq!(file.sha256.len(), 64, "{}", file.name);
            assert!(
                file.sha256
                    .bytes()
                    .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
            );
            assert!(
                file.url.starts_with("http") && file.url.ends_with(file.name),
                "{}",
                file.url
            );
        }
        for split in [&spec.train, &spec.dev, &spec.test] {
            for part in &split.parts {
                for member in [part.source, part.target] {
                    assert!(
                        spec.files.iter().any(|f| f.name == member.archive),
                        "{member:?}"
                    );
                }
            }
        }
    }
}
