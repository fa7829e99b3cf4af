//! `repro reproduce`: run a paper's experiments, print published vs reproduced and the claim
//! verdicts, and write the results (JSON, Markdown, SVG) atomically.

use std::io::Write;
use std::time::Instant;

use anyhow::Context;
use repro_core::data::download::cache_dir;
use repro_core::progress::Progress;
use repro_core::report::{DatasetProvenance, Provenance, RenderOptions, Report, RunStart};
use repro_core::run::RunContext;

use crate::cli::ReproduceArgs;
use crate::registry;

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
    if paper.experiments().is_empty() {
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
        cache.join("checkpoints").join(info.id).join(format!(
            "{}-{}-seed{}-{dataset}",
            args.scale, args.backend, args.seed
        ))
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
        progress,
    };
    // Captured now: commits or edits made while it trains are not credited with its numbers.
    let start = RunStart::now();
    let started = Instant::now();
    let experiments = paper.run(&ctx).with_context(|| {
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
    let report = Report::new(
        paper.as_ref(),
        args.scale,
        args.backend,
        provenance,
        experiments,
    )?;
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
    command
}
