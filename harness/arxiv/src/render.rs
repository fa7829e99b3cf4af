//! Plain-text renderings of papers and tracking reports for the terminal.

use chrono::{DateTime, Utc};

use super::entry::{Author, Entry};
use super::text::{truncate, wrap};
use super::track::{CheckReport, TrackingState};

fn day(d: Option<DateTime<Utc>>) -> String {
    d.map_or_else(
        || "????-??-??".to_string(),
        |d| d.format("%Y-%m-%d").to_string(),
    )
}

/// Everything about a paper, as `show` prints it.
pub(crate) fn entry_details(e: &Entry) -> String {
    let mut s = format!("{}  {}\n", e.id, e.title);
    let mut field = |name: &str, value: &str| {
        s.push_str(&format!("  {name:<12}{value}\n"));
    };
    let authors: Vec<String> = e.authors.iter().map(Author::with_affiliations).collect();
    field("Authors", &authors.join(", "));
    let version = e.version().map_or_else(String::new, |v| format!(" (v{v})"));
    field("Submitted", &format!("{} (v1)", day(e.published)));
    if e.updated.is_some() && e.updated != e.published {
        field("Updated", &format!("{}{version}", day(e.updated)));
    } else if !version.is_empty() && e.version() != Some(1) {
        field("Version", version.trim());
    }
    if let Some(primary) = &e.primary_category {
        let others: Vec<&str> = e
            .categories
            .iter()
            .filter(|c| *c != primary)
            .map(String::as_str)
            .collect();
        let others = if others.is_empty() {
            String::new()
        } else {
            format!("; also {}", others.join(", "))
        };
        field("Categories", &format!("{primary} (primary){others}"));
    }
    if let Some(c) = &e.comment {
        field("Comment", c);
    }
    if let Some(j) = &e.journal_ref {
        field("Journal ref", j);
    }
    if let Some(d) = &e.doi {
        field("DOI", &format!("{d} (https://doi.org/{d})"));
    }
    field("Abstract", &e.abs_url);
    field("PDF", &e.pdf_url);
    if !e.summary.is_empty() {
        s.push('\n');
        s.push_str(&wrap(&e.summary, 100, "  "));
    }
    s
}

/// One line per paper, as `search` prints it.
pub(crate) fn entry_line(e: &Entry) -> String {
    format!(
        "{:<16} {}  {:<8} {} — {}",
        e.id.to_string(),
        day(e.published),
        e.primary_category.as_deref().unwrap_or("?"),
        e.title,
        e.short_authors()
    )
}

/// The tracked queries, numbered for `--remove N`.
pub(crate) fn tracked_list(state: &TrackingState) -> String {
    let mut s = String::new();
    for (i, q) in state.queries.iter().enumerate() {
        let checked = q.last_check.map_or_else(
            || "never checked".to_string(),
            |t| format!("last checked {}", t.format("%Y-%m-%d %H:%M UTC")),
        );
        s.push_str(&format!(
            "{:>2}. {}\n    {checked}; {} seen; up to {} results per check\n",
            i + 1,
            q.label(),
            q.seen.len(),
            q.max
        ));
    }
    if let Some(feed) = &state.feed {
        let checked = feed.last_check.map_or_else(
            || "never read".to_string(),
            |t| format!("last read {}", t.format("%Y-%m-%d %H:%M UTC")),
        );
        s.push_str(&format!(
            "    daily feed: {} ({checked}; {} seen)\n",
            feed.categories.join(", "),
            feed.seen.len()
        ));
    }
    if s.is_empty() {
        s.push_str("nothing tracked; add a query with `repro arxiv track --add \"<query>\"`\n");
    }
    s
}

/// A check's findings under a heading.
pub(crate) fn check_report(r: &CheckReport) -> String {
    let since = r
        .since
        .map_or_else(String::new, |t| format!(" since {}", t.format("%Y-%m-%d")));
    let mut s = format!(
        "== {}{since}: {} new or updated of {} looked at\n",
        r.label,
        r.findings.len(),
        r.looked_at
    );
    for f in &r.findings {
        let previous = f
            .previous_version
            .map_or_else(String::new, |v| format!(" (was v{v})"));
        s.push_str(&format!(
            "  {:<7} {:<16} {}  {:<8} {}{previous} — {}\n",
            f.kind.label(),
            f.id.to_string(),
            day(f.date),
            f.primary_category.as_deref().unwrap_or("?"),
            truncate(&f.title, 120),
            f.authors,
        ));
    }
    if r.capped {
        s.push_str(&format!(
            "  (stopped after {} results, before reaching{since}: older papers may be missing; raise `max` in the tracking file)\n",
            r.looked_at
        ));
    }
    s
}
