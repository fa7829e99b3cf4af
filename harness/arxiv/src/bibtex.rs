//! BibTeX in arXiv's own export format (the "Export BibTeX Citation" link of an abstract page):
//!
//! ```bibtex
//! @misc{vaswani2017attention,
//!       title={Attention Is All You Need},
//!       author={Ashish Vaswani and Noam Shazeer and Niki Parmar and Jakob Uszkoreit and Llion Jones and Aidan N. Gomez and Lukasz Kaiser and Illia Polosukhin},
//!       year={2017},
//!       eprint={1706.03762},
//!       archivePrefix={arXiv},
//!       primaryClass={cs.CL},
//!       url={https://arxiv.org/abs/1706.03762},
//! }
//! ```
//!
//! Unlike arXiv's export, the key and the year use the first version's date (the year a paper is
//! cited by), and the key takes one title word: first author's surname + year + first title word
//! that is not a stop word, lowercase ASCII.

use super::entry::Entry;
use super::text;

/// Title words skipped when picking the key's word.
const STOP_WORDS: &[&str] = &[
    "a", "about", "all", "an", "and", "are", "as", "at", "be", "beyond", "by", "can", "do", "does",
    "for", "from", "how", "in", "into", "is", "it", "its", "of", "on", "or", "our", "over", "the",
    "their", "this", "to", "toward", "towards", "under", "via", "we", "what", "when", "where",
    "which", "who", "why", "with", "without", "you", "your",
];

/// The citation key: `vaswani2017attention`.
pub fn citation_key(entry: &Entry) -> String {
    let surname = entry
        .authors
        .first()
        .map_or_else(|| "anon".to_string(), |a| a.surname_key());
    let words = text::ascii_words(&entry.title);
    let word = words
        .iter()
        .find(|w| !STOP_WORDS.contains(&w.as_str()))
        .or(words.first());
    format!(
        "{surname}{}{}",
        entry.year(),
        word.map_or("", String::as_str)
    )
}

/// The entry as BibTeX, ending with a newline.
pub fn to_bibtex(entry: &Entry) -> String {
    let authors: Vec<&str> = entry.authors.iter().map(|a| a.name.as_str()).collect();
    let mut fields: Vec<(&str, String)> = vec![
        ("title", entry.title.clone()),
        ("author", authors.join(" and ")),
        ("year", entry.year().to_string()),
        ("eprint", entry.id.base().to_string()),
        ("archivePrefix", "arXiv".to_string()),
    ];
    if let Some(primary) = &entry.primary_category {
        fields.push(("primaryClass", primary.clone()));
    }
    if let Some(doi) = &entry.doi {
        fields.push(("doi", doi.clone()));
    }
    fields.push(("url", entry.id.without_version().abs_url()));
    let mut out = format!("@misc{{{},\n", citation_key(entry));
    for (name, value) in fields {
        out.push_str(&format!("      {name}={{{}}},\n", braces_balanced(&value)));
    }
    out.push_str("}\n");
    out
}

/// The value with its braces kept when balanced, removed otherwise (an unbalanced brace would
/// end the field early).
fn braces_balanced(value: &str) -> String {
    let mut depth: i64 = 0;
    for c in value.chars() {
        match c {
            '{' => depth += 1,
            '}' => depth -= 1,
            _ => {}
        }
        if depth < 0 {
            break;
        }
    }
    if depth == 0 {
        value.to_string()
    } else {
        value.replace(['{', '}'], "")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{ArxivId, Author};

    fn entry(title: &str, authors: &[&str], doi: Option<&str>) -> Entry {
        Entry {
            id: ArxivId::parse("1706.03762v7").unwrap(),
            title: title.to_string(),
            authors: authors
                .iter()
                .map(|n| Author {
                    name: n.to_string(),
                    affiliations: vec![],
                })
                .collect(),
            summary: String::new(),
            published: chrono::DateTime::parse_from_rfc3339("2017-06-12T17:57:34Z")
                .ok()
                .map(|d| d.to_utc()),
            updated: None,
            primary_category: Some("cs.CL".to_string()),
            categories: vec!["cs.CL".to_string(), "cs.LG".to_string()],
            comment: None,
            journal_ref: None,
            doi: doi.map(str::to_string),
            abs_url: String::new(),
            pdf_url: String::new(),
        }
    }

    #[test]
    fn arxiv_export_format() {
        let e = entry(
            "Attention Is All You Need",
            &["Ashish Vaswani", "Noam Shazeer"],
            None,
        );
        assert_eq!(
            to_bibtex(&e),
            "@misc{vaswani2017attention,\n      title={Attention Is All You Need},\n      author={Ashish Vaswani and Noam Shazeer},\n      year={2017},\n      eprint={1706.03762},\n      archivePrefix={arXiv},\n      primaryClass={cs.CL},\n      url={https://arxiv.org/abs/1706.03762},\n}\n"
        );
    }

    #[test]
    fn keys_skip_stop_words_and_fold_names() {
        assert_eq!(
            citation_key(&entry(
                "On the Dangers of Stochastic Parrots",
                &["Emily M. Bender"],
                None
            )),
            "bender2017dangers"
        );
        assert_eq!(
            citation_key(&entry("0", &["Quan Thoi Minh Nguyen"], None)),
            "nguyen20170"
        );
        assert_eq!(
            citation_key(&entry("The", &["Łukasz Kaiser"], None)),
            "kaiser2017the"
        );
        assert_eq!(citation_key(&entry("", &[], None)), "anon2017");
    }

    #[test]
    fn doi_and_unbalanced_braces() {
        let b = to_bibtex(&entry("A {B", &["X Y"], Some("10.1/x")));
        assert!(b.contains("title={A B},"));
        assert!(b.contains("primaryClass={cs.CL},\n      doi={10.1/x},\n      url="));
    }
}
