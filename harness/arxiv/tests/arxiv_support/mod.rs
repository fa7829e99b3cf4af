//! Shared helpers of the arXiv tests: a scripted HTTP server on 127.0.0.1 that records when each
//! request arrived, feed builders, fixture paths and a client configured for speed.

#![allow(dead_code)] // each test file uses a different part

use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use repro_arxiv::ClientConfig;
use repro_arxiv::cache::Cache;
use repro_arxiv::client::RetryPolicy;

/// The project's own fixtures.
pub fn fixture(name: &str) -> String {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/arxiv")
        .join(name);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("reading {}: {e}", path.display()))
}

/// Recorded real responses, outside the repository; `None` (with a note) when absent.
pub fn shared_fixtures() -> Option<PathBuf> {
    let dir = PathBuf::from(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../shared/fixtures/arxiv"
    ));
    if dir.is_dir() {
        Some(dir)
    } else {
        eprintln!(
            "note: {} is absent; conformance with recorded responses skipped",
            dir.display()
        );
        None
    }
}

/// One request as the server saw it.
#[derive(Debug, Clone)]
pub struct Hit {
    pub at: Instant,
    pub url: String,
    pub user_agent: String,
}

impl Hit {
    /// A query parameter's (decoded) value.
    pub fn param(&self, name: &str) -> Option<String> {
        let query = self.url.split_once('?')?.1;
        query.split('&').find_map(|pair| {
            let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
            (k == name).then(|| decode(v))
        })
    }
}

fn decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < bytes.len() => {
                let hex = std::str::from_utf8(&bytes[i + 1..i + 3]).unwrap_or("00");
                out.push(u8::from_str_radix(hex, 16).unwrap_or(b'?'));
                i += 2;
            }
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// What the server answers.
pub struct Reply {
    pub status: u16,
    pub body: String,
    pub headers: Vec<(String, String)>,
}

impl Reply {
    pub fn ok(body: impl Into<String>) -> Self {
        Reply {
            status: 200,
            body: body.into(),
            headers: vec![],
        }
    }
    pub fn status(status: u16, body: impl Into<String>) -> Self {
        Reply {
            status,
            body: body.into(),
            headers: vec![],
        }
    }
    pub fn header(mut self, name: &str, value: &str) -> Self {
        self.headers.push((name.to_string(), value.to_string()));
        self
    }
}

/// A scripted server; the handler gets the request's number (0-based) and the request.
pub struct TestServer {
    pub base: String,
    server: Arc<tiny_http::Server>,
    hits: Arc<Mutex<Vec<Hit>>>,
    thread: Option<JoinHandle<()>>,
}

impl TestServer {
    pub fn start(handler: impl Fn(usize, &Hit) -> Reply + Send + 'static) -> Self {
        let server = Arc::new(tiny_http::Server::http("127.0.0.1:0").expect("binding 127.0.0.1"));
        let port = server.server_addr().to_ip().expect("an IP address").port();
        let hits = Arc::new(Mutex::new(Vec::new()));
        let (s, h) = (server.clone(), hits.clone());
        let thread = std::thread::spawn(move || {
            for request in s.incoming_requests() {
                let hit = Hit {
                    at: Instant::now(),
                    url: request.url().to_string(),
                    user_agent: request
                        .headers()
                        .iter()
                        .find(|h| h.field.equiv("User-Agent"))
                        .map(|h| h.value.to_string())
                        .unwrap_or_default(),
                };
                let n = {
                    let mut hits = h.lock().unwrap();
                    hits.push(hit.clone());
                    hits.len() - 1
                };
                let reply = handler(n, &hit);
                let mut response =
                    tiny_http::Response::from_string(reply.body).with_status_code(reply.status);
                for (k, v) in reply.headers {
                    response.add_header(
                        tiny_http::Header::from_bytes(k.as_bytes(), v.as_bytes()).unwrap(),
                    );
                }
                let _ = request.respond(response);
            }
        });
        TestServer {
            base: format!("http://127.0.0.1:{port}"),
            server,
            hits,
            thread: Some(thread),
        }
    }

    /// A server that answers every request with the same body.
    pub fn always(body: String) -> Self {
        Self::start(move |_, _| Reply::ok(body.clone()))
    }

    pub fn api_url(&self) -> String {
        format!("{}/api/query", self.base)
    }

    pub fn hits(&self) -> Vec<Hit> {
        self.hits.lock().unwrap().clone()
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        self.server.unblock();
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// A client configuration for tests: the given endpoint, no throttle, fast retries, no cache.
pub fn fast_config(api_url: &str) -> ClientConfig {
    ClientConfig {
        api_url: api_url.to_string(),
        rss_url: api_url.trim_end_matches("/api/query").to_string(),
        min_interval: Duration::ZERO,
        retry: RetryPolicy {
            max_retries: 3,
            base_delay: Duration::from_millis(20),
            max_delay: Duration::from_millis(100),
            max_retry_after: Duration::from_secs(5),
            empty_page_retries: 2,
        },
        cache: None,
        stamp_file: None,
        timeout: Duration::from_secs(10),
        page_size: 100,
        ..ClientConfig::default()
    }
}

/// A cache in `dir`.
pub fn cache_in(dir: &std::path::Path, ttl: Duration) -> Option<Cache> {
    Some(Cache::new(dir.join("cache"), ttl))
}

/// One API entry in the current layout.
pub fn entry_xml(id: &str, title: &str, updated: &str) -> String {
    let base = id.split('v').next().unwrap_or(id);
    format!(
        r#"  <entry>
    <id>http://arxiv.org/abs/{id}</id>
    <title>{title}</title>
    <updated>{updated}</updated>
    <link href="https://arxiv.org/abs/{id}" rel="alternate" type="text/html"/>
    <link href="https://arxiv.org/pdf/{id}" rel="related" type="application/pdf" title="pdf"/>
    <summary>Abstract of {base}.</summary>
    <category term="cs.CL" scheme="http://arxiv.org/schemas/atom"/>
    <published>2024-01-01T00:00:00Z</published>
    <arxiv:primary_category term="cs.CL"/>
    <author>
      <name>Ada Lovelace</name>
    </author>
  </entry>
"#
    )
}

/// A feed page in the current layout.
pub fn feed_xml(total: u64, start: u64, entries: &[String]) -> String {
    format!(
        r#"<?xml version='1.0' encoding='UTF-8'?>
<feed xmlns:opensearch="http://a9.com/-/spec/opensearch/1.1/" xmlns:arxiv="http://arxiv.org/schemas/atom" xmlns="http://www.w3.org/2005/Atom">
  <id>https://arxiv.org/api/test</id>
  <title>arXiv Query</title>
  <updated>2026-01-05T12:00:00Z</updated>
  <opensearch:itemsPerPage>{}</opensearch:itemsPerPage>
  <opensearch:totalResults>{total}</opensearch:totalResults>
  <opensearch:startIndex>{start}</opensearch:startIndex>
{}</feed>
"#,
        entries.len(),
        entries.concat()
    )
}

/// A page of a search with `total` results named `2401.NNNNN`, answering the request's
/// `start`/`max_results`.
pub fn paged_reply(total: u64, hit: &Hit) -> Reply {
    let start: u64 = hit.param("start").and_then(|s| s.parse().ok()).unwrap_or(0);
    let max: u64 = hit
        .param("max_results")
        .and_then(|s| s.parse().ok())
        .unwrap_or(10);
    let end = (start + max).min(total);
    let entries: Vec<String> = (start..end)
        .map(|i| {
            entry_xml(
                &format!("2401.{:05}v1", i + 1),
                &format!("Paper {}", i + 1),
                "2024-01-02T00:00:00Z",
            )
        })
        .collect();
    Reply::ok(feed_xml(total, start, &entries))
}
