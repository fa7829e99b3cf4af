//! Zero-, one- and few-shot prompts exactly as GPT-3 §2 defines them: the task description,
//! then K demonstrations from the task's training pool, each question and answer joined by the
//! target delimiter and the demonstrations by the few-shot delimiter, then the question. K is
//! limited by the context window: demonstrations are dropped from the end until the prompt and
//! its answer fit, and the K actually used is returned.

use serde::Serialize;

use super::task::{Doc, OutputType, TaskSpec};

/// The text a model is asked, with its expected continuation.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Prompt {
    /// Description, demonstrations and the question.
    pub context: String,
    /// What the model should continue with: the target delimiter then the answer
    /// (`loglikelihood`), or the bare answer (`generate_until`, compared after trimming).
    pub target: String,
    /// For multiple choice: each choice with the target delimiter before it.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub choices: Vec<String>,
    /// The demonstrations asked for.
    pub shots_requested: usize,
    /// The demonstrations that fit the context window.
    pub shots: usize,
}

/// The prompt for `doc` with the demonstrations `demos` (K = `demos.len()`), within a window of
/// `max_length` tokens as counted by `tokens`.
pub fn build(
    spec: &TaskSpec,
    doc: &Doc,
    demos: &[Doc],
    max_length: usize,
    tokens: &dyn Fn(&str) -> anyhow::Result<usize>,
) -> anyhow::Result<Prompt> {
    let question = spec.text(doc)?;
    let answer = spec.target(doc)?;
    let choices: Vec<String> = doc
        .choices
        .iter()
        .map(|choice| format!("{}{choice}", spec.target_delimiter))
        .collect();
    let continuation = match spec.output_type {
        OutputType::GenerateUntil => answer.clone(),
        OutputType::Loglikelihood => format!("{}{answer}", spec.target_delimiter),
        OutputType::MultipleChoice => String::new(),
    };
    // Room the answer needs after the context.
    let answer_room = match spec.output_type {
        OutputType::GenerateUntil => spec.max_new_tokens,
        OutputType::Loglikelihood => tokens(&continuation)?,
        OutputType::MultipleChoice => choices
            .iter()
            .map(|choice| tokens(choice))
            .collect::<anyhow::Result<Vec<_>>>()?
            .into_iter()
            .max()
            .unwrap_or(0),
    };
    let shown: Vec<String> = demos
        .iter()
        .map(|demo| demonstration(spec, demo))
        .collect::<anyhow::Result<_>>()?;
    let mut shots = shown.len();
    loop {
        let context = context(spec, &shown[..shots], &question);
        if tokens(&context)? + answer_room <= max_length {
            return Ok(Prompt {
                context,
                target: continuation,
                choices,
                shots_requested: demos.len(),
                shots,
            });
        }
        anyhow::ensure!(
            shots > 0,
            "task `{}`: the question and its answer alone take more than the model's {max_length} \
             tokens",
            spec.name
        );
        shots -= 1;
    }
}

/// A demonstration: the question, the target delimiter and the answer (for multiple choice, the
/// gold choice).
fn demonstration(spec: &TaskSpec, demo: &Doc) -> anyhow::Result<String> {
    let answer = match (spec.output_type, demo.gold) {
        (OutputType::MultipleChoice, Some(gold)) => demo
            .choices
            .get(gold)
            .cloned()
            .ok_or_else(|| anyhow::anyhow!("gold choice {gold} out of range"))?,
        _ => spec.target(demo)?,
    };
    Ok(format!(
        "{}{}{answer}",
        spec.text(demo)?,
        spec.target_delimiter
    ))
}

fn context(spec: &TaskSpec, demos: &[String], question: &str) -> String {
    let mut parts: Vec<&str> = Vec::with_capacity(demos.len() + 2);
    if !spec.description.is_empty() {
        parts.push(&spec.description);
    }
    parts.extend(demos.iter().map(String::as_str));
    parts.push(question);
    parts.join(&spec.fewshot_delimiter)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn arithmetic() -> TaskSpec {
        toml::from_str(
            r#"
name = "2d_plus"
version = 1
output_type = "generate_until"
doc_to_text = "Q: What is {a} plus {b}?\nA:"
doc_to_target = "{answer}"
fewshot_delimiter = "\n\n"
until = ["\n"]
max_new_tokens = 4
metrics = ["exact_match"]
generator = {}
"#,
        )
        .unwrap()
    }

    fn sum(a: u32, b: u32) -> Doc {
        Doc::from_fields([
            ("a", a.to_string()),
            ("b", b.to_string()),
            ("answer", (a + b).to_string()),
        ])
    }

    fn bytes(text: &str) -> anyhow::Result<usize> {
        Ok(text.len())
    }

    #[test]
    fn zero_one_and_few_shot_prompts_are_byte_exact() {
        let spec = arithmetic();
        let zero = build(&spec, &sum(48, 76), &[], 1000, &bytes).unwrap();
        assert_eq!(zero.context, "Q: What is 48 plus 76?\nA:");
        assert_eq!(zero.target, "124");
        let few = build(&spec, &sum(48, 76), &[sum(1, 2), sum(30, 9)], 1000, &bytes).unwrap();
        assert_eq!(
            few.context,
            "Q: What is 1 plus 2?\nA: 3\n\nQ: What is 30 plus 9?\nA: 39\n\nQ: What is 48 plus 76?\nA:"
        );
        assert_eq!((few.shots_requested, few.shots), (2, 2));
    }

    #[test]
    fn the_description_comes_first_and_the_window_limits_k() {
        let mut spec = arithmetic();
        spec.description = "Add.".into();
        let question = "Add.\n\nQ: What is 48 plus 76?\nA:";
        let one_demo = "Q: What is 1 plus 2?\nA: 3\n\n";
        // Room for one demonstration and the answer, not two.
        let window = question.len() + one_demo.len() + spec.max_new_tokens;
        let prompt = build(&spec, &sum(48, 76), &[sum(1, 2), sum(3, 4)], window, &bytes).unwrap();
        assert_eq!(
            prompt.context,
            format!("Add.\n\n{one_demo}Q: What is 48 plus 76?\nA:")
        );
        assert_eq!((prompt.shots_requested, prompt.shots), (2, 1));
        let error = build(&spec, &sum(48, 76), &[], 10, &bytes).unwrap_err();
        assert!(
            error
                .to_string()
                .contains("more than the model's 10 tokens"),
            "{error}"
        );
    }

    #[test]
    fn a_cloze_target_carries_the_delimiter_and_a_choice_demo_shows_its_gold() {
        let mut spec = arithmetic();
        spec.output_type = OutputType::Loglikelihood;
        let prompt = build(&spec, &sum(1, 1), &[], 100, &bytes).unwrap();
        assert_eq!(prompt.target, " 2");
        spec.output_type = OutputType::MultipleChoice;
        let mut demo = sum(2, 2);
        demo.choices = vec!["5".into(), "4".into()];
        demo.gold = Some(1);
        let mut doc = sum(1, 1);
        doc.choices = vec!["2".into(), "3".into()];
        let prompt = build(&spec, &doc, &[demo], 100, &bytes).unwrap();
        assert_eq!(
            prompt.context,
            "Q: What is 2 plus 2?\nA: 4\n\nQ: What is 1 plus 1?\nA:"
        );
        assert_eq!(prompt.choices, [" 2", " 3"]);
    }
}
