//! The experiments: one size family pre-trained on one corpus (§2.1–2.3), then every task
//! evaluated zero-, one- and few-shot (§2, §3.1.2, §3.9.1–3.9.2) with the shared harness of
//! `repro_core::eval`.
//!
//! Each (size, seed) is one training; all three experiments read the same trainings, and every
//! model answers the same prompts (demonstrations drawn with one seed, [`DEMO_SEED`]), so
//! comparisons between K and between sizes are paired instance by instance and run by run.

use std::collections::BTreeMap;
use std::time::Instant;

use repro_core::checkpoint::{RunDir, RunIdentity, RunKey};
use repro_core::data::{SplitSize, Tokenizer};
use repro_core::eval::score::{Evaluation, evaluate};
use repro_core::experiment::{Experiment, Measurement};
use repro_core::lab::{Lab as Runs, Run, TrainingRecord};
use repro_core::run::{Curve, Metric, RunContext, Series};
use repro_core::train::Checkpoints;
use serde::{Deserialize, Serialize};

use crate::corpus::{self, TaskData};
use crate::induction::{self, RepeatLoss};
use crate::lm::GptLm;
use crate::model::{Gpt, GptConfig};
use crate::scale::{CorpusConfig, EvaluationConfig, ScaleConfig, SizeConfig, TrainingConfig};
use crate::tasks::Sources;
use crate::training::{self, PretrainingRun};

mod curves;

/// Seed of the demonstration draws, the same for every model.
pub const DEMO_SEED: u64 = 1234;

/// The settings (K) of §2: zero-shot, one-shot, few-shot.
pub const SHOTS: [&str; 3] = ["zero", "one", "few"];

/// The experiments, in report order.
pub fn experiments<'a>() -> Vec<Experiment<Lab<'a>, Run<RunConfig>>> {
    vec![
        Experiment {
            name: "arithmetic",
            reproduces: "§3.9.1, Table 3.9 / Figure 3.10: ten arithmetic tasks, zero/one/few-shot, by model size",
            plan: Lab::plan,
            measure: |lab| lab.family("arithmetic"),
        },
        Experiment {
            name: "scrambling",
            reproduces: "§3.9.2, Table 3.10 / Figure 3.11: five word-scrambling tasks, zero/one/few-shot, by model size",
            plan: Lab::plan,
            measure: |lab| lab.family("scrambling"),
        },
        Experiment {
            name: "cloze",
            reproduces: "§3.1.2, Table 3.2 / Figure 3.2 (LAMBADA's protocol on a held-out last-word cloze): accuracy and perplexity by model size, fill-in-the-blank one/few-shot",
            plan: Lab::plan,
            measure: Lab::cloze,
        },
        Experiment {
            name: "labels",
            reproduces: "§2's in-context learning, on a family built to show it at this scale (not one of the paper's tasks): four two-class problems whose labels are held-out words unrelated to the classes, zero/one/few-shot, by model size",
            plan: Lab::plan,
            measure: |lab| lab.family("labels"),
        },
        Experiment {
            name: "pretraining",
            reproduces: "§2.1 / Table 2.1 / Figure 3.1: the size family, its non-embedding parameters and held-out loss; the induction probe (repeated random tokens) beside the few-shot tables",
            plan: Lab::plan,
            measure: Lab::pretraining,
        },
    ]
}

/// Everything that determines one training's numbers and its evaluation.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RunConfig {
    /// The size.
    pub size: SizeConfig,
    /// Its architecture.
    pub model: GptConfig,
    /// The corpus.
    pub corpus: CorpusConfig,
    /// The optimisation.
    pub training: TrainingConfig,
    /// The evaluation.
    pub evaluation: EvaluationConfig,
}

/// A trained model's numbers.
#[derive(Debug, Clone)]
pub struct Scored {
    /// Its run.
    pub key: RunKey,
    /// `task/K` → evaluation.
    pub evaluations: BTreeMap<String, Evaluation>,
    /// Final held-out loss per token (nats).
    pub dev_loss: f64,
    /// The dev-loss curve.
    pub curve: Vec<(f64, f64)>,
    /// Non-embedding parameters.
    pub non_embedding: usize,
    /// Loss on the two copies of repeated random tokens (the induction probe).
    pub repeat: RepeatLoss,
    /// Seconds of training and evaluation.
    pub seconds: f64,
}

/// The data, the tokenizer and the trained runs of one reproduction.
pub struct Lab<'a> {
    ctx: &'a RunContext,
    /// The scale's settings.
    pub config: ScaleConfig,
    tokenizer: Tokenizer,
    tokenizer_json: String,
    train: Vec<Vec<u32>>,
    dev: Vec<Vec<u32>>,
    /// Every task's pool and held-out instances.
    pub tasks: Vec<TaskData>,
    /// Seeds of every size.
    pub seeds: Vec<u64>,
    /// What the data really held.
    pub sizes: Vec<SplitSize>,
    runs: Runs<RunConfig, Scored>,
}

impl<'a> Lab<'a> {
    /// Builds the corpus, the tokenizer, the windows and the task instances for `ctx`.
    pub fn prepare(ctx: &'a RunContext) -> anyhow::Result<Self> {
        anyhow::ensure!(
            ctx.dataset.is_empty() || ctx.dataset == crate::DEFAULT_DATASET,
            "unknown dataset `{}` for gpt3; known: {}",
            ctx.dataset,
            crate::DEFAULT_DATASET
        );
        let config = crate::scale::scale_config_for(ctx)?;
        let phase = ctx.progress.phase("prepare corpus and tasks", 4, "steps");
        let documents = corpus::real_documents(&config.corpus)?;
        let sources = Sources {
            words: corpus::word_list(&documents.train),
            train_passages: corpus::passages(
                &documents.train,
                config.evaluation.cloze_passage_words,
            ),
            eval_passages: corpus::passages(&documents.dev, config.evaluation.cloze_passage_words),
        };
        let tasks = corpus::task_data(&sources, config.evaluation.instances, 0)?;
        phase.inc(1);
        let real: Vec<String> = documents.train.iter().map(corpus::document_text).collect();
        let real_characters: usize = real.iter().map(String::len).sum();
        let share = config.corpus.task_share;
        let task_characters = (real_characters as f64 * share / (1.0 - share)) as usize;
        let task_texts = corpus::task_documents(
            &tasks,
            &sources,
            task_characters,
            config.corpus.max_examples_per_document,
            0,
        )?;
        let mut texts = real;
        texts.extend(task_texts.iter().cloned());
        // Real and task documents interleaved (a fixed shuffle), as they would be on the web.
        fastrand::Rng::with_seed(0).shuffle(&mut texts);
        let tokenizer = corpus::train_tokenizer(&texts, config.corpus.vocab_size)?;
        let tokenizer_json = tokenizer.to_json()?;
        phase.inc(1);
        let context = config.corpus.context;
        let train = corpus::windows(&tokenizer, &texts, context)?;
        let dev_texts: Vec<String> = documents.dev.iter().map(corpus::document_text).collect();
        let dev = corpus::windows(&tokenizer, &dev_texts, context)?;
        anyhow::ensure!(
            !train.is_empty() && !dev.is_empty(),
            "the corpus left no training or no held-out windows of {context} tokens"
        );
        phase.inc(1);
        let needed = config.training.steps * config.training.batch_size;
        let sizes = vec![
            SplitSize {
                split: "real documents (train)".into(),
                requested: config.corpus.max_documents,
                available: documents.train.len(),
                used: documents.train.len(),
                duplicates_removed: 0,
            },
            SplitSize {
                split: "real documents (dev)".into(),
                requested: documents.dev.len(),
                available: documents.dev.len(),
                used: documents.dev.len(),
                duplicates_removed: 0,
            },
            SplitSize {
                split: "task documents".into(),
                requested: task_texts.len(),
                available: task_texts.len(),
                used: task_texts.len(),
                duplicates_removed: 0,
            },
            SplitSize {
                split: format!("training windows of {} tokens", context + 1),
                requested: needed,
                available: train.len(),
                used: needed.min(train.len()),
                duplicates_removed: 0,
            },
        ];
        phase.inc(1);
        phase.finish(&format!(
            "{} real + {} task documents ({:.0} % task text), {} training / {} held-out windows of {} tokens, BPE of {} tokens, {} tasks × {} held-out instances",
            documents.train.len(),
            task_texts.len(),
            100.0 * share,
            train.len(),
            dev.len(),
            context,
            tokenizer.vocab_size(),
            tasks.len(),
            config.evaluation.instances
        ));
        let seeds = (0..config.seeds as u64).map(|i| ctx.seed + i).collect();
        Ok(Self {
            ctx,
            tokenizer,
            tokenizer_json,
            train,
            dev,
            tasks,
            seeds,
            sizes,
            runs: Runs::new(ctx, "gpt3", &corpus::dataset_sha256()),
            config,
        })
    }

    /// The tokenizer's vocabulary size.
    pub fn vocab_size(&self) -> usize {
        self.tokenizer.vocab_size()
    }

    /// The training and held-out windows of `context + 1` tokens.
    pub fn windows(&self) -> (&[Vec<u32>], &[Vec<u32>]) {
        (&self.train, &self.dev)
    }

    fn run(&self, size: &SizeConfig, seed: u64) -> Run<RunConfig> {
        let corpus = &self.config.corpus;
        Run {
            label: size.name.clone(),
            seed,
            config: RunConfig {
                size: size.clone(),
                model: GptConfig::sized(
                    self.tokenizer.vocab_size(),
                    corpus.context,
                    size.layers,
                    size.width,
                    size.heads,
                    0.0,
                ),
                corpus: corpus.clone(),
                training: self.config.training.clone(),
                evaluation: self.config.evaluation.clone(),
            },
            with_test: false,
        }
    }

    /// Every size × seed (each experiment reads them all).
    pub fn plan(&self) -> Vec<Run<RunConfig>> {
        // The largest first, so that no worker is left alone with a long run at the end.
        let mut sizes = self.config.sizes.clone();
        sizes.reverse();
        sizes
            .iter()
            .flat_map(|size| self.seeds.iter().map(move |&seed| self.run(size, seed)))
            .collect()
    }

    /// Trains and evaluates every planned run not done yet, `ctx.jobs` at a time.
    pub fn train_all(&self, planned: Vec<Run<RunConfig>>) -> anyhow::Result<()> {
        self.runs
            .execute(planned, |run, identity| self.train_and_score(run, identity))
    }

    fn train_and_score(
        &self,
        run: &Run<RunConfig>,
        identity: &RunIdentity,
    ) -> anyhow::Result<(Scored, TrainingRecord)> {
        let started = Instant::now();
        let name = format!("{} seed {}", run.label, run.seed);
        let trained = training::pretrain(
            PretrainingRun {
                name: name.clone(),
                model: &run.config.model,
                config: &run.config.training,
                learning_rate: run.config.size.learning_rate,
                seed: run.seed,
                train: &self.train,
                dev: &self.dev,
                checkpoints: Some(Checkpoints {
                    dir: RunDir::new(
                        self.ctx
                            .checkpoint_dir
                            .join(format!("{}-seed{}", run.label, run.seed)),
                    ),
                    identity: identity.clone(),
                    tokenizer: Some(self.tokenizer_json.clone()),
                    resume: self.ctx.resume,
                    fail_at: None,
                }),
            },
            &self.ctx.device,
            &self.ctx.progress,
        )?;
        let evaluations = self.score(&trained.model, &run.config.evaluation, &name)?;
        let repeat = induction::repeat_loss(&trained.model, &self.ctx.device);
        let state = &trained.state;
        let record = TrainingRecord {
            label: run.label.clone(),
            seed: run.seed,
            key: identity.key(),
            steps: state.step,
            resumed_from: trained.resumed_from,
            parameters: trained.parameters,
            tokens_per_second: state.tokens_per_second(),
            train_seconds: state.train_seconds,
            eval_seconds: state.eval_seconds,
            dev_loss_improvement: repro_core::stats::last_fifth_improvement(&state.dev_loss),
            hypotheses: BTreeMap::new(),
        };
        Ok((
            Scored {
                key: identity.key(),
                evaluations,
                dev_loss: state.final_dev_loss(),
                curve: state.dev_loss.clone(),
                non_embedding: run.config.model.non_embedding_parameters(),
                repeat,
                seconds: started.elapsed().as_secs_f64(),
            },
            record,
        ))
    }

    /// Every task at K = 0, 1 and `few_shot` on `model`.
    fn score(
        &self,
        model: &Gpt,
        evaluation: &EvaluationConfig,
        name: &str,
    ) -> anyhow::Result<BTreeMap<String, Evaluation>> {
        let lm = GptLm {
            model,
            tokenizer: &self.tokenizer,
            device: &self.ctx.device,
        };
        let phase = self.ctx.progress.phase(
            &format!("evaluate {name}"),
            (self.tasks.len() * SHOTS.len()) as u64,
            "task settings",
        );
        let mut out = BTreeMap::new();
        for data in &self.tasks {
            for shot in SHOTS {
                let k = shots(shot, evaluation);
                let scored = evaluate(&data.task.spec, &lm, &data.eval, &data.pool, k, DEMO_SEED)?;
                out.insert(format!("{}/{shot}", data.task.spec.name), scored);
                phase.inc(1);
            }
        }
        phase.finish("");
        Ok(out)
    }

    fn scored(&self, size: &SizeConfig) -> anyhow::Result<Vec<Scored>> {
        self.seeds
            .iter()
            .map(|&seed| self.runs.result(&self.run(size, seed)))
            .collect()
    }

    /// A metric of `size` read from each seed's evaluations by `value`.
    fn metric(
        &self,
        size: &SizeConfig,
        unit: &str,
        value: impl Fn(&Scored) -> anyhow::Result<f64>,
    ) -> anyhow::Result<Metric> {
        let scored = self.scored(size)?;
        let values = scored.iter().map(&value).collect::<anyhow::Result<_>>()?;
        Ok(Metric::new(values, unit).of_runs(scored.iter().map(|s| s.key.clone()).collect()))
    }

    /// [`Self::metric`] with each seed's per-instance scores from `instances` (the verdict rules
    /// add their sampling variance).
    fn metric_over_instances(
        &self,
        size: &SizeConfig,
        unit: &str,
        value: impl Fn(&Scored) -> anyhow::Result<f64>,
        instances: impl Fn(&Scored) -> anyhow::Result<Vec<f64>>,
    ) -> anyhow::Result<Metric> {
        let scored = self.scored(size)?;
        let per_instance = scored
            .iter()
            .map(&instances)
            .collect::<anyhow::Result<_>>()?;
        Ok(self.metric(size, unit, value)?.with_instances(per_instance))
    }

    fn family_tasks(&self, family: &str) -> Vec<&TaskData> {
        self.tasks
            .iter()
            .filter(|t| t.task.family == family)
            .collect()
    }

    /// Accuracy of each task of `family` at each size and K, the family's mean, the in-context
    /// gain (few − zero) per size; the same mean and gain for the answer's log-likelihood.
    fn family(&self, family: &str) -> anyhow::Result<Measurement> {
        let tasks = self.family_tasks(family);
        let names: Vec<&str> = tasks.iter().map(|d| d.task.spec.name.as_str()).collect();
        let mut metrics = BTreeMap::new();
        let (mut accuracy_by_k, mut logprob_by_k) = (Vec::new(), Vec::new());
        for size in &self.config.sizes {
            let s = &size.name;
            let (mut accuracies, mut logprobs) = (Vec::new(), Vec::new());
            for shot in SHOTS {
                for task in &names {
                    let metric = self.metric(size, "%", |r| accuracy(r, task, shot))?;
                    metrics.insert(format!("{task}.{s}.{shot}"), metric);
                }
                let mean = self.metric_over_instances(
                    size,
                    "%",
                    |r| family_mean(&names, |t| accuracy(r, t, shot)),
                    |r| family_instances(r, &names, shot, instance_accuracy),
                )?;
                accuracies.push((shot, mean.mean()));
                metrics.insert(format!("mean.{s}.{shot}"), mean);
                let mean = self.metric_over_instances(
                    size,
                    "nats",
                    |r| family_mean(&names, |t| logprob(r, t, shot)),
                    |r| family_instances(r, &names, shot, instance_logprob),
                )?;
                logprobs.push((shot, mean.mean()));
                metrics.insert(format!("logprob.{s}.{shot}"), mean);
            }
            let gain = |value: fn(&Scored, &str, &str) -> anyhow::Result<f64>,
                        per_instance: fn(&Evaluation) -> anyhow::Result<Vec<f64>>,
                        unit: &str| {
                self.metric_over_instances(
                    size,
                    unit,
                    |r| {
                        Ok(family_mean(&names, |t| value(r, t, "few"))?
                            - family_mean(&names, |t| value(r, t, "zero"))?)
                    },
                    |r| {
                        let few = family_instances(r, &names, "few", per_instance)?;
                        let zero = family_instances(r, &names, "zero", per_instance)?;
                        Ok(few.iter().zip(&zero).map(|(f, z)| f - z).collect())
                    },
                )
            };
            metrics.insert(
                format!("gain.{s}"),
                gain(accuracy, instance_accuracy, "points")?,
            );
            metrics.insert(
                format!("logprob_gain.{s}"),
                gain(logprob, instance_logprob, "nats")?,
            );
            accuracy_by_k.push((size, accuracies));
            logprob_by_k.push((size, logprobs));
        }
        let curves = vec![
            self.k_curve(
                format!("{family}-accuracy_vs_k"),
                format!("{family}: mean accuracy vs in-context examples (Figure 1.2's shape)"),
                "mean accuracy (%)",
                &accuracy_by_k,
            ),
            self.k_curve(
                format!("{family}-answer_logprob_vs_k"),
                format!("{family}: log-likelihood of the correct answer vs in-context examples"),
                "mean log p(answer) (nats)",
                &logprob_by_k,
            ),
            self.size_curve(family, &metrics, |shot| format!("mean.{{size}}.{shot}"))?,
        ];
        let mut notes = self.notes(&tasks);
        notes.push("answer log-likelihood: log p(delimiter + answer | prompt) in nats, the family's mean over tasks; it rises with K when the demonstrations help even where no answer is right yet (loss falling with context is how Kaplan et al. 2020 and Olsson et al. 2022 measure in-context learning)".into());
        Ok(Measurement {
            seeds: self.seeds.clone(),
            metrics,
            curves,
            notes,
            wall_time_s: self.wall_time(),
        })
    }

    /// The cloze: plain-completion accuracy and perplexity zero-shot (§3.1.2's zero-shot
    /// protocol), fill-in-the-blank accuracy at K = 0, 1, few.
    fn cloze(&self) -> anyhow::Result<Measurement> {
        let mut metrics = BTreeMap::new();
        for size in &self.config.sizes {
            let s = &size.name;
            metrics.insert(
                format!("{s}.zero"),
                self.metric_over_instances(
                    size,
                    "%",
                    |r| accuracy(r, "cloze", "zero"),
                    |r| family_instances(r, &["cloze"], "zero", instance_accuracy),
                )?,
            );
            metrics.insert(
                format!("{s}.perplexity"),
                self.metric(size, "ppl", |r| metric_of(r, "cloze", "zero", "perplexity"))?,
            );
            for shot in SHOTS {
                metrics.insert(
                    format!("blank.{s}.{shot}"),
                    self.metric_over_instances(
                        size,
                        "%",
                        |r| accuracy(r, "cloze_blank", shot),
                        |r| family_instances(r, &["cloze_blank"], shot, instance_accuracy),
                    )?,
                );
            }
        }
        let curves =
            vec![self.size_curve("cloze", &metrics, |shot| format!("blank.{{size}}.{shot}"))?];
        let tasks = self.family_tasks("cloze");
        Ok(Measurement {
            seeds: self.seeds.clone(),
            metrics,
            curves,
            notes: self.notes(&tasks),
            wall_time_s: self.wall_time(),
        })
    }

    /// The size family: parameters, held-out loss and its curves.
    fn pretraining(&self) -> anyhow::Result<Measurement> {
        let mut metrics = BTreeMap::new();
        let mut series = Vec::new();
        for size in &self.config.sizes {
            let s = &size.name;
            metrics.insert(
                format!("{s}.dev_loss"),
                self.metric(size, "nats", |r| Ok(r.dev_loss))?,
            );
            metrics.insert(
                format!("{s}.non_embedding_parameters"),
                self.metric(size, "parameters", |r| Ok(r.non_embedding as f64))?,
            );
            metrics.insert(
                format!("{s}.repeat_first_copy_loss"),
                self.metric(size, "nats", |r| Ok(r.repeat.first))?,
            );
            metrics.insert(
                format!("{s}.repeat_second_copy_loss"),
                self.metric(size, "nats", |r| Ok(r.repeat.second))?,
            );
            metrics.insert(
                format!("{s}.induction_gain"),
                self.metric(size, "nats", |r| Ok(r.repeat.gain()))?,
            );
            if let Some(first) = self.scored(size)?.first() {
                series.push(Series {
                    label: format!("{s} seed {}", self.seeds[0]),
                    points: first.curve.clone(),
                });
            }
        }
        let training = &self.config.training;
        Ok(Measurement {
            seeds: self.seeds.clone(),
            metrics,
            curves: vec![Curve {
                id: "pretraining-dev_loss".into(),
                title: "held-out loss during pre-training".into(),
                x_label: "step".into(),
                y_label: "dev loss (nats/token)".into(),
                log_x: false,
                series,
            }],
            notes: vec![
                format!(
                    "every size: {} steps × {} sequences × {} tokens ({:.2} M tokens), warm-up {:.0} % then cosine to 10 %, AdamW β₂ 0.95, weight decay {}, per-parameter gradient-norm clipping 1.0, no dropout",
                    training.steps,
                    training.batch_size,
                    self.config.corpus.context,
                    (training.steps * training.batch_size * self.config.corpus.context) as f64
                        / 1e6,
                    100.0 * training.warmup_fraction,
                    training.weight_decay
                ),
                format!(
                    "induction probe (Olsson et al. 2022): {} sequences of {} uniformly random tokens, each followed by itself (an untrained model scores about ln V = {:.2} nats on both copies; a trained one more on the first, random tokens being unlikely text); `induction_gain`, first-copy minus second-copy loss, is how much the model predicts the repeat from its context: near 0 means no induction heads, the copying mechanism in-context learning builds on (models that have them predict the repeat at a few nats or less)",
                    induction::ROWS,
                    (self.config.corpus.context - 1) / 2,
                    (self.vocab_size() as f64).ln()
                ),
            ],
            wall_time_s: self.wall_time(),
        })
    }

    fn non_embedding(&self, size: &SizeConfig) -> usize {
        self.run(size, 0).config.model.non_embedding_parameters()
    }

    fn notes(&self, tasks: &[&TaskData]) -> Vec<String> {
        let evaluation = &self.config.evaluation;
        let mut notes = vec![format!(
            "K: zero = 0, one = 1, few = {} demonstrations drawn from the task's training pool with seed {DEMO_SEED} (the same prompts for every model), fewer where the {}-token window cannot hold them",
            evaluation.few_shot, self.config.corpus.context
        )];
        for data in tasks {
            let name = &data.task.spec.name;
            if let Ok(first) = self.scored(&self.config.sizes[0])
                && let Some(few) = first
                    .first()
                    .and_then(|s| s.evaluations.get(&format!("{name}/few")))
                && few.shots_min < few.shots_requested
            {
                notes.push(format!(
                    "{name}: few-shot K truncated by the context window to {}–{} (mean {:.1}) of {}",
                    few.shots_min, few.shots_requested, few.shots_mean, few.shots_requested
                ));
            }
        }
        notes
    }

    fn wall_time(&self) -> f64 {
        self.config
            .sizes
            .iter()
            .filter_map(|size| self.scored(size).ok())
            .flatten()
            .map(|s| s.seconds)
            .sum()
    }

    /// Records of every training done.
    pub fn trainings(&self) -> Vec<TrainingRecord> {
        self.runs.records()
    }
}

/// K for a setting name.
pub fn shots(shot: &str, evaluation: &EvaluationConfig) -> usize {
    match shot {
        "zero" => 0,
        "one" => 1,
        _ => evaluation.few_shot,
    }
}

fn metric_of(scored: &Scored, task: &str, shot: &str, metric: &str) -> anyhow::Result<f64> {
    scored
        .evaluations
        .get(&format!("{task}/{shot}"))
        .and_then(|e| e.metrics.get(metric))
        .copied()
        .ok_or_else(|| anyhow::anyhow!("no {metric} for {task} {shot}-shot"))
}

/// The mean of `value` over a family's tasks.
fn family_mean(tasks: &[&str], value: impl Fn(&str) -> anyhow::Result<f64>) -> anyhow::Result<f64> {
    let values = tasks
        .iter()
        .map(|t| value(t))
        .collect::<anyhow::Result<Vec<f64>>>()?;
    Ok(repro_core::stats::mean(&values))
}

/// Every instance of a family's `tasks` at `shot`, each scored by `per_instance` and weighted so
/// that their plain mean is the family's mean of task means (tasks may hold different numbers of
/// instances): what the verdict rules resample.
fn family_instances(
    scored: &Scored,
    tasks: &[&str],
    shot: &str,
    per_instance: fn(&Evaluation) -> anyhow::Result<Vec<f64>>,
) -> anyhow::Result<Vec<f64>> {
    let per_task = tasks
        .iter()
        .map(|task| {
            scored
                .evaluations
                .get(&format!("{task}/{shot}"))
                .ok_or_else(|| anyhow::anyhow!("no evaluation of {task} {shot}-shot"))
                .and_then(per_instance)
        })
        .collect::<anyhow::Result<Vec<Vec<f64>>>>()?;
    let total: usize = per_task.iter().map(Vec::len).sum();
    Ok(per_task
        .iter()
        .flat_map(|values| {
            let weight = total as f64 / (tasks.len() * values.len()) as f64;
            values.iter().map(move |v| v * weight)
        })
        .collect())
}

/// 100 for a correct answer, 0 otherwise (the accuracy's per-instance terms); an error unless
/// they average to the accuracy [`accuracy`] reads.
fn instance_accuracy(evaluation: &Evaluation) -> anyhow::Result<Vec<f64>> {
    let scores: Vec<f64> = evaluation
        .correct
        .iter()
        .map(|&c| if c { 100.0 } else { 0.0 })
        .collect();
    let value = evaluation
        .metrics
        .get("acc")
        .or_else(|| evaluation.metrics.get("exact_match"));
    anyhow::ensure!(
        scores.len() == evaluation.n
            && value.is_some_and(|v| (v - repro_core::stats::mean(&scores)).abs() < 1e-9),
        "{}: the per-instance answers do not make its accuracy",
        evaluation.task
    );
    Ok(scores)
}

/// The gold answer's log-likelihood per instance.
fn instance_logprob(evaluation: &Evaluation) -> anyhow::Result<Vec<f64>> {
    anyhow::ensure!(
        evaluation.logprobs.len() == evaluation.n,
        "{}: no per-instance answer log-likelihoods",
        evaluation.task
    );
    Ok(evaluation.logprobs.clone())
}

/// The mean log-likelihood of a task's correct answers (nats).
fn logprob(scored: &Scored, task: &str, shot: &str) -> anyhow::Result<f64> {
    metric_of(scored, task, shot, "answer_logprob")
}

/// A task's accuracy: `exact_match` for free-form answers, `acc` otherwise.
fn accuracy(scored: &Scored, task: &str, shot: &str) -> anyhow::Result<f64> {
    metric_of(scored, task, shot, "acc").or_else(|_| metric_of(scored, task, shot, "exact_match"))
}
