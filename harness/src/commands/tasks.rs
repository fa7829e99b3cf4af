//! `repro tasks`: a paper's evaluation instances and the exact prompts its models see, so that
//! anyone can check the formats by eye (lm-evaluation-harness's `write_out`).

use std::io::Write;

use repro_core::Scale;
use repro_core::eval::ShowRequest;

use crate::registry;

/// `repro tasks`.
#[derive(clap::Args, Debug)]
#[command(after_help = "\
Examples:
  repro tasks gpt3                          two instances of every task, zero-shot
  repro tasks gpt3 2d_plus --shots 3        the few-shot prompt of 2-digit addition
  repro tasks gpt3 cloze_blank --n 5 --json one JSON object per instance")]
pub struct TasksArgs {
    /// The paper (`gpt3`).
    pub paper: String,
    /// One task (`2d_plus`, `cycle_letters`, `cloze_blank`, …); all when absent.
    pub task: Option<String>,
    /// Demonstrations per prompt (K).
    #[arg(long, default_value_t = 0, value_name = "K")]
    pub shots: usize,
    /// Instances per task.
    #[arg(long, default_value_t = 2, value_name = "N")]
    pub n: usize,
    /// Seed of the demonstration draws (the evaluation uses 1234 for every model).
    #[arg(long, default_value_t = 1234, value_name = "S")]
    pub seed: u64,
    /// The scale whose corpus the instances come from.
    #[arg(long, default_value = "small")]
    pub scale: Scale,
    /// One JSON object per line: the prompt and its target (or its choices and gold index).
    #[arg(long)]
    pub json: bool,
}

/// Prints the instances.
pub fn run(args: &TasksArgs, out: &mut dyn Write) -> anyhow::Result<()> {
    let paper = registry::find(&args.paper)?;
    let shown = paper.show_tasks(&ShowRequest {
        scale: args.scale,
        task: args.task.clone(),
        shots: args.shots,
        n: args.n,
        seed: args.seed,
    })?;
    for instance in &shown {
        if args.json {
            writeln!(out, "{}", serde_json::to_string(instance)?)?;
            continue;
        }
        writeln!(
            out,
            "── {} v{} #{} ({:?}, K = {} of {}) ──",
            instance.task,
            instance.version,
            instance.index,
            instance.output_type,
            instance.shots,
            instance.shots_requested
        )?;
        writeln!(out, "{}", instance.prompt)?;
        if !instance.target.is_empty() {
            writeln!(out, "── target: {:?}", instance.target)?;
        }
        for (i, choice) in instance.choices.iter().enumerate() {
            let gold = if instance.gold == Some(i) {
                " (gold)"
            } else {
                ""
            };
            writeln!(out, "── choice {i}: {choice:?}{gold}")?;
        }
        writeln!(out)?;
    }
    Ok(())
}
