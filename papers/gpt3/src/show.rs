//! `repro tasks gpt3`: held-out instances and the exact prompts the models see (the habit of
//! lm-evaluation-harness's `write_out`), built from the same corpus, pools and draws as the
//! evaluation.

use repro_core::eval::score::prompts;
use repro_core::eval::{DummyModel, ShowRequest, ShownInstance};

use crate::corpus;
use crate::scale::scale_config;
use crate::tasks::{self, Sources};

/// The instances `request` asks for (the evaluation draws demonstrations with seed
/// [`crate::experiments::DEMO_SEED`]). Prompts are not cut to a context window here (no
/// tokenizer is trained for this); the evaluation cuts K where the window needs it and stores
/// the K used.
pub fn show(request: &ShowRequest) -> anyhow::Result<Vec<ShownInstance>> {
    let chosen = match &request.task {
        Some(name) => vec![tasks::find(name)?],
        None => tasks::all()?,
    };
    let config = scale_config(request.scale)?;
    let documents = corpus::real_documents(&config.corpus)?;
    let words = config.evaluation.cloze_passage_words;
    let sources = Sources {
        words: corpus::word_list(&documents.train),
        train_passages: corpus::passages(&documents.train, words),
        eval_passages: corpus::passages(&documents.dev, words),
    };
    let unlimited = DummyModel::new(usize::MAX);
    let mut shown = Vec::new();
    for task in chosen {
        let spec = &task.spec;
        // The same pool and held-out instances as the evaluation (generator seed 0).
        let pool = tasks::generate(spec, &sources, tasks::Split::Train, corpus::POOL_SIZE, 0)?;
        let eval = tasks::generate(spec, &sources, tasks::Split::Eval, request.n, 1)?;
        let built = prompts(spec, &unlimited, &eval, &pool, request.shots, request.seed)?;
        for (index, (doc, prompt)) in eval.iter().zip(built).enumerate() {
            shown.push(ShownInstance {
                task: spec.name.clone(),
                version: spec.version,
                index,
                output_type: spec.output_type,
                prompt: prompt.context,
                target: prompt.target,
                choices: prompt.choices,
                gold: doc.gold,
                shots_requested: prompt.shots_requested,
                shots: prompt.shots,
            });
        }
    }
    Ok(shown)
}
