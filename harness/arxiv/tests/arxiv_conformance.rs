//! Conformance: responses of the real services parse to the expected fields.
//!
//! Two sources: the project's own fixtures (tests/fixtures/arxiv, written in the services'
//! formats) and, when present, responses recorded from the real services in
//! `../shared/fixtures/arxiv/` (API 2016 and 2026 layouts, the daily RSS feed, OAI-PMH), read in
//! place and never copied into the repository.

mod arxiv_support;

use std::path::Path;

use arxiv_support::{fixture, shared_fixtures};
use repro_arxiv::atom::{Feed, parse_feed};
use repro_arxiv::oai::parse_oai;
use repro_arxiv::rss::{AnnounceType, DailyFeed, parse_daily_feed};
use repro_arxiv::{Entry, Error};

fn read(dir: &Path, name: &str) -> String {
    std::fs::read_to_string(dir.join(name)).unwrap_or_else(|e| panic!("{name}: {e}"))
}

fn one(feed: &Feed) -> &Entry {
    assert_eq!(feed.entries.len(), 1, "{feed:#?}");
    &feed.entries[0]
}

fn names(e: &Entry) -> Vec<&str> {
    e.authors.iter().map(|a| a.name.as_str()).collect()
}

fn date(s: &str) -> Option<chrono::DateTime<chrono::Utc>> {
    Some(chrono::DateTime::parse_from_rfc3339(s).unwrap().to_utc())
}

// ---- the project's own fixtures -------------------------------------------------------------

#[test]
fn own_api_fixture_current_layout() {
    let feed = parse_feed(&fixture("api-1706.03762.xml")).unwrap();
    assert_eq!(feed.total_results, Some(1));
    let e = one(&feed);
    assert_eq!(e.id.to_string(), "1706.03762v7");
    assert_eq!(e.title, "Attention Is All You Need");
    assert_eq!(names(e).len(), 8);
    assert_eq!(e.authors[0].affiliations, ["Google Brain"]);
    assert_eq!(e.authors[5].name, "Aidan N. Gomez");
    assert_eq!(e.published, date("2017-06-12T17:57:34Z"));
    assert_eq!(e.updated, date("2023-08-02T00:41:18Z"));
    assert_eq!(e.primary_category.as_deref(), Some("cs.CL"));
    assert_eq!(e.categories, ["cs.CL", "cs.LG"]);
    assert_eq!(e.comment.as_deref(), Some("15 pages, 5 figures"));
    assert_eq!(e.abs_url, "https://arxiv.org/abs/1706.03762v7");
    assert_eq!(e.pdf_url, "https://arxiv.org/pdf/1706.03762v7");
    assert!(
        e.summary
            .starts_with("The dominant sequence transduction models")
    );
    assert!(e.summary.ends_with("limited training data."));
}

#[test]
fn own_api_fixture_legacy_layout() {
    let feed = parse_feed(&fixture("api-legacy-1810.04805v2.xml")).unwrap();
    let e = one(&feed);
    assert_eq!(e.id.to_string(), "1810.04805v2");
    assert_eq!(
        e.title,
        "BERT: Pre-training of Deep Bidirectional Transformers for Language Understanding"
    );
    assert_eq!(
        names(e),
        [
            "Jacob Devlin",
            "Ming-Wei Chang",
            "Kenton Lee",
            "Kristina Toutanova"
        ]
    );
    // A PDF link without title="pdf", found by its type; http upgraded to https.
    assert_eq!(e.pdf_url, "https://arxiv.org/pdf/1810.04805v2");
    // Two paragraphs, hard wraps joined.
    let paragraphs: Vec<&str> = e.summary.split("\n\n").collect();
    assert_eq!(paragraphs.len(), 2, "{}", e.summary);
    assert!(paragraphs[0].starts_with(
        "We introduce a new language representation model called BERT, which stands for"
    ));
    assert!(paragraphs[1].starts_with("BERT is conceptually simple"));
    assert_eq!(e.year(), 2018);
}

#[test]
fn own_error_and_empty_fixtures() {
    let err = parse_feed(&fixture("api-error-bad-id.http400.xml")).unwrap_err();
    assert!(
        matches!(&err, Error::Api { message } if message == "incorrect id format for 1706.0376"),
        "{err}"
    );
    let empty = parse_feed(&fixture("api-empty.xml")).unwrap();
    assert_eq!((empty.total_results, empty.entries.len()), (Some(0), 0));
}

fn check_own_daily(feed: &DailyFeed) {
    assert_eq!(feed.title, "cs.CL updates on arXiv.org");
    let first = &feed.items[0];
    assert_eq!(first.id.to_string(), "2005.14165v1");
    assert_eq!(first.announce_type, AnnounceType::New);
    assert_eq!(first.title, "Language Models are Few-Shot Learners");
    assert_eq!(first.authors[0].name, "Tom B. Brown");
    assert!(
        first.summary.starts_with("We demonstrate that scaling up"),
        "{}",
        first.summary
    );
    assert_eq!(first.link, "https://arxiv.org/abs/2005.14165");
}

#[test]
fn own_daily_feeds_rss_and_atom() {
    let rss = parse_daily_feed(&fixture("rss-cs.CL.xml")).unwrap();
    check_own_daily(&rss);
    let types: Vec<&str> = rss.items.iter().map(|i| i.announce_type.as_str()).collect();
    assert_eq!(types, ["new", "cross", "replace", "replace-cross"]);
    assert_eq!(rss.items[1].authors[1].name, "Xiangyu Zhang");
    assert_eq!(
        rss.items[1].authors[1].affiliations,
        ["Microsoft Research, Beijing, China"]
    );
    assert_eq!(
        rss.items[3].doi.as_deref(),
        Some("10.48550/arXiv.2203.15556")
    );
    assert_eq!(rss.items[1].categories, ["cs.CV", "cs.CL"]);

    let atom = parse_daily_feed(&fixture("atom-feed-cs.CL.xml")).unwrap();
    check_own_daily(&atom);
    assert_eq!(atom.items.len(), 2);
    assert_eq!(atom.items[1].announce_type, AnnounceType::Replace);
    assert_eq!(atom.link, "http://rss.arxiv.org/atom/cs.CL");
}

#[test]
fn own_oai_record() {
    let page = parse_oai(&fixture("oai-GetRecord-1706.03762.xml")).unwrap();
    let r = &page.records[0];
    assert_eq!(r.id.to_string(), "1706.03762");
    assert_eq!(r.authors[2].name, "Aidan N. Gomez");
    assert_eq!(r.authors[2].affiliations, ["University of Toronto"]);
    assert_eq!(r.categories, ["cs.CL", "cs.LG"]);
    assert_eq!(
        r.created.map(|d| d.to_string()).as_deref(),
        Some("2017-06-12")
    );
}

// ---- recorded responses of the real services ----------------------------------------------

#[test]
fn recorded_api_2016_layout() {
    let Some(dir) = shared_fixtures() else { return };
    let feed = parse_feed(&read(&dir, "api-2016-legacy-id_list-1111.2011v2.xml")).unwrap();
    assert_eq!(
        (feed.total_results, feed.start_index, feed.items_per_page),
        (Some(1), Some(0), Some(10))
    );
    let e = one(&feed);
    assert_eq!(e.id.to_string(), "1111.2011v2");
    assert_eq!(
        e.title,
        "Quantum Criticality for Extended Nodes on a Bethe Lattice in the Large Connectivity Limit"
    );
    assert_eq!(
        names(e),
        ["James M. Murray", "Adrian Del Maestro", "Zlatko Tesanovic"]
    );
    assert_eq!(e.doi.as_deref(), Some("10.1103/PhysRevB.85.115117"));
    assert_eq!(
        e.comment.as_deref(),
        Some("8 pages, 3 figures. Published version")
    );
    assert_eq!(
        e.journal_ref.as_deref(),
        Some("Phys. Rev. B 85, 115117 (2012)")
    );
    assert_eq!(e.primary_category.as_deref(), Some("cond-mat.str-el"));
    assert_eq!(e.categories, ["cond-mat.str-el", "cond-mat.stat-mech"]);
    assert_eq!(e.published, date("2011-11-08T18:48:36Z"));
    assert_eq!(e.updated, date("2012-04-02T12:38:54Z"));
    assert_eq!(e.abs_url, "https://arxiv.org/abs/1111.2011v2");
    assert_eq!(e.pdf_url, "https://arxiv.org/pdf/1111.2011v2");
    assert!(e.summary.starts_with(
        "Theoretical description of anisotropic systems, such as layered superconductors"
    ));
    assert!(e.summary.ends_with("describing a single node."));
    assert!(!e.summary.contains('\n'));

    let feed = parse_feed(&read(
        &dir,
        "api-2016-legacy-search-au_del_maestro-AND-ti_checkerboard.xml",
    ))
    .unwrap();
    let e = one(&feed);
    assert_eq!(e.id.to_string(), "cond-mat/0603029v1");
    assert!(e.id.is_old_style());
    assert_eq!(
        e.title,
        "From stripe to checkerboard order on the square lattice in the presence of quenched disorder"
    );
    assert_eq!(e.doi.as_deref(), Some("10.1103/PhysRevB.74.024520"));

    let feed = parse_feed(&read(&dir, "api-2016-legacy-search-au_del_maestro.xml")).unwrap();
    assert_eq!((feed.total_results, feed.entries.len()), (Some(31), 10));
    assert_eq!(
        feed.entries[0].title,
        "A Luttinger Liquid Core Inside Helium-4 Filled Nanopores"
    );
    for e in &feed.entries {
        assert!(
            e.authors.iter().any(|a| a.name.contains("Maestro")),
            "{}: {:?}",
            e.id,
            names(e)
        );
    }
}

#[test]
fn recorded_api_2026_layout() {
    let Some(dir) = shared_fixtures() else { return };
    let e = parse_feed(&read(&dir, "api-2026-id_list-1605.08386.xml"))
        .unwrap()
        .entries
        .remove(0);
    assert_eq!(e.id.to_string(), "1605.08386v1");
    assert_eq!(e.title, "Heat-bath random walks with Markov bases");
    assert_eq!(names(&e), ["Caprice Stanley", "Tobias Windisch"]);
    assert_eq!(e.categories, ["math.CO", "math.ST"]);
    assert_eq!(e.comment.as_deref(), Some("20 pages, 3 figures"));
    assert_eq!((e.doi.as_ref(), e.journal_ref.as_ref()), (None, None));
    assert_eq!(e.published, date("2016-05-26T17:59:46Z"));

    let feed = parse_feed(&read(&dir, "api-2026-id_list-1707.08567.xml")).unwrap();
    let e = one(&feed);
    assert_eq!(e.authors.len(), 34);
    assert!(names(e).contains(&"Dirk Wübben"));
    assert_eq!(
        e.title,
        "Proceedings of Workshop AEW10: Concepts in Information Theory and Communications"
    );
    assert_eq!(e.primary_category.as_deref(), Some("cs.IT"));

    // The paper titled "0" keeps its title.
    let feed = parse_feed(&read(&dir, "api-2026-id_list-2104.12255v1.xml")).unwrap();
    let e = one(&feed);
    assert_eq!(
        (e.id.to_string().as_str(), e.title.as_str()),
        ("2104.12255v1", "0")
    );
    assert_eq!(e.comment, None);

    let feed = parse_feed(&read(&dir, "api-2026-id_list-astro-ph_0601001.xml")).unwrap();
    let e = one(&feed);
    assert_eq!(e.id.to_string(), "astro-ph/0601001v1");
    assert_eq!(e.authors[0].affiliations, ["Ohio State"]);
    assert_eq!(e.authors[3].affiliations, ["Warsaw University Observatory"]);
    assert_eq!(e.journal_ref.as_deref(), Some("ActaAstron.56:1-50,2006"));
    assert!(e.summary.contains("Gould & Morgan (2003)") && e.summary.contains("V_max<17.5"));
    assert_eq!(e.pdf_url, "https://arxiv.org/pdf/astro-ph/0601001v1");

    let feed = parse_feed(&read(&dir, "api-2026-id_list-quant-ph_0201082v1.xml")).unwrap();
    assert_eq!(one(&feed).categories, ["quant-ph", "cs.PL"]);

    // Two ids asked, one of them absent.
    let feed = parse_feed(&read(&dir, "api-2026-id_list-0808.05394_1707.08567.xml")).unwrap();
    assert_eq!(one(&feed).id.to_string(), "1707.08567v1");

    let feed = parse_feed(&read(&dir, "api-2026-search-testing-s0-m10.xml")).unwrap();
    assert_eq!((feed.total_results, feed.entries.len()), (Some(214881), 10));
    let e = &feed.entries[0];
    assert_eq!(e.id.to_string(), "2202.12139v1");
    assert_eq!(e.doi.as_deref(), Some("10.1109/ICSTW55395.2022.00035"));
    assert!(
        e.journal_ref
            .as_deref()
            .unwrap()
            .starts_with("Artificial Intelligence in Software Testing")
    );
    assert_eq!(e.categories, ["cs.SE", "cs.LG"]);
    for e in &feed.entries {
        assert!(
            !e.title.is_empty() && e.published.is_some() && e.pdf_url.contains("/pdf/"),
            "{e:?}"
        );
    }
}

#[test]
fn recorded_api_errors_and_absent_ids() {
    let Some(dir) = shared_fixtures() else { return };
    let err = parse_feed(&read(&dir, "api-2026-error-id_list-abc.http400.xml")).unwrap_err();
    assert_eq!(
        err.to_string(),
        "arXiv rejected the request: incorrect id format for abc"
    );
    for absent in [
        "api-2026-id_list-0000.0000.xml",
        "api-2026-id_list-0808.05394.xml",
    ] {
        let feed = parse_feed(&read(&dir, absent)).unwrap();
        assert_eq!(
            (feed.total_results, feed.entries.len()),
            (Some(0), 0),
            "{absent}"
        );
    }
}

#[test]
fn recorded_daily_feeds() {
    let Some(dir) = shared_fixtures() else { return };
    let feed = parse_daily_feed(&read(&dir, "rss-2024-new-cross-replace.TRIMMED.xml")).unwrap();
    let got: Vec<(String, &str)> = feed
        .items
        .iter()
        .map(|i| (i.id.to_string(), i.announce_type.as_str()))
        .collect();
    assert_eq!(
        got,
        [
            ("2411.17700v1".to_string(), "new"),
            ("2202.06515v3".to_string(), "cross"),
            ("1712.07645v2".to_string(), "replace")
        ]
    );
    let cross = &feed.items[1];
    assert_eq!(
        cross.categories,
        ["astro-ph.CO", "astro-ph.GA", "physics.flu-dyn"]
    );
    assert_eq!(cross.doi.as_deref(), Some("10.1063/5.0236964"));
    assert_eq!(
        cross.journal_ref.as_deref(),
        Some("Physics of Fluids 36, 117158 (2024)")
    );
    assert!(
        cross
            .summary
            .starts_with("This paper studies the scale and redshift variation")
    );
    assert_eq!(feed.items[2].authors.len(), 6);
    assert_eq!(
        feed.items[0].title,
        "Exploring the Impact of Generative AI on Cross-Border E-Commerce Brand Building in Chinese Tianjin's Manufacturing Sector"
    );
    assert_eq!(
        feed.items[0].rights.as_deref(),
        Some("http://creativecommons.org/licenses/by/4.0/")
    );
    assert_eq!(feed.date, date("2024-11-28T05:00:00Z"));

    let first3 = parse_daily_feed(&read(&dir, "rss-2024-first3items.TRIMMED.xml")).unwrap();
    let ids: Vec<String> = first3.items.iter().map(|i| i.id.to_string()).collect();
    assert_eq!(ids, ["2411.17700v1", "2411.17701v1", "2411.17702v1"]);

    let empty = parse_daily_feed(&read(&dir, "rss-2024-empty-test.xml")).unwrap();
    assert_eq!(
        (empty.title.as_str(), empty.items.len()),
        ("test updates on arXiv.org", 0)
    );

    let err = parse_daily_feed(&read(&dir, "rss-2024-error-bad-archive.xml")).unwrap_err();
    assert!(
        matches!(&err, Error::Feed(m) if m.starts_with("Bad archive 'astroph'.")),
        "{err}"
    );
}

#[test]
fn recorded_full_daily_feed() {
    let Some(dir) = shared_fixtures() else { return };
    let feed = parse_daily_feed(&read(&dir, "rss-2024-full-all-archives.FULL.xml")).unwrap();
    assert_eq!(feed.items.len(), 1504);
    let count = |t: AnnounceType| feed.items.iter().filter(|i| i.announce_type == t).count();
    assert_eq!(
        (
            count(AnnounceType::New),
            count(AnnounceType::Cross),
            count(AnnounceType::Replace)
        ),
        (926, 9, 569)
    );
    assert!(
        feed.items
            .iter()
            .all(|i| !i.title.is_empty() && !i.authors.is_empty() && !i.categories.is_empty())
    );
}

#[test]
fn recorded_oai_pmh() {
    let Some(dir) = shared_fixtures() else { return };
    let page = parse_oai(&read(&dir, "oai-2018-GetRecord-arXiv-1401.2122.xml")).unwrap();
    assert_eq!(page.resumption_token, None);
    let r = &page.records[0];
    assert_eq!(r.id.to_string(), "1401.2122");
    assert_eq!(
        r.title,
        "New integrable (3+1)-dimensional systems and contact geometry"
    );
    assert_eq!(r.authors[0].name, "A. Sergyeyev");
    assert_eq!(
        r.categories,
        [
            "math.AP", "hep-th", "math-ph", "math.DG", "math.MP", "nlin.SI"
        ]
    );
    assert_eq!(r.doi.as_deref(), Some("10.1007/s11005-017-1013-4"));
    assert_eq!(
        r.journal_ref.as_deref(),
        Some("Lett. Math. Phys. 108 (2018), no. 2, 359-376")
    );
    assert_eq!(
        r.sets,
        ["math", "physics:hep-th", "physics:math-ph", "physics:nlin"]
    );
    assert_eq!(
        r.created.map(|d| d.to_string()).as_deref(),
        Some("2014-01-09")
    );
    assert_eq!(
        r.updated.map(|d| d.to_string()).as_deref(),
        Some("2017-10-23")
    );
    assert_eq!(r.summary.split("\n\n").count(), 2);
    assert!(
        r.comments
            .as_deref()
            .unwrap()
            .starts_with("16 pages, LaTeX, no figures")
    );

    let page = parse_oai(&read(&dir, "oai-2018-ListRecords-arXiv-physics_hep-th.xml")).unwrap();
    let ids: Vec<String> = page.records.iter().map(|r| r.id.to_string()).collect();
    assert_eq!(ids, ["1412.8323", "1507.07790", "1607.01710"]);
    assert_eq!(page.records[2].authors.len(), 5);
    assert_eq!(page.records[0].authors[0].name, "Philipp A Hoehn");
}

/// Every recorded file parses with the parser of its kind (or is an expected error feed).
#[test]
fn every_recorded_response_parses() {
    let Some(dir) = shared_fixtures() else { return };
    let mut checked = 0;
    for file in std::fs::read_dir(&dir).unwrap() {
        let path = file.unwrap().path();
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        if !name.ends_with(".xml") {
            continue;
        }
        let text = std::fs::read_to_string(&path).unwrap();
        let is_error = name.contains("error");
        let outcome: Result<(), Error> = if name.starts_with("api-") {
            parse_feed(&text).map(drop)
        } else if name.starts_with("rss-") {
            parse_daily_feed(&text).map(drop)
        } else if name.starts_with("oai-") {
            parse_oai(&text).map(drop)
        } else {
            continue;
        };
        assert_eq!(outcome.is_err(), is_error, "{name}: {outcome:?}");
        checked += 1;
    }
    assert!(checked >= 19, "only {checked} recorded responses found");
}
