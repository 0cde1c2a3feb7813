//! Applying a 1,000-resource random DAG of sim resources with latencies of 20-200 ms: the wall
//! time over the critical-path bound (the longest chain of latencies) should be 1.05 or less
//! when --parallelism exceeds the graph's width. See BENCHMARKS.md.

use std::time::{Duration, Instant};

use criterion::{Criterion, criterion_group, criterion_main};
use stackform_engine::base::source::SourceFile;
use stackform_engine::exec::{RetryPolicy, RunConfig};
use stackform_engine::ops::Confirm;
use stackform_engine::ops::deploy::{self, DeployRequest};
use stackform_engine::ops::prepare::TemplateSource;
use stackform_engine::plan::resolve::InputValues;
use stackform_engine::state::store::StackFiles;

const N: usize = 1_000;

/// A deterministic pseudo-random DAG: latency and up to three earlier dependencies per node.
fn dag() -> (String, Duration) {
    let mut seed: u64 = 0x5eed;
    let mut next = || {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed
    };
    let mut latency = Vec::with_capacity(N);
    let mut finish = Vec::with_capacity(N);
    let mut t = String::from("name: bench\nresources:\n");
    for i in 0..N {
        let ms = 20 + next() % 181;
        let mut deps: Vec<usize> = (0..next() % 4)
            .filter(|_| i > 0)
            .map(|_| (next() % i as u64) as usize)
            .collect();
        deps.sort_unstable();
        deps.dedup();
        let start = deps.iter().map(|d| finish[*d]).max().unwrap_or(0);
        latency.push(ms);
        finish.push(start + ms);
        t.push_str(&format!(
            "  r{i}:\n    type: sim.resource\n    properties:\n      latency_ms: {ms}\n"
        ));
        if !deps.is_empty() {
            t.push_str("      tags:\n");
            for d in deps {
                t.push_str(&format!("        d{d}: \"${{r{d}.arn}}\"\n"));
            }
        }
    }
    let critical = Duration::from_millis(*finish.iter().max().unwrap_or(&0));
    (t, critical)
}

fn bench(c: &mut Criterion) {
    let (text, critical) = dag();
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    let mut ratios = Vec::new();
    let mut group = c.benchmark_group("apply");
    group
        .sample_size(10)
        .measurement_time(Duration::from_secs(40))
        .warm_up_time(Duration::from_millis(1));
    group.bench_function("apply_1000_random_dag", |b| {
        b.iter_custom(|iters| {
            let mut total = Duration::ZERO;
            for _ in 0..iters {
                let home = std::env::temp_dir().join(format!(
                    "sf-bench-apply-{}-{}",
                    std::process::id(),
                    rand::random::<u32>()
                ));
                let secrets = stackform_engine::ext::secret_store::LocalStore::new(&home);
                let registry = stackform_providers::registry(&stackform_providers::Config {
                    sim_dir: home.join("sim"),
                    connectors: None,
                    plugin_dirs: Vec::new(),
                    integrations: Vec::new(),
                });
                let (tx, _rx) = tokio::sync::mpsc::unbounded_channel();
                let run = RunConfig {
                    parallelism: N,
                    retry: RetryPolicy::default(),
                    cancel: tokio_util::sync::CancellationToken::new(),
                    events: tx,
                    stack_dir: home.join("stacks/bench"),
                };
                let request = DeployRequest {
                    files: StackFiles::new(home.join("stacks/bench")),
                    name: "bench",
                    template: TemplateSource::Given(SourceFile::new("bench.yaml", text.clone())),
                    inputs: InputValues::default(),
                    registry: &registry,
                    run,
                    lock_wait: Duration::ZERO,
                    command: "bench",
                    saved: None,
                    expires_at: None,
                    environment: None,
                    secrets: &secrets,
                    connector: None,
                    targets: Vec::new(),
                    replace: Vec::new(),
                };
                let t0 = Instant::now();
                let outcome = rt
                    .block_on(deploy::deploy(request, |_| Confirm::Yes))
                    .expect("deploys");
                let wall = t0.elapsed();
                assert!(outcome.report.is_some_and(|r| r.ok()));
                ratios.push(wall.as_secs_f64() / critical.as_secs_f64());
                total += wall;
                let _ = std::fs::remove_dir_all(&home);
            }
            total
        })
    });
    group.finish();
    ratios.sort_by(f64::total_cmp);
    if !ratios.is_empty() {
        println!(
            "critical path {:.0} ms; wall / critical path: median {:.3}, best {:.3}, worst {:.3} over {} runs",
            critical.as_secs_f64() * 1000.0,
            ratios[ratios.len() / 2],
            ratios[0],
            ratios[ratios.len() - 1],
            ratios.len()
        );
    }
}

criterion_group!(benches, bench);
criterion_main!(benches);
