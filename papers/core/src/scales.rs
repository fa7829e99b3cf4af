//! Scales as data: a paper's `scales.toml` read into its own settings type and validated on load,
//! so that a bad value is a clear error naming the file, the scale and the field, never a panic
//! half-way through a training.
//!
//! ```text
//! papers/attention/scales.toml [small]: model.d_model = 100 is not divisible by model.n_heads = 8
//! ```

use std::collections::BTreeMap;
use std::fmt::Display;

use serde::de::DeserializeOwned;

use crate::run::Scale;

/// A scale's settings know their own constraints.
pub trait Validate {
    /// Records every broken constraint in `check`.
    fn validate(&self, check: &mut Check);
}

/// Collects the broken constraints of a scale, each with its field.
#[derive(Debug, Default)]
pub struct Check {
    problems: Vec<String>,
}

impl Check {
    /// Records `message` about `field` unless `ok`.
    pub fn that(&mut self, ok: bool, field: &str, message: impl Display) {
        if !ok {
            self.problems.push(format!("{field} {message}"));
        }
    }

    /// `field` must be at least `min`.
    pub fn at_least<T: PartialOrd + Display>(&mut self, field: &str, value: T, min: T) {
        let ok = value >= min;
        self.that(ok, field, format_args!("= {value} must be at least {min}"));
    }

    /// `field` must lie in `[low, high)` (a rate, a probability).
    pub fn in_range(&mut self, field: &str, value: f64, low: f64, high: f64) {
        let ok = (low..high).contains(&value);
        self.that(
            ok,
            field,
            format_args!("= {value} must be in [{low}, {high})"),
        );
    }

    /// `field` (a list) must not be empty.
    pub fn non_empty<T>(&mut self, field: &str, values: &[T]) {
        self.that(!values.is_empty(), field, "must not be empty");
    }

    /// `numerator_field` must be divisible by `denominator_field`.
    pub fn divisible(&mut self, field: &str, value: usize, by_field: &str, by: usize) {
        let ok = by > 0 && value.is_multiple_of(by);
        self.that(
            ok,
            field,
            format_args!("= {value} is not divisible by {by_field} = {by}"),
        );
    }

    /// The problems found, in the order checked.
    pub fn problems(&self) -> &[String] {
        &self.problems
    }
}

/// Loads `ctx.scale` from the run's `--scales` file when one was given, else from the paper's
/// own `scales.toml` (`text`, named `file` in errors).
pub fn load_for<T: DeserializeOwned + Validate>(
    ctx: &crate::RunContext,
    text: &str,
    file: &str,
) -> anyhow::Result<T> {
    match &ctx.scales {
        Some((path, given)) => load(given, &path.display().to_string(), ctx.scale),
        None => load(text, file, ctx.scale),
    }
}

/// Reads scale `scale` of the TOML `text` (named `file` in errors) and validates it.
///
/// Unknown fields are errors when the settings type denies them (`#[serde(deny_unknown_fields)]`),
/// so a misspelt key is not silently ignored.
pub fn load<T: DeserializeOwned + Validate>(
    text: &str,
    file: &str,
    scale: Scale,
) -> anyhow::Result<T> {
    let mut all: BTreeMap<String, toml::Value> =
        toml::from_str(text).map_err(|error| anyhow::anyhow!("{file}: {error}"))?;
    let table = all
        .remove(scale.name())
        .ok_or_else(|| anyhow::anyhow!("{file} has no [{scale}] section"))?;
    let settings: T = table.try_into().map_err(|error: toml::de::Error| {
        anyhow::anyhow!("{file} [{scale}]: {}", error.message())
    })?;
    let mut check = Check::default();
    settings.validate(&mut check);
    match check.problems() {
        [] => Ok(settings),
        problems => anyhow::bail!("{file} [{scale}]: {}", problems.join("; ")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(serde::Deserialize, Debug)]
    #[serde(deny_unknown_fields)]
    struct Settings {
        d_model: usize,
        n_heads: usize,
        dropout: f64,
        heads: Vec<usize>,
    }

    impl Validate for Settings {
        fn validate(&self, check: &mut Check) {
            check.divisible("d_model", self.d_model, "n_heads", self.n_heads);
            check.in_range("dropout", self.dropout, 0.0, 1.0);
            check.non_empty("heads", &self.heads);
        }
    }

    #[test]
    fn a_bad_value_names_the_file_scale_and_field() {
        let text = "[tiny]\nd_model = 100\nn_heads = 8\ndropout = 1.5\nheads = []\n";
        let error = load::<Settings>(text, "scales.toml", Scale::Tiny)
            .unwrap_err()
            .to_string();
        assert_eq!(
            error,
            "scales.toml [tiny]: d_model = 100 is not divisible by n_heads = 8; dropout = 1.5 \
             must be in [0, 1); heads must not be empty"
        );
    }

    #[test]
    fn unknown_and_missing_fields_and_sections_are_errors() {
        let typo = "[tiny]\nd_model = 16\nn_heads = 4\ndropout = 0.1\nheads = [1]\nd_mdoel = 3\n";
        let error = load::<Settings>(typo, "s.toml", Scale::Tiny)
            .unwrap_err()
            .to_string();
        assert!(error.contains("d_mdoel"), "{error}");
        let missing = "[tiny]\nd_model = 16\n";
        assert!(load::<Settings>(missing, "s.toml", Scale::Tiny).is_err());
        let error = load::<Settings>("[tiny]\n", "s.toml", Scale::Small)
            .unwrap_err()
            .to_string();
        assert_eq!(error, "s.toml has no [small] section");
        let good = "[tiny]\nd_model = 16\nn_heads = 4\ndropout = 0.1\nheads = [1]\n";
        assert_eq!(
            load::<Settings>(good, "s.toml", Scale::Tiny)
                .unwrap()
                .d_model,
            16
        );
    }
}
