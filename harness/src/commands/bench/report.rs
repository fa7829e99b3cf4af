//! What `repro bench` writes: per model and phase, each side's measurements with their median
//! and range, the ratio to PyTorch per alternation, GFLOP/s against the measured fp32 peak and
//! peak memory; as JSON (`results/bench.json`) and Markdown (`results/bench.md`).

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use repro_core::bench::{Measurement, Phase, Workload, WorkloadSize};
use repro_core::report::{BURN_VERSION, RUSTC_VERSION, RunStart};
use serde::{Deserialize, Serialize};

/// Who is measured.
#[derive(Debug, Clone)]
pub enum Side {
    /// This suite, with the given kernels turned off (`REPRO_KERNELS`), or as built.
    Repro {
        /// `REPRO_KERNELS`' value, `None` for the default.
        kernels: Option<String>,
    },
    /// The PyTorch twin.
    Pytorch {
        /// The interpreter.
        python: PathBuf,
        /// `bench/twins.py`.
        twins: PathBuf,
    },
}

impl Side {
    /// The column name.
    pub fn label(&self) -> String {
        match self {
            Side::Repro { kernels: None } => "repro".into(),
            Side::Repro {
                kernels: Some(kernels),
            } => format!("repro (REPRO_KERNELS={kernels})"),
            Side::Pytorch { .. } => "pytorch".into(),
        }
    }
}

/// Median and range of a few numbers.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Spread {
    /// The median (mean of the middle two for an even count).
    pub median: f64,
    /// The smallest.
    pub min: f64,
    /// The largest.
    pub max: f64,
}

impl Spread {
    /// Of `values` (NaN for none).
    pub fn of(values: &[f64]) -> Spread {
        let mut sorted: Vec<f64> = values.iter().copied().filter(|v| v.is_finite()).collect();
        sorted.sort_by(f64::total_cmp);
        let n = sorted.len();
        if n == 0 {
            return Spread {
                median: f64::NAN,
                min: f64::NAN,
                max: f64::NAN,
            };
        }
        let median = if n % 2 == 1 {
            sorted[n / 2]
        } else {
            (sorted[n / 2 - 1] + sorted[n / 2]) / 2.0
        };
        Spread {
            median,
            min: sorted[0],
            max: sorted[n - 1],
        }
    }
}

/// One side's runs of one model and phase.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SideSummary {
    /// `repro`, `pytorch`, …
    pub label: String,
    /// Tokens per second over the alternations.
    pub tokens_per_s: Spread,
    /// Achieved GFLOP/s (matrix products counted from the shapes), median.
    pub gflops: f64,
    /// `gflops` over the measured fp32 peak.
    pub peak_fraction: f64,
    /// Peak resident memory of the measuring process, MiB, median.
    pub peak_rss_mb: Option<f64>,
    /// Every measurement, in order.
    pub runs: Vec<Measurement>,
}

/// A side's ratio to PyTorch: tokens/s of the same alternation divided.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Ratio {
    /// The side divided by PyTorch.
    pub side: String,
    /// Per-alternation ratios: median and range.
    pub ratio: Spread,
}

/// One model and phase.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Comparison {
    /// The paper id.
    pub model: String,
    /// The workload's one-line description.
    pub description: String,
    /// Train or score.
    pub phase: Phase,
    /// Parameters of the model.
    pub parameters: usize,
    /// Matrix-product FLOPs per token of the phase.
    pub flops_per_token: f64,
    /// Each side.
    pub sides: Vec<SideSummary>,
    /// Each of this suite's sides against PyTorch (empty without a reference).
    pub ratios: Vec<Ratio>,
}

impl Comparison {
    /// Summarises `runs[i]`, the measurements of `sides[i]`.
    pub fn new(
        workload: &Workload,
        phase: Phase,
        sides: &[Side],
        runs: Vec<Vec<Measurement>>,
        peak_gflops: f64,
    ) -> Comparison {
        let timed = &workload.batches(phase)[workload.warmup.min(workload.batches(phase).len())..];
        let flops: f64 =
            timed.iter().map(|b| b.forward_flops).sum::<f64>() * phase.flops_per_forward();
        let tokens: u64 = timed.iter().map(|b| b.tokens).sum();
        let summaries: Vec<SideSummary> = sides
            .iter()
            .zip(runs)
            .map(|(side, runs)| {
                let per_s: Vec<f64> = runs.iter().map(|m| m.tokens_per_s).collect();
                // Timed batches may run several times over (`min_seconds`): FLOPs per token.
                let per_token = flops / tokens.max(1) as f64;
                let gflops: Vec<f64> = runs
                    .iter()
                    .map(|m| per_token * m.tokens as f64 / m.seconds / 1e9)
                    .collect();
                let memory: Vec<f64> = runs.iter().filter_map(|m| m.peak_rss_mb).collect();
                let gflops = Spread::of(&gflops).median;
                SideSummary {
                    label: side.label(),
                    tokens_per_s: Spread::of(&per_s),
                    gflops,
                    peak_fraction: gflops / peak_gflops,
                    peak_rss_mb: (!memory.is_empty()).then(|| Spread::of(&memory).median),
                    runs,
                }
            })
            .collect();
        let reference = summaries.iter().find(|s| s.label == "pytorch");
        let ratios = match reference {
            None => Vec::new(),
            Some(reference) => summaries
                .iter()
                .filter(|s| s.label != "pytorch")
                .map(|s| Ratio {
                    side: s.label.clone(),
                    ratio: Spread::of(
                        &s.runs
                            .iter()
                            .zip(&reference.runs)
                            .map(|(ours, theirs)| ours.tokens_per_s / theirs.tokens_per_s)
                            .collect::<Vec<_>>(),
                    ),
                })
                .collect(),
        };
        Comparison {
            model: workload.model.clone(),
            description: workload.description.clone(),
            phase,
            parameters: workload.parameters,
            flops_per_token: flops / tokens.max(1) as f64,
            sides: summaries,
            ratios,
        }
    }
}

/// The machine the numbers come from.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BenchMachine {
    /// Processor model.
    pub cpu: String,
    /// Logical cores.
    pub cores: usize,
    /// Widest FMA (what the matrix kernels dispatch to).
    pub simd: String,
    /// fp32 peak on the benchmark's threads, measured (GFLOP/s).
    pub fp32_peak_gflops: f64,
    /// `linux`, `macos`, …
    pub os: String,
}

/// `results/bench.json`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BenchReport {
    /// Format version.
    pub schema: u32,
    /// `git rev-parse HEAD` when the run started.
    pub commit: String,
    /// Whether the tree had uncommitted changes.
    pub dirty: bool,
    /// RFC 3339 UTC.
    pub started_at: String,
    /// Seconds the whole benchmark took.
    pub wall_time_s: f64,
    /// Where.
    pub machine: BenchMachine,
    /// burn, rustc, PyTorch.
    pub versions: BTreeMap<String, String>,
    /// Threads each side used.
    pub threads: usize,
    /// Timed batches per measurement.
    pub steps: usize,
    /// Untimed batches before them.
    pub warmup: usize,
    /// Measurements per side, model and phase.
    pub alternations: usize,
    /// Why PyTorch was not measured, when it was not.
    pub reference_missing: Option<String>,
    /// Per model and phase.
    pub comparisons: Vec<Comparison>,
}

impl BenchReport {
    /// Assembles the report.
    pub fn new(
        start: RunStart,
        wall_time_s: f64,
        size: WorkloadSize,
        alternations: usize,
        peak_gflops: f64,
        reference_missing: Option<String>,
        comparisons: Vec<Comparison>,
    ) -> BenchReport {
        let mut versions = BTreeMap::from([
            ("burn".to_string(), BURN_VERSION.to_string()),
            ("rustc".to_string(), RUSTC_VERSION.to_string()),
        ]);
        if let Some(torch) = comparisons
            .iter()
            .flat_map(|c| &c.sides)
            .flat_map(|s| &s.runs)
            .find_map(|m| m.torch.clone())
        {
            versions.insert("torch".into(), torch);
        }
        BenchReport {
            schema: 1,
            commit: start.source.commit,
            dirty: start.source.dirty,
            started_at: start.at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
            wall_time_s,
            machine: BenchMachine {
                cpu: repro_core::bench::cpu_model(),
                cores: std::thread::available_parallelism().map_or(1, |n| n.get()),
                simd: repro_core::bench::simd_level().into(),
                fp32_peak_gflops: peak_gflops,
                os: std::env::consts::OS.into(),
            },
            versions,
            threads: size.threads,
            steps: size.steps,
            warmup: size.warmup,
            alternations,
            reference_missing,
            comparisons,
        }
    }

    /// Writes `bench.json` and `bench.md` into `dir`, atomically.
    pub fn write(&self, dir: &Path) -> anyhow::Result<Vec<PathBuf>> {
        std::fs::create_dir_all(dir)?;
        let json = dir.join("bench.json");
        let markdown = dir.join("bench.md");
        repro_core::atomic::write_atomic(
            &json,
            (serde_json::to_string_pretty(self)? + "\n").as_bytes(),
        )?;
        repro_core::atomic::write_atomic(&markdown, self.markdown().as_bytes())?;
        Ok(vec![json, markdown])
    }

    /// The human-readable table.
    pub fn markdown(&self) -> String {
        let mut md = String::new();
        let _ = writeln!(md, "# Speed on the CPU: this suite beside PyTorch\n");
        let torch = self
            .versions
            .get("torch")
            .map_or("not measured", String::as_str);
        let _ = writeln!(
            md,
            "{} ({} cores, {}; fp32 peak {:.0} GFLOP/s on {} threads, measured) · {} threads per side · burn {} (flex) · PyTorch {} · commit `{}`{} · {} alternations × {} timed batches after {} warm-up · {}\n",
            self.machine.cpu,
            self.machine.cores,
            self.machine.simd,
            self.machine.fp32_peak_gflops,
            self.threads,
            self.threads,
            self.versions.get("burn").map_or("?", String::as_str),
            torch,
            short(&self.commit),
            if self.dirty {
                " (uncommitted changes)"
            } else {
                ""
            },
            self.alternations,
            self.steps,
            self.warmup,
            duration(self.wall_time_s),
        );
        if let Some(why) = &self.reference_missing {
            let _ = writeln!(md, "PyTorch: {why}.\n");
        }
        let _ = writeln!(
            md,
            "| Model | Phase | repro tokens/s | PyTorch tokens/s | repro / PyTorch | repro GFLOP/s (% of peak) | PyTorch GFLOP/s (% of peak) | peak memory repro / PyTorch |"
        );
        let _ = writeln!(md, "|---|---|--:|--:|--:|--:|--:|--:|");
        let cell = |side: Option<&SideSummary>| -> (String, String, String) {
            match side {
                None => ("—".into(), "—".into(), "—".into()),
                Some(side) => {
                    let t = side.tokens_per_s;
                    (
                        format!(
                            "{} ({}–{})",
                            thousands(t.median),
                            thousands(t.min),
                            thousands(t.max)
                        ),
                        format!("{:.1} ({:.1} %)", side.gflops, 100.0 * side.peak_fraction),
                        side.peak_rss_mb
                            .map_or("—".into(), |m| format!("{m:.0} MiB")),
                    )
                }
            }
        };
        for comparison in &self.comparisons {
            let find = |label: &str| comparison.sides.iter().find(|s| s.label == label);
            let (ours, ours_gflops, ours_memory) = cell(find("repro"));
            let (theirs, theirs_gflops, theirs_memory) = cell(find("pytorch"));
            let ratio =
                comparison
                    .ratios
                    .iter()
                    .find(|r| r.side == "repro")
                    .map_or("—".into(), |r| {
                        format!(
                            "**{:.2}×** ({:.2}–{:.2})",
                            r.ratio.median, r.ratio.min, r.ratio.max
                        )
                    });
            let _ = writeln!(
                md,
                "| {} | {} | {ours} | {theirs} | {ratio} | {ours_gflops} | {theirs_gflops} | {ours_memory} / {theirs_memory} |",
                comparison.model,
                comparison.phase.name()
            );
        }
        let _ = writeln!(md);
        if let Some(targets) = self.targets() {
            let _ = writeln!(md, "{targets}\n");
        }
        if let Some(section) = self.optimisations() {
            let _ = writeln!(md, "{section}");
        }
        let _ = writeln!(md, "## Workloads\n");
        let mut seen = Vec::new();
        for comparison in &self.comparisons {
            if seen.contains(&&comparison.model) {
                continue;
            }
            seen.push(&comparison.model);
            let _ = writeln!(
                md,
                "- `{}`: {}; {} parameters; {:.1} MFLOP per training token.",
                comparison.model,
                comparison.description,
                thousands(comparison.parameters as f64),
                self.comparisons
                    .iter()
                    .find(|c| c.model == comparison.model && c.phase == Phase::Train)
                    .map_or(f64::NAN, |c| c.flops_per_token / 1e6),
            );
        }
        let _ = writeln!(
            md,
            "\nTokens are what each paper's training loop counts (real tokens, padding excluded); \
             both sides read the same batches from one workload file. Training = forward, loss, \
             backward and optimiser step; score = forward and loss without gradients. GFLOP/s \
             counts matrix products only (2 per multiply-add; backward = 2 × forward). Each \
             measurement runs in a fresh process; the ratio is taken per alternation (the sides \
             run back to back, in alternating order)."
        );
        md
    }

    /// What each switchable optimisation buys: this suite as built against its runs with the
    /// fused kernels off (`REPRO_KERNELS=none`) or one kernel off (`-NAME`), per alternation.
    fn optimisations(&self) -> Option<String> {
        let variants: Vec<String> = self
            .comparisons
            .first()?
            .sides
            .iter()
            .filter_map(|s| {
                s.label
                    .strip_prefix("repro (REPRO_KERNELS=")
                    .map(|k| k.trim_end_matches(')').to_string())
            })
            .collect();
        if variants.is_empty() {
            return None;
        }
        let mut md = String::from(
            "## What each optimisation buys\n\nThis suite as built, divided by the same build with \
             a kernel (or all of them) switched off by `REPRO_KERNELS`: tokens/s ratio per \
             alternation, median (range).\n\n| Switched off |",
        );
        for c in &self.comparisons {
            let _ = write!(md, " {} {} |", c.model, c.phase.name());
        }
        let _ = writeln!(md, "\n|---|{}", "---|".repeat(self.comparisons.len()));
        for variant in &variants {
            let name = match variant.as_str() {
                "none" => "every fused kernel (burn's decomposed ops)".to_string(),
                other => format!("`{}`", other.trim_start_matches('-')),
            };
            let _ = write!(md, "| {name} |");
            let label = format!("repro (REPRO_KERNELS={variant})");
            for c in &self.comparisons {
                let ours = c.sides.iter().find(|s| s.label == "repro");
                let without = c.sides.iter().find(|s| s.label == label);
                match (ours, without) {
                    (Some(ours), Some(without)) => {
                        let ratios: Vec<f64> = ours
                            .runs
                            .iter()
                            .zip(&without.runs)
                            .map(|(a, b)| a.tokens_per_s / b.tokens_per_s)
                            .collect();
                        let r = Spread::of(&ratios);
                        let _ = write!(md, " {:.2}× ({:.2}–{:.2}) |", r.median, r.min, r.max);
                    }
                    _ => {
                        let _ = write!(md, " — |");
                    }
                }
            }
            let _ = writeln!(md);
        }
        Some(md)
    }

    /// The targets, checked: training ≥ 1.0× and ≥ 1.25× PyTorch, scoring ≥ 1.0×.
    fn targets(&self) -> Option<String> {
        let ratio = |phase: Phase| -> Vec<(String, f64)> {
            self.comparisons
                .iter()
                .filter(|c| c.phase == phase)
                .filter_map(|c| {
                    c.ratios
                        .iter()
                        .find(|r| r.side == "repro")
                        .map(|r| (c.model.clone(), r.ratio.median))
                })
                .collect()
        };
        let (train, score) = (ratio(Phase::Train), ratio(Phase::Score));
        if train.is_empty() && score.is_empty() {
            return None;
        }
        let check = |name: &str, values: &[(String, f64)], at_least: f64| -> String {
            let missed: Vec<String> = values
                .iter()
                .filter(|(_, r)| *r < at_least)
                .map(|(m, r)| format!("{m} {r:.2}×"))
                .collect();
            if values.is_empty() {
                format!("- {name} ≥ {at_least:.2}× PyTorch: not measured")
            } else if missed.is_empty() {
                format!("- {name} ≥ {at_least:.2}× PyTorch on every model: **met**")
            } else {
                format!(
                    "- {name} ≥ {at_least:.2}× PyTorch: **missed** ({})",
                    missed.join(", ")
                )
            }
        };
        Some(format!(
            "Targets (medians):\n{}\n{}\n{}",
            check("training", &train, 1.0),
            check("training", &train, 1.25),
            check("scoring", &score, 1.0)
        ))
    }
}

fn short(commit: &str) -> &str {
    &commit[..commit.len().min(10)]
}

fn duration(seconds: f64) -> String {
    let seconds = seconds.round() as u64;
    if seconds >= 60 {
        format!("{} min {} s", seconds / 60, seconds % 60)
    } else {
        format!("{seconds} s")
    }
}

/// `12345.6` → `12,346`.
fn thousands(value: f64) -> String {
    if !value.is_finite() {
        return "—".into();
    }
    let digits = format!("{:.0}", value.abs());
    let mut grouped = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            grouped.push(',');
        }
        grouped.push(c);
    }
    if value < 0.0 {
        format!("-{grouped}")
    } else {
        grouped
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spreads_take_the_middle_and_the_ends() {
        assert_eq!(
            Spread::of(&[3.0, 1.0, 2.0]),
            Spread {
                median: 2.0,
                min: 1.0,
                max: 3.0
            }
        );
        assert_eq!(Spread::of(&[4.0, 1.0, 2.0, 3.0]).median, 2.5);
        assert!(Spread::of(&[]).median.is_nan());
        assert_eq!(thousands(1234567.4), "1,234,567");
        assert_eq!(thousands(999.0), "999");
    }
}
