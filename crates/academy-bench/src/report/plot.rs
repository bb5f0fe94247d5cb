//! `plot.svg`: p50 round-trip latency per payload and throughput per pair
//! count, one line per configuration, log scales.

use std::path::Path;

use plotters::prelude::*;

use crate::error::BenchError;
use crate::results::{Config, Results};

const PAYLOADS: [&str; 4] = ["ping", "100B", "10KiB", "500KiB"];
const PAIRS: [usize; 4] = [1, 4, 16, 64];

fn configs<'a>(keys: impl Iterator<Item = &'a Config>) -> Vec<Config> {
    let mut out: Vec<Config> = Vec::new();
    for k in keys {
        if !out.contains(k) {
            out.push(*k);
        }
    }
    out
}

fn bounds(values: impl Iterator<Item = f64>) -> (f64, f64) {
    let (lo, hi) = values
        .filter(|v| *v > 0.0)
        .fold((f64::MAX, f64::MIN), |(lo, hi), v| (lo.min(v), hi.max(v)));
    if lo > hi {
        (1.0, 10.0)
    } else {
        (lo / 2.0, hi * 2.0)
    }
}

/// Draws the plot into `path`.
pub fn draw(results: &Results, path: &Path) -> Result<(), BenchError> {
    draw_inner(results, path).map_err(|e| BenchError::Plot(e.to_string()))
}

fn draw_inner(results: &Results, path: &Path) -> Result<(), Box<dyn std::error::Error>> {
    let root = SVGBackend::new(path, (1400, 600)).into_drawing_area();
    root.fill(&WHITE)?;
    let (left, right) = root.split_horizontally(700);

    // Latency.
    let rt_configs = configs(
        results
            .round_trip
            .iter()
            .filter(|r| r.path == "transport")
            .map(|r| &r.config),
    );
    let (lo, hi) = bounds(results.round_trip.iter().map(|r| r.latency.p50_us));
    let mut chart = ChartBuilder::on(&left)
        .caption("p50 round trip (µs, log)", ("sans-serif", 22))
        .margin(15)
        .x_label_area_size(35)
        .y_label_area_size(60)
        .build_cartesian_2d(-0.2f64..3.2f64, (lo..hi).log_scale())?;
    chart
        .configure_mesh()
        .x_labels(4)
        .x_label_formatter(&|x| {
            let i = x.round();
            if (x - i).abs() < 1e-6 && (0.0..4.0).contains(&i) {
                PAYLOADS[i as usize].to_string()
            } else {
                String::new()
            }
        })
        .y_desc("µs")
        .y_label_formatter(&|v| format!("{v:.0}"))
        .draw()?;
    for (i, config) in rt_configs.iter().enumerate() {
        let color = Palette99::pick(i).to_rgba();
        let points: Vec<(f64, f64)> = PAYLOADS
            .iter()
            .enumerate()
            .filter_map(|(x, p)| {
                results
                    .round_trip
                    .iter()
                    .find(|r| {
                        r.config == *config
                            && r.payload == *p
                            && r.path == "transport"
                            && r.latency.count > 0
                    })
                    .map(|r| (x as f64, r.latency.p50_us))
            })
            .collect();
        chart
            .draw_series(LineSeries::new(points.clone(), color.stroke_width(2)))?
            .label(config.label())
            .legend(move |(x, y)| {
                PathElement::new(vec![(x, y), (x + 20, y)], color.stroke_width(2))
            });
        chart.draw_series(
            points
                .into_iter()
                .map(|p| Circle::new(p, 3, color.filled())),
        )?;
    }
    chart
        .configure_series_labels()
        .position(SeriesLabelPosition::UpperLeft)
        .background_style(WHITE.mix(0.8))
        .border_style(BLACK)
        .draw()?;

    // Throughput.
    let tp_configs = configs(results.throughput.iter().map(|r| &r.config));
    let (lo, hi) = bounds(results.throughput.iter().map(|r| r.msgs_per_s));
    let mut chart = ChartBuilder::on(&right)
        .caption("one-way throughput (msg/s, log)", ("sans-serif", 22))
        .margin(15)
        .x_label_area_size(35)
        .y_label_area_size(60)
        .build_cartesian_2d(-0.2f64..3.2f64, (lo..hi).log_scale())?;
    chart
        .configure_mesh()
        .x_labels(4)
        .x_label_formatter(&|x| {
            let i = x.round();
            if (x - i).abs() < 1e-6 && (0.0..4.0).contains(&i) {
                format!("{} pairs", PAIRS[i as usize])
            } else {
                String::new()
            }
        })
        .y_desc("msg/s")
        .y_label_formatter(&|v| format!("{v:.0}"))
        .draw()?;
    for (i, config) in tp_configs.iter().enumerate() {
        let color = Palette99::pick(i).to_rgba();
        let points: Vec<(f64, f64)> = PAIRS
            .iter()
            .enumerate()
            .filter_map(|(x, p)| {
                results
                    .throughput
                    .iter()
                    .find(|r| r.config == *config && r.pairs == *p && r.msgs_per_s > 0.0)
                    .map(|r| (x as f64, r.msgs_per_s))
            })
            .collect();
        chart
            .draw_series(LineSeries::new(points.clone(), color.stroke_width(2)))?
            .label(config.label())
            .legend(move |(x, y)| {
                PathElement::new(vec![(x, y), (x + 20, y)], color.stroke_width(2))
            });
        chart.draw_series(
            points
                .into_iter()
                .map(|p| Circle::new(p, 3, color.filled())),
        )?;
    }
    chart
        .configure_series_labels()
        .position(SeriesLabelPosition::LowerRight)
        .background_style(WHITE.mix(0.8))
        .border_style(BLACK)
        .draw()?;
    root.present()?;
    Ok(())
}
