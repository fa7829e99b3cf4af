//! `repro arxiv track`: what is new since the last check, for a committed list of queries.
//!
//! The state lives in a TOML file committed with the suite (`papers/tracking.toml`), so that "new
//! since last time" survives machines: tracked queries with their categories, the ids already
//! reported (with the version reported) and when each was last checked; and optionally the daily
//! feed's categories with their own seen ids.
//!
//! A query check asks the API for the query's results by date of latest version, newest first,
//! back to the last check (less a week: a paper submitted before a check may be announced after
//! it), at most `max` of them. A paper whose id (without version) was never reported is new; a
//! reported paper with a higher version is an update. The feed check reads rss.arxiv.org's
//! announcements of the day and reports them by announce type (new, cross-list, replacement).

use std::collections::BTreeMap;
use std::path::Path;

use anyhow::{Context, bail};
use chrono::{DateTime, Duration as Days, Utc};
use serde::{Deserialize, Serialize};

use super::cache::write_atomic;
use super::client::{Client, SearchRequest, SortBy, SortOrder};
use super::id::ArxivId;
use super::rss::AnnounceType;

/// Results looked at per query and check when the state does not say.
pub const DEFAULT_MAX: usize = 200;

/// How far before the last check a new check looks, for papers announced after it.
pub const ANNOUNCE_LAG_DAYS: i64 = 7;

const HEADER: &str = "\
# What `repro arxiv track` follows (see `repro arxiv track --help`). Committed, so that \"new since
# the last check\" survives machines. Edit queries by hand or with `track --add` / `track --remove`;
# `seen` (ids with the version last reported) and `last_check` are written by `track`.
";

/// The tracking file.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TrackingState {
    /// The daily feed (`track --feed`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub feed: Option<FeedState>,
    /// Tracked API queries.
    #[serde(default, rename = "query", skip_serializing_if = "Vec::is_empty")]
    pub queries: Vec<TrackedQuery>,
}

/// One tracked query.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TrackedQuery {
    /// In the API's search syntax (`ti:transformer AND abs:"language model"`).
    pub query: String,
    /// Restricts the query to these categories (ORed).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub categories: Vec<String>,
    /// Newest results looked at per check.
    #[serde(default = "default_max")]
    pub max: usize,
    /// When the query was last checked.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_check: Option<DateTime<Utc>>,
    /// Ids reported so far, each with the version reported (`2401.01234v2`), sorted.
    #[serde(default)]
    pub seen: Vec<String>,
}

/// The daily feed's categories and what it reported.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FeedState {
    /// Categories or archives (`cs.CL`, `cs`).
    pub categories: Vec<String>,
    /// When the feed was last read.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_check: Option<DateTime<Utc>>,
    /// Ids reported so far, with version.
    #[serde(default)]
    pub seen: Vec<String>,
}

fn default_max() -> usize {
    DEFAULT_MAX
}

impl TrackedQuery {
    /// A query with no history.
    pub fn new(query: &str, categories: &[String], max: Option<usize>) -> Self {
        TrackedQuery {
            query: query.trim().to_string(),
            categories: categories.to_vec(),
            max: max.unwrap_or(DEFAULT_MAX),
            last_check: None,
            seen: Vec::new(),
        }
    }

    /// The `search_query` sent: the query (plain words made explicit) ANDed with its categories.
    pub fn search_query(&self) -> String {
        let query = explicit_query(&self.query);
        let cats: Vec<String> = self.categories.iter().map(|c| format!("cat:{c}")).collect();
        match (query.is_empty(), cats.len()) {
            (_, 0) => query,
            (true, _) => cats.join(" OR "),
            (false, 1) => format!("({query}) AND {}", cats[0]),
            (false, _) => format!("({query}) AND ({})", cats.join(" OR ")),
        }
    }

    /// "`query` [cs.CL, cs.LG]".
    pub fn label(&self) -> String {
        if self.categories.is_empty() {
            self.query.clone()
        } else {
            format!("{} [{}]", self.query, self.categories.join(", "))
        }
    }
}

/// A query of plain words (no `field:` prefix, no operator) as the API's explicit syntax: every
/// word or quoted phrase searched in all fields (`attention "machine translation"` →
/// `all:attention AND all:"machine translation"`). Other queries are kept as written.
pub fn explicit_query(query: &str) -> String {
    const FIELDS: &[&str] = &[
        "ti:", "au:", "abs:", "co:", "jr:", "cat:", "rn:", "id:", "all:",
    ];
    let query = query.trim();
    let has_syntax = query
        .split(|c: char| c.is_whitespace() || c == '(')
        .any(|w| matches!(w, "AND" | "OR" | "ANDNOT") || FIELDS.iter().any(|f| w.starts_with(f)));
    if query.is_empty() || has_syntax {
        return query.to_string();
    }
    let mut terms = Vec::new();
    let mut rest = query;
    while let Some(start) = rest.find(|c: char| !c.is_whitespace()) {
        rest = &rest[start..];
        let end = match rest.strip_prefix('"').and_then(|r| r.find('"')) {
            Some(close) => close + 2,
            None => rest.find(char::is_whitespace).unwrap_or(rest.len()),
        };
        terms.push(format!("all:{}", &rest[..end]));
        rest = &rest[end..];
    }
    terms.join(" AND ")
}

impl TrackingState {
    /// Reads the state file.
    pub fn load(path: &Path) -> anyhow::Result<Self> {
        let text = std::fs::read_to_string(path).with_context(|| {
            format!(
                "no tracking state at {}; start one with `repro arxiv track --add \"<query>\"`",
                path.display()
            )
        })?;
        toml::from_str(&text)
            .with_context(|| format!("{} is not a valid tracking file", path.display()))
    }

    /// Reads the state file, or an empty state if there is none.
    pub fn load_or_default(path: &Path) -> anyhow::Result<Self> {
        if path.exists() {
            Self::load(path)
        } else {
            Ok(Self::default())
        }
    }

    /// Writes the state file atomically, with its explanatory header.
    pub fn save(&self, path: &Path) -> anyhow::Result<()> {
        let body = toml::to_string_pretty(self).context("serialising the tracking state")?;
        write_atomic(path, format!("{HEADER}\n{body}").as_bytes())?;
        Ok(())
    }

    /// Adds a query; an identical one is an error.
    pub fn add(&mut self, query: TrackedQuery) -> anyhow::Result<()> {
        if query.query.is_empty() && query.categories.is_empty() {
            bail!("an empty query tracks nothing; give a query (`ti:transformer`) or --category");
        }
        if self
            .queries
            .iter()
            .any(|q| q.query == query.query && q.categories == query.categories)
        {
            bail!("already tracked: {}", query.label());
        }
        self.queries.push(query);
        Ok(())
    }

    /// Removes a query, named by its text or its 1-based position in `--list`.
    pub fn remove(&mut self, which: &str) -> anyhow::Result<TrackedQuery> {
        let which = which.trim();
        let at = match which.parse::<usize>() {
            Ok(n) if (1..=self.queries.len()).contains(&n) => Some(n - 1),
            _ => self.queries.iter().position(|q| q.query == which),
        };
        match at {
            Some(i) => Ok(self.queries.remove(i)),
            None => bail!(
                "no tracked query `{which}`; `repro arxiv track --list` shows them with their numbers"
            ),
        }
    }
}

/// Ids with the highest version seen.
#[derive(Debug, Default, Clone)]
pub struct Seen(BTreeMap<String, u32>);

impl Seen {
    /// From the state's `seen` list (unparseable entries are ignored).
    pub fn from_list(list: &[String]) -> Self {
        let mut seen = Seen::default();
        for s in list {
            if let Ok(id) = ArxivId::parse(s) {
                seen.insert(&id);
            }
        }
        seen
    }

    /// The version reported for `id`'s paper, if any.
    pub fn version_of(&self, id: &ArxivId) -> Option<u32> {
        self.0.get(id.base()).copied()
    }

    /// Records `id` (version 1 when it has none).
    pub fn insert(&mut self, id: &ArxivId) {
        let v = id.version().unwrap_or(1);
        let slot = self.0.entry(id.base().to_string()).or_insert(v);
        *slot = (*slot).max(v);
    }

    /// Back to the state's sorted list.
    pub fn to_list(&self) -> Vec<String> {
        self.0
            .iter()
            .map(|(base, v)| format!("{base}v{v}"))
            .collect()
    }
}

/// Why a paper is reported.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Kind {
    /// Never reported before.
    New,
    /// A new version of a reported paper.
    Update,
    /// (Daily feed) cross-listed into a followed category.
    Cross,
    /// (Daily feed) a new version of a paper not reported before.
    Replace,
}

impl Kind {
    /// Fixed-width label for listings.
    pub fn label(self) -> &'static str {
        match self {
            Kind::New => "new",
            Kind::Update => "update",
            Kind::Cross => "cross",
            Kind::Replace => "replace",
        }
    }
}

/// One reported paper.
#[derive(Debug, Clone, Serialize)]
pub struct Finding {
    /// Why it is reported.
    pub kind: Kind,
    /// Id with the version found.
    pub id: ArxivId,
    /// The version reported before, for updates.
    pub previous_version: Option<u32>,
    /// Title.
    pub title: String,
    /// `Vaswani et al.`.
    pub authors: String,
    /// Primary category, when known.
    pub primary_category: Option<String>,
    /// Date of this version (API) or of the announcement (feed).
    pub date: Option<DateTime<Utc>>,
    /// Abstract page.
    pub url: String,
}

/// The outcome of checking one query or the feed.
#[derive(Debug, Clone, Serialize)]
pub struct CheckReport {
    /// What was checked (query and categories, or `daily feed: cs.CL`).
    pub label: String,
    /// The cutoff used, if any.
    pub since: Option<DateTime<Utc>>,
    /// How many results were looked at.
    pub looked_at: usize,
    /// True when the look-back reached the query's `max` before the cutoff: older findings may
    /// have been missed.
    pub capped: bool,
    /// What is new or updated, newest first.
    pub findings: Vec<Finding>,
}

/// The cutoff of a check: `--since` if given, else the last check less the announcement lag.
pub fn cutoff(
    since: Option<DateTime<Utc>>,
    last_check: Option<DateTime<Utc>>,
) -> Option<DateTime<Utc>> {
    since.or_else(|| last_check.map(|t| t - Days::days(ANNOUNCE_LAG_DAYS)))
}

/// Checks one query and records its findings in `query` (the caller decides whether to save).
pub fn check_query(
    client: &mut Client<'_>,
    query: &mut TrackedQuery,
    since: Option<DateTime<Utc>>,
    now: DateTime<Utc>,
) -> anyhow::Result<CheckReport> {
    let since = cutoff(since, query.last_check);
    let request = SearchRequest {
        query: query.search_query(),
        max_results: query.max.max(1),
        sort_by: SortBy::Updated,
        sort_order: SortOrder::Descending,
    };
    let mut reached_cutoff = false;
    let results = client
        .search_while(&request, |e| match (since, e.updated.or(e.published)) {
            (Some(cut), Some(date)) if date < cut => {
                reached_cutoff = true;
                false
            }
            _ => true,
        })
        .with_context(|| format!("checking `{}`", query.label()))?;
    let capped = since.is_some()
        && !reached_cutoff
        && results.entries.len() >= request.max_results
        && results.total_results > request.max_results as u64;
    let mut seen = Seen::from_list(&query.seen);
    let mut findings = Vec::new();
    for e in &results.entries {
        let (kind, previous_version) = match seen.version_of(&e.id) {
            None => (Kind::New, None),
            Some(v) if e.id.version().unwrap_or(1) > v => (Kind::Update, Some(v)),
            Some(_) => continue,
        };
        findings.push(Finding {
            kind,
            id: e.id.clone(),
            previous_version,
            title: e.title.clone(),
            authors: e.short_authors(),
            primary_category: e.primary_category.clone(),
            date: e.updated.or(e.published),
            url: e.id.without_version().abs_url(),
        });
    }
    for f in &findings {
        seen.insert(&f.id);
    }
    query.seen = seen.to_list();
    query.last_check = Some(now);
    Ok(CheckReport {
        label: query.label(),
        since,
        looked_at: results.entries.len(),
        capped,
        findings,
    })
}

/// Reads the daily feed of `categories` and records its findings in `feed`.
pub fn check_feed(
    client: &mut Client<'_>,
    feed: &mut FeedState,
    now: DateTime<Utc>,
) -> anyhow::Result<CheckReport> {
    let daily = client
        .daily_feed(&feed.categories)
        .with_context(|| format!("reading the daily feed of {}", feed.categories.join("+")))?;
    let mut seen = Seen::from_list(&feed.seen);
    let mut findings = Vec::new();
    for item in &daily.items {
        let version = item.id.version().unwrap_or(1);
        let previous = seen.version_of(&item.id);
        if previous.is_some_and(|p| p >= version) {
            continue;
        }
        let kind = match (&item.announce_type, previous) {
            (_, Some(_)) => Kind::Update,
            (AnnounceType::Cross, None) => Kind::Cross,
            (t, None) if t.is_replacement() => Kind::Replace,
            _ => Kind::New,
        };
        let authors = match item.authors.as_slice() {
            [] => String::new(),
            [a] => a.surname().to_string(),
            [a, b] => format!("{} and {}", a.surname(), b.surname()),
            [a, ..] => format!("{} et al.", a.surname()),
        };
        findings.push(Finding {
            kind,
            id: item.id.clone(),
            previous_version: previous,
            title: item.title.clone(),
            authors,
            primary_category: item.categories.first().cloned(),
            date: item.date.or(daily.date),
            url: item.id.without_version().abs_url(),
        });
        seen.insert(&item.id);
    }
    feed.seen = seen.to_list();
    feed.last_check = Some(now);
    Ok(CheckReport {
        label: format!("daily feed: {}", feed.categories.join(", ")),
        since: None,
        looked_at: daily.items.len(),
        capped: false,
        findings,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn search_query_ands_categories() {
        let q = TrackedQuery::new("ti:transformer", &["cs.CL".into()], None);
        assert_eq!(q.search_query(), "(ti:transformer) AND cat:cs.CL");
        let q = TrackedQuery::new("ti:x OR ti:y", &["cs.CL".into(), "cs.LG".into()], None);
        assert_eq!(
            q.search_query(),
            "(ti:x OR ti:y) AND (cat:cs.CL OR cat:cs.LG)"
        );
        assert_eq!(
            TrackedQuery::new("", &["cs.CL".into()], None).search_query(),
            "cat:cs.CL"
        );
    }

    #[test]
    fn plain_words_become_explicit() {
        assert_eq!(explicit_query("attention"), "all:attention");
        assert_eq!(
            explicit_query(" attention  \"machine translation\" "),
            "all:attention AND all:\"machine translation\""
        );
        assert_eq!(explicit_query("ti:x AND au:y"), "ti:x AND au:y");
        assert_eq!(explicit_query("(abs:a OR abs:b)"), "(abs:a OR abs:b)");
        assert_eq!(
            explicit_query("\"unclosed phrase"),
            "all:\"unclosed AND all:phrase"
        );
    }

    #[test]
    fn seen_keeps_the_highest_version() {
        let mut s = Seen::from_list(&["2401.00001v2".into(), "garbage".into()]);
        s.insert(&ArxivId::parse("2401.00001v1").unwrap());
        s.insert(&ArxivId::parse("hep-th/9901001").unwrap());
        assert_eq!(s.to_list(), ["2401.00001v2", "hep-th/9901001v1"]);
    }

    #[test]
    fn state_round_trips_with_header() {
        let mut state = TrackingState::default();
        state
            .add(TrackedQuery::new(
                "ti:\"language model\"",
                &["cs.CL".into()],
                Some(20),
            ))
            .unwrap();
        assert!(
            state
                .add(TrackedQuery::new(
                    "ti:\"language model\"",
                    &["cs.CL".into()],
                    None
                ))
                .is_err()
        );
        state.queries[0].seen = vec!["2401.00001v1".into()];
        let dir = std::env::temp_dir().join(format!(
            "repro-track-{}-{}",
            std::process::id(),
            fastrand::u64(..)
        ));
        let path = dir.join("tracking.toml");
        state.save(&path).unwrap();
        let text = std::fs::read_to_string(&path).unwrap();
        assert!(text.starts_with("# What `repro arxiv track` follows"));
        assert_eq!(TrackingState::load(&path).unwrap(), state);
        assert_eq!(state.remove("1").unwrap().max, 20);
        assert!(state.remove("nope").is_err());
        std::fs::remove_dir_all(dir).unwrap();
    }
}
