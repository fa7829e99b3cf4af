//! Published numbers, read from a paper crate's `published.toml`.
//!
//! Plain data: every number the suite compares against, with the table, row, metric and dataset it
//! comes from, and `reproduced_by`, the reproduced metric (`experiment.metric`) it is set beside.

use anyhow::Context;
use serde::{Deserialize, Serialize};

/// The whole `published.toml`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Published {
    /// Bibliographic metadata.
    pub paper: PublishedPaper,
    /// One entry per published number (absent in a fresh stub).
    #[serde(default)]
    pub result: Vec<PublishedResult>,
}

/// The `[paper]` table.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct PublishedPaper {
    /// arXiv identifier without version.
    pub arxiv_id: String,
    /// The arXiv version the numbers were read from (`v7`).
    #[serde(default)]
    pub version: Option<String>,
    /// Title.
    pub title: String,
    /// Authors, in order.
    pub authors: Vec<String>,
    /// Year of first publication.
    pub year: u16,
    /// arXiv primary category.
    #[serde(default)]
    pub primary_category: Option<String>,
    /// Abstract page.
    #[serde(default)]
    pub url: Option<String>,
}

/// One published number.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct PublishedResult {
    /// Unique id (`table3.A.heads_1.bleu`).
    pub key: String,
    /// Where it is printed (`Table 3`).
    pub table: String,
    /// The row or configuration, in the paper's words (`(A) h=1, d_k=d_v=512`).
    pub row: String,
    /// Metric name as printed (`BLEU`, `PPL (dev)`).
    pub metric: String,
    /// Dataset and split the paper used (`newstest2013`).
    pub dataset: String,
    /// The number.
    pub value: f64,
    /// Direction of "better" for this metric.
    #[serde(default = "default_true")]
    pub higher_is_better: bool,
    /// The reproduced metric (`experiment.metric`) it is compared with; `None` when this scale
    /// does not reproduce it (the number is still shown, for context).
    #[serde(default)]
    pub reproduced_by: Option<String>,
    /// Protocol details worth knowing when comparing.
    #[serde(default)]
    pub notes: Option<String>,
}

fn default_true() -> bool {
    true
}

impl Published {
    /// Parses a `published.toml`, checking that keys are unique.
    pub fn from_toml(text: &str) -> anyhow::Result<Self> {
        let published: Published = toml::from_str(text).context("parsing published.toml")?;
        let mut keys = std::collections::BTreeSet::new();
        for result in &published.result {
            anyhow::ensure!(
                keys.insert(result.key.as_str()),
                "published.toml: duplicate result key `{}`",
                result.key
            );
        }
        Ok(published)
    }

    /// The published number with this key.
    pub fn get(&self, key: &str) -> Option<&PublishedResult> {
        self.result.iter().find(|r| r.key == key)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stub_without_results_parses() {
        let text = r#"
[paper]
arxiv_id = "2401.01234"
title = "T"
authors = ["A. One"]
year = 2024
"#;
        let published = Published::from_toml(text).unwrap();
        assert!(published.result.is_empty());
        assert_eq!(published.paper.year, 2024);
    }

    #[test]
    fn duplicate_keys_are_rejected() {
        let text = r#"
[paper]
arxiv_id = "1"
title = "T"
authors = []
year = 2017
[[result]]
key = "a"
table = "Table 1"
row = "r"
metric = "BLEU"
dataset = "d"
value = 1.0
[[result]]
key = "a"
table = "Table 1"
row = "r"
metric = "BLEU"
dataset = "d"
value = 2.0
"#;
        let error = Published::from_toml(text).unwrap_err().to_string();
        assert!(error.contains("duplicate result key `a`"), "{error}");
    }
}
