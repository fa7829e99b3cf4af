//! The committed results agree with the code: every published number that names the metric it
//! is set beside (`reproduced_by` in a paper's `published.toml`) finds that metric in the
//! paper's committed `results/<paper>/small-cpu.json`. A scale whose sizes or tasks changed
//! without a new run, or a `published.toml` naming a metric nothing produces, fails here.

use std::collections::BTreeSet;
use std::path::Path;

#[test]
fn every_reproduced_by_names_a_metric_of_the_committed_small_run() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut checked = 0;
    for paper in repro_harness::registry::papers() {
        let id = paper.info().id;
        let path = root.join(format!("results/{id}/small-cpu.json"));
        let Ok(text) = std::fs::read_to_string(&path) else {
            println!(
                "{id}: no committed small run at {}; nothing to check",
                path.display()
            );
            continue;
        };
        let stored: serde_json::Value = serde_json::from_str(&text).unwrap();
        let produced: BTreeSet<String> = stored["experiments"]
            .as_array()
            .unwrap()
            .iter()
            .flat_map(|experiment| {
                let name = experiment["name"].as_str().unwrap().to_string();
                experiment["metrics"]
                    .as_object()
                    .unwrap()
                    .keys()
                    .map(move |metric| format!("{name}.{metric}"))
                    .collect::<Vec<_>>()
            })
            .collect();
        let missing: Vec<String> = paper
            .published()
            .unwrap()
            .result
            .iter()
            .filter_map(|row| row.reproduced_by.clone())
            .filter(|metric| !produced.contains(metric))
            .collect();
        assert!(
            missing.is_empty(),
            "{id}: published.toml sets numbers beside metrics that {} does not hold (rerun \
             `make reproduce PAPER={id}` or fix the keys): {missing:?}",
            path.display()
        );
        checked += 1;
    }
    assert!(checked > 0, "no paper has a committed small run");
}
