//! The query API's Atom feed (<https://info.arxiv.org/help/api/user-manual.html#_details_of_atom_results_returned>).
//!
//! Reads both layouts seen in the wild: the 2016 one (namespaces declared on each element,
//! `link title="pdf"` before `type`, `dx.doi.org`) and the current one (namespaces on the root,
//! entries with `arxiv:affiliation`, `doi.org`). Known pitfalls handled here:
//! - a title of `0` is a title (one client treated it as missing);
//! - the PDF link is found by `title="pdf"`, else by its type or `/pdf/` path, else built from the
//!   id;
//! - an error feed (an entry whose id is `…/api/errors#…`) becomes [`Error::Api`], whatever the
//!   HTTP status it came with;
//! - the legacy API answered an absent id with an empty entry (no title, no dates); it is dropped.

use chrono::{DateTime, Utc};

use super::entry::{Author, Entry};
use super::error::Error;
use super::id::ArxivId;
use super::text::{collapse_ws, non_empty, normalize_abstract};
use super::xml::{self, Element};

/// One page of API results.
#[derive(Debug, Clone, PartialEq)]
pub struct Feed {
    /// `opensearch:totalResults`: how many results the query has in all.
    pub total_results: Option<u64>,
    /// `opensearch:startIndex`: the offset of this page.
    pub start_index: Option<u64>,
    /// `opensearch:itemsPerPage`.
    pub items_per_page: Option<u64>,
    /// When arXiv generated the feed.
    pub updated: Option<DateTime<Utc>>,
    /// The page's entries, in the API's order.
    pub entries: Vec<Entry>,
}

/// Parses one API response.
///
/// An error feed (HTTP 400 for a malformed id or query) is returned as [`Error::Api`] with
/// arXiv's message.
pub fn parse_feed(xml_text: &str) -> Result<Feed, Error> {
    let root = xml::parse(xml_text)?;
    if root.local() != "feed" {
        return Err(Error::Format(format!(
            "expected an Atom <feed>, found <{}>",
            root.name
        )));
    }
    let count = |name: &str| -> Result<Option<u64>, Error> {
        match root.child_text(name).map(str::trim) {
            None | Some("") => Ok(None),
            Some(t) => t
                .parse()
                .map(Some)
                .map_err(|_| Error::Format(format!("<opensearch:{name}> is not a count: `{t}`"))),
        }
    };
    let mut entries = Vec::new();
    for element in root.children_named("entry") {
        if let Some(message) = error_message(element) {
            return Err(Error::Api { message });
        }
        if let Some(entry) = parse_entry(element)? {
            entries.push(entry);
        }
    }
    Ok(Feed {
        total_results: count("totalResults")?,
        start_index: count("startIndex")?,
        items_per_page: count("itemsPerPage")?,
        updated: root.child_text("updated").and_then(parse_date),
        entries,
    })
}

/// arXiv's error entries have an id under `…/api/errors`; the message is the summary.
fn error_message(entry: &Element) -> Option<String> {
    let id = entry.child_text("id")?.trim();
    if !id.contains("arxiv.org/api/errors") {
        return None;
    }
    let message = entry.child_text("summary").and_then(non_empty).or_else(|| {
        // Fall back on the fragment: `#incorrect_id_format_for_abc`.
        id.rsplit_once('#').map(|(_, f)| f.replace('_', " "))
    });
    Some(message.unwrap_or_else(|| "unspecified error".to_string()))
}

/// Parses an RFC 3339 date (`2017-06-12T17:57:34Z`, `2016-10-09T00:00:00-04:00`).
pub(crate) fn parse_date(s: &str) -> Option<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(s.trim())
        .ok()
        .map(|d| d.with_timezone(&Utc))
}

fn parse_entry(e: &Element) -> Result<Option<Entry>, Error> {
    let raw_id = e.child_text("id").map(str::trim).unwrap_or("");
    let title = e.child_text("title").map(collapse_ws);
    let published = e.child_text("published").and_then(parse_date);
    let updated = e.child_text("updated").and_then(parse_date);
    // The legacy API's answer for an absent id: an entry with no title and no dates.
    if title.as_deref().is_none_or(str::is_empty) && published.is_none() && updated.is_none() {
        return Ok(None);
    }
    if raw_id.is_empty() {
        return Err(Error::Format("an entry has no <id>".to_string()));
    }
    let id = ArxivId::parse(raw_id).map_err(|_| {
        Error::Format(format!(
            "an entry's <id> is not an arXiv abs URL: `{raw_id}`"
        ))
    })?;

    let authors = e
        .children_named("author")
        .filter_map(|a| {
            let name = a.child_text("name").and_then(non_empty)?;
            let affiliations = a
                .children_named("affiliation")
                .filter_map(|f| non_empty(&f.text))
                .collect();
            Some(Author { name, affiliations })
        })
        .collect();

    let mut categories: Vec<String> = Vec::new();
    for term in e.children_named("category").filter_map(|c| c.attr("term")) {
        let term = term.trim();
        if !term.is_empty() && !categories.iter().any(|c| c == term) {
            categories.push(term.to_string());
        }
    }
    let primary_category = e
        .child("primary_category")
        .and_then(|p| p.attr("term"))
        .map(|t| t.trim().to_string())
        .filter(|t| !t.is_empty())
        .or_else(|| categories.first().cloned());
    if let Some(primary) = &primary_category {
        categories.retain(|c| c != primary);
        categories.insert(0, primary.clone());
    }

    let (abs_url, pdf_url, doi_link) = links(e, &id);
    let doi = e.child_text("doi").and_then(non_empty).or(doi_link);

    Ok(Some(Entry {
        title: title.unwrap_or_default(),
        authors,
        summary: normalize_abstract(e.child_text("summary").unwrap_or("")),
        published,
        updated,
        primary_category,
        categories,
        comment: e.child_text("comment").and_then(non_empty),
        journal_ref: e.child_text("journal_ref").and_then(non_empty),
        doi,
        abs_url,
        pdf_url,
        id,
    }))
}

/// (abstract URL, PDF URL, DOI from a doi link) of an entry, built from the id when missing.
fn links(e: &Element, id: &ArxivId) -> (String, String, Option<String>) {
    let mut abs = None;
    let mut pdf = None;
    let mut pdf_by_shape = None;
    let mut doi = None;
    for link in e.children_named("link") {
        let Some(href) = link.attr("href").map(str::trim).filter(|h| !h.is_empty()) else {
            continue;
        };
        let title = link.attr("title").unwrap_or("");
        let rel = link.attr("rel").unwrap_or("alternate");
        let kind = link.attr("type").unwrap_or("");
        if title == "pdf" {
            pdf.get_or_insert_with(|| canonical(href));
        } else if title == "doi" {
            doi = doi_from_url(href);
        } else if kind == "application/pdf" || href.contains("arxiv.org/pdf/") {
            pdf_by_shape.get_or_insert_with(|| canonical(href));
        } else if rel == "alternate" {
            abs.get_or_insert_with(|| canonical(href));
        }
    }
    (
        abs.unwrap_or_else(|| id.abs_url()),
        pdf.or(pdf_by_shape).unwrap_or_else(|| id.pdf_url()),
        doi,
    )
}

/// `http://arxiv.org/…` → `https://arxiv.org/…`.
fn canonical(url: &str) -> String {
    match url.strip_prefix("http://arxiv.org/") {
        Some(rest) => format!("https://arxiv.org/{rest}"),
        None => url.to_string(),
    }
}

fn doi_from_url(url: &str) -> Option<String> {
    let rest = url.split_once("://").map_or(url, |(_, r)| r);
    let (host, path) = rest.split_once('/')?;
    (host.ends_with("doi.org") && !path.is_empty()).then(|| path.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    const ENTRY: &str = r#"<feed xmlns="http://www.w3.org/2005/Atom" xmlns:arxiv="http://arxiv.org/schemas/atom" xmlns:opensearch="http://a9.com/-/spec/opensearch/1.1/">
<opensearch:totalResults>1</opensearch:totalResults>
<entry><id>http://arxiv.org/abs/2104.12255v1</id><title>0</title>
<updated>2021-04-20T16:07:14Z</updated><published>2021-04-20T16:07:14Z</published>
<summary>x</summary><author><name>Q</name></author>
<link href="https://arxiv.org/abs/2104.12255v1" rel="alternate" type="text/html"/>
<link href="https://arxiv.org/pdf/2104.12255v1" rel="related"/>
<category term="cs.CR"/></entry></feed>"#;

    #[test]
    fn a_title_of_zero_is_a_title_and_pdf_links_are_found_by_path() {
        let feed = parse_feed(ENTRY).unwrap();
        let e = &feed.entries[0];
        assert_eq!(e.title, "0");
        assert_eq!(e.pdf_url, "https://arxiv.org/pdf/2104.12255v1");
        assert_eq!(e.primary_category.as_deref(), Some("cs.CR"));
        assert_eq!(feed.total_results, Some(1));
    }

    #[test]
    fn missing_pdf_link_is_built_from_the_id() {
        let xml = ENTRY.replace(
            r#"<link href="https://arxiv.org/pdf/2104.12255v1" rel="related"/>"#,
            "",
        );
        assert_eq!(
            parse_feed(&xml).unwrap().entries[0].pdf_url,
            "https://arxiv.org/pdf/2104.12255v1"
        );
    }

    #[test]
    fn error_feeds_become_api_errors() {
        let xml = r#"<feed xmlns="http://www.w3.org/2005/Atom"><entry><id>http://arxiv.org/api/errors#incorrect_id_format_for_abc</id><title>Error</title><summary>incorrect id format for abc</summary></entry></feed>"#;
        let err = parse_feed(xml).unwrap_err();
        assert_eq!(
            err.to_string(),
            "arXiv rejected the request: incorrect id format for abc"
        );
    }

    #[test]
    fn rss_is_not_an_api_feed() {
        assert!(matches!(parse_feed("<rss/>"), Err(Error::Format(_))));
    }
}
