//! `repro bench` (`make bench`): each paper's `small` model trained and scored on real batches of
//! its data, by this suite and by its PyTorch twin (`bench/twins.py`), alternately, each
//! measurement in a fresh process; the table gives tokens/s, the ratio measured side by side
//! (median and range over the alternations), achieved GFLOP/s against the processor's measured
//! fp32 peak, and peak resident memory. Writes `results/bench.{json,md}`.

mod report;

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use repro_core::Backend;
use repro_core::bench::{self, Measurement, Phase, Workload, WorkloadSize};
use repro_core::progress::Progress;
use repro_core::report::RunStart;

use crate::registry;
use report::{BenchReport, Comparison, Side};

/// `repro bench`.
#[derive(clap::Args, Debug)]
#[command(after_help = "\
Examples:
  repro bench                                  every paper, both phases, 5 alternations
  repro bench --papers gpt3 --phases train     one model, training only
  repro bench --alternations 7 --steps 30      tighter numbers, longer run
  repro bench --no-reference                   this suite alone (no PyTorch)

The PyTorch side needs `make bench-setup` (PyTorch in .venv-reference, from bench/requirements.txt);
without it the reference columns say so and the run still measures this suite.
The environment variable REPRO_KERNELS chooses the fused CPU kernels (all, none, or names: see
`repro bench --help`); `--baseline` adds a run with none of them (burn's own ops) to every
alternation, and `--ablate` one without each kernel in turn, to measure what each one buys.")]
pub struct BenchArgs {
    /// Papers to measure (comma-separated); default every paper with a benchmark.
    #[arg(long, value_delimiter = ',', value_name = "IDS")]
    pub papers: Vec<String>,
    /// Phases to measure: train (forward, backward, optimiser step) and/or score (forward only).
    #[arg(
        long,
        value_delimiter = ',',
        default_value = "train,score",
        value_name = "PHASES"
    )]
    pub phases: Vec<Phase>,
    /// Measurements of each side per model and phase, alternating with the other side's.
    #[arg(long, default_value_t = 5, value_name = "N")]
    pub alternations: usize,
    /// Timed batches per measurement.
    #[arg(long, default_value_t = 20, value_name = "N")]
    pub steps: usize,
    /// Untimed batches before them (allocator and caches warm up).
    #[arg(long, default_value_t = 3, value_name = "N")]
    pub warmup: usize,
    /// Threads each side uses [default: one per core].
    #[arg(long, value_name = "N")]
    pub threads: Option<usize>,
    /// Python with PyTorch for the twins [default: .venv-reference/bin/python when present].
    #[arg(long, value_name = "PATH")]
    pub python: Option<PathBuf>,
    /// The twins' entry point.
    #[arg(long, default_value = "bench/twins.py", value_name = "PATH")]
    pub twins: PathBuf,
    /// Measure this suite alone.
    #[arg(long)]
    pub no_reference: bool,
    /// Also measure this suite with the fused kernels off (REPRO_KERNELS=none).
    #[arg(long)]
    pub baseline: bool,
    /// Also measure this suite without each fused kernel in turn (REPRO_KERNELS=-NAME).
    #[arg(long)]
    pub ablate: bool,
    /// Seconds each measurement runs at least: the timed batches are repeated until then.
    #[arg(long, default_value_t = 2.0, value_name = "S")]
    pub min_seconds: f64,
    /// Where bench.json and bench.md go.
    #[arg(long, default_value = "results", value_name = "DIR")]
    pub results: PathBuf,
    /// Keep the workload files in this directory (to rerun or profile one side by hand:
    /// `repro bench --measure gpt3 --workload DIR/workload-gpt3.json --phases train`).
    #[arg(long, value_name = "DIR")]
    pub workloads: Option<PathBuf>,
    /// Print no progress bar.
    #[arg(short, long)]
    pub quiet: bool,
    /// Measure this suite's side of one paper in this process and print its JSON line (what
    /// each alternation runs; with `--workload`).
    #[arg(long, value_name = "PAPER", requires = "workload")]
    pub measure: Option<String>,
    /// The workload file of `--measure` (kept with `--workloads`).
    #[arg(long, value_name = "FILE")]
    pub workload: Option<PathBuf>,
}

/// Runs the benchmark, or one measurement with `--measure`.
pub fn run(args: &BenchArgs, out: &mut dyn Write, err: &mut dyn Write) -> anyhow::Result<()> {
    anyhow::ensure!(args.alternations >= 1, "--alternations must be at least 1");
    anyhow::ensure!(args.steps >= 1, "--steps must be at least 1");
    let threads = args
        .threads
        .unwrap_or_else(repro_core::RunContext::default_jobs)
        .max(1);
    if let Some(paper) = &args.measure {
        let workload = args.workload.as_deref().expect("clap requires --workload");
        return measure_here(paper, workload, &args.phases, threads, out);
    }
    let started = Instant::now();
    let start = RunStart::now();
    // The peak first, on idle cores: measured after the workloads were built (tokenizer training
    // on rayon's threads, which spin a while after their work) it read 117 GFLOP/s on a machine
    // whose two cores give 233, one core's worth.
    let peak = bench::fp32_peak_gflops(threads);
    let progress = Progress::new(!args.quiet);
    let papers: Vec<_> = if args.papers.is_empty() {
        registry::papers()
    } else {
        args.papers
            .iter()
            .map(|id| registry::find(id))
            .collect::<anyhow::Result<_>>()?
    };
    let python = reference_python(args);
    if let Err(reason) = &python {
        writeln!(err, "PyTorch reference: {reason}")?;
    }
    let size = WorkloadSize {
        steps: args.steps,
        warmup: args.warmup,
        threads,
        min_seconds: args.min_seconds,
    };
    let temporary = tempfile::tempdir()?;
    let dir = match &args.workloads {
        Some(dir) => {
            std::fs::create_dir_all(dir)?;
            dir.clone()
        }
        None => temporary.path().to_path_buf(),
    };
    let mut workloads = Vec::new();
    for paper in &papers {
        let id = paper.info().id;
        let phase = progress.phase(&format!("workload {id}"), 1, "files");
        match paper.bench_workload(&size) {
            Ok(workload) => {
                let path = dir.join(format!("workload-{id}.json"));
                std::fs::write(&path, serde_json::to_vec(&workload)?)?;
                phase.finish(&workload.description);
                workloads.push((workload, path));
            }
            Err(error) if args.papers.is_empty() => {
                phase.finish(&format!("skipped: {error:#}"));
            }
            Err(error) => return Err(error),
        }
    }
    anyhow::ensure!(!workloads.is_empty(), "no paper has a speed benchmark");
    let mut sides = vec![Side::Repro { kernels: None }];
    if args.baseline {
        sides.push(Side::Repro {
            kernels: Some("none".into()),
        });
    }
    if args.ablate {
        for kernel in repro_kernels::Kernel::ALL {
            sides.push(Side::Repro {
                kernels: Some(format!("-{}", kernel.name())),
            });
        }
    }
    if let Ok(python) = &python {
        sides.push(Side::Pytorch {
            python: python.clone(),
            twins: args.twins.clone(),
        });
    }
    let total = workloads.len() * args.phases.len() * args.alternations * sides.len();
    let bar = progress.phase("measure", total as u64, "runs");
    let mut comparisons = Vec::new();
    for (workload, path) in &workloads {
        for &phase in &args.phases {
            let mut runs: Vec<Vec<Measurement>> = vec![Vec::new(); sides.len()];
            for alternation in 0..args.alternations {
                // Alternate which side goes first, so that drift favours neither.
                let mut order: Vec<usize> = (0..sides.len()).collect();
                if alternation % 2 == 1 {
                    order.reverse();
                }
                for i in order {
                    bar.message(format!(
                        "{} {} {}",
                        workload.model,
                        phase.name(),
                        sides[i].label()
                    ));
                    runs[i].push(measure_child(
                        &sides[i],
                        &workload.model,
                        path,
                        phase,
                        threads,
                    )?);
                    bar.inc(1);
                }
            }
            comparisons.push(Comparison::new(workload, phase, &sides, runs, peak));
        }
    }
    bar.finish(&format!("{total} measurements"));
    let report = BenchReport::new(
        start,
        started.elapsed().as_secs_f64(),
        size,
        args.alternations,
        peak,
        python.err(),
        comparisons,
    );
    let written = report.write(&args.results)?;
    write!(out, "{}", report.markdown())?;
    for path in written {
        writeln!(err, "wrote {}", path.display())?;
    }
    Ok(())
}

/// The interpreter with PyTorch, or why there is none.
fn reference_python(args: &BenchArgs) -> Result<PathBuf, String> {
    if args.no_reference {
        return Err("not measured (--no-reference)".into());
    }
    let python = match &args.python {
        Some(python) => python.clone(),
        None => {
            let venv = Path::new(".venv-reference/bin/python");
            if !venv.exists() {
                return Err("not measured: no .venv-reference (run `make bench-setup`)".into());
            }
            venv.to_path_buf()
        }
    };
    if !args.twins.exists() {
        return Err(format!("not measured: {} not found", args.twins.display()));
    }
    let check = Command::new(&python)
        .args(["-c", "import torch; print(torch.__version__)"])
        .output()
        .map_err(|error| format!("not measured: cannot run {}: {error}", python.display()))?;
    if !check.status.success() {
        return Err(format!(
            "not measured: {} cannot import torch (run `make bench-setup`)",
            python.display()
        ));
    }
    Ok(python)
}

/// One measurement of `side` in a process of its own: its last stdout line, parsed.
fn measure_child(
    side: &Side,
    model: &str,
    workload: &Path,
    phase: Phase,
    threads: usize,
) -> anyhow::Result<Measurement> {
    let mut command = match side {
        Side::Repro { kernels } => {
            let mut command = Command::new(std::env::current_exe()?);
            command
                .args(["bench", "--measure", model, "--workload"])
                .arg(workload)
                .args(["--phases", phase.name(), "--threads", &threads.to_string()]);
            match kernels {
                Some(kernels) => command.env(repro_core::bench::KERNELS_ENV, kernels),
                None => command.env_remove(repro_core::bench::KERNELS_ENV),
            };
            command
        }
        Side::Pytorch { python, twins } => {
            let mut command = Command::new(python);
            command
                .arg(twins)
                .arg(workload)
                .args(["--phase", phase.name()]);
            command
        }
    };
    let output = command.output()?;
    let stdout = String::from_utf8_lossy(&output.stdout);
    let line = stdout
        .lines()
        .rev()
        .find(|line| line.trim_start().starts_with('{'));
    match (output.status.success(), line) {
        (true, Some(line)) => serde_json::from_str(line).map_err(|error| {
            anyhow::anyhow!(
                "{} {model} {}: unreadable result {line:?}: {error}",
                side.label(),
                phase.name()
            )
        }),
        _ => {
            let stderr = String::from_utf8_lossy(&output.stderr);
            let tail: Vec<&str> = stderr.lines().rev().take(12).collect();
            let tail: Vec<&str> = tail.into_iter().rev().collect();
            anyhow::bail!(
                "{} {model} {} failed ({}):\n{}",
                side.label(),
                phase.name(),
                output.status,
                tail.join("\n")
            )
        }
    }
}

/// `--measure`: this suite's side of one workload, on `threads` threads, one JSON line per phase.
fn measure_here(
    paper: &str,
    workload: &Path,
    phases: &[Phase],
    threads: usize,
    out: &mut dyn Write,
) -> anyhow::Result<()> {
    let paper = registry::find(paper)?;
    let text = std::fs::read_to_string(workload)
        .map_err(|error| anyhow::anyhow!("reading {}: {error}", workload.display()))?;
    let workload: Workload = serde_json::from_str(&text)
        .map_err(|error| anyhow::anyhow!("{} is not a workload: {error}", workload.display()))?;
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(threads)
        .build()?;
    let device = Backend::Cpu.device()?;
    for &phase in phases {
        let measured = pool.install(|| paper.bench_measure(&workload, phase, &device))?;
        writeln!(out, "{}", serde_json::to_string(&measured)?)?;
    }
    Ok(())
}
