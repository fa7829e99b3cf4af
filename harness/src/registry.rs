//! The one list of papers the harness knows. Papers are found only through this registry and
//! the [`repro_core::Paper`] trait.

use repro_core::Paper;

/// Every paper of the suite, in registry order.
pub fn papers() -> Vec<Box<dyn Paper>> {
    vec![
        // papers (kept sorted; `repro arxiv stub` inserts here)
        repro_attention::paper(),
        repro_bert::paper(),
        repro_gpt3::paper(),
    ]
}

/// The paper registered under `id`, or an error listing the known ones.
pub fn find(id: &str) -> anyhow::Result<Box<dyn Paper>> {
    let all = papers();
    let known: Vec<&str> = all.iter().map(|p| p.info().id).collect();
    let known = known.join(", ");
    papers()
        .into_iter()
        .find(|p| p.info().id == id)
        .ok_or_else(|| {
            anyhow::anyhow!("unknown paper `{id}`; known papers: {known} (see `repro list`)")
        })
}
