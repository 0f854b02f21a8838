//! The human-readable table, and JSON lines.

use crate::stats::PhaseResult;

fn opt(v: Option<f64>, digits: usize) -> String {
    v.map_or_else(|| "-".into(), |x| format!("{x:.digits$}"))
}

/// The environment every run states: machine, server, export type.
pub fn header(r: &PhaseResult) -> String {
    let get = |k: &str| r.environment.get(k).and_then(|v| v.as_str()).unwrap_or("unknown").to_string();
    format!("machine: {}\nserver:  {}, export type {}", get("machine"), get("server"), get("export_type"))
}

pub fn table(results: &[PhaseResult]) -> String {
    let mut rows = vec![vec![
        "client".to_string(),
        "phase".into(),
        "ops".into(),
        "s".into(),
        "ops/s".into(),
        "MiB/s".into(),
        "cpu us/op".into(),
        "cpu us/MiB".into(),
        "srv us/op".into(),
        "p50 us".into(),
        "p99 us".into(),
        "p999 us".into(),
        "bottleneck".into(),
        "verify".into(),
    ]];
    for r in results {
        rows.push(vec![
            r.client.clone(),
            format!("{} {}", r.workload, r.phase),
            r.ops.to_string(),
            format!("{:.2}", r.seconds),
            format!("{:.0}", r.ops_per_s()),
            if r.bytes > 0 { format!("{:.1}", r.mib_per_s()) } else { "-".into() },
            format!("{:.2}", r.cpu_us_per_op()),
            opt(r.cpu_us_per_mib(), 0),
            opt(r.server_cpu_us_per_op(), 2),
            r.p50_us.to_string(),
            r.p99_us.to_string(),
            r.p999_us.to_string(),
            r.bottleneck().to_string(),
            r.verify.clone().unwrap_or_else(|| "-".into()),
        ]);
    }
    render(&rows)
}

/// Left-aligned first two columns, right-aligned numbers.
pub fn render(rows: &[Vec<String>]) -> String {
    let cols = rows.iter().map(Vec::len).max().unwrap_or(0);
    let widths: Vec<usize> = (0..cols)
        .map(|c| rows.iter().map(|r| r.get(c).map_or(0, |s| s.chars().count())).max().unwrap_or(0))
        .collect();
    let mut out = String::new();
    for (i, row) in rows.iter().enumerate() {
        let cells: Vec<String> = row
            .iter()
            .enumerate()
            .map(|(c, s)| {
                if c < 2 || c + 1 == cols && i > 0 && s.parse::<f64>().is_err() {
                    format!("{s:<w$}", w = widths[c])
                } else {
                    format!("{s:>w$}", w = widths[c])
                }
            })
            .collect();
        out.push_str(cells.join("  ").trim_end());
        out.push('\n');
    }
    out
}
