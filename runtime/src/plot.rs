//! Pictures of a frame's columns: histograms, bar charts of value counts, scatter and line plots.
//! Each is a Vega-Lite spec (what JupyterLab draws, with its own bundled Vega) and an SVG of the same
//! picture for frontends without Vega (nbconvert, GitHub, a notebook opened elsewhere). Both are
//! self-contained: the values travel inline, the SVG uses no script and the system's sans-serif
//! font, and nothing is fetched from the network.
//!
//! A plot draws a value the caller already holds (a mock, a released result, an owner's own data):
//! it releases nothing. The kernel draws for cells (`mock.hist("radius1")?`).

use polars::prelude::{DataFrame, DataType};
use serde_json::{Value, json};
use veil_api::kernel::PlotSpec;

use crate::data::Data;
use crate::error::{Error, Result};

/// Most points a scatter or line plot draws (the first ones); a histogram bins every value.
pub const MAX_POINTS: usize = 5000;
/// Most bars of a bar chart of value counts (the most frequent values).
pub const MAX_BARS: usize = 40;
/// Bins of a histogram when none are asked for.
pub const DEFAULT_BINS: usize = 20;

const WIDTH: f64 = 480.0;
const HEIGHT: f64 = 300.0;
const LEFT: f64 = 56.0;
const RIGHT: f64 = 16.0;
const TOP: f64 = 28.0;
const BOTTOM: f64 = 44.0;
const COLOR: &str = "#4c78a8";

/// A drawn plot.
#[derive(Debug, Clone, PartialEq)]
pub struct Plot {
    /// What it shows, in words (the `text/plain` of its display).
    pub title: String,
    /// The picture as an SVG document.
    pub svg: String,
    /// The same picture as a Vega-Lite v5 spec.
    pub vega_lite: Value,
}

impl crate::display::Render for Plot {
    fn text(&self) -> String {
        self.title.clone()
    }

    fn html(&self) -> String {
        self.svg.clone()
    }
}

/// Draws `spec` of `data`.
pub fn draw(data: &Data, spec: &PlotSpec) -> Result<Plot> {
    let frame = frame_of(data)?;
    match spec {
        PlotSpec::Hist { column, bins } => hist(frame, column, bins.unwrap_or(DEFAULT_BINS)),
        PlotSpec::Counts { column } => counts(frame, column),
        PlotSpec::Scatter { x, y } => points(frame, x, y, false),
        PlotSpec::Line { x, y } => points(frame, x, y, true),
    }
}

fn frame_of(data: &Data) -> Result<&DataFrame> {
    data.as_frame().ok_or_else(|| {
        Error::invalid(
            "plot",
            format!("a {} has no named columns to draw", data.kind()),
            "plot a frame's columns (a mock, a released frame); for an array, make it a frame first",
        )
    })
}

/// A column's finite numbers, in row order (nulls and NaN left out).
fn numbers(frame: &DataFrame, name: &str) -> Result<Vec<Option<f64>>> {
    let column = column(frame, name)?;
    let not_numbers = || {
        Error::invalid(
            format!("column `{name}`"),
            format!("it holds {}, not numbers", column.dtype()),
            "draw numbers here; for categories use `bar_counts(column)`",
        )
    };
    if !(column.dtype().is_primitive_numeric() || column.dtype() == &DataType::Boolean) {
        return Err(not_numbers());
    }
    let floats = column.cast(&DataType::Float64).map_err(|_| not_numbers())?;
    let floats = floats.f64().map_err(Error::data("reading a column"))?;
    Ok(floats.iter().map(|v| v.filter(|v| v.is_finite())).collect())
}

fn column<'f>(frame: &'f DataFrame, name: &str) -> Result<&'f polars::prelude::Column> {
    frame.column(name).map_err(|_| {
        let names: Vec<String> = frame
            .get_column_names()
            .iter()
            .map(|n| format!("`{n}`"))
            .collect();
        Error::invalid(
            format!("column `{name}`"),
            "the frame has no such column",
            format!("use one of {}", names.join(", ")),
        )
    })
}

fn hist(frame: &DataFrame, name: &str, bins: usize) -> Result<Plot> {
    if !(1..=500).contains(&bins) {
        return Err(Error::invalid(
            "bins",
            format!("{bins}"),
            "give between 1 and 500 bins",
        ));
    }
    let values: Vec<f64> = numbers(frame, name)?.into_iter().flatten().collect();
    let (lo, hi) = extent(&values);
    let width = if hi > lo {
        (hi - lo) / bins as f64
    } else {
        1.0
    };
    let mut counts = vec![0u64; bins];
    for v in &values {
        let i = (((v - lo) / width) as usize).min(bins - 1);
        counts[i] += 1;
    }
    let bars: Vec<(f64, f64, f64)> = counts
        .iter()
        .enumerate()
        .map(|(i, n)| {
            (
                lo + i as f64 * width,
                lo + (i + 1) as f64 * width,
                *n as f64,
            )
        })
        .collect();
    let title = format!(
        "histogram of `{name}` ({} values, {bins} bins)",
        values.len()
    );
    let top = bars.iter().map(|b| b.2).fold(0.0, f64::max).max(1.0);
    let mut svg = Svg::new(&title, (lo, lo + width * bins as f64), (0.0, top));
    for (from, to, n) in &bars {
        svg.bar(*from, *to, *n);
    }
    let spec = json!({
        "$schema": "https://vega.github.io/schema/vega-lite/v5.json",
        "title": title,
        "width": WIDTH - LEFT - RIGHT, "height": HEIGHT - TOP - BOTTOM,
        "data": {"values": bars.iter().map(|(a, b, n)| json!({"from": a, "to": b, "count": n})).collect::<Vec<_>>()},
        "mark": {"type": "bar", "color": COLOR},
        "encoding": {
            "x": {"field": "from", "type": "quantitative", "bin": {"binned": true}, "title": name},
            "x2": {"field": "to"},
            "y": {"field": "count", "type": "quantitative", "title": "count"},
        },
    });
    Ok(Plot {
        svg: svg.finish(name, "count"),
        title,
        vega_lite: spec,
    })
}

fn counts(frame: &DataFrame, name: &str) -> Result<Plot> {
    let column = column(frame, name)?;
    let text = column
        .cast(&DataType::String)
        .map_err(Error::data("reading a column"))?;
    let mut tally: std::collections::BTreeMap<String, u64> = Default::default();
    for v in text.str().map_err(Error::data("reading a column"))?.iter() {
        *tally.entry(v.unwrap_or("null").to_string()).or_default() += 1;
    }
    let mut bars: Vec<(String, u64)> = tally.into_iter().collect();
    bars.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
    let shown = bars.len().min(MAX_BARS);
    let title = if bars.len() > shown {
        format!(
            "value counts of `{name}` (the {shown} most frequent of {})",
            bars.len()
        )
    } else {
        format!("value counts of `{name}`")
    };
    bars.truncate(shown);
    let top = bars.iter().map(|b| b.1).max().unwrap_or(1).max(1) as f64;
    let mut svg = Svg::new(&title, (0.0, bars.len().max(1) as f64), (0.0, top));
    for (i, (label, n)) in bars.iter().enumerate() {
        svg.bar(i as f64 + 0.1, i as f64 + 0.9, *n as f64);
        svg.category(i as f64 + 0.5, label);
    }
    svg.skip_x_ticks = true;
    let spec = json!({
        "$schema": "https://vega.github.io/schema/vega-lite/v5.json",
        "title": title,
        "width": WIDTH - LEFT - RIGHT, "height": HEIGHT - TOP - BOTTOM,
        "data": {"values": bars.iter().map(|(v, n)| json!({"value": v, "count": n})).collect::<Vec<_>>()},
        "mark": {"type": "bar", "color": COLOR},
        "encoding": {
            "x": {"field": "value", "type": "nominal", "sort": "-y", "title": name},
            "y": {"field": "count", "type": "quantitative", "title": "count"},
        },
    });
    Ok(Plot {
        svg: svg.finish(name, "count"),
        title,
        vega_lite: spec,
    })
}

fn points(frame: &DataFrame, x: &str, y: &str, line: bool) -> Result<Plot> {
    let (xs, ys) = (numbers(frame, x)?, numbers(frame, y)?);
    let mut pairs: Vec<(f64, f64)> = xs
        .into_iter()
        .zip(ys)
        .filter_map(|(a, b)| Some((a?, b?)))
        .take(MAX_POINTS)
        .collect();
    if line {
        pairs.sort_by(|a, b| a.0.total_cmp(&b.0));
    }
    let what = if line { "line" } else { "scatter" };
    let title = format!("{what} of `{y}` against `{x}` ({} points)", pairs.len());
    let xs: Vec<f64> = pairs.iter().map(|p| p.0).collect();
    let ys: Vec<f64> = pairs.iter().map(|p| p.1).collect();
    let mut svg = Svg::new(&title, extent(&xs), extent(&ys));
    if line {
        svg.path(&pairs);
    } else {
        for (a, b) in &pairs {
            svg.dot(*a, *b);
        }
    }
    let spec = json!({
        "$schema": "https://vega.github.io/schema/vega-lite/v5.json",
        "title": title,
        "width": WIDTH - LEFT - RIGHT, "height": HEIGHT - TOP - BOTTOM,
        "data": {"values": pairs.iter().map(|(a, b)| json!({"x": a, "y": b})).collect::<Vec<_>>()},
        "mark": if line { json!({"type": "line", "color": COLOR}) } else { json!({"type": "point", "color": COLOR, "opacity": 0.6}) },
        "encoding": {
            "x": {"field": "x", "type": "quantitative", "title": x, "scale": {"zero": false}},
            "y": {"field": "y", "type": "quantitative", "title": y, "scale": {"zero": false}},
        },
    });
    Ok(Plot {
        svg: svg.finish(x, y),
        title,
        vega_lite: spec,
    })
}

/// The least and greatest of `values`, widened a little when they are one value.
fn extent(values: &[f64]) -> (f64, f64) {
    let lo = values.iter().copied().fold(f64::INFINITY, f64::min);
    let hi = values.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    match (lo.is_finite(), hi > lo) {
        (true, true) => (lo, hi),
        (true, false) => (lo - 0.5, lo + 0.5),
        _ => (0.0, 1.0),
    }
}

/// About five round steps between `lo` and `hi`.
fn ticks(lo: f64, hi: f64) -> Vec<f64> {
    let raw = (hi - lo) / 5.0;
    let magnitude = 10f64.powf(raw.log10().floor());
    let step = [1.0, 2.0, 2.5, 5.0, 10.0]
        .iter()
        .map(|m| m * magnitude)
        .find(|s| *s >= raw)
        .unwrap_or(magnitude * 10.0);
    let first = (lo / step).ceil() * step;
    (0..=20)
        .map(|i| first + i as f64 * step)
        .take_while(|t| *t <= hi + step * 1e-9)
        .collect()
}

fn label(v: f64) -> String {
    let text = if v.abs() >= 1e5 || (v != 0.0 && v.abs() < 1e-3) {
        format!("{v:.2e}")
    } else {
        format!("{:.4}", v)
            .trim_end_matches('0')
            .trim_end_matches('.')
            .to_string()
    };
    if text == "-0" { "0".into() } else { text }
}

fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// An SVG plot being drawn: data coordinates mapped into the plot area.
struct Svg {
    body: String,
    x: (f64, f64),
    y: (f64, f64),
    title: String,
    skip_x_ticks: bool,
}

impl Svg {
    fn new(title: &str, x: (f64, f64), y: (f64, f64)) -> Svg {
        Svg {
            body: String::new(),
            x,
            y,
            title: title.to_string(),
            skip_x_ticks: false,
        }
    }

    fn px(&self, v: f64) -> f64 {
        LEFT + (v - self.x.0) / (self.x.1 - self.x.0) * (WIDTH - LEFT - RIGHT)
    }

    fn py(&self, v: f64) -> f64 {
        HEIGHT - BOTTOM - (v - self.y.0) / (self.y.1 - self.y.0) * (HEIGHT - TOP - BOTTOM)
    }

    fn bar(&mut self, from: f64, to: f64, height: f64) {
        let (x0, x1, y) = (self.px(from), self.px(to), self.py(height));
        self.body.push_str(&format!(
            r#"<rect x="{:.1}" y="{y:.1}" width="{:.1}" height="{:.1}" fill="{COLOR}"/>"#,
            x0 + 0.5,
            (x1 - x0 - 1.0).max(0.5),
            (HEIGHT - BOTTOM - y).max(0.0)
        ));
    }

    fn dot(&mut self, x: f64, y: f64) {
        self.body.push_str(&format!(
            r#"<circle cx="{:.1}" cy="{:.1}" r="2.5" fill="{COLOR}" fill-opacity="0.6"/>"#,
            self.px(x),
            self.py(y)
        ));
    }

    fn path(&mut self, points: &[(f64, f64)]) {
        let d: Vec<String> = points
            .iter()
            .enumerate()
            .map(|(i, (x, y))| {
                format!(
                    "{}{:.1},{:.1}",
                    if i == 0 { "M" } else { "L" },
                    self.px(*x),
                    self.py(*y)
                )
            })
            .collect();
        self.body.push_str(&format!(
            r#"<path d="{}" fill="none" stroke="{COLOR}" stroke-width="1.5"/>"#,
            d.join(" ")
        ));
    }

    fn category(&mut self, at: f64, text: &str) {
        let shown: String = text.chars().take(12).collect();
        self.body.push_str(&format!(
            r#"<text x="{:.1}" y="{:.1}" text-anchor="middle" font-size="10">{}</text>"#,
            self.px(at),
            HEIGHT - BOTTOM + 14.0,
            escape(&shown)
        ));
    }

    fn finish(self, x_title: &str, y_title: &str) -> String {
        let mut axes = String::new();
        let (x0, x1, y0, y1) = (LEFT, WIDTH - RIGHT, TOP, HEIGHT - BOTTOM);
        axes.push_str(&format!(
            r##"<path d="M{x0},{y0} V{y1} H{x1}" fill="none" stroke="#888"/>"##
        ));
        for t in ticks(self.y.0, self.y.1) {
            let y = self.py(t);
            axes.push_str(&format!(
                r##"<line x1="{:.1}" x2="{x0}" y1="{y:.1}" y2="{y:.1}" stroke="#888"/><text x="{:.1}" y="{:.1}" text-anchor="end" font-size="10">{}</text>"##,
                x0 - 4.0,
                x0 - 6.0,
                y + 3.0,
                label(t)
            ));
        }
        if !self.skip_x_ticks {
            for t in ticks(self.x.0, self.x.1) {
                let x = self.px(t);
                axes.push_str(&format!(
                    r##"<line x1="{x:.1}" x2="{x:.1}" y1="{y1}" y2="{:.1}" stroke="#888"/><text x="{x:.1}" y="{:.1}" text-anchor="middle" font-size="10">{}</text>"##,
                    y1 + 4.0,
                    y1 + 15.0,
                    label(t)
                ));
            }
        }
        format!(
            r#"<svg xmlns="http://www.w3.org/2000/svg" class="veil-plot" width="{WIDTH}" height="{HEIGHT}" viewBox="0 0 {WIDTH} {HEIGHT}" font-family="sans-serif"><title>{title}</title><rect width="{WIDTH}" height="{HEIGHT}" fill="white"/><text x="{LEFT}" y="16" font-size="12" font-weight="bold">{title}</text>{axes}{body}<text x="{:.1}" y="{:.1}" text-anchor="middle" font-size="11">{}</text><text transform="translate(14 {:.1}) rotate(-90)" text-anchor="middle" font-size="11">{}</text></svg>"#,
            (x0 + x1) / 2.0,
            HEIGHT - 6.0,
            escape(x_title),
            (y0 + y1) / 2.0,
            escape(y_title),
            title = escape(&self.title),
            body = self.body,
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use polars::prelude::Column;

    fn frame() -> Data {
        Data::Frame(
            DataFrame::new_infer_height(vec![
                Column::new("x".into(), [1.0, 2.0, 2.5, f64::NAN, 4.0]),
                Column::new(
                    "y".into(),
                    [Some(2.0), Some(1.0), None, Some(3.0), Some(5.0)],
                ),
                Column::new("label".into(), ["B", "M", "B", "B", "<M>"]),
            ])
            .unwrap(),
        )
    }

    #[test]
    fn a_histogram_bins_every_finite_value() {
        let plot = draw(
            &frame(),
            &PlotSpec::Hist {
                column: "x".into(),
                bins: Some(3),
            },
        )
        .unwrap();
        let counts: Vec<f64> = plot.vega_lite["data"]["values"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v["count"].as_f64().unwrap())
            .collect();
        assert_eq!(counts, [1.0, 2.0, 1.0]);
        assert_eq!(
            plot.svg.matches("<rect ").count(),
            1 + 3,
            "background and bars"
        );
        assert!(plot.title.contains("4 values"), "{}", plot.title);
    }

    #[test]
    fn counts_scatter_and_line_draw_what_they_say() {
        let counts = draw(
            &frame(),
            &PlotSpec::Counts {
                column: "label".into(),
            },
        )
        .unwrap();
        assert_eq!(
            counts.vega_lite["data"]["values"][0],
            json!({"value": "B", "count": 3})
        );
        assert!(
            counts.svg.contains("&lt;M&gt;"),
            "labels are escaped: {}",
            counts.svg
        );
        let scatter = draw(
            &frame(),
            &PlotSpec::Scatter {
                x: "x".into(),
                y: "y".into(),
            },
        )
        .unwrap();
        // Rows with a null or NaN on either side are left out.
        assert_eq!(scatter.svg.matches("<circle").count(), 3);
        let line = draw(
            &frame(),
            &PlotSpec::Line {
                x: "y".into(),
                y: "x".into(),
            },
        )
        .unwrap();
        let xs: Vec<f64> = line.vega_lite["data"]["values"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v["x"].as_f64().unwrap())
            .collect();
        assert_eq!(xs, [1.0, 2.0, 5.0], "sorted along x");
        for plot in [counts, scatter, line] {
            assert!(plot.svg.starts_with("<svg") && !plot.svg.contains("<script"));
        }
    }

    #[test]
    fn bad_plots_say_what_to_do() {
        let err = draw(
            &frame(),
            &PlotSpec::Hist {
                column: "z".into(),
                bins: None,
            },
        )
        .unwrap_err();
        assert!(
            err.to_string().contains("use one of `x`, `y`, `label`"),
            "{err}"
        );
        let err = draw(
            &frame(),
            &PlotSpec::Hist {
                column: "label".into(),
                bins: None,
            },
        )
        .unwrap_err();
        assert!(err.to_string().contains("bar_counts"), "{err}");
        let array = Data::F64(ndarray::ArrayD::zeros(ndarray::IxDyn(&[3])));
        let err = draw(&array, &PlotSpec::Counts { column: "x".into() }).unwrap_err();
        assert!(err.to_string().contains("make it a frame"), "{err}");
        assert_eq!(ticks(0.0, 10.0), [0.0, 2.0, 4.0, 6.0, 8.0, 10.0]);
    }
}
