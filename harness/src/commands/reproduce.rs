//! `repro reproduce`: run a paper's experiments, print published vs reproduced and the claim
//! verdicts, and write the results (JSON, Markdown, SVG) atomically.

use std::io::Write;
use std::path::PathBuf;
use std::time::Instant;

use anyhow::Context;
use repro_core::data::download::cache_dir;
use repro_core::progress::Progress;
use repro_core::report::{DatasetProvenance, Provenance, RenderOptions, Report, RunStart};
use repro_core::run::RunContext;
use repro_core::{Backend, Scale};

use crate::{UsageError, registry};

/// `repro reproduce`.
#[derive(clap::Args, Debug)]
#[command(after_help = "\
Examples:
  repro reproduce attention                          small scale on the CPU (minutes)
  repro reproduce attention --scale tiny --seed 3    seconds; another seed
  repro reproduce attention --only attention_heads   one experiment: trains base and the head variants
  repro reproduce attention --backend wgpu           needs a build with `--features wgpu`
  repro reproduce attention --resume                 continue an interrupted run from its checkpoints

Trainings are checkpointed under <cache>/checkpoints/<paper>/<scale>-<backend>-<data>/<run>-seed<n>
(`repro checkpoints` lists them; `repro translate --checkpoint DIR` uses one).")]
pub struct ReproduceArgs {
    /// Paper id (see `repro list`).
    pub paper: String,
    /// tiny (seconds, for tests), small (minutes on a laptop CPU) or base (the paper's own sizes).
    #[arg(long, default_value = "small", env = "SCALE")]
    pub scale: Scale,
    /// cpu (burn flex, deterministic), wgpu (needs --features wgpu) or cuda (needs --features cuda).
    #[arg(long, default_value = "cpu", env = "BACKEND")]
    pub backend: Backend,
    /// Base seed; scales with several seeds use seed, seed + 1, …
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Dataset (see `repro list`); default: the paper's offline default.
    #[arg(long = "data")]
    pub data: Option<String>,
    /// Run only these experiments (comma-separated names from `repro list`), training only what
    /// they read.
    #[arg(long, value_delimiter = ',', value_name = "EXPERIMENT")]
    pub only: Vec<String>,
    /// Read the scales from this TOML file instead of the paper's own scales.toml (same fields;
    /// every value checked on load).
    #[arg(long, value_name = "FILE")]
    pub scales: Option<std::path::PathBuf>,
    /// Trainings run at once [default: one per core]. The numbers do not depend on it.
    #[arg(long, short, value_name = "N", value_parser = clap::value_parser!(u64).range(1..))]
    pub jobs: Option<u64>,
    /// Where results/<paper>/<scale>-<backend>.{json,md,svg} go.
    #[arg(long, default_value = "results")]
    pub results: PathBuf,
    /// Checkpoint directory [default: <cache>/checkpoints/<paper>/<scale>-<backend>-<data>].
    #[arg(long)]
    pub checkpoints: Option<PathBuf>,
    /// Continue from the checkpoints of an interrupted run (same numbers as an uninterrupted one);
    /// finished trainings are reused.
    #[arg(long)]
    pub resume: bool,
    /// Print no progress bars or phase lines.
    #[arg(long, short)]
    pub quiet: bool,
    /// Print the table without provenance (commit, times): stable across runs.
    #[arg(long, hide = true)]
    pub no_provenance: bool,
}

/// Runs the reproduction described by `args`.
pub fn run(args: &ReproduceArgs, out: &mut dyn Write, err: &mut dyn Write) -> anyhow::Result<()> {
    let paper = registry::find(&args.paper)?;
    let info = paper.info();
    let dataset = match &args.data {
        Some(name) => {
            anyhow::ensure!(
                info.datasets.iter().any(|dataset| dataset.name == name),
                "unknown dataset `{name}` for {}; known: {}",
                info.id,
                info.datasets
                    .iter()
                    .map(|dataset| dataset.name)
                    .collect::<Vec<_>>()
                    .join(", ")
            );
            name.clone()
        }
        None => info
            .datasets
            .iter()
            .find(|dataset| dataset.default)
            .map(|dataset| dataset.name.to_string())
            .unwrap_or_default(),
    };
    let experiments = paper.experiments();
    if let Some(unknown) = args
        .only
        .iter()
        .find(|name| !experiments.iter().any(|e| e.name == name.as_str()))
    {
        return Err(UsageError(format!(
            "unknown experiment `{unknown}` for {}; valid: {}",
            info.id,
            experiments
                .iter()
                .map(|e| e.name)
                .collect::<Vec<_>>()
                .join(", ")
        ))
        .into());
    }
    if experiments.is_empty() {
        writeln!(
            out,
            "{} (arXiv:{}): no experiments yet. Fill papers/{}/published.toml from the paper's tables, \
             then add experiments and claims (README: \"Adding a paper\").",
            info.id, info.arxiv_id, info.id
        )?;
        return Ok(());
    }
    let device = args.backend.device()?;
    let cache = cache_dir();
    let checkpoint_dir = args.checkpoints.clone().unwrap_or_else(|| {
        cache
            .join("checkpoints")
            .join(info.id)
            .join(format!("{}-{}-{dataset}", args.scale, args.backend))
    });
    let progress = Progress::new(!args.quiet);
    progress.println(&format!(
        "{} (arXiv:{}) at scale {} on {} ({device:?}), seed {}, data {dataset}; checkpoints in {}",
        info.title,
        info.arxiv_id,
        args.scale,
        args.backend,
        args.seed,
        checkpoint_dir.display()
    ));
    let ctx = RunContext {
        scale: args.scale,
        backend: args.backend,
        device: device.clone(),
        seed: args.seed,
        dataset: dataset.clone(),
        cache_dir: cache,
        checkpoint_dir: checkpoint_dir.clone(),
        resume: args.resume,
        jobs: args
            .jobs
            .map_or_else(RunContext::default_jobs, |jobs| jobs as usize),
        only: args.only.clone(),
        scales: match &args.scales {
            Some(path) => Some((
                path.clone(),
                std::fs::read_to_string(path)
                    .with_context(|| format!("reading --scales {}", path.display()))?,
            )),
            None => None,
        },
        progress,
    };
    // Captured now: commits or edits made while it trains are not credited with its numbers.
    let start = RunStart::now();
    let started = Instant::now();
    let output = paper.run(&ctx).with_context(|| {
        format!(
            "reproducing {} failed; checkpoints are kept in {}: rerun with --resume to continue",
            info.id,
            checkpoint_dir.display()
        )
    })?;
    let wall_time_s = started.elapsed().as_secs_f64();

    let description = info
        .datasets
        .iter()
        .find(|known| known.name == dataset)
        .map(|known| known.description.to_string())
        .unwrap_or_default();
    let provenance = Provenance::collect(
        args.seed,
        format!("{device:?}"),
        DatasetProvenance {
            name: dataset.clone(),
            sha256: paper
                .dataset_sha256(&dataset)
                .unwrap_or_else(|| "not recorded".to_string()),
            description,
            size_bytes: None,
        },
        paper.protocol(&ctx),
        command_line(args),
        start,
        wall_time_s,
    );
    let report = Report::new(paper.as_ref(), args.scale, args.backend, provenance, output)?;
    let options = RenderOptions {
        provenance: !args.no_provenance,
    };
    write!(out, "{}", report.render_text_with(options))?;
    let written = report.write(&args.results)?;
    let _ = writeln!(
        err,
        "wrote {} files under {}",
        written.len(),
        args.results.join(info.id).display()
    );
    // The last training is the one an application serves (BERT's fine-tunings come last).
    if let Some(last) = report.trainings.last() {
        let run_dir = checkpoint_dir.join(format!("{}-seed{}", last.label, last.seed));
        let serves = match paper.checkpoint_command() {
            Some(command) => format!(
                "; a run directory such as {} serves `{command} --checkpoint DIR`",
                run_dir.display()
            ),
            None => String::new(),
        };
        let _ = writeln!(
            err,
            "checkpoints of the {} trainings are in {} (`repro checkpoints {}` lists them{serves})",
            report.trainings.len(),
            checkpoint_dir.display(),
            info.id,
        );
    }
    Ok(())
}

/// The command that reproduces this run, for provenance.
fn command_line(args: &ReproduceArgs) -> String {
    let mut command = format!(
        "repro reproduce {} --scale {} --backend {} --seed {}",
        args.paper, args.scale, args.backend, args.seed
    );
    if let Some(data) = &args.data {
        command.push_str(&format!(" --data {data}"));
    }
    if !args.only.is_empty() {
        command.push_str(&format!(" --only {}", args.only.join(",")));
    }
    command
}
