//! The client against a local HTTP server: paging, retries, Retry-After, the 400 error feed,
//! empty pages, duplicates, the throttle (request times measured at the server) and the cache.

mod arxiv_support;

use std::io::{Read, Write};
use std::net::TcpListener;
use std::time::Duration;

use arxiv_support::{
    Reply, TestServer, cache_in, entry_xml, fast_config, feed_xml, fixture, paged_reply,
};
use repro_arxiv::{ArxivId, Client, Error, SearchRequest, SortBy, SortOrder};

fn search(max: usize) -> SearchRequest {
    SearchRequest {
        query: "cat:cs.CL".into(),
        max_results: max,
        sort_by: SortBy::Submitted,
        sort_order: SortOrder::Descending,
    }
}

fn id(s: &str) -> ArxivId {
    ArxivId::parse(s).unwrap()
}

fn starts(server: &TestServer) -> Vec<(String, String)> {
    server
        .hits()
        .iter()
        .map(|h| {
            (
                h.param("start").unwrap_or_default(),
                h.param("max_results").unwrap_or_default(),
            )
        })
        .collect()
}

#[test]
fn paging_walks_pages_up_to_total_results() {
    let server = TestServer::start(|_, hit| paged_reply(250, hit));
    let mut client = Client::new(fast_config(&server.api_url())).unwrap();
    let results = client.search(&search(1000)).unwrap();
    assert_eq!(results.total_results, 250);
    assert_eq!(results.entries.len(), 250);
    assert_eq!(results.entries[249].id.to_string(), "2401.00250v1");
    let pages: Vec<(String, String)> = starts(&server);
    assert_eq!(
        pages,
        [
            ("0".into(), "100".into()),
            ("100".into(), "100".into()),
            ("200".into(), "100".into())
        ]
    );
    let first = &server.hits()[0];
    assert_eq!(first.param("search_query").as_deref(), Some("cat:cs.CL"));
    assert_eq!(first.param("sortBy").as_deref(), Some("submittedDate"));
    assert_eq!(first.param("sortOrder").as_deref(), Some("descending"));
}

#[test]
fn paging_stops_at_max_and_caps_pages_at_2000() {
    let server = TestServer::start(|_, hit| paged_reply(10_000, hit));
    let mut client = Client::new(fast_config(&server.api_url())).unwrap();
    assert_eq!(client.search(&search(150)).unwrap().entries.len(), 150);
    assert_eq!(
        starts(&server),
        [("0".into(), "100".into()), ("100".into(), "50".into())]
    );

    let server = TestServer::start(|_, hit| paged_reply(10_000, hit));
    let mut config = fast_config(&server.api_url());
    config.page_size = 5000;
    let mut client = Client::new(config).unwrap();
    assert_eq!(client.search(&search(2500)).unwrap().entries.len(), 2500);
    assert_eq!(
        starts(&server),
        [("0".into(), "2000".into()), ("2000".into(), "500".into())]
    );
}

#[test]
fn duplicates_across_pages_are_dropped() {
    // Page 2 repeats the last entry of page 1, as the API's unstable paging does.
    let server = TestServer::start(|_, hit| {
        let start: u64 = hit.param("start").unwrap().parse().unwrap();
        let ids: Vec<u64> = if start == 0 {
            vec![1, 2, 3]
        } else {
            vec![3, 4]
        };
        let entries: Vec<String> = ids
            .iter()
            .map(|i| {
                entry_xml(
                    &format!("2401.{i:05}v1"),
                    &format!("P{i}"),
                    "2024-01-02T00:00:00Z",
                )
            })
            .collect();
        Reply::ok(feed_xml(5, start, &entries))
    });
    let mut config = fast_config(&server.api_url());
    config.page_size = 3;
    let mut client = Client::new(config).unwrap();
    let got: Vec<String> = client
        .search(&search(10))
        .unwrap()
        .entries
        .iter()
        .map(|e| e.id.to_string())
        .collect();
    assert_eq!(
        got,
        [
            "2401.00001v1",
            "2401.00002v1",
            "2401.00003v1",
            "2401.00004v1"
        ]
    );
    assert_eq!(server.hits().len(), 2);
}

#[test]
fn unexpectedly_empty_page_is_asked_again() {
    let server = TestServer::start(|n, hit| {
        // The second request (offset 100) comes back empty once.
        if n == 1 {
            Reply::ok(feed_xml(150, 100, &[]))
        } else {
            paged_reply(150, hit)
        }
    });
    let mut client = Client::new(fast_config(&server.api_url())).unwrap();
    assert_eq!(client.search(&search(500)).unwrap().entries.len(), 150);
    assert_eq!(
        starts(&server)
            .iter()
            .map(|s| s.0.as_str())
            .collect::<Vec<_>>(),
        ["0", "100", "100"]
    );
}

#[test]
fn persistently_empty_page_keeps_what_was_fetched_and_warns() {
    let server = TestServer::start(|_, hit| {
        if hit.param("start").as_deref() == Some("0") {
            paged_reply(150, hit)
        } else {
            Reply::ok(feed_xml(150, 100, &[]))
        }
    });
    let mut log = Vec::new();
    let mut client =
        Client::with_log(fast_config(&server.api_url()), |l| log.push(l.to_string())).unwrap();
    assert_eq!(client.search(&search(500)).unwrap().entries.len(), 100);
    drop(client);
    assert_eq!(
        server.hits().len(),
        1 + 3,
        "one page, then the empty one three times"
    );
    assert!(
        log.iter().any(|l| l.contains("empty page at offset 100")),
        "{log:?}"
    );
}

#[test]
fn a_query_without_results_is_not_retried() {
    let server = TestServer::always(feed_xml(0, 0, &[]));
    let mut client = Client::new(fast_config(&server.api_url())).unwrap();
    let results = client.search(&search(10)).unwrap();
    assert_eq!(
        (
            results.total_results,
            results.entries.len(),
            server.hits().len()
        ),
        (0, 0, 1)
    );
}

#[test]
fn retries_503_and_429_honouring_retry_after() {
    let ok = fixture("api-1706.03762.xml");
    let server = TestServer::start(move |n, _| match n {
        0 => Reply::status(503, "busy").header("Retry-After", "1"),
        1 => Reply::status(429, "slow down"),
        _ => Reply::ok(ok.clone()),
    });
    let mut log = Vec::new();
    let mut client =
        Client::with_log(fast_config(&server.api_url()), |l| log.push(l.to_string())).unwrap();
    let entry = client.fetch(&id("1706.03762")).unwrap();
    drop(client);
    assert_eq!(entry.title, "Attention Is All You Need");
    let hits = server.hits();
    assert_eq!(hits.len(), 3);
    let gap = hits[1].at - hits[0].at;
    assert!(
        gap >= Duration::from_secs(1),
        "Retry-After: 1 not honoured: {gap:?}"
    );
    assert!(
        hits[2].at - hits[1].at >= Duration::from_millis(10),
        "no backoff after 429"
    );
    assert!(
        log[0].starts_with("HTTP 503") && log[0].contains("retrying in 1.0s (retry 1 of 3)"),
        "{log:?}"
    );
}

#[test]
fn server_errors_give_up_after_the_retries() {
    let server =
        TestServer::start(|_, _| Reply::status(500, "<html><body>Internal error</body></html>"));
    let mut client = Client::new(fast_config(&server.api_url())).unwrap();
    let err = client.fetch(&id("1706.03762")).unwrap_err();
    assert!(matches!(err, Error::Http { status: 500, .. }), "{err}");
    assert_eq!(server.hits().len(), 4, "first attempt + 3 retries");
}

#[test]
fn a_retry_after_beyond_the_limit_fails_at_once() {
    let server = TestServer::start(|_, _| Reply::status(503, "").header("Retry-After", "3600"));
    let mut client = Client::new(fast_config(&server.api_url())).unwrap();
    let err = client.fetch(&id("1706.03762")).unwrap_err();
    assert!(err.to_string().contains("retry after 3600s"), "{err}");
    assert_eq!(server.hits().len(), 1);
}

#[test]
fn http_400_error_feed_becomes_a_clear_message_without_retry() {
    let server =
        TestServer::start(|_, _| Reply::status(400, fixture("api-error-bad-id.http400.xml")));
    let mut client = Client::new(fast_config(&server.api_url())).unwrap();
    let err = client.search(&search(10)).unwrap_err();
    assert_eq!(
        err.to_string(),
        "arXiv rejected the request: incorrect id format for 1706.0376"
    );
    assert_eq!(server.hits().len(), 1);
}

#[test]
fn other_client_errors_show_the_page_text() {
    let server = TestServer::start(|_, _| Reply::status(404, "<html><h1>Not Found</h1></html>"));
    let mut client = Client::new(fast_config(&server.api_url())).unwrap();
    let err = client.search(&search(10)).unwrap_err().to_string();
    assert!(
        err.starts_with("HTTP 404 from http://127.0.0.1:") && err.ends_with(": Not Found"),
        "{err}"
    );
}

#[test]
fn a_valid_but_absent_id_is_not_found() {
    let server = TestServer::always(fixture("api-empty.xml"));
    let mut client = Client::new(fast_config(&server.api_url())).unwrap();
    let err = client.fetch(&id("2312.99999")).unwrap_err();
    assert_eq!(err.to_string(), "not found on arXiv: 2312.99999");
    let lookup = client
        .lookup(&[id("2312.99999"), id("2312.99998v2")])
        .unwrap();
    assert_eq!(lookup.missing.len(), 2);
    assert_eq!(
        server.hits()[1].param("id_list").as_deref(),
        Some("2312.99999,2312.99998v2")
    );
}

#[test]
fn lookup_keeps_the_order_asked_and_reports_missing_ids() {
    let body = feed_xml(
        2,
        0,
        &[
            entry_xml("2401.00002v3", "Two", "2024-02-01T00:00:00Z"),
            entry_xml("2401.00001v1", "One", "2024-01-01T00:00:00Z"),
        ],
    );
    let server = TestServer::always(body);
    let mut client = Client::new(fast_config(&server.api_url())).unwrap();
    let lookup = client
        .lookup(&[id("2401.00001"), id("2401.00003"), id("2401.00002v3")])
        .unwrap();
    let found: Vec<String> = lookup.found.iter().map(|e| e.id.to_string()).collect();
    assert_eq!(found, ["2401.00001v1", "2401.00002v3"]);
    assert_eq!(lookup.missing, [id("2401.00003")]);
}

#[test]
fn requests_are_spaced_by_the_minimum_interval() {
    let interval = Duration::from_millis(200);
    let server = TestServer::start(|_, hit| paged_reply(5, hit));
    let mut config = fast_config(&server.api_url());
    config.min_interval = interval;
    config.page_size = 1;
    let mut client = Client::new(config).unwrap();
    assert_eq!(client.search(&search(5)).unwrap().entries.len(), 5);
    let hits = server.hits();
    assert_eq!(hits.len(), 5);
    for pair in hits.windows(2) {
        let gap = pair[1].at - pair[0].at;
        assert!(
            gap >= interval,
            "requests {gap:?} apart, less than {interval:?}"
        );
    }
}

#[test]
fn the_interval_holds_across_clients_through_the_stamp_file() {
    let interval = Duration::from_millis(300);
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::always(fixture("api-1706.03762.xml"));
    for _ in 0..2 {
        // A fresh client each time, as a new `repro` process would be.
        let mut config = fast_config(&server.api_url());
        config.min_interval = interval;
        config.stamp_file = Some(dir.path().join("last-request"));
        Client::new(config)
            .unwrap()
            .fetch(&id("1706.03762"))
            .unwrap();
    }
    let hits = server.hits();
    assert!(
        hits[1].at - hits[0].at >= interval,
        "{:?}",
        hits[1].at - hits[0].at
    );
}

#[test]
fn user_agent_is_descriptive() {
    let server = TestServer::always(fixture("api-1706.03762.xml"));
    Client::new(fast_config(&server.api_url()))
        .unwrap()
        .fetch(&id("1706.03762"))
        .unwrap();
    let ua = &server.hits()[0].user_agent;
    assert!(ua.starts_with("repro/") && ua.contains("+http"), "{ua}");
}

#[test]
fn id_lookups_are_cached_for_the_ttl() {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::always(fixture("api-1706.03762.xml"));
    let run = |ttl: Duration| {
        let mut config = fast_config(&server.api_url());
        config.cache = cache_in(dir.path(), ttl);
        Client::new(config)
            .unwrap()
            .fetch(&id("1706.03762"))
            .unwrap()
    };
    let first = run(Duration::from_secs(3600));
    let second = run(Duration::from_secs(3600));
    assert_eq!(first, second);
    assert_eq!(
        server.hits().len(),
        1,
        "the second look-up came from the cache"
    );
    run(Duration::ZERO);
    assert_eq!(server.hits().len(), 2, "an expired entry is fetched again");
}

#[test]
fn not_found_answers_are_not_cached() {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::always(fixture("api-empty.xml"));
    for _ in 0..2 {
        let mut config = fast_config(&server.api_url());
        config.cache = cache_in(dir.path(), Duration::from_secs(3600));
        assert!(
            Client::new(config)
                .unwrap()
                .fetch(&id("2312.99999"))
                .is_err()
        );
    }
    assert_eq!(server.hits().len(), 2);
}

#[test]
fn dropped_connections_are_retried() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let body = fixture("api-1706.03762.xml");
    let server = std::thread::spawn(move || {
        for n in 0..2 {
            let (mut stream, _) = listener.accept().unwrap();
            let mut buf = [0u8; 4096];
            let _ = stream.read(&mut buf);
            if n == 0 {
                drop(stream); // hang up without an answer
                continue;
            }
            let head = format!(
                "HTTP/1.1 200 OK\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                body.len()
            );
            stream.write_all(head.as_bytes()).unwrap();
            stream.write_all(body.as_bytes()).unwrap();
        }
    });
    let mut log = Vec::new();
    let url = format!("http://127.0.0.1:{port}/api/query");
    let mut client = Client::with_log(fast_config(&url), |l| log.push(l.to_string())).unwrap();
    assert_eq!(
        client.fetch(&id("1706.03762")).unwrap().id.to_string(),
        "1706.03762v7"
    );
    drop(client);
    server.join().unwrap();
    assert!(
        log[0].starts_with("could not reach http://127.0.0.1"),
        "{log:?}"
    );
}

#[test]
fn an_unreachable_server_is_a_network_error() {
    // Port 1 (tcpmux): outside the ephemeral range the other tests' servers are given, so no
    // concurrent test can be listening there. (Binding then freeing a port raced with them: a
    // server started meanwhile got the freed port, answered "not found", and counted a hit.)
    let mut client = Client::new(fast_config("http://127.0.0.1:1/api/query")).unwrap();
    let err = client.fetch(&id("1706.03762")).unwrap_err();
    assert!(matches!(err, Error::Network { .. }), "{err}");
}

#[test]
fn daily_feed_and_its_error_channel() {
    let server = TestServer::start(|_, hit| {
        if hit.url == "/rss/cs.CL+cs.LG" {
            Reply::ok(fixture("rss-cs.CL.xml"))
        } else {
            let error_channel = fixture("rss-cs.CL.xml")
                .replace(
                    "<title>cs.CL updates on arXiv.org</title>",
                    "<title>Feed error for query: http://rss.arxiv.org/rss/csCL</title>",
                )
                .replace(
                    "<description>cs.CL updates on the arXiv.org e-print archive.</description>",
                    "<description>Bad archive 'csCL'.</description>",
                );
            Reply::ok(error_channel)
        }
    });
    let mut client = Client::new(fast_config(&server.api_url())).unwrap();
    let feed = client
        .daily_feed(&["cs.CL".into(), "cs.LG".into()])
        .unwrap();
    assert_eq!(feed.items.len(), 4);
    let err = client.daily_feed(&["csCL".into()]).unwrap_err();
    assert_eq!(
        err.to_string(),
        "the arXiv feed rejected the request: Bad archive 'csCL'."
    );
}
