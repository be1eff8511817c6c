//! The batch mode's report line for a tier the templates hand utterances to (the SLM and
//! the embedding tier), shared so that both read alike.

/// One line for stderr about a tier the templates hand utterances to: how many it was
/// asked about, its decisions by kind, and its latency percentiles.
pub fn line(
    tier: &str,
    counts: &std::collections::BTreeMap<&'static str, usize>,
    latencies: &mut [f64],
    what_is_timed: &str,
) -> String {
    latencies.sort_by(f64::total_cmp);
    let pct = |p: f64| {
        latencies
            .get(((latencies.len().max(1) - 1) as f64 * p).round() as usize)
            .copied()
            .unwrap_or(0.0)
    };
    let counts: Vec<String> = counts.iter().map(|(k, n)| format!("{n} {k}")).collect();
    format!(
        "{tier}: asked about {} utterances: {}; latency p50 {:.1} ms, p95 {:.1} ms ({what_is_timed})",
        latencies.len(),
        counts.join(", "),
        pct(0.5),
        pct(0.95)
    )
}
