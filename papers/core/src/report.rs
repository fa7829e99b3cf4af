//! The results of one run: what it reproduced, how that compares with the paper, what its claims
//! came to, and where it ran. Serialised as `results/<paper>/<scale>-<backend>.json` (the schema
//! below), rendered for the terminal and as Markdown ([`render`](Report::render_text)), plotted as
//! SVG, and written atomically.
//!
//! `repro compare` reloads the JSON with [`Report::load`] and renders it again without training.

mod pool;
mod render;
#[cfg(test)]
mod tests;

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::Context;
use chrono::{DateTime, SecondsFormat, Utc};
use serde::{Deserialize, Serialize};

pub use pool::pool;
pub use render::{DISPLAY_DECIMALS, RenderOptions};

use crate::claims::ClaimReport;
use crate::data::SplitSize;
use crate::lab::TrainingRecord;
use crate::paper::Paper;
use crate::run::{Backend, Curve, ExperimentResult, Metric, Metrics, RunOutput, Scale};
use crate::{atomic, plots};

/// Version of the JSON schema this build writes and reads.
pub const SCHEMA: u32 = 2;

/// The burn version this build resolved (from Cargo.lock, by the build script).
pub const BURN_VERSION: &str = env!("REPRO_BURN_VERSION");

/// The Hugging Face tokenizers version this build resolved.
pub const TOKENIZERS_VERSION: &str = env!("REPRO_TOKENIZERS_VERSION");

/// `rustc --version` of the compiler that built this binary.
pub const RUSTC_VERSION: &str = env!("REPRO_RUSTC_VERSION");

/// The results of one run of one paper at one scale on one backend.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Report {
    /// Schema version ([`SCHEMA`]).
    pub schema: u32,
    /// Which paper.
    pub paper: PaperSummary,
    /// Size of the reproduction.
    pub scale: Scale,
    /// Backend it ran on.
    pub backend: Backend,
    /// Where, when and how it ran.
    pub provenance: Provenance,
    /// What each experiment returned: metrics over seeds, curves, notes.
    pub experiments: Vec<ExperimentResult>,
    /// Published vs reproduced, one row per `published.toml` result, in file order.
    pub comparison: Vec<ComparisonRow>,
    /// Each claim of the paper with its computed verdict.
    pub claims: Vec<ClaimReport>,
    /// Every training the experiments read, once each, with its decoded hypotheses.
    #[serde(default)]
    pub trainings: Vec<TrainingRecord>,
    /// The references of each scored split, so that anyone can rescore the hypotheses.
    #[serde(default)]
    pub references: BTreeMap<String, Vec<String>>,
}

/// Who the paper is, as recorded in a report.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PaperSummary {
    /// Registry name (`attention`), also the results subdirectory.
    pub id: String,
    /// arXiv identifier without version.
    pub arxiv_id: String,
    /// Title.
    pub title: String,
    /// Short author list (`Vaswani et al.`).
    pub authors: String,
    /// Year of the first arXiv version.
    pub year: u16,
}

impl PaperSummary {
    /// The arXiv abstract page.
    pub fn url(&self) -> String {
        format!("https://arxiv.org/abs/{}", self.arxiv_id)
    }
}

/// Where, when and how a run happened: enough to repeat it and to judge its numbers.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Provenance {
    /// `git rev-parse HEAD` of the source tree, or `unknown`.
    pub commit: String,
    /// Whether the tree had uncommitted changes (`git status --porcelain` non-empty).
    pub dirty: bool,
    /// Base seed of the run.
    pub seed: u64,
    /// The device, as burn describes it.
    pub device: String,
    /// Versions of what computed the numbers: `repro`, `burn` (and `rustc` when known).
    pub versions: BTreeMap<String, String>,
    /// When the run started, RFC 3339 UTC.
    pub started_at: String,
    /// Wall-clock time of the whole run, seconds.
    pub wall_time_s: f64,
    /// The data the run used.
    pub dataset: DatasetProvenance,
    /// The splits as used: sizes after filtering and de-duplication.
    #[serde(default)]
    pub splits: Vec<SplitSize>,
    /// The scale's settings as read from the paper's `scales.toml`.
    #[serde(default)]
    pub scale_config: serde_json::Value,
    /// Evaluation protocol (`bleu_signature` → `nrefs:1|case:mixed|…`, `decoding` → `beam 4, α 0.6`).
    pub protocol: BTreeMap<String, String>,
    /// The machine.
    pub machine: Machine,
    /// The command line that produced this report.
    pub command: String,
}

/// The dataset of a run and its checksum.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DatasetProvenance {
    /// Name given to `--data`.
    pub name: String,
    /// SHA-256 of the data as read (hex).
    pub sha256: String,
    /// What it is and where it comes from.
    pub description: String,
    /// Size in bytes, when known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub size_bytes: Option<u64>,
}

/// The machine a run executed on.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Machine {
    /// Operating system (`linux`).
    pub os: String,
    /// CPU architecture (`x86_64`).
    pub arch: String,
    /// Logical CPUs available to the process.
    pub cpus: usize,
}

/// One published number beside its reproduction.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ComparisonRow {
    /// Key of the published result (`table3.A.heads_1.bleu`).
    pub key: String,
    /// Where the paper prints it (`Table 3`).
    pub table: String,
    /// Row or configuration, in the paper's words.
    pub row: String,
    /// Metric as printed (`BLEU`).
    pub metric: String,
    /// The paper's dataset and split.
    pub dataset: String,
    /// The published number.
    pub published: f64,
    /// Direction of "better".
    pub higher_is_better: bool,
    /// The reproduced metric key (`experiment.metric`) it is compared with.
    pub reproduced_by: Option<String>,
    /// The reproduced metric; `None` when this run did not produce it (shown as "—").
    pub reproduced: Option<Metric>,
    /// Protocol notes from `published.toml`.
    pub notes: Option<String>,
}

impl Report {
    /// Builds the report of a run: the published-vs-reproduced table from `paper.published()`
    /// and the experiments' metrics, and the verdict of each of `paper.claims()`.
    pub fn new(
        paper: &dyn Paper,
        scale: Scale,
        backend: Backend,
        mut provenance: Provenance,
        output: RunOutput,
    ) -> anyhow::Result<Report> {
        let RunOutput {
            experiments,
            trainings,
            splits,
            references,
            scale_config,
        } = output;
        provenance.splits = splits;
        provenance.scale_config = scale_config;
        let info = paper.info();
        let mut report = Report {
            schema: SCHEMA,
            paper: PaperSummary {
                id: info.id.to_string(),
                arxiv_id: info.arxiv_id.to_string(),
                title: info.title.to_string(),
                authors: info.authors.to_string(),
                year: info.year,
            },
            scale,
            backend,
            provenance,
            experiments,
            comparison: Vec::new(),
            claims: Vec::new(),
            trainings,
            references,
        };
        report.judge(paper)?;
        Ok(report)
    }

    /// What the claims are judged from: the metrics, trainings and references of this report.
    pub fn metrics(&self) -> Metrics {
        Metrics::new(&self.experiments, &self.trainings, &self.references)
    }

    /// Recomputes the published-vs-reproduced table and every verdict from the stored per-seed
    /// metrics with the current rules, and returns the verdicts that changed
    /// (`id: stored holds → now inconclusive`).
    pub fn judge(&mut self, paper: &dyn Paper) -> anyhow::Result<Vec<String>> {
        let published = paper
            .published()
            .with_context(|| format!("reading the published numbers of `{}`", self.paper.id))?;
        let metrics = self.metrics();
        self.comparison = published
            .result
            .into_iter()
            .map(|result| ComparisonRow {
                reproduced: result
                    .reproduced_by
                    .as_deref()
                    .and_then(|key| metrics.values.get(key))
                    .cloned(),
                key: result.key,
                table: result.table,
                row: result.row,
                metric: result.metric,
                dataset: result.dataset,
                published: result.value,
                higher_is_better: result.higher_is_better,
                reproduced_by: result.reproduced_by,
                notes: result.notes,
            })
            .collect();
        let claims: Vec<ClaimReport> = paper
            .claims()
            .iter()
            .map(|claim| claim.report(&metrics))
            .collect();
        let changed = crate::claims::changed_verdicts(&self.claims, &claims);
        self.claims = claims;
        Ok(changed)
    }

    /// `<scale>-<backend>`, the stem of every file this report writes.
    pub fn stem(&self) -> String {
        format!("{}-{}", self.scale, self.backend)
    }

    /// Where the JSON of a run lives: `results_dir/<paper>/<scale>-<backend>.json`.
    pub fn json_path(
        results_dir: &Path,
        paper_id: &str,
        scale: Scale,
        backend: Backend,
    ) -> PathBuf {
        results_dir
            .join(paper_id)
            .join(format!("{scale}-{backend}.json"))
    }

    /// Every seed the experiments ran with, in first-seen order (the base seed when none say).
    pub fn seeds(&self) -> Vec<u64> {
        let mut seen = BTreeSet::new();
        let seeds: Vec<u64> = self
            .experiments
            .iter()
            .flat_map(|e| e.seeds.iter().copied())
            .filter(|seed| seen.insert(*seed))
            .collect();
        if seeds.is_empty() {
            vec![self.provenance.seed]
        } else {
            seeds
        }
    }

    /// Writes the report under `results_dir/<paper>/`, each file atomically, and returns the
    /// paths written: `<stem>.json` (pretty JSON), `<stem>.md`, then the SVG figures —
    /// `<stem>.svg` (all learning curves; only when there are curves), `<stem>-<curve id>.svg` per
    /// curve and `<stem>-claim-<claim id>.svg` per claim. Everything is rendered before the first
    /// file is written, so a plotting error leaves the previous results untouched.
    pub fn write(&self, results_dir: &Path) -> anyhow::Result<Vec<PathBuf>> {
        let dir = results_dir.join(&self.paper.id);
        let stem = self.stem();
        let json = serde_json::to_string_pretty(self).context("serialising the report")? + "\n";
        let mut files = vec![
            (format!("{stem}.json"), json),
            (format!("{stem}.md"), self.render_markdown()),
        ];
        let figures = self.figures();
        if let Some(main) = &figures.main {
            let curves: Vec<Curve> = self
                .experiments
                .iter()
                .flat_map(|e| e.curves.iter().cloned())
                .collect();
            files.push((main.clone(), plots::curves_svg(&curves)?));
        }
        for (experiment, names) in self.experiments.iter().zip(&figures.curves) {
            for (curve, name) in experiment.curves.iter().zip(names) {
                files.push((name.clone(), plots::curve_svg(curve)?));
            }
        }
        for (claim, name) in self.claims.iter().zip(&figures.claims) {
            files.push((name.clone(), plots::claim_svg(claim)?));
        }
        let mut written = Vec::with_capacity(files.len());
        for (name, content) in files {
            let path = dir.join(name);
            atomic::write_atomic(&path, content.as_bytes())
                .with_context(|| format!("writing {}", path.display()))?;
            written.push(path);
        }
        Ok(written)
    }

    /// Reads a report written by [`Report::write`], with a clear error when the file is missing,
    /// is not a results file, or comes from another schema version.
    pub fn load(path: &Path) -> anyhow::Result<Report> {
        let text = match std::fs::read_to_string(path) {
            Ok(text) => text,
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => anyhow::bail!(
                "no results at {}: run the reproduction first (`repro reproduce <paper> --scale \
                 <scale> --backend <backend>`)",
                path.display()
            ),
            Err(error) => {
                return Err(error)
                    .with_context(|| format!("reading results file {}", path.display()));
            }
        };
        #[derive(Deserialize)]
        struct Header {
            schema: u32,
        }
        if let Ok(Header { schema }) = serde_json::from_str::<Header>(&text) {
            anyhow::ensure!(
                schema == SCHEMA,
                "{} uses results schema {schema}, but this build reads schema {SCHEMA}: run the \
                 reproduction again to regenerate it",
                path.display()
            );
        }
        serde_json::from_str(&text).with_context(|| {
            format!(
                "{} is not a valid results file (corrupt, or edited by hand); run the reproduction \
                 again to regenerate it",
                path.display()
            )
        })
    }

    /// File names of the figures, relative to the paper's results directory: the same names
    /// [`Report::write`] writes and the Markdown links.
    fn figures(&self) -> Figures {
        let stem = self.stem();
        let mut used = BTreeSet::new();
        let mut unique = |base: String| {
            let mut name = format!("{base}.svg");
            let mut n = 2;
            while !used.insert(name.clone()) {
                name = format!("{base}-{n}.svg");
                n += 1;
            }
            name
        };
        let any_curves = self.experiments.iter().any(|e| !e.curves.is_empty());
        let main = any_curves.then(|| unique(stem.clone()));
        let curves = self
            .experiments
            .iter()
            .map(|e| {
                e.curves
                    .iter()
                    .map(|c| unique(format!("{stem}-{}", file_safe(&c.id))))
                    .collect()
            })
            .collect();
        let claims = self
            .claims
            .iter()
            .map(|c| unique(format!("{stem}-claim-{}", file_safe(&c.id))))
            .collect();
        Figures {
            main,
            curves,
            claims,
        }
    }
}

/// The figure file names of a report (see [`Report::figures`]).
struct Figures {
    /// All curves in one figure, when there are any.
    main: Option<String>,
    /// Per experiment, one per curve.
    curves: Vec<Vec<String>>,
    /// One per claim.
    claims: Vec<String>,
}

/// `id` with anything but ASCII letters, digits, `.`, `_` and `-` replaced by `_`.
fn file_safe(id: &str) -> String {
    let safe: String = id
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-') {
                c
            } else {
                '_'
            }
        })
        .collect();
    if safe.is_empty() {
        "_".to_string()
    } else {
        safe
    }
}

/// The git state of the source tree, captured when a run starts: edits or commits made while it
/// trains must not be credited with its numbers.
#[derive(Debug, Clone, PartialEq)]
pub struct SourceState {
    /// `git rev-parse HEAD`, or `unknown` outside git.
    pub commit: String,
    /// Uncommitted changes (tracked or untracked, not ignored) outside `results/`.
    pub dirty: bool,
}

impl SourceState {
    /// The state of the tree this binary was built from (`CARGO_MANIFEST_DIR`), now.
    pub fn capture() -> SourceState {
        SourceState::of(Path::new(env!("CARGO_MANIFEST_DIR")))
    }

    /// The state of the git tree holding `source`, now.
    pub fn of(source: &Path) -> SourceState {
        SourceState {
            commit: git(source, &["rev-parse", "HEAD"]).unwrap_or_else(|| "unknown".to_string()),
            // `results/` is what the runs write, not code: one paper's fresh results must not
            // mark the next paper's run (or its pooling) as made from an edited tree.
            dirty: git(
                source,
                &["status", "--porcelain", "--", ":/", ":(top,exclude)results"],
            )
            .is_some_and(|status| !status.is_empty()),
        }
    }
}

/// What is known when a run starts: the source tree's state and the time.
#[derive(Debug, Clone, PartialEq)]
pub struct RunStart {
    /// Git state of the source tree at the start.
    pub source: SourceState,
    /// Start time.
    pub at: DateTime<Utc>,
}

impl RunStart {
    /// Captures the source state and the time, now.
    pub fn now() -> RunStart {
        RunStart {
            source: SourceState::capture(),
            at: Utc::now(),
        }
    }
}

impl Provenance {
    /// Provenance of a run that began as `start` records and took `wall_time_s`, with the
    /// machine and the versions of `repro` and burn.
    pub fn collect(
        seed: u64,
        device: String,
        dataset: DatasetProvenance,
        protocol: BTreeMap<String, String>,
        command: String,
        start: RunStart,
        wall_time_s: f64,
    ) -> Provenance {
        let RunStart {
            source: SourceState { commit, dirty },
            at: started_at,
        } = start;
        let versions = BTreeMap::from([
            ("repro".to_string(), env!("CARGO_PKG_VERSION").to_string()),
            ("burn".to_string(), BURN_VERSION.to_string()),
            ("tokenizers".to_string(), TOKENIZERS_VERSION.to_string()),
            ("rustc".to_string(), RUSTC_VERSION.to_string()),
        ]);
        Provenance {
            commit,
            dirty,
            seed,
            device,
            versions,
            started_at: started_at.to_rfc3339_opts(SecondsFormat::Secs, true),
            wall_time_s,
            dataset,
            splits: Vec::new(),
            scale_config: serde_json::Value::Null,
            protocol,
            machine: Machine::current(),
            command,
        }
    }
}

impl Machine {
    /// The machine this process runs on.
    pub fn current() -> Machine {
        Machine {
            os: std::env::consts::OS.to_string(),
            arch: std::env::consts::ARCH.to_string(),
            cpus: std::thread::available_parallelism().map_or(1, |n| n.get()),
        }
    }
}

/// Trimmed stdout of `git -C dir args…`, or `None` when git is missing or fails.
fn git(dir: &Path, args: &[&str]) -> Option<String> {
    let output = Command::new("git")
        .arg("-C")
        .arg(dir)
        .args(args)
        .output()
        .ok()?;
    output
        .status
        .success()
        .then(|| String::from_utf8_lossy(&output.stdout).trim().to_string())
}
