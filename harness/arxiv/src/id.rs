//! arXiv identifiers, in every form a user may paste.
//!
//! Follows <https://info.arxiv.org/help/arxiv_identifier.html>: new-style `YYMM.NNNN` (2007–2014)
//! and `YYMM.NNNNN` (2015 on), old-style `archive/YYMMNNN` (1991–2007, optionally with a subject
//! class, `math.GT/0309136`, which is not part of the identifier), each with an optional version
//! `vN`. Accepted wrappers: an `arXiv:` prefix and abs/pdf/html URLs of arxiv.org and its mirrors.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use super::error::Error;

/// Archives that had old-style identifiers (`hep-th/9901001`).
const OLD_ARCHIVES: &[&str] = &[
    "acc-phys", "adap-org", "alg-geom", "ao-sci", "astro-ph", "atom-ph", "bayes-an", "chao-dyn",
    "chem-ph", "cmp-lg", "comp-gas", "cond-mat", "cs", "dg-ga", "funct-an", "gr-qc", "hep-ex",
    "hep-lat", "hep-ph", "hep-th", "math", "math-ph", "mtrl-th", "nlin", "nucl-ex", "nucl-th",
    "patt-sol", "physics", "plasm-ph", "q-alg", "q-bio", "quant-ph", "solv-int", "supr-con",
];

/// An arXiv identifier, with or without a version.
///
/// `Display` writes the canonical form (`1706.03762v5`, `hep-th/9901001`); ordering is by the
/// identifier's text, then version.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ArxivId {
    base: String,
    version: Option<u32>,
}

impl ArxivId {
    /// Parses any accepted form: `1706.03762`, `1706.03762v5`, `arXiv:1706.03762`,
    /// `https://arxiv.org/abs/1706.03762v5`, `https://arxiv.org/pdf/1706.03762.pdf`,
    /// `hep-th/9901001`, `math.GT/0309136v2`.
    pub fn parse(input: &str) -> Result<Self, Error> {
        let invalid = |reason: &str| Error::InvalidId {
            input: input.to_string(),
            reason: reason.to_string(),
        };
        let mut s = input.trim();
        if s.is_empty() {
            return Err(invalid("empty"));
        }
        if s.len() > 200 {
            return Err(invalid("too long"));
        }
        if let Some(rest) = strip_prefix_ignore_case(s, "arxiv:") {
            s = rest.trim_start();
        }
        let owned;
        if looks_like_url(s) {
            owned = id_from_url(s).map_err(|reason| invalid(&reason))?;
            s = &owned;
        }
        let (body, version) = split_version(s).map_err(|reason| invalid(&reason))?;
        let base = if let Some((archive, number)) = body.split_once('/') {
            parse_old_style(archive, number).map_err(|reason| invalid(&reason))?
        } else {
            parse_new_style(body).map_err(|reason| invalid(&reason))?
        };
        Ok(ArxivId { base, version })
    }

    /// The identifier without its version (`1706.03762`).
    pub fn base(&self) -> &str {
        &self.base
    }

    /// The version, if the identifier names one.
    pub fn version(&self) -> Option<u32> {
        self.version
    }

    /// The same paper without a version.
    pub fn without_version(&self) -> ArxivId {
        ArxivId {
            base: self.base.clone(),
            version: None,
        }
    }

    /// The same paper at `version`.
    pub fn with_version(&self, version: u32) -> ArxivId {
        ArxivId {
            base: self.base.clone(),
            version: Some(version),
        }
    }

    /// True for pre-2007 identifiers (`hep-th/9901001`).
    pub fn is_old_style(&self) -> bool {
        self.base.contains('/')
    }

    /// Year of submission encoded in the identifier (`YYMM`).
    pub fn year(&self) -> i32 {
        let digits = match self.base.split_once('/') {
            Some((_, number)) => number,
            None => &self.base,
        };
        let yy: i32 = digits.get(..2).and_then(|d| d.parse().ok()).unwrap_or(0);
        if yy >= 91 { 1900 + yy } else { 2000 + yy }
    }

    /// `https://arxiv.org/abs/<id>`.
    pub fn abs_url(&self) -> String {
        format!("https://arxiv.org/abs/{self}")
    }

    /// `https://arxiv.org/pdf/<id>`.
    pub fn pdf_url(&self) -> String {
        format!("https://arxiv.org/pdf/{self}")
    }
}

impl fmt::Display for ArxivId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.version {
            Some(v) => write!(f, "{}v{v}", self.base),
            None => f.write_str(&self.base),
        }
    }
}

impl FromStr for ArxivId {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self, Error> {
        ArxivId::parse(s)
    }
}

impl Serialize for ArxivId {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for ArxivId {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let s = String::deserialize(deserializer)?;
        ArxivId::parse(&s).map_err(serde::de::Error::custom)
    }
}

fn strip_prefix_ignore_case<'a>(s: &'a str, prefix: &str) -> Option<&'a str> {
    let head = s.get(..prefix.len())?;
    head.eq_ignore_ascii_case(prefix)
        .then(|| &s[prefix.len()..])
}

fn looks_like_url(s: &str) -> bool {
    let lower = s.to_ascii_lowercase();
    lower.starts_with("http://")
        || lower.starts_with("https://")
        || lower.starts_with("arxiv.org/")
        || lower.starts_with("www.arxiv.org/")
        || lower.starts_with("export.arxiv.org/")
}

/// The identifier part of an arxiv.org URL (`https://arxiv.org/pdf/1706.03762v5.pdf` →
/// `1706.03762v5`).
fn id_from_url(url: &str) -> Result<String, String> {
    let rest = url.split_once("://").map_or(url, |(_, rest)| rest);
    let (host, path) = rest.split_once('/').unwrap_or((rest, ""));
    let host = host.rsplit_once('@').map_or(host, |(_, h)| h);
    let host = host.split(':').next().unwrap_or(host).to_ascii_lowercase();
    if host != "arxiv.org" && !host.ends_with(".arxiv.org") {
        return Err(format!("`{host}` is not an arXiv host"));
    }
    let path = path.split(['?', '#']).next().unwrap_or("");
    let path = path.trim_end_matches('/');
    let id = ["abs/", "pdf/", "html/", "format/", "ps/"]
        .iter()
        .find_map(|kind| path.strip_prefix(kind))
        .ok_or_else(|| "the URL is not an abs, pdf or html page".to_string())?;
    let id = id.strip_suffix(".pdf").unwrap_or(id);
    Ok(id.to_string())
}

/// Splits a trailing `vN` off; `v0` and `v` alone are errors.
fn split_version(s: &str) -> Result<(&str, Option<u32>), String> {
    if let Some(pos) = s.rfind(['v', 'V']) {
        let digits = &s[pos + 1..];
        if !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit()) {
            let version: u32 = digits
                .parse()
                .map_err(|_| "version number too large".to_string())?;
            if version == 0 {
                return Err("versions start at v1".to_string());
            }
            return Ok((&s[..pos], Some(version)));
        }
        if digits.is_empty() && pos + 1 == s.len() {
            return Err("a version needs a number (`v2`)".to_string());
        }
    }
    Ok((s, None))
}

fn parse_new_style(body: &str) -> Result<String, String> {
    let (yymm, number) = body
        .split_once('.')
        .ok_or_else(|| "expected YYMM.NNNNN or archive/YYMMNNN".to_string())?;
    if yymm.len() != 4 || !yymm.bytes().all(|b| b.is_ascii_digit()) {
        return Err("expected four digits YYMM before the dot".to_string());
    }
    if !(4..=5).contains(&number.len()) || !number.bytes().all(|b| b.is_ascii_digit()) {
        return Err("expected four or five digits after the dot".to_string());
    }
    check_month(&yymm[2..])?;
    Ok(body.to_string())
}

fn parse_old_style(archive: &str, number: &str) -> Result<String, String> {
    // The subject class (`math.GT`) is not part of the identifier.
    let archive = archive
        .split('.')
        .next()
        .unwrap_or(archive)
        .to_ascii_lowercase();
    if !OLD_ARCHIVES.contains(&archive.as_str()) {
        return Err(format!(
            "`{archive}` is not an arXiv archive with old-style ids"
        ));
    }
    if number.len() != 7 || !number.bytes().all(|b| b.is_ascii_digit()) {
        return Err("expected seven digits YYMMNNN after the archive".to_string());
    }
    check_month(&number[2..4])?;
    Ok(format!("{archive}/{number}"))
}

fn check_month(mm: &str) -> Result<(), String> {
    match mm.parse::<u32>() {
        Ok(1..=12) => Ok(()),
        _ => Err(format!("`{mm}` is not a month")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id(s: &str) -> String {
        ArxivId::parse(s)
            .map(|i| i.to_string())
            .unwrap_or_else(|e| format!("ERR {e}"))
    }

    #[test]
    fn accepts_every_documented_form() {
        assert_eq!(id("1706.03762"), "1706.03762");
        assert_eq!(id("1706.03762v5"), "1706.03762v5");
        assert_eq!(id("arXiv:1706.03762"), "1706.03762");
        assert_eq!(id("ARXIV: 1706.03762v2"), "1706.03762v2");
        assert_eq!(id("https://arxiv.org/abs/1706.03762"), "1706.03762");
        assert_eq!(id("http://arxiv.org/abs/1706.03762v7"), "1706.03762v7");
        assert_eq!(id("https://arxiv.org/pdf/1706.03762v5.pdf"), "1706.03762v5");
        assert_eq!(id("https://arxiv.org/pdf/1706.03762"), "1706.03762");
        assert_eq!(
            id("https://export.arxiv.org/abs/1706.03762?context=cs"),
            "1706.03762"
        );
        assert_eq!(id("arxiv.org/abs/2401.01234/"), "2401.01234");
        assert_eq!(id("https://arxiv.org/html/2401.01234v2#S3"), "2401.01234v2");
        assert_eq!(id("hep-th/9901001"), "hep-th/9901001");
        assert_eq!(id("hep-th/9901001v3"), "hep-th/9901001v3");
        assert_eq!(id("math.GT/0309136"), "math/0309136");
        assert_eq!(
            id("https://arxiv.org/abs/hep-th/9901001v1"),
            "hep-th/9901001v1"
        );
        assert_eq!(id("  0704.0001  "), "0704.0001");
    }

    #[test]
    fn rejects_malformed_ids_with_a_reason() {
        for bad in [
            "",
            "abc",
            "1706",
            "1706.037",
            "1706.0376212",
            "1713.03762",
            "1706.03762v0",
            "1706.03762v",
            "hepth/9901001",
            "hep-th/990100",
            "https://example.com/abs/1706.03762",
            "https://arxiv.org/list/cs.CL/new",
            "../../etc/passwd",
            "1706.03762/../x",
        ] {
            assert!(
                id(bad).starts_with("ERR"),
                "{bad:?} was accepted as {}",
                id(bad)
            );
        }
        assert!(id("1713.03762").contains("not a month"));
    }

    #[test]
    fn year_and_versions() {
        let a = ArxivId::parse("1706.03762v5").unwrap();
        assert_eq!(a.base(), "1706.03762");
        assert_eq!(a.version(), Some(5));
        assert_eq!(a.year(), 2017);
        assert_eq!(a.without_version().to_string(), "1706.03762");
        assert_eq!(
            a.with_version(7).pdf_url(),
            "https://arxiv.org/pdf/1706.03762v7"
        );
        assert_eq!(ArxivId::parse("hep-th/9901001").unwrap().year(), 1999);
        assert_eq!(ArxivId::parse("astro-ph/0601001").unwrap().year(), 2006);
        assert!(ArxivId::parse("astro-ph/0601001").unwrap().is_old_style());
    }
}
