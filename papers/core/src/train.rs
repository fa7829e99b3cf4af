//! The training loop every paper shares: steps with a progress bar (loss, tokens/s, ETA), a
//! divergence check, train and dev curves at an eval cadence, and resumable checkpoints.
//!
//! A paper supplies the model and its optimizer ([`Training`]) and an [`Objective`]: the loss of
//! a step's batch, the learning-rate schedule, and the dev loss. Everything the loop does is a
//! function of the seed and the step: batches come from the objective by step number, dropout
//! masks are seeded by (seed, step) ([`crate::determinism`]), so a run resumed from the
//! checkpoint of step k replays steps k+1… exactly as an uninterrupted run would.
//!
//! Tokens/s is measured over the training steps alone; evaluation and checkpoint writing are
//! timed apart.

use std::time::Instant;

use anyhow::Context;
use burn::module::Module;
use burn::optim::{GradientsParams, ModuleOptimizer};
use burn::tensor::Tensor;
use serde::{Deserialize, Serialize};

use crate::checkpoint::{self, RunDir, RunIdentity, StepDir, StoredIdentity};
use crate::determinism::{seed_dropout_masks, step_seed};
use crate::progress::Progress;

/// How long a run trains and how often it looks at itself.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Schedule {
    /// Optimisation steps.
    pub steps: usize,
    /// Steps between dev-loss evaluations (the learning curves).
    pub eval_every: usize,
    /// Steps between checkpoints (and after the last step).
    pub checkpoint_every: usize,
}

/// The loss of one step, with the tokens it was computed over (for tokens/s).
pub struct StepLoss {
    /// Scalar loss on the autodiff device, shape (1).
    pub loss: Tensor<1>,
    /// Real (non-padding) tokens in the batch.
    pub tokens: u64,
}

/// What a paper supplies to the loop besides the model.
pub trait Objective<M>: Sync {
    /// The training loss of `model` on the batch of `step` (1-based): a pure function of the
    /// step, so that resuming needs no data-loader state.
    fn step_loss(&self, model: &M, step: usize) -> anyhow::Result<StepLoss>;

    /// The learning rate at `step` (1-based).
    fn learning_rate(&self, step: usize) -> f64;

    /// The dev loss per token (nats) of `model` in evaluation mode (`model.valid()`).
    fn dev_loss(&self, model: &M) -> anyhow::Result<f64>;
}

/// Where a run checkpoints, and as whom.
pub struct Checkpoints {
    /// The run's directory.
    pub dir: RunDir,
    /// Everything that determines the run's numbers, stored as `config.json`.
    pub identity: RunIdentity,
    /// The run's tokenizer (Hugging Face JSON), stored beside the model.
    pub tokenizer: Option<String>,
    /// Continue from the newest checkpoint in `dir`, if any.
    pub resume: bool,
    /// Test hook: fail the checkpoint write of this step after this many of its files, as a crash
    /// between files would.
    #[doc(hidden)]
    pub fail_at: Option<(usize, usize)>,
}

/// One training run.
pub struct Training<M> {
    /// Name for the progress bar and messages (`base seed 1`).
    pub name: String,
    /// Seed of the dropout masks (initialisation and batch order are the paper's, from the same
    /// seed).
    pub seed: u64,
    /// Steps and cadences.
    pub schedule: Schedule,
    /// The initialised model on the autodiff device ([`crate::determinism::init_on_cpu`]).
    pub model: M,
    /// Its optimizer.
    pub optimizer: ModuleOptimizer,
    /// Checkpointing; `None` trains without (tests, timing).
    pub checkpoints: Option<Checkpoints>,
}

/// The loop's state: what a checkpoint records besides the weights.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct TrainingState {
    /// Steps done.
    pub step: usize,
    /// Steps planned.
    pub steps: usize,
    /// (step, mean training loss over the eval interval).
    pub train_loss: Vec<(f64, f64)>,
    /// (step, dev loss per token, nats).
    pub dev_loss: Vec<(f64, f64)>,
    /// Real tokens trained on.
    pub tokens: u64,
    /// Seconds spent in training steps (summed over resumed sessions).
    pub train_seconds: f64,
    /// Seconds spent evaluating and writing checkpoints.
    pub eval_seconds: f64,
    /// Training loss summed since the last evaluation, and over how many steps: kept so that a
    /// resumed run averages its curve exactly like an uninterrupted one.
    pub interval_loss: f64,
    /// See `interval_loss`.
    pub interval_steps: usize,
}

impl TrainingState {
    /// Whether every planned step is done.
    pub fn finished(&self) -> bool {
        self.step >= self.steps
    }

    /// Training throughput over the training steps alone, real tokens per second.
    pub fn tokens_per_second(&self) -> f64 {
        self.tokens as f64 / self.train_seconds.max(1e-9)
    }

    /// The last dev loss (NaN before the first evaluation).
    pub fn final_dev_loss(&self) -> f64 {
        self.dev_loss.last().map_or(f64::NAN, |&(_, loss)| loss)
    }
}

/// A trained model with the loop's record of it.
pub struct Trained<M> {
    /// The model in evaluation mode (`valid()`: no autodiff, dropout off).
    pub model: M,
    /// Curves, tokens and times.
    pub state: TrainingState,
    /// The step the run continued from, when it resumed from a checkpoint.
    pub resumed_from: Option<usize>,
    /// Parameters of the model.
    pub parameters: usize,
}

/// Trains `run.model` with `objective`, resuming from `run.checkpoints` when asked and possible.
pub fn train<M: Module>(
    run: Training<M>,
    objective: &dyn Objective<M>,
    progress: &Progress,
) -> anyhow::Result<Trained<M>> {
    let Training {
        name,
        seed,
        schedule,
        mut model,
        mut optimizer,
        checkpoints,
    } = run;
    anyhow::ensure!(
        schedule.steps > 0 && schedule.eval_every > 0 && schedule.checkpoint_every > 0,
        "{name}: steps, eval_every and checkpoint_every must be positive"
    );
    let parameters = model.num_params();
    let mut state = TrainingState {
        steps: schedule.steps,
        ..TrainingState::default()
    };
    let mut resumed_from = None;
    if let Some(plan) = checkpoints.as_ref().filter(|plan| plan.resume)
        && let Some(found) = plan.dir.latest()?
    {
        checkpoint::ensure_same_run(&found.identity()?, &plan.identity, plan.dir.path())?;
        state = found.read_json(checkpoint::STATE)?;
        model = model
            .try_load_file(found.file(checkpoint::MODEL))
            .map_err(|error| anyhow::anyhow!("loading {}: {error:?}", found.path.display()))?;
        optimizer = optimizer
            .load(found.file(checkpoint::OPTIMIZER))
            .map_err(|error| anyhow::anyhow!("loading {}: {error:?}", found.path.display()))?;
        resumed_from = Some(state.step);
        progress.println(&format!(
            "{name}: resumed at step {}/{}",
            state.step, schedule.steps
        ));
    }

    let phase = progress.phase(&format!("train {name}"), schedule.steps as u64, "steps");
    phase.set_position(state.step as u64);
    while state.step < schedule.steps {
        let step = state.step + 1;
        let started = Instant::now();
        seed_dropout_masks(Some(step_seed(seed, step)));
        let outcome = train_step(&mut model, &mut optimizer, objective, step);
        seed_dropout_masks(None);
        let (loss, tokens) = outcome.with_context(|| format!("{name}, step {step}"))?;
        anyhow::ensure!(
            loss.is_finite(),
            "{name}: training diverged at step {step} (loss {loss}); lower the learning rate \
             (`lr_factor` in the paper's scales.toml)"
        );
        state.step = step;
        state.tokens += tokens;
        state.interval_loss += loss;
        state.interval_steps += 1;
        state.train_seconds += started.elapsed().as_secs_f64();
        phase.inc(1);
        phase.message(format!(
            "loss {loss:.3}, {} tok/s",
            thousands(state.tokens_per_second())
        ));

        let started = Instant::now();
        if step.is_multiple_of(schedule.eval_every) || step == schedule.steps {
            state.train_loss.push((
                step as f64,
                state.interval_loss / state.interval_steps.max(1) as f64,
            ));
            state.interval_loss = 0.0;
            state.interval_steps = 0;
            let dev = objective.dev_loss(&model.valid())?;
            state.dev_loss.push((step as f64, dev));
        }
        state.eval_seconds += started.elapsed().as_secs_f64();
        if let Some(plan) = &checkpoints
            && (step.is_multiple_of(schedule.checkpoint_every) || step == schedule.steps)
        {
            let started = Instant::now();
            save(plan, step, &model, &optimizer, &state)?;
            state.eval_seconds += started.elapsed().as_secs_f64();
        }
    }
    phase.finish(&format!(
        "dev loss {:.3} nats (ppl {:.2}), {} tok/s, {:.0} s training + {:.0} s evaluation",
        state.final_dev_loss(),
        state.final_dev_loss().exp(),
        thousands(state.tokens_per_second()),
        state.train_seconds,
        state.eval_seconds
    ));
    Ok(Trained {
        model: model.valid(),
        state,
        resumed_from,
        parameters,
    })
}

/// Forward, backward and optimizer step; returns the loss and the batch's tokens.
fn train_step<M: Module>(
    model: &mut M,
    optimizer: &mut ModuleOptimizer,
    objective: &dyn Objective<M>,
    step: usize,
) -> anyhow::Result<(f64, u64)> {
    let StepLoss { loss, tokens } = objective.step_loss(model, step)?;
    let value: f64 = loss.clone().into_scalar();
    if !value.is_finite() {
        return Ok((value, tokens));
    }
    backward_and_step(model, optimizer, loss, objective.learning_rate(step));
    Ok((value, tokens))
}

/// The backward pass of `loss` and one optimiser step of `model` at learning rate `lr`: what
/// every training step does after its forward pass (`repro bench` times this same call).
pub fn backward_and_step<M: Module>(
    model: &mut M,
    optimizer: &mut ModuleOptimizer,
    loss: Tensor<1>,
    lr: f64,
) {
    let gradients = GradientsParams::from_grads(loss.backward(), &*model);
    *model = optimizer.step(lr, model.clone(), gradients);
}

/// Writes the checkpoint of `step` (model, optimizer, state, identity, tokenizer).
fn save<M: Module>(
    plan: &Checkpoints,
    step: usize,
    model: &M,
    optimizer: &ModuleOptimizer,
    state: &TrainingState,
) -> anyhow::Result<StepDir> {
    plan.dir.save(step, |dir| {
        let mut written = 0;
        let wrote = |written: &mut usize| -> anyhow::Result<()> {
            *written += 1;
            match plan.fail_at {
                Some((at, after)) if at == step && after == *written => {
                    anyhow::bail!("injected failure after {after} checkpoint files at step {step}")
                }
                _ => Ok(()),
            }
        };
        model
            .clone()
            .save_file(dir.join(checkpoint::MODEL))
            .map_err(|error| anyhow::anyhow!("saving the model: {error:?}"))?;
        wrote(&mut written)?;
        optimizer
            .save(dir.join(checkpoint::OPTIMIZER))
            .map_err(|error| anyhow::anyhow!("saving the optimizer: {error:?}"))?;
        wrote(&mut written)?;
        if let Some(tokenizer) = &plan.tokenizer {
            std::fs::write(dir.join(checkpoint::TOKENIZER), tokenizer)
                .context("saving the tokenizer")?;
            wrote(&mut written)?;
        }
        checkpoint::write_json(
            dir,
            checkpoint::CONFIG,
            &StoredIdentity {
                key: plan.identity.key(),
                identity: plan.identity.clone(),
            },
        )?;
        wrote(&mut written)?;
        checkpoint::write_json(dir, checkpoint::STATE, state)
    })
}

/// `12345.6` → `12.3k`.
fn thousands(value: f64) -> String {
    if value >= 1000.0 {
        format!("{:.1}k", value / 1000.0)
    } else {
        format!("{value:.0}")
    }
}

pub mod loss;

#[cfg(test)]
mod tests;
