//! The reproduction's plots: a family's mean vs K (one series per size) and vs model size (one
//! series per K).

use std::collections::BTreeMap;

use repro_core::run::{Curve, Metric, Series};

use super::{Lab, SHOTS, shots};
use crate::scale::SizeConfig;

impl Lab<'_> {
    /// A family mean vs K, one series per size.
    pub(super) fn k_curve(
        &self,
        id: String,
        title: String,
        y_label: &str,
        by_size: &[(&SizeConfig, Vec<(&str, f64)>)],
    ) -> Curve {
        Curve {
            id,
            title,
            x_label: "in-context examples K".into(),
            y_label: y_label.into(),
            log_x: false,
            series: by_size
                .iter()
                .map(|(size, means)| Series {
                    label: format!(
                        "{} ({} non-embedding parameters)",
                        size.name,
                        self.non_embedding(size)
                    ),
                    points: means
                        .iter()
                        .map(|(shot, mean)| (shots(shot, &self.config.evaluation) as f64, *mean))
                        .collect(),
                })
                .collect(),
        }
    }

    /// Accuracy (`<task>`) vs non-embedding parameters, one series per K.
    pub(super) fn size_curve(
        &self,
        family: &str,
        metrics: &BTreeMap<String, Metric>,
        key: impl Fn(&str) -> String,
    ) -> anyhow::Result<Curve> {
        let series = SHOTS
            .iter()
            .map(|shot| {
                let points = self
                    .config
                    .sizes
                    .iter()
                    .map(|size| {
                        let name = key(shot).replace("{size}", &size.name);
                        let metric = metrics
                            .get(&name)
                            .ok_or_else(|| anyhow::anyhow!("no metric `{name}`"))?;
                        Ok((self.non_embedding(size) as f64, metric.mean()))
                    })
                    .collect::<anyhow::Result<Vec<_>>>()?;
                Ok(Series {
                    label: format!("{shot}-shot"),
                    points,
                })
            })
            .collect::<anyhow::Result<Vec<_>>>()?;
        Ok(Curve {
            id: format!("{family}-accuracy_vs_size"),
            title: format!("{family}: accuracy vs model size (Figure 3.10's shape)"),
            x_label: "non-embedding parameters".into(),
            y_label: "accuracy (%)".into(),
            log_x: true,
            series,
        })
    }
}
