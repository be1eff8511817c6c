//! Skill host costs, excluding HAL I/O (the host services answer from memory):
//! compile vs cached load per skill, intent-in to response-out with a fresh instance per
//! invocation, and memory per loaded skill.
//!
//! `bash skills/build.sh && cargo bench -p edge-skill-host --bench skills`

use edge_core::{LoadedManifest, SignalValue};
use edge_skill_host::{
    BoxFuture, CallContext, HostCallError, HostServices, Intent, SkillHost, Slot, SlotValue,
    WriteResult,
};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

const SKILLS: [&str; 5] = ["climate", "windows", "navigation", "media", "equipment"];
const N: usize = 2000;

/// Answers every host call at once, from memory.
#[derive(Debug)]
struct InMemory;

impl HostServices for InMemory {
    fn get_signal<'a>(
        &'a self,
        path: &'a str,
    ) -> BoxFuture<'a, Result<SignalValue, HostCallError>> {
        Box::pin(async move {
            Ok(if path.ends_with("State") {
                SignalValue::String("running".into())
            } else {
                SignalValue::Float(4.2)
            })
        })
    }
    fn set_signal<'a>(
        &'a self,
        _: &'a CallContext,
        _: &'a str,
        _: SignalValue,
    ) -> BoxFuture<'a, Result<WriteResult, HostCallError>> {
        Box::pin(async { Ok(WriteResult::Done) })
    }
    fn next_change<'a>(
        &'a self,
        _: &'a str,
        _: Duration,
    ) -> BoxFuture<'a, Result<SignalValue, HostCallError>> {
        Box::pin(async { Ok(SignalValue::Bool(true)) })
    }
    fn mqtt_publish<'a>(
        &'a self,
        _: &'a str,
        _: Vec<u8>,
        _: bool,
    ) -> BoxFuture<'a, Result<(), HostCallError>> {
        Box::pin(async { Ok(()) })
    }
    fn dbus_call<'a>(
        &'a self,
        _: &'a str,
        _: &'a str,
        _: &'a str,
        _: &'a str,
        _: Vec<serde_json::Value>,
    ) -> BoxFuture<'a, Result<Vec<serde_json::Value>, HostCallError>> {
        Box::pin(async { Ok(vec!["Hub".into(), 1.1.into()]) })
    }
    fn choose<'a>(
        &'a self,
        _: &'a str,
        _: &'a str,
        choices: Vec<(String, String)>,
    ) -> BoxFuture<'a, Result<Option<String>, HostCallError>> {
        Box::pin(async move { Ok(choices.into_iter().next().map(|(id, _)| id)) })
    }
    fn refused(&self, _: &CallContext, _: &str, _: &str) {}
}

fn built_skills() -> PathBuf {
    let exe = std::env::current_exe().unwrap_or_default();
    // target/<profile>/deps/<bench> -> target/skills
    exe.ancestors()
        .nth(3)
        .map(|t| t.join("skills"))
        .unwrap_or_default()
}

fn rss_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .unwrap_or_default()
        .lines()
        .find(|l| l.starts_with("VmRSS:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}

fn percentiles(mut us: Vec<f64>) -> (f64, f64, f64) {
    us.sort_by(f64::total_cmp);
    let p = |q: f64| us[((us.len() as f64 * q).ceil() as usize).clamp(1, us.len()) - 1];
    (p(0.5), p(0.99), us.iter().sum::<f64>() / us.len() as f64)
}

fn intent(name: &str, slots: &[(&str, SlotValue)]) -> Intent {
    Intent {
        name: name.into(),
        slots: slots
            .iter()
            .map(|(n, v)| Slot {
                name: (*n).into(),
                value: v.clone(),
            })
            .collect(),
        text: String::new(),
        utterance_id: "bench".into(),
        session_id: "default".into(),
        station: "bench".into(),
        reply: None,
    }
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> anyhow::Result<()> {
    let skills = built_skills();
    anyhow::ensure!(
        skills.join("climate/climate.wasm").is_file(),
        "run `bash skills/build.sh` first ({})",
        skills.display()
    );
    let cache = tempfile::tempdir()?;
    let manifests: Vec<LoadedManifest> = SKILLS
        .iter()
        .map(|s| LoadedManifest::load(&skills.join(s).join("skill.toml")))
        .collect::<Result<_, _>>()?;

    // Compile (empty cache) vs load from the cache, in fresh hosts so nothing is shared.
    let rss_before = rss_kib();
    let first = SkillHost::new(Some(cache.path().to_owned()), None)?;
    let mut compile = Vec::new();
    for m in &manifests {
        let r = first.load(
            &m.manifest,
            &skills
                .join(&m.manifest.skill.name)
                .join(format!("{}.wasm", m.manifest.skill.name)),
        )?;
        anyhow::ensure!(r.compiled);
        compile.push((r.skill, r.load_time));
    }
    let rss_loaded = rss_kib();
    drop(first);
    let rss_cached_before = rss_kib();
    let host = SkillHost::new(Some(cache.path().to_owned()), None)?;
    let mut cached = Vec::new();
    for m in &manifests {
        let r = host.load(
            &m.manifest,
            &skills
                .join(&m.manifest.skill.name)
                .join(format!("{}.wasm", m.manifest.skill.name)),
        )?;
        anyhow::ensure!(!r.compiled);
        cached.push(r.load_time);
    }
    let rss_cached_after = rss_kib();

    let services: Arc<dyn HostServices> = Arc::new(InMemory);
    let ctx = CallContext {
        skill: "climate".into(),
        utterance_id: "bench".into(),
        intent: "climate.set_fan".into(),
        done_text: String::new(),
    };
    let cases = [
        (
            "climate",
            intent("climate.set_fan", &[("level", SlotValue::Integer(3))]),
        ),
        (
            "equipment",
            intent(
                "equipment.status",
                &[("machine", SlotValue::Text("pump-3".into()))],
            ),
        ),
    ];
    // The first invocation of a skill: cold instantiate (pooling slots not yet warm).
    let t = Instant::now();
    host.invoke(
        "media",
        intent("media.pause", &[]),
        ctx.clone(),
        services.clone(),
    )
    .await?;
    let cold = t.elapsed();

    println!(
        "skill host, {} example skills (release host, Cranelift)",
        SKILLS.len()
    );
    println!("| skill | compile + link | from cache + link | ratio |");
    println!("|---|---|---|---|");
    for ((name, c), k) in compile.iter().zip(&cached) {
        println!(
            "| {name} | {:.1} ms | {:.2} ms | {:.0}x |",
            c.as_secs_f64() * 1e3,
            k.as_secs_f64() * 1e3,
            c.as_secs_f64() / k.as_secs_f64()
        );
    }
    println!();
    println!(
        "| intent in to response out (fresh instance each, no HAL I/O) | n | p50 | p99 | mean |"
    );
    println!("|---|---|---|---|---|");
    for (skill, i) in &cases {
        let mut us = Vec::with_capacity(N);
        for _ in 0..N {
            let t = Instant::now();
            let out = host
                .invoke(skill, i.clone(), ctx.clone(), services.clone())
                .await?;
            us.push(t.elapsed().as_secs_f64() * 1e6);
            std::hint::black_box(out);
        }
        let (p50, p99, mean) = percentiles(us);
        println!(
            "| {} ({skill}) | {N} | {p50:.1} us | {p99:.1} us | {mean:.1} us |",
            i.name
        );
    }
    println!();
    println!(
        "first invocation of a skill (cold instantiate): {:.1} us",
        cold.as_secs_f64() * 1e6
    );
    println!(
        "memory: RSS {:.1} MiB before, {:.1} MiB with {} skills compiled and loaded: {:.2} MiB per skill (Cranelift's working memory included)",
        rss_before as f64 / 1024.0,
        rss_loaded as f64 / 1024.0,
        SKILLS.len(),
        (rss_loaded.saturating_sub(rss_before)) as f64 / 1024.0 / SKILLS.len() as f64
    );
    println!(
        "memory: loading the {} skills from the cache in a new host: +{:.2} MiB, {:.2} MiB per skill",
        SKILLS.len(),
        rss_cached_after.saturating_sub(rss_cached_before) as f64 / 1024.0,
        rss_cached_after.saturating_sub(rss_cached_before) as f64 / 1024.0 / SKILLS.len() as f64
    );
    Ok(())
}
