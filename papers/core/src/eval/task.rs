//! A task as data: what `tasks/*.toml` holds for each task, and the instances it is asked on.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// How a task's answers are scored (lm-evaluation-harness's `output_type`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OutputType {
    /// The log-likelihood of the target given the prompt, and whether greedy decoding would
    /// produce it (LAMBADA's accuracy and perplexity).
    Loglikelihood,
    /// One log-likelihood per choice; the argmax is the answer (`acc`, `acc_norm`).
    MultipleChoice,
    /// Greedy decoding until a stop sequence; exact match against the target.
    GenerateUntil,
}

/// One task's definition, as read from a task family's TOML file (`[[task]]`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TaskSpec {
    /// The task's id (`2d_plus`), unique in the paper.
    pub name: String,
    /// Bumped whenever anything that changes its numbers changes (lm-eval's `version`).
    pub version: u32,
    /// How answers are scored.
    pub output_type: OutputType,
    /// Text before the demonstrations (the paper's natural-language task description); empty
    /// for none.
    #[serde(default)]
    pub description: String,
    /// Template of an instance's question; `{field}` is replaced by the instance's field.
    pub doc_to_text: String,
    /// Template of an instance's answer.
    pub doc_to_target: String,
    /// Between a question and its answer (lm-eval's `target_delimiter`, default one space).
    #[serde(default = "default_target_delimiter")]
    pub target_delimiter: String,
    /// Between demonstrations, and between the last one and the question (default a blank line).
    #[serde(default = "default_fewshot_delimiter")]
    pub fewshot_delimiter: String,
    /// Where greedy decoding stops (`generate_until`); the stop text is not part of the answer.
    #[serde(default)]
    pub until: Vec<String>,
    /// The most tokens decoded for one answer (`generate_until`).
    #[serde(default = "default_max_new_tokens")]
    pub max_new_tokens: usize,
    /// Context for unconditional normalisation of choices (the paper's `P(completion|context) /
    /// P(completion|answer_context)`, §2.4), e.g. `Answer:`; absent where the paper does not use it.
    #[serde(default)]
    pub unconditional_context: Option<String>,
    /// The metrics reported (`acc`, `acc_norm`, `acc_uncond`, `answer_logprob`, `exact_match`,
    /// `perplexity`).
    pub metrics: Vec<String>,
    /// The paper-specific generator or reader and its parameters.
    pub generator: toml::Table,
}

fn default_target_delimiter() -> String {
    " ".into()
}
fn default_fewshot_delimiter() -> String {
    "\n\n".into()
}
fn default_max_new_tokens() -> usize {
    16
}

/// Metric names a task may ask for.
pub const METRICS: [&str; 6] = [
    "acc",
    "acc_norm",
    "acc_uncond",
    "answer_logprob",
    "exact_match",
    "perplexity",
];

/// A task family's file: a list of tasks.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TaskFile {
    /// The family's tasks.
    pub task: Vec<TaskSpec>,
}

impl TaskSpec {
    /// Parses a family's TOML (`source` names it in errors) and checks every task.
    pub fn parse_family(source: &str, text: &str) -> anyhow::Result<Vec<TaskSpec>> {
        let file: TaskFile = toml::from_str(text).map_err(|e| anyhow::anyhow!("{source}: {e}"))?;
        for task in &file.task {
            task.check()
                .map_err(|e| anyhow::anyhow!("{source}: task `{}`: {e}", task.name))?;
        }
        Ok(file.task)
    }

    fn check(&self) -> anyhow::Result<()> {
        for metric in &self.metrics {
            anyhow::ensure!(
                METRICS.contains(&metric.as_str()),
                "unknown metric `{metric}` (known: {})",
                METRICS.join(", ")
            );
        }
        anyhow::ensure!(!self.metrics.is_empty(), "no metrics");
        if self.output_type == OutputType::GenerateUntil {
            anyhow::ensure!(
                !self.until.is_empty() || self.max_new_tokens > 0,
                "generate_until needs `until` or `max_new_tokens`"
            );
        }
        Ok(())
    }

    /// The question of `doc`.
    pub fn text(&self, doc: &Doc) -> anyhow::Result<String> {
        fill(&self.doc_to_text, doc)
    }

    /// The answer of `doc`.
    pub fn target(&self, doc: &Doc) -> anyhow::Result<String> {
        fill(&self.doc_to_target, doc)
    }
}

/// One instance of a task: named fields for the templates, and for multiple choice the choices
/// and the gold index.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct Doc {
    /// Values of the templates' `{field}`s.
    pub fields: BTreeMap<String, String>,
    /// The answer choices (multiple choice only).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub choices: Vec<String>,
    /// Index of the correct choice (multiple choice only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gold: Option<usize>,
}

impl Doc {
    /// An instance from `(field, value)` pairs.
    pub fn from_fields<K: Into<String>, V: Into<String>>(
        fields: impl IntoIterator<Item = (K, V)>,
    ) -> Self {
        Self {
            fields: fields
                .into_iter()
                .map(|(k, v)| (k.into(), v.into()))
                .collect(),
            ..Self::default()
        }
    }

    /// The value of `field`, or an error naming it.
    pub fn field(&self, field: &str) -> anyhow::Result<&str> {
        self.fields
            .get(field)
            .map(String::as_str)
            .ok_or_else(|| anyhow::anyhow!("the instance has no field `{field}`"))
    }
}

/// `template` with each `{field}` replaced by `doc`'s value; `{{` and `}}` are literal braces.
pub fn fill(template: &str, doc: &Doc) -> anyhow::Result<String> {
    let mut out = String::with_capacity(template.len() + 16);
    let mut rest = template;
    while let Some(i) = rest.find(['{', '}']) {
        out.push_str(&rest[..i]);
        let brace = &rest[i..];
        if brace.starts_with("{{") || brace.starts_with("}}") {
            out.push_str(&brace[..1]);
            rest = &brace[2..];
        } else if let Some(field) = brace.strip_prefix('{') {
            let end = field
                .find('}')
                .ok_or_else(|| anyhow::anyhow!("unclosed `{{` in template `{template}`"))?;
            out.push_str(doc.field(&field[..end])?);
            rest = &field[end + 1..];
        } else {
            anyhow::bail!("lone `}}` in template `{template}`");
        }
    }
    out.push_str(rest);
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn templates_fill_fields_and_keep_doubled_braces() {
        let doc = Doc::from_fields([("a", "48"), ("b", "76")]);
        assert_eq!(
            fill("Q: What is {a} plus {b}? A:", &doc).unwrap(),
            "Q: What is 48 plus 76? A:"
        );
        assert_eq!(fill("{{a}} {a}", &doc).unwrap(), "{a} 48");
        let missing = fill("{c}", &doc).unwrap_err().to_string();
        assert!(missing.contains("no field `c`"), "{missing}");
        assert!(fill("{a", &doc).is_err());
        assert!(fill("a}", &doc).is_err());
    }

    #[test]
    fn a_family_file_is_checked_task_by_task() {
        let good = r#"
[[task]]
name = "t"
version = 1
output_type = "generate_until"
doc_to_text = "Q: {q} A:"
doc_to_target = "{a}"
until = ["\n"]
metrics = ["exact_match"]
generator = { kind = "x" }
"#;
        let tasks = TaskSpec::parse_family("t.toml", good).unwrap();
        assert_eq!(tasks[0].target_delimiter, " ");
        assert_eq!(tasks[0].fewshot_delimiter, "\n\n");
        let bad = good.replace("exact_match", "bleu");
        let error = TaskSpec::parse_family("t.toml", &bad)
            .unwrap_err()
            .to_string();
        assert!(
            error.contains("t.toml") && error.contains("`bleu`"),
            "{error}"
        );
        let typo = good.replace("until =", "untill =");
        assert!(TaskSpec::parse_family("t.toml", &typo).is_err());
    }
}
