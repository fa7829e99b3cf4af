//! The daily announcement feed of rss.arxiv.org (<https://info.arxiv.org/help/rss.html>).
//!
//! `https://rss.arxiv.org/rss/cs.CL+cs.LG` (RSS 2.0) and `https://rss.arxiv.org/atom/cs.CL` (Atom)
//! list one announcement day. Each item carries its announce type: `new` (first announced
//! today), `cross` (a cross-list from another category), `replace` (a new version) and
//! `replace-cross` (a new version of a cross-list). Both layouts parse to [`DailyFeed`]. The service
//! reports a bad archive name as a channel titled "Feed error for query", which becomes
//! [`Error::Feed`]; a weekend or holiday feed has no items, which is not an error.

use chrono::{DateTime, Utc};
use serde::Serialize;

use super::atom::parse_date;
use super::entry::Author;
use super::error::Error;
use super::id::ArxivId;
use super::text::{collapse_ws, non_empty, normalize_abstract};
use super::xml::{self, Element};

/// Why a paper is in today's feed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum AnnounceType {
    /// First announcement, in its primary category.
    New,
    /// Cross-listed into this category.
    Cross,
    /// A new version of an earlier paper.
    Replace,
    /// A new version of a cross-listed paper.
    ReplaceCross,
    /// Anything arXiv may add later.
    #[serde(untagged)]
    Other(String),
}

impl AnnounceType {
    fn parse(s: &str) -> AnnounceType {
        match s.trim() {
            "new" => AnnounceType::New,
            "cross" => AnnounceType::Cross,
            "replace" => AnnounceType::Replace,
            "replace-cross" => AnnounceType::ReplaceCross,
            other => AnnounceType::Other(other.to_string()),
        }
    }

    /// The name arXiv uses (`replace-cross`).
    pub fn as_str(&self) -> &str {
        match self {
            AnnounceType::New => "new",
            AnnounceType::Cross => "cross",
            AnnounceType::Replace => "replace",
            AnnounceType::ReplaceCross => "replace-cross",
            AnnounceType::Other(s) => s,
        }
    }

    /// True for announcements of a new version of an earlier paper.
    pub fn is_replacement(&self) -> bool {
        matches!(self, AnnounceType::Replace | AnnounceType::ReplaceCross)
    }
}

/// One announced paper.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct FeedItem {
    /// The identifier with the announced version (`2411.17700v1`).
    pub id: ArxivId,
    /// Why it is announced.
    pub announce_type: AnnounceType,
    /// Title, whitespace collapsed.
    pub title: String,
    /// Authors (with affiliations when the feed gives them in parentheses).
    pub authors: Vec<Author>,
    /// The abstract, without the `arXiv:… Announce Type: …` preamble.
    #[serde(rename = "abstract")]
    pub summary: String,
    /// Categories, primary first.
    pub categories: Vec<String>,
    /// Abstract page.
    pub link: String,
    /// DOI, when the feed gives one.
    pub doi: Option<String>,
    /// Journal reference, when the feed gives one.
    pub journal_ref: Option<String>,
    /// Licence URL.
    pub rights: Option<String>,
    /// The announcement date.
    pub date: Option<DateTime<Utc>>,
}

/// One day's feed.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct DailyFeed {
    /// The channel title (`cs.CL updates on arXiv.org`).
    pub title: String,
    /// The feed's own URL.
    pub link: String,
    /// The announcement day.
    pub date: Option<DateTime<Utc>>,
    /// The announced papers, in feed order.
    pub items: Vec<FeedItem>,
}

/// Parses an rss.arxiv.org response, RSS 2.0 or Atom.
pub fn parse_daily_feed(xml_text: &str) -> Result<DailyFeed, Error> {
    let root = xml::parse(xml_text)?;
    match root.local() {
        "rss" => parse_rss(&root),
        "feed" => parse_atom(&root),
        other => Err(Error::Format(format!(
            "expected an RSS or Atom feed, found <{other}>"
        ))),
    }
}

/// RFC 2822 (`Thu, 28 Nov 2024 00:00:00 -0500`), the RSS date format.
fn parse_rfc2822(s: &str) -> Option<DateTime<Utc>> {
    DateTime::parse_from_rfc2822(s.trim())
        .ok()
        .map(|d| d.with_timezone(&Utc))
}

fn check_feed_error(title: &str, description: &str) -> Result<(), Error> {
    if title.starts_with("Feed error") {
        let message = non_empty(description).unwrap_or_else(|| title.to_string());
        return Err(Error::Feed(message));
    }
    Ok(())
}

fn parse_rss(root: &Element) -> Result<DailyFeed, Error> {
    let channel = root
        .child("channel")
        .ok_or_else(|| Error::Format("RSS feed without <channel>".to_string()))?;
    let title = collapse_ws(channel.child_text("title").unwrap_or(""));
    check_feed_error(&title, channel.child_text("description").unwrap_or(""))?;
    // `<link>` of the channel, not `<atom:link>` (same local name).
    let link = channel
        .children
        .iter()
        .find(|c| c.name == "link")
        .map(|c| c.text.trim().to_string());
    let mut items = Vec::new();
    for (n, item) in channel.children_named("item").enumerate() {
        let guid = item.child_text("guid").unwrap_or("");
        let description = item.child_text("description").unwrap_or("");
        let item_link = item
            .children
            .iter()
            .find(|c| c.name == "link")
            .map_or("", |c| c.text.trim());
        let id = item_id(guid, description, item_link).ok_or_else(|| {
            Error::Format(format!(
                "feed item {} has no arXiv id (guid `{}`)",
                n + 1,
                guid.trim()
            ))
        })?;
        let categories = item
            .children_named("category")
            .filter_map(|c| non_empty(&c.text))
            .collect();
        let authors = item
            .children_named("creator")
            .flat_map(|c| split_creators(&c.text))
            .collect();
        items.push(FeedItem {
            announce_type: announce_type(item, description),
            title: collapse_ws(item.child_text("title").unwrap_or("")),
            authors,
            summary: strip_preamble(description),
            categories,
            link: if item_link.is_empty() {
                id.without_version().abs_url()
            } else {
                item_link.to_string()
            },
            doi: item.child_text("DOI").and_then(non_empty),
            journal_ref: item.child_text("journal_reference").and_then(non_empty),
            rights: item.child_text("rights").and_then(non_empty),
            date: item.child_text("pubDate").and_then(parse_rfc2822),
            id,
        });
    }
    Ok(DailyFeed {
        title,
        link: link.unwrap_or_default(),
        date: channel.child_text("pubDate").and_then(parse_rfc2822),
        items,
    })
}

fn parse_atom(root: &Element) -> Result<DailyFeed, Error> {
    let title = collapse_ws(root.child_text("title").unwrap_or(""));
    check_feed_error(&title, root.child_text("subtitle").unwrap_or(""))?;
    let self_link = root
        .children_named("link")
        .find(|l| l.attr("rel") == Some("self"))
        .and_then(|l| l.attr("href"))
        .unwrap_or("");
    let mut items = Vec::new();
    for (n, entry) in root.children_named("entry").enumerate() {
        let guid = entry.child_text("id").unwrap_or("");
        let summary = entry.child_text("summary").unwrap_or("");
        let href = entry
            .children_named("link")
            .find(|l| l.attr("rel").is_none_or(|r| r == "alternate"))
            .and_then(|l| l.attr("href"))
            .unwrap_or("");
        let id = item_id(guid, summary, href).ok_or_else(|| {
            Error::Format(format!(
                "feed entry {} has no arXiv id (id `{}`)",
                n + 1,
                guid.trim()
            ))
        })?;
        let mut authors: Vec<Author> = entry
            .children_named("author")
            .filter_map(|a| a.child_text("name").and_then(non_empty))
            .map(|name| Author {
                name,
                affiliations: Vec::new(),
            })
            .collect();
        authors.extend(
            entry
                .children_named("creator")
                .flat_map(|c| split_creators(&c.text)),
        );
        items.push(FeedItem {
            announce_type: announce_type(entry, summary),
            title: collapse_ws(entry.child_text("title").unwrap_or("")),
            authors,
            summary: strip_preamble(summary),
            categories: entry
                .children_named("category")
                .filter_map(|c| c.attr("term"))
                .filter_map(non_empty)
                .collect(),
            link: if href.is_empty() {
                id.without_version().abs_url()
            } else {
                href.to_string()
            },
            doi: entry
                .child_text("DOI")
                .or_else(|| entry.child_text("doi"))
                .and_then(non_empty),
            journal_ref: entry.child_text("journal_reference").and_then(non_empty),
            rights: entry.child_text("rights").and_then(non_empty),
            date: entry
                .child_text("published")
                .or_else(|| entry.child_text("updated"))
                .and_then(parse_date),
            id,
        });
    }
    Ok(DailyFeed {
        title,
        link: self_link.to_string(),
        date: root.child_text("updated").and_then(parse_date),
        items,
    })
}

/// The versioned id from the guid (`oai:arXiv.org:2411.17700v1`), else from the description's
/// preamble (`arXiv:2411.17700v1 Announce Type: new`), else from the link.
fn item_id(guid: &str, description: &str, link: &str) -> Option<ArxivId> {
    let from_guid = guid
        .trim()
        .strip_prefix("oai:arXiv.org:")
        .and_then(|g| ArxivId::parse(g).ok());
    let from_description = || {
        let first = description.split_whitespace().next()?;
        let rest = first.strip_prefix("arXiv:")?;
        ArxivId::parse(rest).ok()
    };
    from_guid
        .or_else(from_description)
        .or_else(|| ArxivId::parse(link).ok())
}

fn announce_type(item: &Element, description: &str) -> AnnounceType {
    if let Some(t) = item
        .child_text("announce_type")
        .filter(|t| !t.trim().is_empty())
    {
        return AnnounceType::parse(t);
    }
    let from_text = description
        .split_once("Announce Type:")
        .and_then(|(_, rest)| rest.split_whitespace().next());
    AnnounceType::parse(from_text.unwrap_or("new"))
}

/// The description without its `arXiv:ID Announce Type: t` line and `Abstract:` label.
fn strip_preamble(description: &str) -> String {
    let body = match description.split_once("Abstract:") {
        Some((head, rest)) if head.contains("Announce Type") || head.trim().is_empty() => rest,
        _ => description,
    };
    normalize_abstract(body.trim_start())
}

/// `dc:creator` lists authors separated by commas, each optionally followed by affiliations in
/// parentheses which themselves contain commas: `A (Univ, City), B, and C`.
fn split_creators(text: &str) -> Vec<Author> {
    let mut parts = Vec::new();
    let mut depth = 0usize;
    let mut current = String::new();
    for c in text.chars() {
        match c {
            '(' => depth += 1,
            ')' => depth = depth.saturating_sub(1),
            ',' if depth == 0 => {
                parts.push(std::mem::take(&mut current));
                continue;
            }
            _ => {}
        }
        current.push(c);
    }
    parts.push(current);
    parts
        .into_iter()
        .flat_map(|p| {
            // A final `and` outside parentheses: `B and C`.
            let p = collapse_ws(&p);
            let p = p.strip_prefix("and ").map(str::to_string).unwrap_or(p);
            if !p.contains('(') && p.contains(" and ") {
                p.split(" and ").map(str::to_string).collect::<Vec<_>>()
            } else {
                vec![p]
            }
        })
        .filter_map(|p| {
            let (name, affiliation) = match p.find('(') {
                Some(open) => (
                    p[..open].trim().to_string(),
                    p[open + 1..].trim_end_matches(')').trim().to_string(),
                ),
                None => (p.trim().to_string(), String::new()),
            };
            (!name.is_empty()).then(|| Author {
                name,
                affiliations: if affiliation.is_empty() {
                    Vec::new()
                } else {
                    vec![affiliation]
                },
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn creators_with_affiliations_and_commas() {
        let a = split_creators(
            "Shuo Yu (USTC, Hefei, China), Chenyi Lei (Kuaishou), Qi Liu, and Jane Doe",
        );
        let names: Vec<_> = a.iter().map(|a| a.name.as_str()).collect();
        assert_eq!(names, ["Shuo Yu", "Chenyi Lei", "Qi Liu", "Jane Doe"]);
        assert_eq!(a[0].affiliations, ["USTC, Hefei, China"]);
        assert_eq!(split_creators("A and B").len(), 2);
    }

    #[test]
    fn preamble_is_stripped() {
        let d = "arXiv:2411.17700v1 Announce Type: new \nAbstract: This study investigates.";
        assert_eq!(strip_preamble(d), "This study investigates.");
        assert_eq!(item_id("", d, "").unwrap().to_string(), "2411.17700v1");
        assert_eq!(strip_preamble("No preamble here."), "No preamble here.");
    }
}
