//! One paper's metadata as the arXiv API describes it.

use chrono::{DateTime, Datelike, Utc};
use serde::Serialize;

use super::id::ArxivId;
use super::text;

/// An author, with the affiliations arXiv records for them (often none).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Author {
    /// Full name as submitted (`Ashish Vaswani`).
    pub name: String,
    /// Affiliations, in the order given.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub affiliations: Vec<String>,
}

impl Author {
    /// `Name (Affiliation; Other)`, or the bare name when no affiliation is given.
    pub fn with_affiliations(&self) -> String {
        match self.affiliations.as_slice() {
            [] => self.name.clone(),
            affiliations => format!("{} ({})", self.name, affiliations.join("; ")),
        }
    }

    /// The family name used for citation keys: the last word of the name, skipping suffixes
    /// (`Jr.`, `III`), folded to ASCII and lowercased; `anon` when there is none.
    pub fn surname_key(&self) -> String {
        const SUFFIXES: &[&str] = &["jr", "sr", "ii", "iii", "iv"];
        let words = text::ascii_words(&self.name);
        words
            .iter()
            .rev()
            .find(|w| !SUFFIXES.contains(&w.as_str()) && w.chars().any(|c| c.is_ascii_alphabetic()))
            .cloned()
            .unwrap_or_else(|| "anon".to_string())
    }

    /// The family name for display: the last word of the name without suffixes (`Vaswani`).
    pub fn surname(&self) -> &str {
        const SUFFIXES: &[&str] = &["Jr.", "Jr", "Sr.", "II", "III", "IV"];
        let mut words = self
            .name
            .split(|c: char| c.is_whitespace() || c == ',')
            .filter(|w| !w.is_empty());
        words.rfind(|w| !SUFFIXES.contains(w)).unwrap_or(&self.name)
    }
}

/// One arXiv paper (at one version) as the query API returns it.
#[derive(Debug, Clone, PartialEq)]
pub struct Entry {
    /// The identifier with the version the API answered with (`1706.03762v7`).
    pub id: ArxivId,
    /// Title, whitespace collapsed. May be any text, `"0"` included.
    pub title: String,
    /// Authors in order.
    pub authors: Vec<Author>,
    /// Abstract: paragraphs separated by a blank line.
    pub summary: String,
    /// Date of the first version (v1).
    pub published: Option<DateTime<Utc>>,
    /// Date of this (the latest returned) version.
    pub updated: Option<DateTime<Utc>>,
    /// Primary category (`cs.CL`).
    pub primary_category: Option<String>,
    /// Every category, primary first.
    pub categories: Vec<String>,
    /// The authors' comment (`15 pages, 5 figures`).
    pub comment: Option<String>,
    /// Journal reference, if published.
    pub journal_ref: Option<String>,
    /// DOI of the published version.
    pub doi: Option<String>,
    /// Abstract page URL.
    pub abs_url: String,
    /// PDF URL.
    pub pdf_url: String,
}

impl Entry {
    /// The version number, when the API gave one.
    pub fn version(&self) -> Option<u32> {
        self.id.version()
    }

    /// Year of v1: from the `published` date, else from the identifier.
    pub fn year(&self) -> i32 {
        self.published.map_or_else(|| self.id.year(), |d| d.year())
    }

    /// `Vaswani et al.`, `Vaswani and Shazeer`, `Vaswani`.
    pub fn short_authors(&self) -> String {
        match self.authors.as_slice() {
            [] => "Anonymous".to_string(),
            [a] => a.surname().to_string(),
            [a, b] => format!("{} and {}", a.surname(), b.surname()),
            [a, ..] => format!("{} et al.", a.surname()),
        }
    }

    /// `Ashish Vaswani et al.`: the first author's full name.
    pub fn first_author_et_al(&self) -> String {
        match self.authors.as_slice() {
            [] => "Anonymous".to_string(),
            [a] => a.name.clone(),
            [a, b] => format!("{} and {}", a.name, b.name),
            [a, ..] => format!("{} et al.", a.name),
        }
    }

    /// The DOI as a resolvable URL.
    pub fn doi_url(&self) -> Option<String> {
        self.doi.as_ref().map(|d| format!("https://doi.org/{d}"))
    }
}

#[derive(Serialize)]
struct EntryJson<'a> {
    id: &'a str,
    version: Option<u32>,
    versioned_id: String,
    title: &'a str,
    authors: &'a [Author],
    #[serde(rename = "abstract")]
    summary: &'a str,
    published: Option<DateTime<Utc>>,
    updated: Option<DateTime<Utc>>,
    primary_category: Option<&'a str>,
    categories: &'a [String],
    comment: Option<&'a str>,
    journal_ref: Option<&'a str>,
    doi: Option<&'a str>,
    abs_url: &'a str,
    pdf_url: &'a str,
}

impl Serialize for Entry {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        EntryJson {
            id: self.id.base(),
            version: self.id.version(),
            versioned_id: self.id.to_string(),
            title: &self.title,
            authors: &self.authors,
            summary: &self.summary,
            published: self.published,
            updated: self.updated,
            primary_category: self.primary_category.as_deref(),
            categories: &self.categories,
            comment: self.comment.as_deref(),
            journal_ref: self.journal_ref.as_deref(),
            doi: self.doi.as_deref(),
            abs_url: &self.abs_url,
            pdf_url: &self.pdf_url,
        }
        .serialize(serializer)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn author(name: &str) -> Author {
        Author {
            name: name.to_string(),
            affiliations: vec![],
        }
    }

    #[test]
    fn surnames() {
        assert_eq!(author("Ashish Vaswani").surname_key(), "vaswani");
        assert_eq!(author("Dirk Wübben").surname_key(), "wubben");
        assert_eq!(author("Martin Luther King Jr.").surname_key(), "king");
        assert_eq!(author("Martin Luther King Jr.").surname(), "King");
        assert_eq!(author("李").surname_key(), "anon");
        assert_eq!(author("Joost van der Putten").surname(), "Putten");
    }
}
