//! The experiments, declared once in [`experiments`]: one function per table row group.
//!
//! | experiment                    | reproduces                                                   |
//! |-------------------------------|--------------------------------------------------------------|
//! | [`base_model`]                | Table 2 / Table 3 "base": test BLEU, dev perplexity and BLEU |
//! | [`attention_heads`]           | Table 3 (A): h at fixed d_model (d_k = d_model / h)          |
//! | [`model_size`]                | Table 3 (C): fewer layers N                                  |
//! | [`regularization`]            | Table 3 (D): P_drop = 0 and ε_ls = 0                         |
//! | [`positional_encoding`]       | Table 3 (E): learned positions instead of sinusoids          |
//! | [`self_attention_complexity`] | Table 1 / §4: self-attention vs recurrent layer time over n  |
//!
//! Each experiment plans the trainings it reads; a configuration is trained once per seed however
//! many experiments read it (the base model is row (A) h=8, (D) P_drop=0.1 / ε_ls=0.1 and (E)
//! sinusoidal), and `--only` trains only what the chosen experiments read.

use std::collections::BTreeMap;
use std::time::Instant;

use repro_core::checkpoint::{RunDir, RunIdentity, RunKey};
use repro_core::data::{SplitSize, Tokenizer};
use repro_core::experiment::{Experiment, Measurement};
use repro_core::lab::{Lab as Runs, Run, TrainingRecord};
use repro_core::metrics::bleu::{BleuConfig, corpus_bleu};
use repro_core::run::{Curve, Metric, RunContext, Series};
use repro_core::train::Checkpoints;
use serde::{Deserialize, Serialize};

use crate::complexity::{self, Timing};
use crate::data::{self, EncodedPair};
use crate::decoding::{self, Decoding};
use crate::model::{PositionalEncoding, Transformer, TransformerConfig};
use crate::scale::{DataConfig, ScaleConfig};
use crate::training::{self, TrainingConfig, TrainingRun};

/// The experiment table: what `repro list` shows, `--only` selects and the report names.
pub fn experiments<'a>() -> Vec<Experiment<Lab<'a>, Planned>> {
    vec![
        Experiment {
            name: "base_model",
            reproduces: "Table 2 / Table 3 base: test BLEU, dev PPL and BLEU",
            plan: |lab| lab.runs(&[lab.base()], true),
            measure: base_model,
        },
        Experiment {
            name: "attention_heads",
            reproduces: "Table 3 (A): heads at fixed d_model",
            plan: |lab| lab.runs(&heads_variants(lab), false),
            measure: attention_heads,
        },
        Experiment {
            name: "model_size",
            reproduces: "Table 3 (C): fewer layers",
            plan: |lab| lab.runs(&size_variants(lab), false),
            measure: model_size,
        },
        Experiment {
            name: "regularization",
            reproduces: "Table 3 (D): no dropout, no label smoothing",
            plan: |lab| lab.runs(&regularization_variants(lab), false),
            measure: regularization,
        },
        Experiment {
            name: "positional_encoding",
            reproduces: "Table 3 (E): learned vs sinusoidal positions",
            plan: |lab| lab.runs(&position_variants(lab), false),
            measure: positional_encoding,
        },
        Experiment {
            name: "self_attention_complexity",
            reproduces: "Table 1 / §4: layer time vs sequence length",
            plan: |_| Vec::new(),
            measure: self_attention_complexity,
        },
    ]
}

/// Everything that determines a training's numbers (its checkpoint key is a hash of it).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunConfig {
    /// Which pairs and how they are tokenized.
    pub data: DataConfig,
    /// Architecture.
    pub model: TransformerConfig,
    /// Optimisation.
    pub training: TrainingConfig,
}

/// A training the experiments plan.
pub type Planned = Run<RunConfig>;

/// A model variant: a change to the base configuration, with the name its metrics carry.
#[derive(Debug, Clone)]
pub struct Variant {
    /// Short name (`base`, `h1`, `no_dropout`).
    pub name: String,
    /// The configuration.
    pub config: RunConfig,
}

/// What is measured of a trained variant.
#[derive(Debug, Clone)]
pub struct Evaluation {
    /// The run's key (the trainings of the report are found by it).
    pub key: RunKey,
    /// Dev loss per BPE token, nats (no smoothing): log perplexity.
    pub dev_nll: f64,
    /// Dev perplexity per BPE token, `exp(dev_nll)`.
    pub dev_ppl: f64,
    /// Dev BLEU with the scale's beam search.
    pub dev_bleu: f64,
    /// Test BLEU (runs planned `with_test`).
    pub test_bleu: Option<f64>,
    /// Training loss curve.
    pub train_loss: Vec<(f64, f64)>,
    /// Dev loss curve.
    pub dev_loss: Vec<(f64, f64)>,
    /// Throughput over training steps, tokens/s.
    pub tokens_per_second: f64,
    /// Parameter count.
    pub parameters: usize,
    /// Wall time of training, evaluation and decoding, seconds.
    pub seconds: f64,
}

/// Data, tokenizer and trained runs shared by the experiments of a reproduction.
pub struct Lab<'a> {
    /// The reproduction.
    pub ctx: &'a RunContext,
    /// The scale's settings.
    pub config: ScaleConfig,
    /// The seeds of this run: `ctx.seed`, `ctx.seed + 1`, … (`config.seeds` of them).
    pub seeds: Vec<u64>,
    /// The splits as used.
    pub sizes: Vec<SplitSize>,
    tokenizer: Tokenizer,
    tokenizer_json: String,
    train: Vec<EncodedPair>,
    dev: Vec<EncodedPair>,
    test: Vec<EncodedPair>,
    references: BTreeMap<String, Vec<String>>,
    runs: Runs<RunConfig, Evaluation>,
}

impl<'a> Lab<'a> {
    /// Loads, splits and de-duplicates the data and trains the joint BPE vocabulary (phase
    /// "tokenizer").
    pub fn prepare(ctx: &'a RunContext) -> anyhow::Result<Self> {
        let config = crate::scale::scale_config_for(ctx)?;
        let selected = data::select(
            data::load_splits(&ctx.dataset, &config.data, &ctx.cache_dir)?,
            &config.data,
        )?;
        for size in selected.sizes.iter().filter(|size| size.short()) {
            ctx.progress.println(&format!(
                "warning: the {} split holds {} pairs, {} were asked for ({} available after \
                 filtering and de-duplication)",
                size.split, size.used, size.requested, size.available
            ));
        }
        let splits = selected.splits;
        let phase = ctx.progress.phase("tokenizer", 1, "vocabularies");
        let tokenizer = data::train_bpe(&splits.train, config.data.vocab_size)?;
        let max_tokens = config.data.max_tokens;
        let train = data::encode_pairs(&tokenizer, &splits.train, max_tokens)?;
        phase.inc(1);
        phase.finish(&format!(
            "joint BPE of {} pieces on {} training pairs",
            tokenizer.vocab_size(),
            splits.train.len()
        ));
        Ok(Self {
            ctx,
            seeds: (0..config.seeds as u64).map(|i| ctx.seed + i).collect(),
            sizes: selected.sizes,
            tokenizer_json: tokenizer.to_json()?,
            dev: data::encode_pairs(&tokenizer, &splits.dev, max_tokens)?,
            test: data::encode_pairs(&tokenizer, &splits.test, max_tokens)?,
            references: BTreeMap::from([
                (
                    "dev".to_string(),
                    splits.dev.into_iter().map(|pair| pair.target).collect(),
                ),
                (
                    "test".to_string(),
                    splits.test.into_iter().map(|pair| pair.target).collect(),
                ),
            ]),
            train,
            tokenizer,
            runs: Runs::new(ctx, "attention", &data::dataset_sha256(&ctx.dataset)),
            config,
        })
    }

    /// The base variant of this scale.
    pub fn base(&self) -> Variant {
        let model = &self.config.model;
        Variant {
            name: "base".to_string(),
            config: RunConfig {
                data: self.config.data.clone(),
                model: TransformerConfig::new(self.tokenizer.vocab_size())
                    .with_d_model(model.d_model)
                    .with_n_heads(model.n_heads)
                    .with_d_ff(model.d_ff)
                    .with_n_layers(model.n_layers)
                    .with_dropout(model.dropout)
                    .with_max_len(model.max_len)
                    .with_pad_id(data::PAD as usize),
                training: self.config.training.clone(),
            },
        }
    }

    /// The base configuration changed by `change`, named `name`.
    fn variant(&self, name: &str, change: impl FnOnce(&mut RunConfig)) -> Variant {
        let mut variant = self.base();
        variant.name = name.to_string();
        change(&mut variant.config);
        variant
    }

    /// The trainings of `variants`, one per seed. A variant with the base configuration is
    /// labelled `base` whatever its name, so that its checkpoints are found under one name.
    pub fn runs(&self, variants: &[Variant], with_test: bool) -> Vec<Planned> {
        let base = self.base().config;
        variants
            .iter()
            .flat_map(|variant| {
                let label = if variant.config == base {
                    "base".to_string()
                } else {
                    variant.name.clone()
                };
                self.seeds.iter().map(move |&seed| Run {
                    label: label.clone(),
                    seed,
                    config: variant.config.clone(),
                    with_test,
                })
            })
            .collect()
    }

    /// The decoding protocol of this scale.
    pub fn decoding(&self) -> Decoding {
        Decoding::Beam {
            size: self.config.beam_size,
            alpha: 0.6,
        }
    }

    /// Trains and evaluates every planned run not done yet, `ctx.jobs` at a time.
    pub fn train_all(&self, planned: Vec<Planned>) -> anyhow::Result<()> {
        self.runs.execute(planned, |run, identity| {
            self.train_and_evaluate(run, identity)
        })
    }

    /// The records of the trainings done.
    pub fn trainings(&self) -> Vec<TrainingRecord> {
        self.runs.records()
    }

    /// The references of the scored splits (`dev`, `test`).
    pub fn references(&self) -> &BTreeMap<String, Vec<String>> {
        &self.references
    }

    fn train_and_evaluate(
        &self,
        run: &Planned,
        identity: &RunIdentity,
    ) -> anyhow::Result<(Evaluation, TrainingRecord)> {
        let name = format!("{} seed {}", run.label, run.seed);
        let started = Instant::now();
        let trained = training::train(
            TrainingRun {
                name: name.clone(),
                model: &run.config.model,
                training: &run.config.training,
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
        let mut hypotheses = BTreeMap::new();
        let (dev_bleu, dev_hypotheses) = self.bleu(&name, "dev", &trained.model, &self.dev)?;
        hypotheses.insert("dev".to_string(), dev_hypotheses);
        let test_bleu = if run.with_test {
            let (bleu, test_hypotheses) = self.bleu(&name, "test", &trained.model, &self.test)?;
            hypotheses.insert("test".to_string(), test_hypotheses);
            Some(bleu)
        } else {
            None
        };
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
            hypotheses,
        };
        let evaluation = Evaluation {
            key: identity.key(),
            dev_nll: state.final_dev_loss(),
            dev_ppl: state.final_dev_loss().exp(),
            dev_bleu,
            test_bleu,
            train_loss: state.train_loss.clone(),
            dev_loss: state.dev_loss.clone(),
            tokens_per_second: state.tokens_per_second(),
            parameters: trained.parameters,
            seconds: started.elapsed().as_secs_f64(),
        };
        Ok((evaluation, record))
    }

    /// Corpus BLEU of `model` on the `split` pairs against their references, and the decoded
    /// hypotheses (phases "decode" and "score").
    fn bleu(
        &self,
        run: &str,
        split: &str,
        model: &Transformer,
        pairs: &[EncodedPair],
    ) -> anyhow::Result<(f64, Vec<String>)> {
        let references = &self.references[split];
        let name = format!("{run} {split}");
        let progress = &self.ctx.progress;
        let phase = progress.phase(&format!("decode {name}"), pairs.len() as u64, "sentences");
        let mut hypotheses = Vec::with_capacity(pairs.len());
        for chunk in pairs.chunks(self.config.decode_batch.max(1)) {
            let sources: Vec<Vec<u32>> = chunk.iter().map(|pair| pair.source.clone()).collect();
            for ids in decoding::translate(
                model,
                &sources,
                self.decoding(),
                chunk.len(),
                self.config.model.max_len,
                &self.ctx.device,
            ) {
                hypotheses.push(data::decode(&self.tokenizer, &ids)?);
            }
            phase.inc(chunk.len() as u64);
        }
        phase.finish(&format!(
            "{} sentences, {}",
            pairs.len(),
            self.decoding().describe()
        ));
        let phase = progress.phase(&format!("score {name}"), 1, "corpora");
        let score = corpus_bleu(&hypotheses, &[references.to_vec()], &BleuConfig::default())?;
        phase.inc(1);
        phase.finish(&format!("BLEU {:.2} ({})", score.score, score.verbose()));
        Ok((score.score, hypotheses))
    }

    /// Reads each variant's runs and collects `<variant>.dev_ppl`, `.dev_bleu`, the learning
    /// curves (first seed) and notes; `prefix_metrics = false` drops the prefix (one variant).
    fn compare(
        &self,
        name: &str,
        variants: &[Variant],
        prefix_metrics: bool,
    ) -> anyhow::Result<Measurement> {
        let mut measured = Measurement {
            seeds: self.seeds.clone(),
            ..Measurement::default()
        };
        let mut train_curve = Vec::new();
        let mut dev_curve = Vec::new();
        for variant in variants {
            let evaluations = self.evaluations(variant)?;
            measured.wall_time_s += evaluations.iter().map(|e| e.seconds).sum::<f64>();
            let key = |metric: &str| {
                if prefix_metrics {
                    format!("{}.{metric}", variant.name)
                } else {
                    metric.to_string()
                }
            };
            let runs: Vec<RunKey> = evaluations.iter().map(|e| e.key.clone()).collect();
            let metric = |value: fn(&Evaluation) -> f64, unit: &str| {
                Metric::new(evaluations.iter().map(value).collect(), unit).of_runs(runs.clone())
            };
            measured
                .metrics
                .insert(key("dev_nll"), metric(|e| e.dev_nll, "nats"));
            measured
                .metrics
                .insert(key("dev_ppl"), metric(|e| e.dev_ppl, "ppl"));
            measured.metrics.insert(
                key("dev_bleu"),
                metric(|e| e.dev_bleu, "BLEU").scored_on("dev"),
            );
            train_curve.push(Series {
                label: variant.name.clone(),
                points: evaluations[0].train_loss.clone(),
            });
            dev_curve.push(Series {
                label: variant.name.clone(),
                points: evaluations[0].dev_loss.clone(),
            });
            let seeds: Vec<String> = self.seeds.iter().map(u64::to_string).collect();
            measured.notes.push(format!(
                "{}: {} parameters, {:.0} tokens/s training, seed{} {}",
                variant.name,
                evaluations[0].parameters,
                evaluations[0].tokens_per_second,
                if seeds.len() > 1 { "s" } else { "" },
                seeds.join(", ")
            ));
        }
        let first_seed = self.seeds[0];
        let title = experiments()
            .into_iter()
            .find(|e| e.name == name)
            .map_or(name, |e| e.reproduces);
        let curve = |id: &str, what: &str, series: Vec<Series>| Curve {
            id: format!("{name}-{id}"),
            title: format!("{title}: {what} (seed {first_seed})"),
            x_label: "training step".to_string(),
            y_label: "loss per token (nats)".to_string(),
            log_x: false,
            series,
        };
        measured.curves = vec![
            curve("dev_loss", "dev loss", dev_curve),
            curve("train_loss", "training loss (label-smoothed)", train_curve),
        ];
        Ok(measured)
    }

    /// The evaluations of `variant`, one per seed.
    fn evaluations(&self, variant: &Variant) -> anyhow::Result<Vec<Evaluation>> {
        self.runs(std::slice::from_ref(variant), false)
            .iter()
            .map(|run| self.runs.result(run))
            .collect()
    }
}

fn heads_variants(lab: &Lab) -> Vec<Variant> {
    let mut variants = vec![lab.variant(&format!("h{}", lab.config.model.n_heads), |_| {})];
    for &heads in &lab.config.heads {
        variants.push(lab.variant(&format!("h{heads}"), |c| c.model.n_heads = heads));
    }
    variants
}

fn size_variants(lab: &Lab) -> Vec<Variant> {
    let smaller = lab.config.smaller_layers;
    vec![
        lab.base(),
        lab.variant("smaller", |c| c.model.n_layers = smaller),
    ]
}

fn regularization_variants(lab: &Lab) -> Vec<Variant> {
    vec![
        lab.base(),
        lab.variant("no_dropout", |c| c.model.dropout = 0.0),
        lab.variant("no_label_smoothing", |c| c.training.label_smoothing = 0.0),
    ]
}

fn position_variants(lab: &Lab) -> Vec<Variant> {
    vec![
        lab.variant("sinusoidal", |_| {}),
        lab.variant("learned", |c| {
            c.model.positional = PositionalEncoding::Learned
        }),
    ]
}

/// Table 2 and Table 3 "base": test BLEU with the paper's beam search, dev perplexity and BLEU.
pub fn base_model(lab: &Lab) -> anyhow::Result<Measurement> {
    let base = lab.base();
    let mut measured = lab.compare("base_model", std::slice::from_ref(&base), false)?;
    let evaluations = lab.evaluations(&base)?;
    let test_bleu = evaluations
        .iter()
        .map(|e| e.test_bleu.unwrap_or(f64::NAN))
        .collect();
    let runs = evaluations.iter().map(|e| e.key.clone()).collect();
    measured.metrics.insert(
        "test_bleu".to_string(),
        Metric::new(test_bleu, "BLEU")
            .of_runs(runs)
            .scored_on("test"),
    );
    // The base configuration, recorded as numbers of the run (what the table's "base" is here).
    let model = &lab.config.model;
    for (name, value) in [
        ("config.d_model", model.d_model),
        ("config.h", model.n_heads),
        ("config.d_ff", model.d_ff),
        ("config.n_layers", model.n_layers),
    ] {
        measured
            .metrics
            .insert(name.to_string(), Metric::new(vec![value as f64], ""));
    }
    Ok(measured)
}

/// Table 3 (A): the number of heads at fixed `d_model`, `d_k = d_v = d_model / h`.
pub fn attention_heads(lab: &Lab) -> anyhow::Result<Measurement> {
    let mut measured = lab.compare("attention_heads", &heads_variants(lab), true)?;
    // Which of the variants is the base: the claim reads it from here, not from names.
    measured.metrics.insert(
        "base_heads".to_string(),
        Metric::new(vec![lab.config.model.n_heads as f64], "h"),
    );
    Ok(measured)
}

/// Table 3 (C): a smaller model (fewer layers) against the base.
pub fn model_size(lab: &Lab) -> anyhow::Result<Measurement> {
    lab.compare("model_size", &size_variants(lab), true)
}

/// Table 3 (D): no dropout, and no label smoothing, against the base.
pub fn regularization(lab: &Lab) -> anyhow::Result<Measurement> {
    lab.compare("regularization", &regularization_variants(lab), true)
}

/// Table 3 (E): learned positional embeddings instead of sinusoids.
pub fn positional_encoding(lab: &Lab) -> anyhow::Result<Measurement> {
    lab.compare("positional_encoding", &position_variants(lab), true)
}

/// Table 1 / §4: one self-attention layer against one recurrent layer as `n` grows.
pub fn self_attention_complexity(lab: &Lab) -> anyhow::Result<Measurement> {
    complexity::self_attention_complexity(
        &Timing {
            d_model: lab.config.model.d_model,
            n_heads: lab.config.model.n_heads,
            lengths: &lab.config.complexity_lengths,
            repeats: lab.config.complexity_repeats,
        },
        &lab.ctx.device,
        &lab.ctx.progress,
    )
}

/// The labels of `planned` runs with their seeds, sorted by label.
pub fn planned_labels(planned: &[Planned]) -> BTreeMap<String, Vec<u64>> {
    let mut labels: BTreeMap<String, Vec<u64>> = BTreeMap::new();
    for run in planned {
        labels.entry(run.label.clone()).or_default().push(run.seed);
    }
    labels
}

#[cfg(test)]
mod tests {
    use super::*;
    use repro_core::Scale;

    #[test]
    fn each_experiment_plans_what_it_reads_and_the_base_is_found_by_configuration() {
        let mut ctx = RunContext::for_tests(Scale::Small, 5, 1);
        ctx.dataset = "bible-en-es".to_string();
        let lab = Lab::prepare(&ctx).unwrap();
        let plan = |name: &str| {
            let table = experiments();
            let experiment = table.iter().find(|e| e.name == name).unwrap();
            planned_labels(&(experiment.plan)(&lab))
        };
        let seeds = lab.seeds.clone();
        let heads = plan("attention_heads");
        // h8 is the base configuration: it is planned as `base`.
        let expected: Vec<&str> = vec!["base", "h1"];
        assert_eq!(
            heads.keys().map(String::as_str).collect::<Vec<_>>(),
            expected
        );
        assert!(heads.values().all(|s| *s == seeds));
        assert_eq!(
            plan("positional_encoding")
                .keys()
                .map(String::as_str)
                .collect::<Vec<_>>(),
            vec!["base", "learned"]
        );
        assert!(plan("self_attention_complexity").is_empty());
    }
}
