//! The experiments, declared once in [`experiments`]:
//!
//! | experiment               | reproduces                                                        |
//! |--------------------------|-------------------------------------------------------------------|
//! | [`pretraining`]          | §3.1: MLM perplexity and NSP accuracy of the base model (held out) |
//! | [`pretraining_vs_scratch`] | §1/§5: pre-trained + fine-tuned vs the same model from scratch  |
//! | [`pretraining_tasks`]    | Table 5: MLM + NSP vs No NSP vs LTR & No NSP                      |
//! | [`model_size`]           | Table 6: larger encoders, lower MLM perplexity, better accuracy   |
//! | [`feature_based`](crate::feature_based::feature_based) | Table 7: frozen layers + logistic regression vs fine-tuning |
//! | [`pretrained_at_scale`]  | context: frozen all-MiniLM-L6-v2 features + logistic regression   |
//!
//! A training is planned per (arm, seed): pre-training once per configuration however many
//! experiments read it (the base model is Table 5's "MLM + NSP" and one of Table 6's sizes), then
//! one fine-tuning per task and learning rate of the grid. The learning rate is chosen per seed on
//! dev accuracy; only the chosen run is scored on test, once.

use std::collections::BTreeMap;
use std::sync::Mutex;
use std::time::Instant;

use repro_core::Paper;
use repro_core::checkpoint::{RunDir, RunIdentity, RunKey};
use repro_core::data::{SplitSize, Splits, Tokenizer};
use repro_core::experiment::{Experiment, Measurement};
use repro_core::lab::{Lab as Runs, Run, TrainingRecord};
use repro_core::run::{Curve, Metric, RunContext, Series};
use repro_core::train::{Checkpoints, Trained};
use serde::{Deserialize, Serialize};

use crate::canonical;
use crate::corpus::{self, Instance};
use crate::finetuning::{self, Encoded, FinetuningRun};
use crate::model::{Bert, BertClassifier, BertConfig, BertForPreTraining};
use crate::pretraining::{self, PretrainingObjective, PretrainingRun};
use crate::probe;
use crate::scale::{CorpusConfig, PretrainingConfig, ScaleConfig, SizeConfig, TasksConfig};
use crate::tasks::{self, Task};

/// The experiment table: what `repro list` shows, `--only` selects and the report names.
pub fn experiments<'a>() -> Vec<Experiment<Lab<'a>, Planned>> {
    vec![
        Experiment {
            name: "pretraining",
            reproduces: "§3.1: masked-LM perplexity and next-sentence accuracy of the pre-trained base model on held-out documents",
            plan: |lab| lab.plan(&[lab.base()], false),
            measure: pretraining,
        },
        Experiment {
            name: "pretraining_vs_scratch",
            reproduces: "§1, §5 (Cramming's ablation): pre-trained + fine-tuned vs the same architecture fine-tuned from random initialisation",
            plan: |lab| lab.plan(&[lab.base(), lab.scratch()], true),
            measure: pretraining_vs_scratch,
        },
        Experiment {
            name: "pretraining_tasks",
            reproduces: "Table 5: MLM + NSP vs No NSP vs LTR & No NSP, same data and steps",
            plan: |lab| lab.plan(&lab.objective_arms(), true),
            measure: pretraining_tasks,
        },
        Experiment {
            name: "model_size",
            reproduces: "Table 6: encoder sizes (#L, #H, #A): held-out MLM perplexity and fine-tuned dev accuracy",
            plan: |lab| lab.plan(&lab.size_arms(), true),
            measure: model_size,
        },
        Experiment {
            name: "feature_based",
            reproduces: "Table 7 (adapted to sentence tasks): the pre-trained base model frozen, its layers mean-pooled into logistic regression, vs the same model fine-tuned whole",
            plan: |lab| lab.plan(&[lab.base()], true),
            measure: crate::feature_based::feature_based,
        },
        Experiment {
            name: "pretrained_at_scale",
            reproduces: "Context: a BERT pre-trained at scale (all-MiniLM-L6-v2), frozen, with logistic regression on movie reviews",
            plan: |_| Vec::new(),
            measure: pretrained_at_scale,
        },
    ]
}

/// What a pre-training's numbers depend on.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PretrainConfig {
    /// Architecture.
    pub model: BertConfig,
    /// Objective.
    pub objective: PretrainingObjective,
    /// Budget and optimiser.
    pub pretraining: PretrainingConfig,
    /// Corpus and vocabulary.
    pub corpus: CorpusConfig,
}

impl PretrainConfig {
    /// Multiply-adds per training token, roughly (the order of runs, not a measurement): the
    /// encoder's 12·H² per layer, and the LM head's H·V for every predicted position (15 % of
    /// them for MLM, all for the left-to-right LM).
    pub fn relative_cost(&self) -> f64 {
        let (h, layers) = (
            self.model.hidden_size as f64,
            self.model.num_hidden_layers as f64,
        );
        let predicted = match self.objective {
            PretrainingObjective::LeftToRight => 1.0,
            _ => 0.15,
        };
        layers * 12.0 * h * h + predicted * h * self.model.vocab_size as f64
    }
}

/// What a fine-tuning's numbers depend on (the checkpoint's `config.json` holds it, and
/// `repro classify` reads the labels and architecture from it).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FinetuneConfig {
    /// Task name.
    pub task: String,
    /// Label names by index.
    pub labels: Vec<String>,
    /// Whether inputs are sentence pairs (`repro classify` then wants `first<TAB>second`).
    #[serde(default)]
    pub pair: bool,
    /// The pre-training run the encoder comes from (`None`: random initialisation).
    pub encoder: Option<RunKey>,
    /// Architecture.
    pub model: BertConfig,
    /// Peak learning rate.
    pub learning_rate: f64,
    /// Epochs.
    pub epochs: usize,
    /// Examples per batch.
    pub batch_size: usize,
    /// Input length.
    pub max_seq_len: usize,
    /// The task data.
    pub tasks: TasksConfig,
}

/// One arm of a comparison: an encoder size and how it is pre-trained (`None`: not at all).
#[derive(Debug, Clone, PartialEq)]
pub struct Arm {
    /// Metric prefix (`mlm_nsp`, `scratch`, `L2_H64_A2`).
    pub name: String,
    /// The pre-training objective, or none for the from-scratch arm.
    pub objective: Option<PretrainingObjective>,
    /// Encoder size.
    pub size: SizeConfig,
}

/// One planned arm and seed: its pre-training (if any) and its fine-tunings.
#[derive(Debug, Clone)]
pub struct Planned {
    /// The arm.
    pub arm: Arm,
    /// The seed.
    pub seed: u64,
    /// Whether the experiment reads its fine-tunings (the pre-training experiment does not).
    pub finetune: bool,
}

/// A finished pre-training.
#[derive(Clone)]
pub struct Pretrained {
    key: RunKey,
    model: BertForPreTraining,
    lm_nll: f64,
    nsp_accuracy: Option<f64>,
    dev_loss: Vec<(f64, f64)>,
    parameters: usize,
    tokens_per_second: f64,
    seconds: f64,
}

/// A finished fine-tuning.
#[derive(Clone)]
pub struct Finetuned {
    key: RunKey,
    model: BertClassifier,
    dev_accuracy: f64,
    dev_loss: Vec<(f64, f64)>,
    seconds: f64,
}

/// A task with its encoded splits.
pub struct PreparedTask {
    /// The task.
    pub task: Task,
    /// Encoded training examples.
    pub train: Vec<Encoded>,
    /// Encoded dev examples.
    pub dev: Vec<Encoded>,
    /// Encoded test examples.
    pub test: Vec<Encoded>,
}

/// Instances of one kind (with NSP's random B segments, or contiguous).
struct InstanceSet {
    train: Vec<Instance>,
    dev: Vec<Instance>,
}

/// The data, the tokenizer and the trained runs of one reproduction.
pub struct Lab<'a> {
    ctx: &'a RunContext,
    /// The scale's settings.
    pub config: ScaleConfig,
    tokenizer: Tokenizer,
    tokenizer_json: String,
    with_nsp: InstanceSet,
    contiguous: InstanceSet,
    /// The tasks.
    pub tasks: Vec<PreparedTask>,
    /// Seeds of every arm.
    pub seeds: Vec<u64>,
    /// What the data really held.
    pub sizes: Vec<SplitSize>,
    pretrainings: Runs<PretrainConfig, Pretrained>,
    finetunings: Runs<FinetuneConfig, Finetuned>,
    test_accuracy: Mutex<BTreeMap<RunKey, f64>>,
    probe: Mutex<Option<Measurement>>,
}

impl<'a> Lab<'a> {
    /// Loads the data, trains the WordPiece vocabulary and builds the instances for `ctx`.
    pub fn prepare(ctx: &'a RunContext) -> anyhow::Result<Self> {
        let dataset = if ctx.dataset.is_empty() {
            crate::DEFAULT_DATASET
        } else {
            ctx.dataset.as_str()
        };
        if dataset != crate::DEFAULT_DATASET {
            canonical::files(dataset)?;
        }
        let config = crate::scale::scale_config_for(ctx)?;
        let phase = ctx.progress.phase("prepare corpus and tasks", 4, "steps");
        let all_documents = match dataset {
            "wikitext-103" => canonical::wikitext_103(&ctx.cache_dir, None)?,
            _ => corpus::documents()?,
        };
        let documents = corpus::split_documents(
            all_documents,
            config.corpus.dev_percent,
            config.corpus.max_documents,
        );
        phase.inc(1);
        let tokenizer = corpus::train_tokenizer(&documents.train, config.corpus.vocab_size)?;
        let tokenizer_json = tokenizer.to_json()?;
        phase.inc(1);
        let tokenize = |docs: &[corpus::Document]| -> anyhow::Result<Vec<Vec<Vec<u32>>>> {
            docs.iter()
                .map(|d| corpus::tokenize(&tokenizer, d))
                .collect()
        };
        let (train_docs, dev_docs) = (tokenize(&documents.train)?, tokenize(&documents.dev)?);
        let max_len = config.corpus.max_seq_len;
        let with_nsp = InstanceSet {
            train: corpus::make_instances(&train_docs, max_len, true, 1),
            dev: corpus::make_instances(&dev_docs, max_len, true, 2),
        };
        anyhow::ensure!(
            !dev_docs.is_empty() && !train_docs.is_empty(),
            "the corpus split left no training or no held-out documents (corpus.dev_percent = {})",
            config.corpus.dev_percent
        );
        let contiguous = InstanceSet {
            train: corpus::make_instances(&train_docs, max_len, false, 1),
            dev: corpus::make_instances(&dev_docs, max_len, false, 2),
        };
        phase.inc(1);
        let mut tasks = Vec::new();
        let chosen = match dataset {
            "glue" => {
                let (train, dev, test) = canonical::sst2(&ctx.cache_dir, None)?;
                let sst2 = tasks::from_splits(
                    "sst2",
                    &["negative", "positive"],
                    Splits { train, dev, test },
                    &config.tasks,
                );
                let (train, dev, test) = canonical::mrpc(&ctx.cache_dir, None)?;
                let mrpc = tasks::from_splits(
                    "mrpc",
                    &["not paraphrase", "paraphrase"],
                    Splits { train, dev, test },
                    &config.tasks,
                );
                sst2.validate()?;
                mrpc.validate()?;
                [sst2, mrpc]
            }
            _ => [
                tasks::movie_reviews(&config.tasks)?,
                tasks::verse_paraphrase(&config.tasks)?,
            ],
        };
        for task in chosen {
            let encode =
                |examples| finetuning::encode(&tokenizer, examples, config.finetuning.max_seq_len);
            tasks.push(PreparedTask {
                train: encode(&task.splits.train)?,
                dev: encode(&task.splits.dev)?,
                test: encode(&task.splits.test)?,
                task,
            });
        }
        let mut sizes = vec![
            SplitSize {
                split: "pretraining/train documents".to_string(),
                requested: config.corpus.max_documents,
                available: documents.train.len(),
                used: documents.train.len(),
                duplicates_removed: 0,
            },
            SplitSize {
                split: "pretraining/dev documents".to_string(),
                requested: documents.dev.len(),
                available: documents.dev.len(),
                used: documents.dev.len(),
                duplicates_removed: 0,
            },
        ];
        sizes.extend(tasks.iter().flat_map(|t| t.task.sizes.clone()));
        phase.inc(1);
        phase.finish(&format!(
            "{} train / {} dev documents, {} instances of {} tokens, WordPiece of {} pieces; {}",
            documents.train.len(),
            documents.dev.len(),
            with_nsp.train.len(),
            max_len,
            tokenizer.vocab_size(),
            tasks
                .iter()
                .map(|t| format!(
                    "{} {}/{}/{}",
                    t.task.name,
                    t.train.len(),
                    t.dev.len(),
                    t.test.len()
                ))
                .collect::<Vec<_>>()
                .join(", ")
        ));
        let seeds = (0..config.seeds as u64).map(|i| ctx.seed + i).collect();
        // Run keys carry the checksum of the data actually read (the pins of a canonical dataset).
        let sha = crate::BertPaper
            .dataset_sha256(dataset)
            .unwrap_or_else(corpus::dataset_sha256);
        Ok(Self {
            ctx,
            tokenizer,
            tokenizer_json,
            with_nsp,
            contiguous,
            tasks,
            seeds,
            sizes,
            pretrainings: Runs::new(ctx, "bert", &sha),
            finetunings: Runs::new(ctx, "bert", &sha),
            test_accuracy: Mutex::new(BTreeMap::new()),
            probe: Mutex::new(None),
            config,
        })
    }

    fn size_name(size: &SizeConfig) -> String {
        format!("L{}_H{}_A{}", size.layers, size.hidden, size.heads)
    }

    /// The base model: MLM + NSP at the scale's base size.
    pub fn base(&self) -> Arm {
        Arm {
            name: "mlm_nsp".to_string(),
            objective: Some(PretrainingObjective::MlmNsp),
            size: self.config.model,
        }
    }

    /// The base architecture, not pre-trained.
    pub fn scratch(&self) -> Arm {
        Arm {
            name: "scratch".to_string(),
            objective: None,
            size: self.config.model,
        }
    }

    fn objective_arms(&self) -> Vec<Arm> {
        let arm = |name: &str, objective| Arm {
            name: name.to_string(),
            objective: Some(objective),
            size: self.config.model,
        };
        vec![
            arm("mlm_nsp", PretrainingObjective::MlmNsp),
            arm("no_nsp", PretrainingObjective::Mlm),
            arm("ltr_no_nsp", PretrainingObjective::LeftToRight),
        ]
    }

    fn size_arms(&self) -> Vec<Arm> {
        self.config
            .sizes
            .iter()
            .map(|size| Arm {
                name: Self::size_name(size),
                objective: Some(PretrainingObjective::MlmNsp),
                size: *size,
            })
            .collect()
    }

    fn plan(&self, arms: &[Arm], finetune: bool) -> Vec<Planned> {
        arms.iter()
            .flat_map(|arm| {
                self.seeds.iter().map(move |&seed| Planned {
                    arm: arm.clone(),
                    seed,
                    finetune,
                })
            })
            .collect()
    }

    fn model_config(&self, arm: &Arm) -> BertConfig {
        let mut model = BertConfig::sized(
            self.tokenizer.vocab_size(),
            arm.size.layers,
            arm.size.hidden,
            arm.size.heads,
            self.config.max_positions(),
        );
        model.causal = arm.objective == Some(PretrainingObjective::LeftToRight);
        model
    }

    /// The pre-training run of an arm (none for the from-scratch arm). The base configuration is
    /// labelled `base` whatever arm plans it, so its checkpoints are found under one name.
    fn pretraining_run(&self, arm: &Arm, seed: u64) -> Option<Run<PretrainConfig>> {
        let objective = arm.objective?;
        let config = PretrainConfig {
            model: self.model_config(arm),
            objective,
            pretraining: self.config.pretraining.clone(),
            corpus: self.config.corpus.clone(),
        };
        let base = self.model_config(&self.base());
        let label = if config.model == base && objective == PretrainingObjective::MlmNsp {
            "base".to_string()
        } else {
            arm.name.clone()
        };
        Some(Run {
            label,
            seed,
            config,
            with_test: false,
        })
    }

    fn finetuning_runs(
        &self,
        arm: &Arm,
        seed: u64,
        task: &PreparedTask,
    ) -> Vec<Run<FinetuneConfig>> {
        let encoder = self
            .pretraining_run(arm, seed)
            .map(|run| self.pretrainings.key(&run));
        let prefix = self
            .pretraining_run(arm, seed)
            .map_or("scratch".to_string(), |run| run.label);
        let f = &self.config.finetuning;
        f.learning_rates
            .iter()
            .map(|&learning_rate| Run {
                label: format!("{prefix}.{}.lr{learning_rate:e}", task.task.name),
                seed,
                config: FinetuneConfig {
                    task: task.task.name.to_string(),
                    labels: task.task.labels.clone(),
                    pair: task.task.splits.train.iter().any(|e| e.text_b.is_some()),
                    encoder: encoder.clone(),
                    model: self.model_config(arm),
                    learning_rate,
                    epochs: f.epochs,
                    batch_size: f.batch_size,
                    max_seq_len: f.max_seq_len,
                    tasks: self.config.tasks.clone(),
                },
                with_test: false,
            })
            .collect()
    }

    fn checkpoints(
        &self,
        kind: &str,
        label: &str,
        seed: u64,
        identity: &RunIdentity,
    ) -> Checkpoints {
        Checkpoints {
            dir: RunDir::new(
                self.ctx
                    .checkpoint_dir
                    .join(kind)
                    .join(format!("{label}-seed{seed}")),
            ),
            identity: identity.clone(),
            tokenizer: Some(self.tokenizer_json.clone()),
            resume: self.ctx.resume,
            fail_at: None,
        }
    }

    /// Pre-trains, then fine-tunes, every planned run not done yet, `ctx.jobs` at a time, the
    /// costliest first so that no worker is left alone with a long run at the end (the numbers
    /// do not depend on the order).
    pub fn train_all(&self, planned: Vec<Planned>) -> anyhow::Result<()> {
        let mut pretraining: Vec<Run<PretrainConfig>> = planned
            .iter()
            .filter_map(|p| self.pretraining_run(&p.arm, p.seed))
            .collect();
        pretraining.sort_by(|a, b| {
            b.config
                .relative_cost()
                .total_cmp(&a.config.relative_cost())
        });
        self.pretrainings
            .execute(pretraining, |run, identity| self.pretrain(run, identity))?;
        let mut finetuning: Vec<Run<FinetuneConfig>> = planned
            .iter()
            .filter(|p| p.finetune)
            .flat_map(|p| {
                self.tasks
                    .iter()
                    .flat_map(|task| self.finetuning_runs(&p.arm, p.seed, task))
            })
            .collect();
        // Per token, a fine-tuning costs about its encoder's layers × H²; pairs are the longer.
        finetuning.sort_by_key(|run| {
            let model = &run.config.model;
            std::cmp::Reverse((
                model.num_hidden_layers * model.hidden_size * model.hidden_size,
                run.config.pair,
            ))
        });
        self.finetunings
            .execute(finetuning, |run, identity| self.finetune(run, identity))
    }

    fn record(
        run_label: &str,
        seed: u64,
        key: RunKey,
        trained_state: &repro_core::train::TrainingState,
        resumed_from: Option<usize>,
        parameters: usize,
    ) -> TrainingRecord {
        TrainingRecord {
            label: run_label.to_string(),
            seed,
            key,
            steps: trained_state.step,
            resumed_from,
            parameters,
            tokens_per_second: trained_state.tokens_per_second(),
            train_seconds: trained_state.train_seconds,
            eval_seconds: trained_state.eval_seconds,
            dev_loss_improvement: repro_core::stats::last_fifth_improvement(
                &trained_state.dev_loss,
            ),
            hypotheses: BTreeMap::new(),
        }
    }

    fn instances(&self, objective: PretrainingObjective) -> &InstanceSet {
        if objective.nsp() {
            &self.with_nsp
        } else {
            &self.contiguous
        }
    }

    fn pretrain(
        &self,
        run: &Run<PretrainConfig>,
        identity: &RunIdentity,
    ) -> anyhow::Result<(Pretrained, TrainingRecord)> {
        let started = Instant::now();
        let data = self.instances(run.config.objective);
        let trained: Trained<BertForPreTraining> = pretraining::pretrain(
            PretrainingRun {
                name: format!("pre-train {} seed {}", run.label, run.seed),
                model: &run.config.model,
                objective: run.config.objective,
                config: &run.config.pretraining,
                seed: run.seed,
                train: &data.train,
                // One held-out set for every model's LM loss (contiguous pairs: the NSP
                // objective's random B segments would make its perplexity incomparable).
                dev: &self.contiguous.dev,
                checkpoints: Some(self.checkpoints("pretraining", &run.label, run.seed, identity)),
            },
            &self.ctx.device,
            &self.ctx.progress,
        )?;
        let lm_objective = match run.config.objective {
            PretrainingObjective::LeftToRight => PretrainingObjective::LeftToRight,
            _ => PretrainingObjective::Mlm,
        };
        let (vocab, batch) = (
            run.config.model.vocab_size,
            run.config.pretraining.batch_size,
        );
        let device = &self.ctx.device;
        let (lm_nll, _) = pretraining::evaluate(
            &trained.model,
            &self.contiguous.dev,
            lm_objective,
            vocab,
            batch,
            device,
        )?;
        let nsp_accuracy = if run.config.objective.nsp() {
            pretraining::evaluate(
                &trained.model,
                &self.with_nsp.dev,
                run.config.objective,
                vocab,
                batch,
                device,
            )?
            .1
        } else {
            None
        };
        let record = Self::record(
            &format!("pretraining/{}", run.label),
            run.seed,
            identity.key(),
            &trained.state,
            trained.resumed_from,
            trained.parameters,
        );
        Ok((
            Pretrained {
                key: identity.key(),
                lm_nll,
                nsp_accuracy,
                dev_loss: trained.state.dev_loss.clone(),
                parameters: trained.parameters,
                tokens_per_second: trained.state.tokens_per_second(),
                seconds: started.elapsed().as_secs_f64(),
                model: trained.model,
            },
            record,
        ))
    }

    fn task(&self, name: &str) -> anyhow::Result<&PreparedTask> {
        self.tasks
            .iter()
            .find(|t| t.task.name == name)
            .ok_or_else(|| anyhow::anyhow!("no task `{name}`"))
    }

    fn finetune(
        &self,
        run: &Run<FinetuneConfig>,
        identity: &RunIdentity,
    ) -> anyhow::Result<(Finetuned, TrainingRecord)> {
        let started = Instant::now();
        let task = self.task(&run.config.task)?;
        let pretrained = match &run.config.encoder {
            Some(key) => Some(self.pretrained_by_key(key)?),
            None => None,
        };
        let trained = finetuning::finetune(
            FinetuningRun {
                name: format!("fine-tune {} seed {}", run.label, run.seed),
                model: &run.config.model,
                encoder: pretrained.as_ref().map(|p| &p.model.bert),
                labels: task.task.labels.len(),
                learning_rate: run.config.learning_rate,
                epochs: run.config.epochs,
                batch_size: run.config.batch_size,
                seed: run.seed,
                train: &task.train,
                dev: &task.dev,
                checkpoints: Some(self.checkpoints("finetuning", &run.label, run.seed, identity)),
            },
            &self.ctx.device,
            &self.ctx.progress,
        )?;
        let dev_accuracy =
            100.0 * finetuning::accuracy(&trained.model, &task.dev, &self.ctx.device);
        let record = Self::record(
            &format!("finetuning/{}", run.label),
            run.seed,
            identity.key(),
            &trained.state,
            trained.resumed_from,
            trained.parameters,
        );
        Ok((
            Finetuned {
                key: identity.key(),
                dev_accuracy,
                dev_loss: trained.state.dev_loss.clone(),
                seconds: started.elapsed().as_secs_f64(),
                model: trained.model,
            },
            record,
        ))
    }

    fn pretrained_by_key(&self, key: &RunKey) -> anyhow::Result<Pretrained> {
        // Fine-tunings run after every pre-training of the plan has finished.
        for arm in self.objective_arms().into_iter().chain(self.size_arms()) {
            for &seed in &self.seeds {
                if let Some(run) = self.pretraining_run(&arm, seed)
                    && self.pretrainings.key(&run) == *key
                {
                    return self.pretrainings.result(&run);
                }
            }
        }
        anyhow::bail!("pre-training run {key:?} was not planned")
    }

    fn pretrained(&self, arm: &Arm, seed: u64) -> anyhow::Result<Pretrained> {
        let run = self
            .pretraining_run(arm, seed)
            .ok_or_else(|| anyhow::anyhow!("arm {} is not pre-trained", arm.name))?;
        self.pretrainings.result(&run)
    }

    /// The pre-trained encoders of `arm`, seed by seed, with their run keys.
    pub(crate) fn pretrained_models(&self, arm: &Arm) -> anyhow::Result<Vec<(RunKey, Bert)>> {
        self.seeds
            .iter()
            .map(|&seed| {
                let pretrained = self.pretrained(arm, seed)?;
                Ok((pretrained.key, pretrained.model.bert))
            })
            .collect()
    }

    /// The fine-tuning of `arm` on `task` with the best dev accuracy over the learning-rate grid
    /// (ties: the smaller rate), for `seed`.
    fn selected(
        &self,
        arm: &Arm,
        seed: u64,
        task: &PreparedTask,
    ) -> anyhow::Result<(Finetuned, f64)> {
        let mut best: Option<(Finetuned, f64)> = None;
        for run in self.finetuning_runs(arm, seed, task) {
            let result = self.finetunings.result(&run)?;
            let better = match &best {
                None => true,
                Some((current, rate)) => {
                    result.dev_accuracy > current.dev_accuracy
                        || (result.dev_accuracy == current.dev_accuracy
                            && run.config.learning_rate < *rate)
                }
            };
            if better {
                best = Some((result, run.config.learning_rate));
            }
        }
        best.ok_or_else(|| anyhow::anyhow!("no fine-tuning of {} on {}", arm.name, task.task.name))
    }

    /// Test accuracy (%) of a selected run, computed once.
    fn test_accuracy(&self, finetuned: &Finetuned, task: &PreparedTask) -> f64 {
        let mut cache = self.test_accuracy.lock().unwrap_or_else(|p| p.into_inner());
        *cache.entry(finetuned.key.clone()).or_insert_with(|| {
            100.0 * finetuning::accuracy(&finetuned.model, &task.test, &self.ctx.device)
        })
    }

    /// The records of every training done (pre-training and fine-tuning).
    pub fn trainings(&self) -> Vec<TrainingRecord> {
        let mut records = self.pretrainings.records();
        records.extend(self.finetunings.records());
        records
    }

    /// The tokenizer of this run.
    pub fn tokenizer(&self) -> &Tokenizer {
        &self.tokenizer
    }

    /// The run context.
    pub fn ctx(&self) -> &RunContext {
        self.ctx
    }

    /// Per-arm metrics over seeds: `{arm}.{task}.dev_accuracy` (and `.test_accuracy` when
    /// `with_test`), `{arm}.lm_nll` / `.lm_ppl` for pre-trained arms; plus notes and curves.
    pub(crate) fn compare(
        &self,
        name: &str,
        arms: &[Arm],
        with_test: bool,
    ) -> anyhow::Result<Measurement> {
        let mut measured = Measurement {
            seeds: self.seeds.clone(),
            ..Measurement::default()
        };
        let mut pretraining_curves = Vec::new();
        for arm in arms {
            let pretrained: Vec<Pretrained> = match arm.objective {
                Some(_) => self
                    .seeds
                    .iter()
                    .map(|&s| self.pretrained(arm, s))
                    .collect::<anyhow::Result<_>>()?,
                None => Vec::new(),
            };
            let pretraining_keys: Vec<RunKey> = pretrained.iter().map(|p| p.key.clone()).collect();
            measured.wall_time_s += pretrained.iter().map(|p| p.seconds).sum::<f64>();
            if let Some(first) = pretrained.first() {
                let unit_nll = Metric::new(pretrained.iter().map(|p| p.lm_nll).collect(), "nats")
                    .of_runs(pretraining_keys.clone());
                let ppl = Metric::new(pretrained.iter().map(|p| p.lm_nll.exp()).collect(), "ppl")
                    .of_runs(pretraining_keys.clone());
                let lm = if arm.objective == Some(PretrainingObjective::LeftToRight) {
                    "ltr"
                } else {
                    "mlm"
                };
                measured
                    .metrics
                    .insert(format!("{}.{lm}_nll", arm.name), unit_nll);
                measured
                    .metrics
                    .insert(format!("{}.{lm}_ppl", arm.name), ppl);
                if first.nsp_accuracy.is_some() {
                    measured.metrics.insert(
                        format!("{}.nsp_accuracy", arm.name),
                        Metric::new(
                            pretrained
                                .iter()
                                .map(|p| 100.0 * p.nsp_accuracy.unwrap_or(f64::NAN))
                                .collect(),
                            "%",
                        )
                        .of_runs(pretraining_keys.clone()),
                    );
                }
                pretraining_curves.push(Series {
                    label: arm.name.clone(),
                    points: first.dev_loss.clone(),
                });
                measured.notes.push(format!(
                    "{}: {} pre-trained ({}), {} parameters ({} outside the embeddings), {:.0} tokens/s",
                    arm.name,
                    Self::size_name(&arm.size),
                    arm.objective.map_or("", |o| o.describe()),
                    first.parameters,
                    self.model_config(arm).non_embedding_parameters(),
                    first.tokens_per_second
                ));
            }
            for task in &self.tasks {
                let mut dev = Vec::new();
                let mut test = Vec::new();
                let mut rates = Vec::new();
                for &seed in &self.seeds {
                    let (run, rate) = self.selected(arm, seed, task)?;
                    measured.wall_time_s += run.seconds;
                    dev.push(run.dev_accuracy);
                    if with_test {
                        test.push(self.test_accuracy(&run, task));
                    }
                    rates.push(format!("{rate:e}"));
                }
                let key = |metric: &str| format!("{}.{}.{metric}", arm.name, task.task.name);
                measured.metrics.insert(
                    key("dev_accuracy"),
                    Metric::new(dev, "%").of_runs(pretraining_keys.clone()),
                );
                if with_test {
                    let n = task.test.len() as f64;
                    let mean = test.iter().sum::<f64>() / test.len() as f64;
                    let se = 100.0 * ((mean / 100.0) * (1.0 - mean / 100.0) / n).sqrt();
                    measured.notes.push(format!(
                        "{} on {}: test accuracy {mean:.1} % ± {se:.1} (binomial standard error of one run, n = {n})",
                        arm.name, task.task.name
                    ));
                    measured.metrics.insert(
                        key("test_accuracy"),
                        Metric::new(test, "%").of_runs(pretraining_keys.clone()),
                    );
                }
                measured.notes.push(format!(
                    "{} on {}: learning rate chosen on dev from {:?}, per seed: {}",
                    arm.name,
                    task.task.name,
                    self.config.finetuning.learning_rates,
                    rates.join(", ")
                ));
            }
        }
        if !pretraining_curves.is_empty() {
            let title = experiments()
                .into_iter()
                .find(|e| e.name == name)
                .map_or(name, |e| e.reproduces);
            measured.curves.push(Curve {
                id: format!("{name}-pretraining_dev_loss"),
                title: format!(
                    "{}: held-out LM loss during pre-training (seed {})",
                    title.split(':').next().unwrap_or(name),
                    self.seeds[0]
                ),
                x_label: "pre-training step".to_string(),
                y_label: "LM loss per predicted token (nats)".to_string(),
                log_x: false,
                series: pretraining_curves,
            });
        }
        Ok(measured)
    }
}

/// §3.1: the base model's held-out masked-LM perplexity and NSP accuracy.
pub fn pretraining(lab: &Lab) -> anyhow::Result<Measurement> {
    let base = lab.base();
    let pretrained: Vec<Pretrained> = lab
        .seeds
        .iter()
        .map(|&s| lab.pretrained(&base, s))
        .collect::<anyhow::Result<_>>()?;
    let keys: Vec<RunKey> = pretrained.iter().map(|p| p.key.clone()).collect();
    let mut measured = Measurement {
        seeds: lab.seeds.clone(),
        wall_time_s: pretrained.iter().map(|p| p.seconds).sum(),
        ..Measurement::default()
    };
    let metric = |values: Vec<f64>, unit: &str| Metric::new(values, unit).of_runs(keys.clone());
    measured.metrics.insert(
        "mlm_nll".to_string(),
        metric(pretrained.iter().map(|p| p.lm_nll).collect(), "nats"),
    );
    measured.metrics.insert(
        "mlm_ppl".to_string(),
        metric(pretrained.iter().map(|p| p.lm_nll.exp()).collect(), "ppl"),
    );
    let is_next = lab.with_nsp.dev.iter().filter(|i| i.is_next).count() as f64;
    let share = is_next / lab.with_nsp.dev.len().max(1) as f64;
    measured.metrics.insert(
        "nsp_majority_accuracy".to_string(),
        Metric::new(vec![100.0 * share.max(1.0 - share)], "%"),
    );
    measured.metrics.insert(
        "nsp_accuracy".to_string(),
        metric(
            pretrained
                .iter()
                .map(|p| 100.0 * p.nsp_accuracy.unwrap_or(f64::NAN))
                .collect(),
            "%",
        ),
    );
    let size = lab.config.model;
    for (name, value) in [
        ("config.L", size.layers),
        ("config.H", size.hidden),
        ("config.A", size.heads),
        ("config.vocab_size", lab.tokenizer.vocab_size()),
        ("config.max_seq_len", lab.config.corpus.max_seq_len),
    ] {
        measured
            .metrics
            .insert(name.to_string(), Metric::new(vec![value as f64], ""));
    }
    measured.notes.push(format!(
        "{} pre-training steps of {} sequences of ≤ {} tokens; MLM perplexity on {} held-out contiguous instances, masks fixed (seed 0); NSP accuracy on {} held-out pairs ({:.1} % IsNext)",
        lab.config.pretraining.steps,
        lab.config.pretraining.batch_size,
        lab.config.corpus.max_seq_len,
        lab.contiguous.dev.len(),
        lab.with_nsp.dev.len(),
        100.0 * lab.with_nsp.dev.iter().filter(|i| i.is_next).count() as f64 / lab.with_nsp.dev.len().max(1) as f64
    ));
    measured.curves.push(Curve {
        id: "pretraining-dev_loss".to_string(),
        title: format!(
            "Pre-training: held-out masked-LM loss (seed {})",
            lab.seeds[0]
        ),
        x_label: "pre-training step".to_string(),
        y_label: "masked-LM loss per masked token (nats)".to_string(),
        log_x: false,
        series: vec![Series {
            label: "MLM + NSP".to_string(),
            points: pretrained[0].dev_loss.clone(),
        }],
    });
    Ok(measured)
}

/// Pre-trained + fine-tuned vs fine-tuned from random initialisation, on both tasks (test).
pub fn pretraining_vs_scratch(lab: &Lab) -> anyhow::Result<Measurement> {
    let mut measured = lab.compare("pretraining_vs_scratch", &[lab.base(), lab.scratch()], true)?;
    for task in &lab.tasks {
        measured.metrics.insert(
            format!("majority.{}.test_accuracy", task.task.name),
            Metric::new(
                vec![100.0 * task.task.majority_accuracy(&task.task.splits.test)],
                "%",
            ),
        );
    }
    let mut series = Vec::new();
    for arm in [lab.base(), lab.scratch()] {
        let task = &lab.tasks[0];
        let (run, _) = lab.selected(&arm, lab.seeds[0], task)?;
        series.push(Series {
            label: arm.name.clone(),
            points: run.dev_loss,
        });
    }
    measured.curves.push(Curve {
        id: "pretraining_vs_scratch-finetuning_dev_loss".to_string(),
        title: format!(
            "Fine-tuning on {}: dev loss, pre-trained vs from scratch (seed {})",
            lab.tasks[0].task.name, lab.seeds[0]
        ),
        x_label: "fine-tuning step".to_string(),
        y_label: "cross-entropy (nats)".to_string(),
        log_x: false,
        series,
    });
    Ok(measured)
}

/// Table 5: the pre-training objectives, fine-tuned on both tasks (dev, as the table).
pub fn pretraining_tasks(lab: &Lab) -> anyhow::Result<Measurement> {
    lab.compare("pretraining_tasks", &lab.objective_arms(), false)
}

/// Table 6: encoder sizes, smallest first.
pub fn model_size(lab: &Lab) -> anyhow::Result<Measurement> {
    let arms = lab.size_arms();
    let mut measured = lab.compare("model_size", &arms, false)?;
    for arm in &arms {
        measured.metrics.insert(
            format!("{}.non_embedding_parameters", arm.name),
            Metric::new(
                vec![lab.model_config(arm).non_embedding_parameters() as f64],
                "parameters",
            ),
        );
    }
    Ok(measured)
}

/// A BERT-class encoder pre-trained at scale, frozen, with logistic regression on its sentence
/// embeddings (SentEval's protocol), when the model is in the cache.
pub fn pretrained_at_scale(lab: &Lab) -> anyhow::Result<Measurement> {
    let mut cached = lab.probe.lock().unwrap_or_else(|p| p.into_inner());
    if let Some(measured) = cached.as_ref() {
        return Ok(measured.clone());
    }
    let measured = probe::minilm_probe(lab)?;
    *cached = Some(measured.clone());
    Ok(measured)
}

/// The labels of `planned` runs with their seeds, sorted by arm.
pub fn planned_arms(planned: &[Planned]) -> BTreeMap<String, Vec<u64>> {
    let mut arms: BTreeMap<String, Vec<u64>> = BTreeMap::new();
    for run in planned {
        arms.entry(run.arm.name.clone()).or_default().push(run.seed);
    }
    arms
}
