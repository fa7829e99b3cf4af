//! OAI-PMH responses in arXiv's own metadata format (`metadataPrefix=arXiv`,
//! <https://info.arxiv.org/help/oa/index.html>): `GetRecord` and `ListRecords`.
//!
//! OAI-PMH is arXiv's bulk-harvesting interface (daily updates of whole sets); the suite reads it
//! so that a harvest dump can seed tracking. Records give v1 (`created`) and last-update dates
//! but no version number. Deleted records are skipped; an OAI `<error>` becomes [`Error::Api`].

use chrono::NaiveDate;

use super::entry::Author;
use super::error::Error;
use super::id::ArxivId;
use super::text::{collapse_ws, non_empty, normalize_abstract};
use super::xml::{self, Element};

/// One record of the `arXiv` metadata format.
#[derive(Debug, Clone, PartialEq)]
pub struct OaiRecord {
    /// Identifier without version.
    pub id: ArxivId,
    /// OAI datestamp: when the record last changed.
    pub datestamp: Option<NaiveDate>,
    /// OAI sets (`physics:hep-th`).
    pub sets: Vec<String>,
    /// Date of v1.
    pub created: Option<NaiveDate>,
    /// Date of the latest version, if more than one.
    pub updated: Option<NaiveDate>,
    /// Authors (`forenames keyname suffix`) with affiliations.
    pub authors: Vec<Author>,
    /// Title, whitespace collapsed.
    pub title: String,
    /// Categories, primary first.
    pub categories: Vec<String>,
    /// Authors' comments.
    pub comments: Option<String>,
    /// Journal reference.
    pub journal_ref: Option<String>,
    /// DOI.
    pub doi: Option<String>,
    /// Licence URL.
    pub license: Option<String>,
    /// Abstract.
    pub summary: String,
}

/// A page of records and the token for the next page, if any.
#[derive(Debug, Clone, PartialEq)]
pub struct OaiPage {
    /// Records of this page (deleted ones left out).
    pub records: Vec<OaiRecord>,
    /// `resumptionToken` to ask for the next page; `None` on the last page.
    pub resumption_token: Option<String>,
}

/// Parses a `GetRecord` or `ListRecords` response.
pub fn parse_oai(xml_text: &str) -> Result<OaiPage, Error> {
    let root = xml::parse(xml_text)?;
    if root.local() != "OAI-PMH" {
        return Err(Error::Format(format!(
            "expected an <OAI-PMH> response, found <{}>",
            root.name
        )));
    }
    if let Some(error) = root.child("error") {
        let code = error.attr("code").unwrap_or("error");
        let message = non_empty(&error.text).unwrap_or_default();
        // `noRecordsMatch` is an empty harvest, not a failure.
        if code == "noRecordsMatch" {
            return Ok(OaiPage {
                records: Vec::new(),
                resumption_token: None,
            });
        }
        return Err(Error::Api {
            message: format!("OAI-PMH {code}: {message}"),
        });
    }
    let container = root
        .child("GetRecord")
        .or_else(|| root.child("ListRecords"))
        .ok_or_else(|| {
            Error::Format("OAI-PMH response without GetRecord or ListRecords".to_string())
        })?;
    let mut records = Vec::new();
    for record in container.children_named("record") {
        if let Some(r) = parse_record(record)? {
            records.push(r);
        }
    }
    let resumption_token = container.child_text("resumptionToken").and_then(non_empty);
    Ok(OaiPage {
        records,
        resumption_token,
    })
}

fn date(s: Option<&str>) -> Option<NaiveDate> {
    NaiveDate::parse_from_str(s?.trim(), "%Y-%m-%d").ok()
}

fn parse_record(record: &Element) -> Result<Option<OaiRecord>, Error> {
    let header = record
        .child("header")
        .ok_or_else(|| Error::Format("OAI record without <header>".to_string()))?;
    if header.attr("status") == Some("deleted") {
        return Ok(None);
    }
    let meta = record
        .child("metadata")
        .and_then(|m| m.child("arXiv"))
        .ok_or_else(|| {
            Error::Format("OAI record without arXiv metadata (metadataPrefix=arXiv?)".to_string())
        })?;
    let raw_id = meta
        .child_text("id")
        .or_else(|| {
            header
                .child_text("identifier")
                .map(|i| i.trim().trim_start_matches("oai:arXiv.org:"))
        })
        .unwrap_or("")
        .trim();
    let id = ArxivId::parse(raw_id).map_err(|e| Error::Format(format!("OAI record id: {e}")))?;
    let authors = meta
        .child("authors")
        .map(|a| {
            a.children_named("author")
                .filter_map(|author| {
                    let parts: Vec<String> = ["forenames", "keyname", "suffix"]
                        .iter()
                        .filter_map(|p| author.child_text(p).and_then(non_empty))
                        .collect();
                    let name = parts.join(" ");
                    let affiliations = author
                        .children_named("affiliation")
                        .filter_map(|f| non_empty(&f.text))
                        .collect();
                    (!name.is_empty()).then_some(Author { name, affiliations })
                })
                .collect()
        })
        .unwrap_or_default();
    Ok(Some(OaiRecord {
        datestamp: date(header.child_text("datestamp")),
        sets: header
            .children_named("setSpec")
            .filter_map(|s| non_empty(&s.text))
            .collect(),
        created: date(meta.child_text("created")),
        updated: date(meta.child_text("updated")),
        authors,
        title: collapse_ws(meta.child_text("title").unwrap_or("")),
        categories: meta
            .child_text("categories")
            .unwrap_or("")
            .split_whitespace()
            .map(str::to_string)
            .collect(),
        comments: meta.child_text("comments").and_then(non_empty),
        journal_ref: meta.child_text("journal-ref").and_then(non_empty),
        doi: meta.child_text("doi").and_then(non_empty),
        license: meta.child_text("license").and_then(non_empty),
        summary: normalize_abstract(meta.child_text("abstract").unwrap_or("")),
        id,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn oai_errors_and_empty_harvests() {
        let err = r#"<OAI-PMH><error code="badArgument">Illegal argument</error></OAI-PMH>"#;
        assert_eq!(
            parse_oai(err).unwrap_err().to_string(),
            "arXiv rejected the request: OAI-PMH badArgument: Illegal argument"
        );
        let empty = r#"<OAI-PMH><error code="noRecordsMatch"/></OAI-PMH>"#;
        assert!(parse_oai(empty).unwrap().records.is_empty());
    }
}
