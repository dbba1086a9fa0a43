//! The report's charts, drawn with plotters into SVG strings that are inlined in `index.html`.
//! Every point comes from the summary: series from `phases[].series`, latency curves from the
//! serialized histograms, ratios from `produce_ratio`/`consume_ratio`.

use hdrhistogram::Histogram;
use plotters::prelude::*;

use crate::histogram::decode_histogram;
use crate::interval::Interval;
use crate::measure::PhaseResult;
use crate::summary::{Summary, CONSUME_REFERENCE, PRODUCE_REFERENCE};

/// Why a chart could not be drawn; the report shows the text in the chart's place.
#[derive(Debug, thiserror::Error)]
pub enum ChartError {
    #[error("no driver measured {0} (n/a)")]
    NotMeasured(&'static str),
    /// plotters' own error, as text (its type is generic over the drawing backend).
    #[error("{0}")]
    Drawing(String),
}

impl<E: std::error::Error + Send + Sync> From<DrawingAreaErrorKind<E>> for ChartError {
    fn from(err: DrawingAreaErrorKind<E>) -> Self {
        ChartError::Drawing(err.to_string())
    }
}

const WIDTH: u32 = 900;
const HEIGHT: u32 = 400;

fn color(driver: &str, phase: &str) -> RGBColor {
    match (driver, phase) {
        ("native", "produce") => RGBColor(25, 118, 210),
        ("rest", "produce") => RGBColor(230, 81, 0),
        ("native", _) => RGBColor(0, 137, 123),
        ("rest", _) => RGBColor(142, 36, 170),
        ("nginx", _) => RGBColor(97, 97, 97),
        (other, _) => {
            // Peers and MQTT levels: a stable colour from the name.
            let h = other
                .bytes()
                .fold(7u32, |h, b| h.wrapping_mul(31).wrapping_add(u32::from(b)));
            RGBColor(
                60 + (h % 150) as u8,
                60 + (h / 150 % 150) as u8,
                60 + (h / 22500 % 150) as u8,
            )
        }
    }
}

fn label(p: &PhaseResult) -> String {
    format!("{} {}", p.driver, p.phase)
}

/// Throughput over time, one line per driver and phase.
pub fn throughput(s: &Summary) -> Result<String, ChartError> {
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, (WIDTH, HEIGHT)).into_drawing_area();
        root.fill(&WHITE)?;
        let max_t = s
            .phases
            .iter()
            .flat_map(|p| p.series.iter().map(|b| b.t_s))
            .fold(0.0, f64::max)
            .max(1.0);
        let max_y = s
            .phases
            .iter()
            .flat_map(|p| p.series.iter().map(|b| b.records_per_s))
            .fold(0.0, f64::max)
            .max(1.0);
        let mut chart = ChartBuilder::on(&root)
            .caption("Throughput over time", ("sans-serif", 24))
            .margin(12)
            .x_label_area_size(40)
            .y_label_area_size(80)
            .build_cartesian_2d(0.0..max_t * 1.02, 0.0..max_y * 1.1)?;
        chart
            .configure_mesh()
            .label_style(("sans-serif", 15))
            .axis_desc_style(("sans-serif", 16))
            .x_desc("seconds of measured windows, rounds laid end to end (dashed: a round starts)")
            .y_desc("records/s")
            .y_label_formatter(&|v| format!("{:.0}k", v / 1000.0))
            .draw()?;
        for p in s.phases.iter().filter(|p| !p.series.is_empty()) {
            let c = color(&p.driver, &p.phase);
            chart
                .draw_series(LineSeries::new(
                    p.series.iter().map(|b| (b.t_s, b.records_per_s)),
                    c.stroke_width(2),
                ))?
                .label(label(p))
                .legend(move |(x, y)| {
                    PathElement::new(vec![(x, y), (x + 18, y)], c.stroke_width(2))
                });
            chart.draw_series(
                p.series
                    .iter()
                    .map(|b| Circle::new((b.t_s, b.records_per_s), 3, c.filled())),
            )?;
            // Where each round after the first starts on this driver's time line (rounds are
            // laid end to end); the first warmup_ms of each is left out of the steady rate.
            for &at in p.round_starts.iter().skip(1) {
                chart.draw_series(DashedLineSeries::new(
                    vec![(at, 0.0), (at, max_y * 1.1)],
                    4,
                    4,
                    c.mix(0.6).stroke_width(1),
                ))?;
            }
        }
        chart
            .configure_series_labels()
            .label_font(("sans-serif", 15))
            .background_style(WHITE.mix(0.8))
            .border_style(BLACK)
            .position(SeriesLabelPosition::UpperRight)
            .draw()?;
        root.present()?;
    }
    Ok(svg)
}

/// Latency over time per driver: p50 (solid) and p99 (dashed) per time-series bucket, log scale.
pub fn latency_over_time(s: &Summary) -> Result<String, ChartError> {
    let phases: Vec<&PhaseResult> = s
        .phases
        .iter()
        .filter(|p| !p.latency_series.is_empty())
        .collect();
    if phases.is_empty() {
        return Err(ChartError::NotMeasured("latency over time"));
    }
    let max_t = phases
        .iter()
        .flat_map(|p| p.latency_series.iter().map(|b| b.t_s))
        .fold(0.0, f64::max)
        .max(1.0);
    let max_y = phases
        .iter()
        .flat_map(|p| p.latency_series.iter().map(|b| b.p99_us as f64))
        .fold(1.0, f64::max);
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, (WIDTH, HEIGHT)).into_drawing_area();
        root.fill(&WHITE)?;
        let mut chart = ChartBuilder::on(&root)
            .caption(
                "Latency over time: p50 solid, p99 dashed (µs, log scale)",
                ("sans-serif", 24),
            )
            .margin(12)
            .x_label_area_size(45)
            .y_label_area_size(80)
            .build_cartesian_2d(0.0..max_t * 1.02, (1.0..max_y * 2.0).log_scale())?;
        chart
            .configure_mesh()
            .label_style(("sans-serif", 15))
            .axis_desc_style(("sans-serif", 16))
            .x_desc("seconds of measured windows, rounds laid end to end")
            .y_desc("latency")
            .y_label_formatter(&us_axis)
            .draw()?;
        for p in phases {
            let c = color(&p.driver, &p.phase);
            chart
                .draw_series(LineSeries::new(
                    p.latency_series
                        .iter()
                        .map(|b| (b.t_s, b.p50_us.max(1) as f64)),
                    c.stroke_width(2),
                ))?
                .label(format!("{} (per {})", label(p), p.latency_of))
                .legend(move |(x, y)| {
                    PathElement::new(vec![(x, y), (x + 18, y)], c.stroke_width(2))
                });
            chart.draw_series(DashedLineSeries::new(
                p.latency_series
                    .iter()
                    .map(|b| (b.t_s, b.p99_us.max(1) as f64)),
                6,
                4,
                c.stroke_width(2),
            ))?;
        }
        chart
            .configure_series_labels()
            .label_font(("sans-serif", 15))
            .background_style(WHITE.mix(0.8))
            .border_style(BLACK)
            .position(SeriesLabelPosition::UpperLeft)
            .draw()?;
        root.present()?;
    }
    Ok(svg)
}

/// A log-scale latency axis label: `500 µs`, `20 ms`, `1 s`.
fn us_axis(us: &f64) -> String {
    match *us {
        v if v >= 1e6 => format!("{:.0} s", v / 1e6),
        v if v >= 1e3 => format!("{:.0} ms", v / 1e3),
        v => format!("{v:.0} µs"),
    }
}

fn histogram(p: &PhaseResult) -> Option<Histogram<u64>> {
    decode_histogram(&p.latency.histogram_v2).map(|r| r.histogram().clone())
}

/// Latency against percentile (log scale of 1/(1-p)), one curve per driver and phase.
pub fn latency(s: &Summary) -> Result<String, ChartError> {
    const PERCENTILES: &[f64] = &[0.0, 0.5, 0.75, 0.9, 0.95, 0.99, 0.995, 0.999, 0.9999];
    // x = log10(1 / (1 - p)): 0 at p0, 1 at p90, 2 at p99, 3 at p99.9.
    let x = |p: f64| (1.0 / (1.0 - p)).log10();
    let curves: Vec<(&PhaseResult, Vec<(f64, f64)>)> = s
        .phases
        .iter()
        .filter_map(|p| {
            let h = histogram(p).filter(|h| !h.is_empty())?;
            Some((
                p,
                PERCENTILES
                    .iter()
                    .map(|&q| (x(q), h.value_at_quantile(q).max(1) as f64))
                    .collect(),
            ))
        })
        .collect();
    let max_y = curves
        .iter()
        .flat_map(|(_, c)| c.iter().map(|(_, y)| *y))
        .fold(1.0, f64::max);
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, (WIDTH, HEIGHT)).into_drawing_area();
        root.fill(&WHITE)?;
        let mut chart = ChartBuilder::on(&root)
            .caption("Latency by percentile (µs, log scale)", ("sans-serif", 24))
            .margin(12)
            .x_label_area_size(40)
            .y_label_area_size(80)
            .build_cartesian_2d(0.0..4.0f64, (1.0..max_y * 2.0).log_scale())?;
        chart
            .configure_mesh()
            .label_style(("sans-serif", 15))
            .axis_desc_style(("sans-serif", 16))
            .x_desc("percentile")
            .y_desc("latency")
            .y_label_formatter(&us_axis)
            .x_labels(5)
            .x_label_formatter(&|v| match v.round() as i64 {
                0 => "p0".into(),
                1 => "p90".into(),
                2 => "p99".into(),
                3 => "p99.9".into(),
                _ => "p99.99".into(),
            })
            .draw()?;
        for (p, points) in &curves {
            let c = color(&p.driver, &p.phase);
            chart
                .draw_series(LineSeries::new(points.iter().copied(), c.stroke_width(2)))?
                .label(format!("{} (per {})", label(p), p.latency_of))
                .legend(move |(x, y)| {
                    PathElement::new(vec![(x, y), (x + 18, y)], c.stroke_width(2))
                });
        }
        chart
            .configure_series_labels()
            .label_font(("sans-serif", 15))
            .background_style(WHITE.mix(0.8))
            .border_style(BLACK)
            .position(SeriesLabelPosition::UpperLeft)
            .draw()?;
        root.present()?;
    }
    Ok(svg)
}

/// REST/native ratio bars with the seed's reference lines (0.66 produce, 0.20 consume).
pub fn ratios(s: &Summary) -> Result<String, ChartError> {
    let produce_label = s.scenario.workload.produce_label();
    type Bar<'a> = (&'a str, f64, f64, Option<&'a Interval>);
    let bars: Vec<Bar> = [
        (
            produce_label.as_str(),
            Some(s.produce_ratio),
            PRODUCE_REFERENCE,
            s.produce_interval.as_ref(),
        ),
        (
            "consume",
            s.consume_ratio,
            CONSUME_REFERENCE,
            s.consume_interval.as_ref(),
        ),
    ]
    .into_iter()
    .filter_map(|(l, v, r, i)| v.map(|v| (l, v, r, i)))
    .collect();
    let max_x = bars
        .iter()
        .map(|(_, v, _, i)| i.map_or(*v, |i| i.high.max(*v)))
        .fold(1.0, f64::max)
        // Room right of the widest bar for its label (`1.04 [0.93, 1.26] 96%`).
        * if bars.iter().any(|(_, _, _, i)| i.is_some_and(|i| i.rounds >= 2)) {
            1.5
        } else {
            1.15
        };
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, (WIDTH, 90 + 70 * bars.len() as u32))
            .into_drawing_area();
        root.fill(&WHITE)?;
        let mut chart = ChartBuilder::on(&root)
            .caption(
                "REST / native throughput (dashed: the seed's reference)",
                ("sans-serif", 24),
            )
            .margin(12)
            .x_label_area_size(35)
            .y_label_area_size(80)
            .build_cartesian_2d(0.0..max_x, 0.0..bars.len() as f64)?;
        let names: Vec<String> = bars.iter().map(|(l, _, _, _)| l.to_string()).collect();
        chart
            .configure_mesh()
            .label_style(("sans-serif", 15))
            .axis_desc_style(("sans-serif", 16))
            .disable_y_mesh()
            .y_labels(bars.len() * 2 + 1)
            .y_label_formatter(&|y| {
                let i = y.floor() as usize;
                if (y - y.floor() - 0.5).abs() < 0.01 && i < names.len() {
                    names[i].clone()
                } else {
                    String::new()
                }
            })
            .x_desc("ratio")
            .draw()?;
        for (i, (_, value, reference, interval)) in bars.iter().enumerate() {
            let y = i as f64;
            let fill = if value >= reference {
                RGBColor(46, 125, 50)
            } else {
                RGBColor(198, 40, 40)
            };
            chart.draw_series(std::iter::once(Rectangle::new(
                [(0.0, y + 0.2), (*value, y + 0.8)],
                fill.filled(),
            )))?;
            // The median's interval over rounds, as an error bar.
            if let Some(iv) = interval.filter(|iv| iv.rounds >= 2) {
                let mid = y + 0.5;
                for segment in [
                    vec![(iv.low, mid), (iv.high, mid)],
                    vec![(iv.low, mid - 0.12), (iv.low, mid + 0.12)],
                    vec![(iv.high, mid - 0.12), (iv.high, mid + 0.12)],
                ] {
                    chart.draw_series(LineSeries::new(segment, BLACK.stroke_width(2)))?;
                }
            }
            let text = match interval.filter(|iv| iv.rounds >= 2) {
                Some(iv) => format!(
                    "{value:.2} [{:.2}, {:.2}] {:.0}%",
                    iv.low,
                    iv.high,
                    (iv.confidence * 100.0).floor()
                ),
                None => format!("{value:.2}"),
            };
            let right = interval.map_or(*value, |iv| iv.high.max(*value));
            chart.draw_series(std::iter::once(Text::new(
                text,
                (right + max_x * 0.01, y + 0.40),
                ("sans-serif", 16),
            )))?;
            chart.draw_series(DashedLineSeries::new(
                vec![(*reference, y + 0.05), (*reference, y + 0.95)],
                6,
                4,
                BLACK.stroke_width(2),
            ))?;
        }
        root.present()?;
    }
    Ok(svg)
}

/// Capacity sweep for one value size: REST produce rate (or p99) against records per request,
/// one curve per concurrency, the capacity point ringed.
pub fn sweep(s: &Summary, value_bytes: usize, p99: bool) -> Result<String, ChartError> {
    let points: Vec<_> = s
        .sweep
        .iter()
        .filter(|p| p.value_bytes == value_bytes)
        .collect();
    let y_of = |p: &crate::summary::SweepPoint| {
        if p99 {
            p.p99_us as f64
        } else {
            p.records_per_s
        }
    };
    let max_x = points
        .iter()
        .map(|p| p.records_per_request)
        .max()
        .unwrap_or(1) as f64;
    let max_y = points.iter().map(|p| y_of(p)).fold(1.0, f64::max);
    let mut concurrencies: Vec<usize> = points.iter().map(|p| p.concurrency).collect();
    concurrencies.sort();
    concurrencies.dedup();
    let palette = [
        RGBColor(25, 118, 210),
        RGBColor(230, 81, 0),
        RGBColor(0, 137, 123),
        RGBColor(142, 36, 170),
        RGBColor(109, 76, 65),
    ];
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, (WIDTH, HEIGHT)).into_drawing_area();
        root.fill(&WHITE)?;
        let title = if p99 {
            format!("p99 per request vs batch size ({value_bytes} B values)")
        } else {
            format!("REST produce rate vs batch size ({value_bytes} B values); ringed: capacity")
        };
        let mut chart = ChartBuilder::on(&root)
            .caption(title, ("sans-serif", 22))
            .margin(12)
            .x_label_area_size(40)
            .y_label_area_size(80)
            .build_cartesian_2d((0.8..max_x * 1.3).log_scale(), 0.0..max_y * 1.15)?;
        chart
            .configure_mesh()
            .label_style(("sans-serif", 15))
            .axis_desc_style(("sans-serif", 16))
            .x_desc("records per request (log scale)")
            .y_desc(if p99 { "p99 µs" } else { "records/s" })
            .y_label_formatter(&|v| {
                if p99 {
                    format!("{:.0} ms", v / 1000.0)
                } else {
                    format!("{:.0}k", v / 1000.0)
                }
            })
            .draw()?;
        for (i, c) in concurrencies.iter().enumerate() {
            let color = palette[i % palette.len()];
            let mut line: Vec<(f64, f64)> = points
                .iter()
                .filter(|p| p.concurrency == *c)
                .map(|p| (p.records_per_request as f64, y_of(p)))
                .collect();
            line.sort_by(|a, b| a.0.total_cmp(&b.0));
            chart
                .draw_series(LineSeries::new(line.clone(), color.stroke_width(2)))?
                .label(format!("{c} clients"))
                .legend(move |(x, y)| {
                    PathElement::new(vec![(x, y), (x + 18, y)], color.stroke_width(2))
                });
            chart.draw_series(
                line.iter()
                    .map(|&(x, y)| Circle::new((x, y), 3, color.filled())),
            )?;
        }
        if let Some(cap) = points.iter().find(|p| p.capacity) {
            let at = (cap.records_per_request as f64, y_of(cap));
            chart.draw_series(std::iter::once(Circle::new(at, 9, BLACK.stroke_width(2))))?;
            if !p99 {
                // Anchored at the point, drawn up and to the left so it stays inside the plot.
                let text = format!("capacity {:.0}k/s", cap.records_per_s / 1000.0);
                chart.draw_series(std::iter::once(
                    EmptyElement::at(at) + Text::new(text, (-150, -24), ("sans-serif", 14)),
                ))?;
            }
        }
        chart
            .configure_series_labels()
            .label_font(("sans-serif", 15))
            .background_style(WHITE.mix(0.8))
            .border_style(BLACK)
            .position(SeriesLabelPosition::UpperLeft)
            .draw()?;
        root.present()?;
    }
    Ok(svg)
}
