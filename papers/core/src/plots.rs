//! SVG plots of a run: learning curves and one figure per claim, rendered in memory with
//! `plotters`' SVG backend (text is written as SVG `<text>` elements, so no font files are needed).
//!
//! Every function returns the SVG document as a `String`. Bad data never panics: non-finite
//! points (and non-positive x on a log axis) are dropped, a degenerate range is widened, and a
//! plot left with nothing to draw says "no data".

use std::ops::Range;

use anyhow::Context;
use plotters::coord::Shift;
use plotters::coord::ranged1d::{DefaultFormatting, KeyPointHint, Ranged, ValueFormatter};
use plotters::coord::types::RangedCoordf64;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};

use crate::claims::{ClaimReport, Verdict};
use crate::run::Curve;

/// Size of a single figure, pixels.
pub const SIZE: (u32, u32) = (800, 500);
/// Size of one panel of the combined learning-curve figure, pixels.
const PANEL: (u32, u32) = (600, 400);
/// Series with at most this many points get a marker on each point.
const MAX_MARKED_POINTS: usize = 25;
/// Characters per line of a wrapped figure title.
const TITLE_WRAP: usize = 80;
const FONT: &str = "sans-serif";

/// Tableau 10: distinct, colour-blind-friendly line colours.
const COLORS: [RGBColor; 10] = [
    RGBColor(31, 119, 180),
    RGBColor(255, 127, 14),
    RGBColor(44, 160, 44),
    RGBColor(214, 39, 40),
    RGBColor(148, 103, 189),
    RGBColor(140, 86, 75),
    RGBColor(227, 119, 194),
    RGBColor(127, 127, 127),
    RGBColor(188, 189, 34),
    RGBColor(23, 190, 207),
];

type Area<'a> = DrawingArea<SVGBackend<'a>, Shift>;

/// One learning curve (or any [`Curve`]) as a line plot with a legend, axis labels and, when
/// `curve.log_x`, a logarithmic x axis.
pub fn curve_svg(curve: &Curve) -> anyhow::Result<String> {
    render(SIZE, |root| draw_curve(root, curve))
        .with_context(|| format!("plotting curve `{}`", curve.id))
}

/// Several curves as one figure, one panel each in a grid of up to two columns (the main figure
/// of a report); a single curve gives the same figure as [`curve_svg`].
pub fn curves_svg(curves: &[Curve]) -> anyhow::Result<String> {
    match curves {
        [] => render(SIZE, |root| {
            draw_no_data(root, "Learning curves", "no curves")
        }),
        [curve] => curve_svg(curve),
        _ => {
            let cols = 2;
            let rows = curves.len().div_ceil(cols);
            let size = (PANEL.0 * cols as u32, PANEL.1 * rows as u32);
            render(size, |root| {
                for (panel, curve) in root.split_evenly((rows, cols)).iter().zip(curves) {
                    draw_curve(panel, curve)?;
                }
                Ok(())
            })
            .context("plotting the combined learning curves")
        }
    }
}

/// A claim's evidence: for each evidence metric its per-seed values as points, the mean as a bar
/// and, with two or more seeds, a ± one-standard-deviation whisker. The title is the claim's
/// statement and its verdict.
pub fn claim_svg(claim: &ClaimReport) -> anyhow::Result<String> {
    render(SIZE, |root| draw_claim(root, claim))
        .with_context(|| format!("plotting claim `{}`", claim.id))
}

/// Draws into an in-memory SVG of `size` and returns the document.
fn render(
    size: (u32, u32),
    draw: impl FnOnce(&Area) -> anyhow::Result<()>,
) -> anyhow::Result<String> {
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, size).into_drawing_area();
        root.fill(&WHITE)?;
        draw(&root)?;
        root.present()?;
    }
    Ok(svg)
}

/// A figure with a title and a centred note instead of axes.
fn draw_no_data(area: &Area, title: &str, note: &str) -> anyhow::Result<()> {
    let body = draw_title(area, title, &BLACK)?;
    let (width, height) = body.dim_in_pixel();
    let style = TextStyle::from((FONT, 18).into_font())
        .color(&RGBColor(120, 120, 120))
        .pos(Pos::new(HPos::Center, VPos::Top));
    let lines = wrap(note, TITLE_WRAP);
    let top = (height as i32 - 22 * lines.len() as i32) / 2;
    for (i, line) in lines.iter().enumerate() {
        body.draw(&Text::new(
            line.clone(),
            (width as i32 / 2, top + 22 * i as i32),
            style.clone(),
        ))?;
    }
    Ok(())
}

/// Draws `title` (wrapped) at the top of `area` and returns the area below it.
fn draw_title<'a>(area: &Area<'a>, title: &str, color: &RGBColor) -> anyhow::Result<Area<'a>> {
    let lines = wrap(title, TITLE_WRAP);
    let line_height = 22;
    let (width, _) = area.dim_in_pixel();
    let (top, body) = area.split_vertically(10 + line_height * lines.len() as i32);
    let style = TextStyle::from((FONT, 20).into_font())
        .color(color)
        .pos(Pos::new(HPos::Center, VPos::Top));
    for (i, line) in lines.iter().enumerate() {
        top.draw(&Text::new(
            line.clone(),
            (width as i32 / 2, 8 + line_height * i as i32),
            style.clone(),
        ))?;
    }
    Ok(body)
}

fn draw_curve(area: &Area, curve: &Curve) -> anyhow::Result<()> {
    // Keep only what can be drawn: finite points, and positive x on a log axis.
    let series: Vec<(&str, Vec<(f64, f64)>)> = curve
        .series
        .iter()
        .map(|s| {
            let points = s
                .points
                .iter()
                .copied()
                .filter(|&(x, y)| drawable(x) && drawable(y) && (!curve.log_x || x > 0.0))
                .collect();
            (s.label.as_str(), points)
        })
        .collect();
    let all = || series.iter().flat_map(|(_, points)| points.iter().copied());
    let (Some(x), Some(y)) = (bounds(all().map(|p| p.0)), bounds(all().map(|p| p.1))) else {
        return draw_no_data(area, &curve.title, "no data");
    };
    let body = draw_title(area, &curve.title, &BLACK)?;
    let mut builder = ChartBuilder::on(&body);
    builder
        .margin(12)
        .x_label_area_size(45)
        .y_label_area_size(70);
    let y = pad(y);
    if curve.log_x {
        let x = (x.start / 1.5)..(x.end * 1.5);
        let chart = builder.build_cartesian_2d(x.log_scale(), y)?;
        draw_lines(chart, curve, &series)
    } else {
        let chart = builder.build_cartesian_2d(pad(x), y)?;
        draw_lines(chart, curve, &series)
    }
}

fn draw_lines<'a, X>(
    mut chart: ChartContext<'a, SVGBackend<'a>, Cartesian2d<X, RangedCoordf64>>,
    curve: &Curve,
    series: &[(&str, Vec<(f64, f64)>)],
) -> anyhow::Result<()>
where
    X: Ranged<ValueType = f64> + ValueFormatter<f64>,
{
    chart
        .configure_mesh()
        .x_desc(curve.x_label.as_str())
        .y_desc(curve.y_label.as_str())
        .x_label_formatter(&|v| tick(*v))
        .y_label_formatter(&|v| tick(*v))
        .light_line_style(RGBColor(235, 235, 235))
        .draw()?;
    let mut labelled = false;
    for (i, (label, points)) in series.iter().enumerate() {
        let color = COLORS[i % COLORS.len()];
        let drawn = chart.draw_series(LineSeries::new(
            points.iter().copied(),
            color.stroke_width(2),
        ))?;
        if !label.is_empty() {
            labelled = true;
            drawn.label(*label).legend(move |(x, y)| {
                PathElement::new(vec![(x, y), (x + 20, y)], color.stroke_width(2))
            });
        }
        if points.len() <= MAX_MARKED_POINTS {
            chart.draw_series(points.iter().map(|&p| Circle::new(p, 3, color.filled())))?;
        }
    }
    if labelled {
        chart
            .configure_series_labels()
            .position(SeriesLabelPosition::UpperRight)
            .background_style(WHITE.mix(0.85))
            .border_style(RGBColor(180, 180, 180))
            .draw()?;
    }
    Ok(())
}

fn draw_claim(area: &Area, claim: &ClaimReport) -> anyhow::Result<()> {
    let verdict = claim.outcome.verdict;
    let title = format!("{} — {}", claim.statement, verdict.name());
    let evidence: Vec<(&str, Vec<f64>)> = claim
        .outcome
        .evidence
        .iter()
        .map(|e| {
            (
                e.label.as_str(),
                e.metric
                    .values
                    .iter()
                    .copied()
                    .filter(|&v| drawable(v))
                    .collect(),
            )
        })
        .collect();
    let stats: Vec<Option<(f64, f64)>> = evidence
        .iter()
        .map(|(_, values)| mean_std(values))
        .collect();
    let extent = stats
        .iter()
        .flatten()
        .flat_map(|&(mean, std)| [mean - std, mean + std])
        .chain(
            evidence
                .iter()
                .flat_map(|(_, values)| values.iter().copied()),
        );
    let Some(y) = bounds(extent) else {
        let note = format!("no data: {}", claim.outcome.explanation);
        return draw_no_data(area, &title, &note);
    };
    let body = draw_title(area, &title, &verdict_color(verdict))?;
    let labels: Vec<&str> = evidence.iter().map(|(label, _)| *label).collect();
    let mut units: Vec<&str> = claim
        .outcome
        .evidence
        .iter()
        .map(|e| e.metric.unit.as_str())
        .collect();
    units.dedup();
    let mut chart = ChartBuilder::on(&body)
        .margin(12)
        .x_label_area_size(45)
        .y_label_area_size(70)
        .build_cartesian_2d(Categories(labels.len()), pad(y))?;
    let label_of = |v: &f64| {
        labels
            .get(v.round() as usize)
            .map(|l| l.to_string())
            .unwrap_or_default()
    };
    chart
        .configure_mesh()
        .disable_x_mesh()
        .y_desc(units.join(", "))
        .x_label_formatter(&label_of)
        .y_label_formatter(&|v| tick(*v))
        .light_line_style(RGBColor(235, 235, 235))
        .draw()?;

    let seed_color = RGBColor(31, 119, 180);
    let mean_color = BLACK;
    let mut legend = [false; 3];
    for (i, ((_, values), stat)) in evidence.iter().zip(&stats).enumerate() {
        let x = i as f64;
        // Per-seed points, spread sideways so equal values stay visible.
        let n = values.len().max(1) as f64;
        let points = values.iter().enumerate().map(|(k, &v)| {
            Circle::new(
                (x - 0.12 + 0.24 * (k as f64 + 0.5) / n, v),
                4,
                seed_color.filled(),
            )
        });
        let drawn = chart.draw_series(points)?;
        if !values.is_empty() && !legend[0] {
            legend[0] = true;
            drawn
                .label("per seed")
                .legend(move |(x, y)| Circle::new((x + 10, y), 4, seed_color.filled()));
        }
        let Some((mean, std)) = *stat else { continue };
        let drawn = chart.draw_series(std::iter::once(PathElement::new(
            vec![(x - 0.25, mean), (x + 0.25, mean)],
            mean_color.stroke_width(3),
        )))?;
        if !legend[1] {
            legend[1] = true;
            drawn.label("mean").legend(move |(x, y)| {
                PathElement::new(vec![(x, y), (x + 20, y)], mean_color.stroke_width(3))
            });
        }
        if values.len() >= 2 {
            let whisker = [
                vec![(x, mean - std), (x, mean + std)],
                vec![(x - 0.06, mean - std), (x + 0.06, mean - std)],
                vec![(x - 0.06, mean + std), (x + 0.06, mean + std)],
            ];
            let drawn = chart.draw_series(
                whisker
                    .into_iter()
                    .map(|path| PathElement::new(path, mean_color.stroke_width(1))),
            )?;
            if !legend[2] {
                legend[2] = true;
                drawn.label("± 1 std over seeds").legend(move |(x, y)| {
                    PathElement::new(vec![(x + 10, y - 6), (x + 10, y + 6)], mean_color)
                });
            }
        }
    }
    chart
        .configure_series_labels()
        .position(SeriesLabelPosition::UpperRight)
        .background_style(WHITE.mix(0.85))
        .border_style(RGBColor(180, 180, 180))
        .draw()?;
    Ok(())
}

fn verdict_color(verdict: Verdict) -> RGBColor {
    match verdict {
        Verdict::Holds => RGBColor(30, 130, 50),
        Verdict::Fails => RGBColor(190, 30, 30),
        Verdict::Inconclusive => RGBColor(110, 110, 110),
    }
}

/// Whether a value can be placed on an axis: finite, and far enough from `f64::MAX` that padding
/// the axis range cannot overflow.
fn drawable(value: f64) -> bool {
    value.is_finite() && value.abs() < 1e300
}

/// Mean and sample standard deviation of finite values (`None` when empty).
fn mean_std(values: &[f64]) -> Option<(f64, f64)> {
    if values.is_empty() {
        return None;
    }
    let n = values.len() as f64;
    let mean = values.iter().sum::<f64>() / n;
    let std = if values.len() < 2 {
        0.0
    } else {
        (values.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / (n - 1.0)).sqrt()
    };
    (mean.is_finite() && std.is_finite()).then_some((mean, std))
}

/// The smallest range holding every finite value, or `None` when there is none.
fn bounds(values: impl Iterator<Item = f64>) -> Option<Range<f64>> {
    values
        .filter(|v| v.is_finite())
        .fold(None, |range: Option<Range<f64>>, v| match range {
            None => Some(v..v),
            Some(r) => Some(r.start.min(v)..r.end.max(v)),
        })
}

/// Widens a range by 5% on each side, and a single value to a visible interval around it.
fn pad(range: Range<f64>) -> Range<f64> {
    let width = range.end - range.start;
    let margin = if width > 0.0 && width.is_finite() {
        width * 0.05
    } else if range.start != 0.0 {
        range.start.abs() * 0.05
    } else {
        1.0
    };
    (range.start - margin)..(range.end + margin)
}

/// An axis label: short, without float noise.
fn tick(value: f64) -> String {
    let magnitude = value.abs();
    if value == 0.0 {
        "0".to_string()
    } else if !(1e-3..1e5).contains(&magnitude) {
        format!("{value:.1e}")
    } else {
        let text = format!("{value:.3}");
        text.trim_end_matches('0').trim_end_matches('.').to_string()
    }
}

/// Splits `text` into lines of at most `width` characters at spaces (a longer word stays whole).
fn wrap(text: &str, width: usize) -> Vec<String> {
    let mut lines = Vec::new();
    let mut line = String::new();
    for word in text.split_whitespace() {
        if !line.is_empty() && line.chars().count() + 1 + word.chars().count() > width {
            lines.push(std::mem::take(&mut line));
        }
        if !line.is_empty() {
            line.push(' ');
        }
        line.push_str(word);
    }
    if !line.is_empty() || lines.is_empty() {
        lines.push(line);
    }
    lines
}

/// A categorical x axis: category `i` sits at `i`, with a tick (and label) on each category.
struct Categories(usize);

impl Ranged for Categories {
    type FormatOption = DefaultFormatting;
    type ValueType = f64;

    fn map(&self, value: &f64, limit: (i32, i32)) -> i32 {
        let range = self.range();
        let fraction = (value - range.start) / (range.end - range.start);
        limit.0 + (fraction * f64::from(limit.1 - limit.0)).round() as i32
    }

    fn key_points<Hint: KeyPointHint>(&self, _hint: Hint) -> Vec<f64> {
        (0..self.0).map(|i| i as f64).collect()
    }

    fn range(&self) -> Range<f64> {
        -0.5..(self.0.max(1) as f64 - 0.5)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::claims::{ClaimOutcome, Evidence};
    use crate::run::{Metric, Series};

    fn curve(series: Vec<Series>, log_x: bool) -> Curve {
        Curve {
            id: "train-loss".into(),
            title: "Training loss".into(),
            x_label: "step".into(),
            y_label: "loss (nats/token)".into(),
            log_x,
            series,
        }
    }

    fn series(label: &str, points: &[(f64, f64)]) -> Series {
        Series {
            label: label.into(),
            points: points.to_vec(),
        }
    }

    fn claim(evidence: Vec<Evidence>) -> ClaimReport {
        ClaimReport {
            id: "more_heads".into(),
            statement: "Multi-head attention beats single-head".into(),
            source: "Table 3 (A)".into(),
            outcome: ClaimOutcome {
                verdict: Verdict::Holds,
                explanation: "because".into(),
                evidence,
            },
        }
    }

    fn evidence(label: &str, values: &[f64]) -> Evidence {
        Evidence {
            label: label.into(),
            metric: Metric::new(values.to_vec(), "BLEU"),
        }
    }

    #[test]
    fn curve_is_svg_with_title_labels_and_legend_as_text() {
        let svg = curve_svg(&curve(
            vec![
                series("train", &[(1.0, 5.0), (2.0, 4.0), (3.0, 3.5)]),
                series("dev", &[(1.0, 5.5), (3.0, 4.2)]),
            ],
            false,
        ))
        .unwrap();
        assert!(svg.starts_with("<svg"), "{}", &svg[..80]);
        for text in ["Training loss", "loss (nats/token)", "step", "train", "dev"] {
            assert!(
                svg.contains(&format!("{text}\n</text>")),
                "missing <text> {text}"
            );
        }
    }

    #[test]
    fn log_x_curve_renders_and_drops_non_positive_x() {
        let svg = curve_svg(&curve(
            vec![series("s", &[(0.0, 1.0), (10.0, 2.0), (1000.0, 3.0)])],
            true,
        ))
        .unwrap();
        assert!(svg.starts_with("<svg"));
        assert!(!svg.contains("no data"));
    }

    #[test]
    fn empty_nan_and_single_point_curves_do_not_panic() {
        let cases = [
            vec![],
            vec![series("empty", &[])],
            vec![series("nan", &[(f64::NAN, 1.0), (1.0, f64::INFINITY)])],
            vec![series("one", &[(3.0, 2.0)])],
            vec![series("flat", &[(0.0, 0.0), (0.0, 0.0)])],
            vec![series(
                "huge",
                &[
                    (f64::MAX, 1.0),
                    (1.0, -f64::MAX),
                    (1.0, 1e299),
                    (2.0, -1e299),
                ],
            )],
        ];
        for (i, case) in cases.into_iter().enumerate() {
            for log_x in [false, true] {
                let svg = curve_svg(&curve(case.clone(), log_x)).unwrap();
                assert!(svg.starts_with("<svg"), "case {i}");
                let has_data = i >= 3 && !(log_x && i == 4);
                assert_eq!(
                    svg.contains("no data"),
                    !has_data,
                    "case {i}, log_x {log_x}"
                );
            }
        }
    }

    #[test]
    fn combined_figure_has_every_title() {
        let mut second = curve(vec![series("dev", &[(1.0, 2.0), (2.0, 1.0)])], false);
        second.title = "Dev loss".into();
        let first = curve(vec![series("train", &[(1.0, 2.0), (2.0, 1.5)])], false);
        let svg = curves_svg(&[first.clone(), second, first]).unwrap();
        assert!(svg.contains("Training loss") && svg.contains("Dev loss"));
        assert!(curves_svg(&[]).unwrap().contains("no curves"));
    }

    #[test]
    fn claim_plot_has_statement_verdict_and_labels() {
        let svg = claim_svg(&claim(vec![
            evidence("h=8", &[25.0, 25.6, 24.8]),
            evidence("h=1", &[24.0]),
        ]))
        .unwrap();
        assert!(svg.starts_with("<svg"));
        for text in [
            "Multi-head attention beats single-head — holds",
            "h=8",
            "h=1",
            "BLEU",
            "mean",
            "per seed",
        ] {
            assert!(
                svg.contains(&format!("{text}\n</text>")),
                "missing <text> {text}"
            );
        }
    }

    #[test]
    fn claim_plot_without_usable_evidence_says_no_data() {
        for case in [vec![], vec![evidence("a", &[]), evidence("b", &[f64::NAN])]] {
            let svg = claim_svg(&claim(case)).unwrap();
            assert!(svg.contains("no data: because"));
        }
        let svg = claim_svg(&claim(vec![
            evidence("a", &[f64::NAN, 2.0]),
            evidence("b", &[]),
        ]))
        .unwrap();
        assert!(!svg.contains("no data"));
    }

    #[test]
    fn ticks_and_wrapping() {
        assert_eq!(tick(0.0), "0");
        assert_eq!(tick(2.5), "2.5");
        assert_eq!(tick(100.0), "100");
        assert_eq!(tick(123456.0), "1.2e5");
        assert_eq!(wrap("a bb ccc", 4), vec!["a bb", "ccc"]);
        assert_eq!(wrap("", 4), vec![""]);
    }
}
