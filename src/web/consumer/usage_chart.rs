//! An application's usage as a bar chart drawn on the server (SVG), with the words and the table
//! that say the same for people who cannot see it.

use std::time::{Duration, UNIX_EPOCH};

use crate::manager::MetricTimeline;

const WIDTH: u32 = 600;
const HEIGHT: u32 = 160;
/// Room under the bars for the hour labels.
const AXIS: u32 = 18;

pub struct Bar {
    pub x: u32,
    pub y: u32,
    pub width: u32,
    pub height: u32,
    pub label: String,
    pub value: u64,
}

pub struct UsageChart {
    pub width: u32,
    pub height: u32,
    pub bars: Vec<Bar>,
    /// Hour labels under every sixth bar: `(x, label)`.
    pub ticks: Vec<(u32, String)>,
    pub summary: String,
}

/// `14:00` (UTC) for a point starting `ms` after the epoch.
fn hour_label(ms: i64) -> String {
    let at = UNIX_EPOCH + Duration::from_millis(u64::try_from(ms).unwrap_or(0));
    let clock = humantime::format_rfc3339_seconds(at).to_string();
    format!("{} UTC", clock.get(11..16).unwrap_or("?"))
}

/// The chart of the report's first series (calls per point), or `None` when it has no point.
pub fn chart(report: &MetricTimeline) -> Option<UsageChart> {
    let series = report.series.first()?;
    // A hostile or odd report cannot make the page huge: at most 31 days of hours.
    let values: Vec<u64> = series
        .data
        .iter()
        .take(744)
        .map(|v| v.filter(|v| v.is_finite() && *v > 0.0).map_or(0, |v| v.round() as u64))
        .collect();
    if values.is_empty() {
        return None;
    }
    let interval = series.point_interval.max(1);
    let count = u32::try_from(values.len()).unwrap_or(1);
    let slot = (WIDTH / count).max(1);
    let max = values.iter().copied().max().unwrap_or(0).max(1);
    let plot = HEIGHT - AXIS;
    let mut bars = Vec::new();
    let mut ticks = Vec::new();
    for (i, value) in values.iter().copied().enumerate() {
        let index = u32::try_from(i).unwrap_or(0);
        let start = series.point_start.saturating_add(interval.saturating_mul(i64::from(index)));
        let height = u32::try_from(u64::from(plot) * value / max).unwrap_or(plot);
        let x = index * slot;
        if i % 6 == 0 {
            ticks.push((x, hour_label(start)));
        }
        bars.push(Bar {
            x,
            y: plot - height,
            width: slot.saturating_sub(1).max(1),
            height,
            label: hour_label(start),
            value,
        });
    }
    let total: u64 = values.iter().sum();
    let busiest = bars.iter().max_by_key(|b| b.value).filter(|b| b.value > 0);
    let summary = match busiest {
        Some(b) => format!(
            "{total} calls in the last {} hours; the busiest hour began at {} with {} calls.",
            values.len(),
            b.label,
            b.value
        ),
        None => format!("No calls in the last {} hours.", values.len()),
    };
    Some(UsageChart { width: WIDTH, height: HEIGHT, bars, ticks, summary })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::manager::MetricSeries;

    fn report(data: Vec<Option<f64>>) -> MetricTimeline {
        MetricTimeline { series: vec![MetricSeries { point_interval: 3_600_000, point_start: 0, data }] }
    }

    #[test]
    fn bars_scale_to_the_busiest_hour_and_the_words_say_the_same() {
        let chart = chart(&report(vec![Some(10.0), Some(40.0), None, Some(f64::NAN), Some(-3.0)])).unwrap();
        assert_eq!(chart.bars.iter().map(|b| b.value).collect::<Vec<_>>(), [10, 40, 0, 0, 0]);
        assert_eq!(chart.bars[1].height, HEIGHT - AXIS, "the busiest fills the plot");
        assert_eq!(chart.bars[0].height, (HEIGHT - AXIS) / 4);
        assert_eq!(
            chart.summary,
            "50 calls in the last 5 hours; the busiest hour began at 01:00 UTC with 40 calls."
        );
        assert_eq!(chart.ticks, [(0, "00:00 UTC".to_owned())]);
    }

    #[test]
    fn no_points_no_chart_and_no_calls_said_plainly() {
        assert!(chart(&report(Vec::new())).is_none());
        assert!(chart(&MetricTimeline { series: Vec::new() }).is_none());
        assert_eq!(chart(&report(vec![Some(0.0); 3])).unwrap().summary, "No calls in the last 3 hours.");
        assert_eq!(chart(&report(vec![Some(1.0); 5000])).unwrap().bars.len(), 744, "bounded");
    }
}
