//! `--plot`: throughput and client CPU per operation against the swept value, nfsx and libnfs
//! (and nfs3_client, where it ran) on one chart (SVG, plotters).

use std::path::Path;

use plotters::prelude::*;

#[derive(Debug, Clone, Copy)]
pub struct Point {
    pub x: u64,
    pub nfsx_ops: f64,
    pub libnfs_ops: f64,
    pub nfsx_cpu: f64,
    pub libnfs_cpu: f64,
    /// NaN where nfs3_client did not run.
    pub nfs3_client_ops: f64,
    pub nfs3_client_cpu: f64,
}

pub fn draw(path: &Path, title: &str, key: &str, points: &[Point]) -> Result<(), String> {
    let err = |e: &dyn std::fmt::Display| format!("plot {}: {e}", path.display());
    let root = SVGBackend::new(path, (1100, 480)).into_drawing_area();
    root.fill(&WHITE).map_err(|e| err(&e))?;
    let root = root.titled(title, ("sans-serif", 18)).map_err(|e| err(&e))?;
    let panels = root.split_evenly((1, 2));
    let n = points.len();
    let labels: Vec<String> = points.iter().map(|p| p.x.to_string()).collect();
    type Get = fn(&Point) -> f64;
    let charts: [(&str, [Get; 3]); 2] = [
        ("ops/s", [|p| p.nfsx_ops, |p| p.libnfs_ops, |p| p.nfs3_client_ops]),
        ("client CPU us/op", [|p| p.nfsx_cpu, |p| p.libnfs_cpu, |p| p.nfs3_client_cpu]),
    ];
    for (panel, (ylabel, [nfsx, libnfs, nfs3_client])) in panels.iter().zip(charts) {
        let ymax = points
            .iter()
            .flat_map(|p| [nfsx(p), libnfs(p), nfs3_client(p)])
            .filter(|v| v.is_finite())
            .fold(0.0, f64::max)
            * 1.15;
        let mut chart = ChartBuilder::on(panel)
            .margin(12)
            .x_label_area_size(40)
            .y_label_area_size(70)
            .build_cartesian_2d(-0.3f64..(n as f64 - 0.7), 0.0..ymax.max(1e-9))
            .map_err(|e| err(&e))?;
        chart
            .configure_mesh()
            .x_desc(key)
            .y_desc(ylabel)
            .x_labels(n)
            .x_label_formatter(&|v| {
                let i = v.round();
                if (v - i).abs() < 1e-6 && i >= 0.0 && (i as usize) < labels.len() {
                    labels[i as usize].clone()
                } else {
                    String::new()
                }
            })
            .draw()
            .map_err(|e| err(&e))?;
        let clients = [("nfsx", nfsx, &BLUE), ("libnfs", libnfs, &RED), ("nfs3_client", nfs3_client, &GREEN)];
        for (name, get, color) in clients {
            let series: Vec<(f64, f64)> = points
                .iter()
                .enumerate()
                .map(|(i, p)| (i as f64, get(p)))
                .filter(|(_, y)| y.is_finite())
                .collect();
            if series.is_empty() {
                continue;
            }
            chart
                .draw_series(LineSeries::new(series.clone(), color.stroke_width(2)))
                .map_err(|e| err(&e))?
                .label(name)
                .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 18, y)], color));
            chart
                .draw_series(series.iter().map(|&(x, y)| Circle::new((x, y), 4, color.filled())))
                .map_err(|e| err(&e))?;
        }
        chart
            .configure_series_labels()
            .background_style(WHITE.mix(0.8))
            .border_style(BLACK)
            .draw()
            .map_err(|e| err(&e))?;
    }
    root.present().map_err(|e| err(&e))?;
    Ok(())
}
