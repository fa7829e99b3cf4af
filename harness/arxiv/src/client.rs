//! The HTTP client, under arXiv's terms of use (<https://info.arxiv.org/help/api/tou.html>).
//!
//! - At most one request every 3 s ([`ClientConfig::min_interval`]), counted from the end of the
//!   previous request, so the gap the server sees is never shorter; across processes too, through
//!   a stamp file in the cache directory. One connection (requests are sequential and the pool
//!   keeps one idle connection). A descriptive User-Agent.
//! - Retries on 429, 5xx and transport errors, with exponential backoff and jitter, honouring
//!   `Retry-After` (seconds or an HTTP date) up to a limit.
//! - Paging up to `totalResults` in pages of at most 2000; an unexpectedly empty page is asked for
//!   again; entries repeated across pages are dropped.
//! - A malformed request's HTTP 400 error feed becomes [`Error::Api`]; ids that arXiv does not have
//!   are reported as missing.
//! - Id look-ups go through the response [`Cache`]; searches, tracking and the daily feed do not.

use std::collections::HashSet;
use std::path::PathBuf;
use std::time::{Duration, Instant, SystemTime};

use reqwest::Url;
use reqwest::header::RETRY_AFTER;

use super::atom::{self, Feed};
use super::cache::Cache;
use super::entry::Entry;
use super::error::Error;
use super::id::ArxivId;
pub use super::retry::RetryPolicy;
use super::retry::parse_retry_after;
use super::rss::{self, DailyFeed};

/// The query API.
pub const DEFAULT_API_URL: &str = "https://export.arxiv.org/api/query";
/// The daily feed service.
pub const DEFAULT_RSS_URL: &str = "https://rss.arxiv.org";
/// arXiv's terms: no more than one request every three seconds.
pub const ARXIV_MIN_INTERVAL: Duration = Duration::from_secs(3);
/// The API's largest page.
pub const MAX_PAGE_SIZE: usize = 2000;

/// Everything the client needs to know.
#[derive(Debug, Clone)]
pub struct ClientConfig {
    /// The query endpoint (`https://export.arxiv.org/api/query`).
    pub api_url: String,
    /// The daily feed service root (`https://rss.arxiv.org`).
    pub rss_url: String,
    /// Sent with every request.
    pub user_agent: String,
    /// Least time between the end of one request and the start of the next.
    pub min_interval: Duration,
    /// Retry behaviour.
    pub retry: RetryPolicy,
    /// Response cache for id look-ups; `None` disables it.
    pub cache: Option<Cache>,
    /// A file whose modification time marks this machine's last request, so that separate runs
    /// keep the interval too; `None` limits the throttle to this process.
    pub stamp_file: Option<PathBuf>,
    /// Per-request timeout.
    pub timeout: Duration,
    /// Results asked for per page (at most 2000).
    pub page_size: usize,
}

impl Default for ClientConfig {
    fn default() -> Self {
        ClientConfig {
            api_url: DEFAULT_API_URL.to_string(),
            rss_url: DEFAULT_RSS_URL.to_string(),
            user_agent: default_user_agent(),
            min_interval: ARXIV_MIN_INTERVAL,
            retry: RetryPolicy::default(),
            cache: None,
            stamp_file: None,
            timeout: Duration::from_secs(60),
            page_size: 100,
        }
    }
}

/// `repro/0.1.0 (arXiv harness of the repro paper-reproduction suite; +https://github.com/…)`.
pub fn default_user_agent() -> String {
    let repository = match env!("CARGO_PKG_REPOSITORY") {
        "" => "https://github.com/repro-llm/repro",
        url => url,
    };
    format!(
        "repro/{} (arXiv harness of the repro paper-reproduction suite; +{repository})",
        env!("CARGO_PKG_VERSION")
    )
}

/// How the API orders results.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum SortBy {
    /// Best match first.
    Relevance,
    /// By date of the latest version.
    Updated,
    /// By date of v1.
    Submitted,
}

impl SortBy {
    fn as_param(self) -> &'static str {
        match self {
            SortBy::Relevance => "relevance",
            SortBy::Updated => "lastUpdatedDate",
            SortBy::Submitted => "submittedDate",
        }
    }
}

/// Ascending or descending.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum SortOrder {
    /// Newest (or best) first.
    Descending,
    /// Oldest first.
    Ascending,
}

/// A search of the query API.
#[derive(Debug, Clone)]
pub struct SearchRequest {
    /// `search_query` in the API's syntax (`ti:transformer AND cat:cs.CL`).
    pub query: String,
    /// Stop after this many results.
    pub max_results: usize,
    /// Order.
    pub sort_by: SortBy,
    /// Direction.
    pub sort_order: SortOrder,
}

/// What a search found.
#[derive(Debug, Clone, PartialEq)]
pub struct SearchResults {
    /// How many results arXiv has for the query in all.
    pub total_results: u64,
    /// The results fetched, without duplicates.
    pub entries: Vec<Entry>,
}

/// Ids looked up: those found (in the order asked) and those arXiv does not have.
#[derive(Debug, Clone, PartialEq)]
pub struct Lookup {
    /// Entries found, in the order asked.
    pub found: Vec<Entry>,
    /// Ids arXiv answered nothing for.
    pub missing: Vec<ArxivId>,
}

/// A client of the arXiv API and daily feed. Sequential by design (`&mut self`).
pub struct Client<'a> {
    config: ClientConfig,
    http: reqwest::blocking::Client,
    last_request_end: Option<Instant>,
    log: Box<dyn FnMut(&str) + 'a>,
}

impl<'a> Client<'a> {
    /// A client that reports retries and waits nowhere.
    pub fn new(config: ClientConfig) -> Result<Self, Error> {
        Client::with_log(config, |_| {})
    }

    /// A client that reports retries and long waits through `log` (one line each).
    pub fn with_log(config: ClientConfig, log: impl FnMut(&str) + 'a) -> Result<Self, Error> {
        for (what, url) in [("API", &config.api_url), ("feed", &config.rss_url)] {
            Url::parse(url)
                .map_err(|e| Error::Config(format!("invalid arXiv {what} URL `{url}`: {e}")))?;
        }
        let mut builder = reqwest::blocking::Client::builder()
            .user_agent(config.user_agent.clone())
            .timeout(config.timeout)
            .connect_timeout(Duration::from_secs(15))
            .pool_max_idle_per_host(1);
        if [&config.api_url, &config.rss_url]
            .iter()
            .all(|u| is_loopback(u))
        {
            builder = builder.no_proxy();
        }
        let http = builder
            .build()
            .map_err(|e| Error::Config(format!("cannot build the HTTP client: {e}")))?;
        Ok(Client {
            config,
            http,
            last_request_end: None,
            log: Box::new(log),
        })
    }

    /// The configuration in use.
    pub fn config(&self) -> &ClientConfig {
        &self.config
    }

    /// The API URL of one page of a search or id look-up.
    pub fn query_url(
        &self,
        search_query: &str,
        id_list: &[ArxivId],
        start: u64,
        max: usize,
        sort: Option<(SortBy, SortOrder)>,
    ) -> Result<String, Error> {
        let mut url = Url::parse(&self.config.api_url).map_err(|e| {
            Error::Config(format!(
                "invalid arXiv API URL `{}`: {e}",
                self.config.api_url
            ))
        })?;
        {
            let mut q = url.query_pairs_mut();
            q.append_pair("search_query", search_query);
            let ids: Vec<String> = id_list.iter().map(ToString::to_string).collect();
            q.append_pair("id_list", &ids.join(","));
            q.append_pair("start", &start.to_string());
            q.append_pair("max_results", &max.to_string());
            if let Some((by, order)) = sort {
                q.append_pair("sortBy", by.as_param());
                q.append_pair(
                    "sortOrder",
                    if order == SortOrder::Ascending {
                        "ascending"
                    } else {
                        "descending"
                    },
                );
            }
        }
        Ok(url.into())
    }

    /// Looks ids up (any number; at most 2000 per request), through the cache.
    pub fn lookup(&mut self, ids: &[ArxivId]) -> Result<Lookup, Error> {
        let mut found_all = Vec::new();
        for chunk in ids.chunks(MAX_PAGE_SIZE) {
            let url = self.query_url("", chunk, 0, chunk.len(), None)?;
            let cached = self.config.cache.as_ref().and_then(|c| c.get(&url));
            let feed = match cached.as_deref().map(atom::parse_feed) {
                Some(Ok(feed)) => feed,
                _ => {
                    let body = self.get(&url)?;
                    let feed = atom::parse_feed(&body)?;
                    if !feed.entries.is_empty()
                        && let Some(cache) = &self.config.cache
                        && let Err(e) = cache.put(&url, &body)
                    {
                        (self.log)(&format!("note: response not cached: {e}"));
                    }
                    feed
                }
            };
            found_all.extend(feed.entries);
        }
        let mut found = Vec::new();
        let mut missing = Vec::new();
        for id in ids {
            let hit = found_all.iter().find(|e| {
                e.id.base() == id.base()
                    && (id.version().is_none() || e.id.version() == id.version())
            });
            match hit {
                Some(e) if !found.iter().any(|f: &Entry| f.id == e.id) => found.push(e.clone()),
                Some(_) => {}
                None => missing.push(id.clone()),
            }
        }
        Ok(Lookup { found, missing })
    }

    /// Looks one id up; [`Error::NotFound`] when arXiv does not have it.
    pub fn fetch(&mut self, id: &ArxivId) -> Result<Entry, Error> {
        let lookup = self.lookup(std::slice::from_ref(id))?;
        lookup
            .found
            .into_iter()
            .next()
            .ok_or_else(|| Error::NotFound(vec![id.to_string()]))
    }

    /// Runs a search, paging up to `max_results` or `totalResults`.
    pub fn search(&mut self, request: &SearchRequest) -> Result<SearchResults, Error> {
        self.search_while(request, |_| true)
    }

    /// Runs a search and stops at the first entry for which `keep` returns false (that entry and
    /// the rest are dropped): with results sorted by date, "until older than the last check".
    pub fn search_while(
        &mut self,
        request: &SearchRequest,
        mut keep: impl FnMut(&Entry) -> bool,
    ) -> Result<SearchResults, Error> {
        let page_size = self.config.page_size.clamp(1, MAX_PAGE_SIZE);
        let sort = Some((request.sort_by, request.sort_order));
        let mut seen = HashSet::new();
        let mut entries = Vec::new();
        let mut total: Option<u64> = None;
        let mut start: u64 = 0;
        'pages: while entries.len() < request.max_results {
            if total.is_some_and(|t| start >= t) {
                break;
            }
            let want = page_size.min(request.max_results - entries.len());
            let url = self.query_url(&request.query, &[], start, want, sort)?;
            let mut empty_tries = 0;
            let feed: Feed = loop {
                let feed = atom::parse_feed(&self.get(&url)?)?;
                let known_total = total.or(feed.total_results).unwrap_or(0);
                // An empty page inside the result range is a hiccup of the API, not the end.
                if feed.entries.is_empty() && start < known_total {
                    empty_tries += 1;
                    if empty_tries > self.config.retry.empty_page_retries {
                        (self.log)(&format!(
                            "warning: {}; keeping the {} results fetched so far",
                            Error::EmptyPage {
                                start,
                                total: known_total,
                                attempts: empty_tries
                            },
                            entries.len()
                        ));
                        break 'pages;
                    }
                    (self.log)(&format!(
                        "arXiv returned an empty page at offset {start}; asking again"
                    ));
                    continue;
                }
                break feed;
            };
            if total.is_none() {
                total = Some(feed.total_results.unwrap_or(feed.entries.len() as u64));
            }
            if feed.entries.is_empty() {
                break;
            }
            start += feed.entries.len() as u64;
            let goal = (request.max_results as u64).min(total.unwrap_or(0));
            if start < goal {
                (self.log)(&format!("fetched {start} of {goal} results…"));
            }
            for entry in feed.entries {
                if !seen.insert(entry.id.base().to_string()) {
                    continue; // the same paper on two pages: the API's paging is not stable
                }
                if !keep(&entry) {
                    break 'pages;
                }
                entries.push(entry);
                if entries.len() >= request.max_results {
                    break 'pages;
                }
            }
        }
        Ok(SearchResults {
            total_results: total.unwrap_or(0),
            entries,
        })
    }

    /// The daily feed of `categories` (`cs.CL`, or archives such as `cs`), never cached.
    pub fn daily_feed(&mut self, categories: &[String]) -> Result<DailyFeed, Error> {
        if categories.is_empty() {
            return Err(Error::Config(
                "the daily feed needs at least one category (`cs.CL`)".to_string(),
            ));
        }
        let base = self.config.rss_url.trim_end_matches('/');
        let url = format!("{base}/rss/{}", categories.join("+"));
        rss::parse_daily_feed(&self.get(&url)?)
    }

    /// GET with throttle and retries; the body of a 2xx response.
    pub fn get(&mut self, url: &str) -> Result<String, Error> {
        let retry = self.config.retry.clone();
        let mut attempt = 0;
        loop {
            self.throttle();
            let outcome = self.attempt(url);
            self.last_request_end = Some(Instant::now());
            self.stamp();
            let (error, wait) = match outcome {
                Attempt::Done(body) => return Ok(body),
                Attempt::Fatal(e) => return Err(e),
                Attempt::Retry { error, retry_after } => {
                    if let Some(asked) = retry_after
                        && asked > retry.max_retry_after
                    {
                        return Err(Error::RetryAfterTooLong {
                            asked,
                            limit: retry.max_retry_after,
                        });
                    }
                    let wait = retry_after.unwrap_or_else(|| retry.backoff(attempt));
                    (error, wait)
                }
            };
            if attempt >= retry.max_retries {
                return Err(error);
            }
            attempt += 1;
            (self.log)(&format!(
                "{error}; retrying in {:.1}s (retry {attempt} of {})",
                wait.as_secs_f64(),
                retry.max_retries
            ));
            std::thread::sleep(wait);
        }
    }

    fn attempt(&mut self, url: &str) -> Attempt {
        let response = match self.http.get(url).send() {
            Ok(r) => r,
            Err(e) => {
                return Attempt::Retry {
                    error: network_error(url, &e),
                    retry_after: None,
                };
            }
        };
        let status = response.status().as_u16();
        let retry_after = response
            .headers()
            .get(RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .and_then(parse_retry_after);
        let body = match response.text() {
            Ok(b) => b,
            Err(e) => {
                return Attempt::Retry {
                    error: network_error(url, &e),
                    retry_after: None,
                };
            }
        };
        match status {
            200..=299 => Attempt::Done(body),
            429 | 500..=599 => Attempt::Retry {
                error: Error::Http {
                    status,
                    url: url.to_string(),
                    body: String::new(),
                },
                retry_after,
            },
            _ => {
                // arXiv explains a bad request in an Atom error feed.
                if let Err(api @ Error::Api { .. }) = atom::parse_feed(&body) {
                    return Attempt::Fatal(api);
                }
                Attempt::Fatal(Error::Http {
                    status,
                    url: url.to_string(),
                    body: strip_markup(&body),
                })
            }
        }
    }

    /// Sleeps until `min_interval` has passed since the end of the last request (this process's
    /// or, through the stamp file, another's).
    fn throttle(&mut self) {
        let interval = self.config.min_interval;
        let mut wait = self
            .last_request_end
            .map_or(Duration::ZERO, |end| interval.saturating_sub(end.elapsed()));
        if let Some(last) = self.config.stamp_file.as_deref().and_then(read_stamp) {
            let since = SystemTime::now()
                .duration_since(last)
                .unwrap_or(Duration::ZERO);
            wait = wait.max(interval.saturating_sub(since));
        }
        if !wait.is_zero() {
            std::thread::sleep(wait);
        }
    }

    /// Records the end of a request in the stamp file: nanoseconds since the Unix epoch (file
    /// modification times are too coarse on some file systems, and a stamp truncated to
    /// milliseconds lets the next process start up to a millisecond early).
    fn stamp(&self) {
        if let Some(stamp) = &self.config.stamp_file {
            if let Some(dir) = stamp.parent() {
                let _ = std::fs::create_dir_all(dir);
            }
            let nanos = SystemTime::now()
                .duration_since(SystemTime::UNIX_EPOCH)
                .unwrap_or_default()
                .as_nanos();
            let _ = std::fs::write(stamp, format!("{nanos}\n"));
        }
    }
}

/// The time recorded in a stamp file.
fn read_stamp(path: &std::path::Path) -> Option<SystemTime> {
    let nanos: u64 = std::fs::read_to_string(path).ok()?.trim().parse().ok()?;
    SystemTime::UNIX_EPOCH.checked_add(Duration::from_nanos(nanos))
}

enum Attempt {
    Done(String),
    Retry {
        error: Error,
        retry_after: Option<Duration>,
    },
    Fatal(Error),
}

fn network_error(url: &str, e: &reqwest::Error) -> Error {
    let mut message = e.to_string();
    let mut source = std::error::Error::source(e);
    while let Some(s) = source {
        message.push_str(": ");
        message.push_str(&s.to_string());
        source = s.source();
    }
    Error::Network {
        url: url.to_string(),
        message,
    }
}

fn is_loopback(url: &str) -> bool {
    Url::parse(url)
        .ok()
        .and_then(|u| u.host_str().map(str::to_string))
        .is_some_and(|h| h == "localhost" || h == "127.0.0.1" || h == "[::1]")
}

/// Text of an HTML or XML error page, for an error message.
fn strip_markup(body: &str) -> String {
    let mut out = String::new();
    let mut in_tag = false;
    for c in body.chars() {
        match c {
            '<' => in_tag = true,
            '>' => {
                in_tag = false;
                out.push(' ');
            }
            _ if !in_tag => out.push(c),
            _ => {}
        }
    }
    super::text::collapse_ws(&out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn query_urls_are_encoded() {
        let c = Client::new(ClientConfig {
            api_url: "http://127.0.0.1:9/api/query".into(),
            ..ClientConfig::default()
        })
        .unwrap();
        let url = c
            .query_url(
                "ti:\"attention is\" AND cat:cs.CL",
                &[],
                100,
                50,
                Some((SortBy::Submitted, SortOrder::Descending)),
            )
            .unwrap();
        assert_eq!(
            url,
            "http://127.0.0.1:9/api/query?search_query=ti%3A%22attention+is%22+AND+cat%3Acs.CL&id_list=&start=100&max_results=50&sortBy=submittedDate&sortOrder=descending"
        );
        assert!(
            Client::new(ClientConfig {
                api_url: "not a url".into(),
                ..ClientConfig::default()
            })
            .is_err()
        );
    }
}
