//! Scheduling with bounded parallelism: random 300-resource DAGs of sim resources whose
//! operations all take the same time, applied with `--parallelism 10`. No schedule can beat
//! max(critical path, total work / 10); the wall time over that bound should be 1.10 or less.
//! See BENCHMARKS.md.
//!
//! The operations take 200 ms, as cloud calls do (`SF_BENCH_OP_MS` to change it): much shorter
//! ones measure the journal instead (two fsyncs per link of the critical path, an intent and a
//! result). The fixed cost of a deploy (parse, plan, final snapshot) is in the wall time, as a
//! user sees it. About five minutes.

use std::time::{Duration, Instant};

use criterion::{Criterion, criterion_group, criterion_main};
use stackform_engine::base::source::SourceFile;
use stackform_engine::exec::{RetryPolicy, RunConfig};
use stackform_engine::ops::Confirm;
use stackform_engine::ops::deploy::{self, DeployRequest};
use stackform_engine::ops::prepare::TemplateSource;
use stackform_engine::plan::resolve::InputValues;
use stackform_engine::state::store::StackFiles;

const N: usize = 300;
const PARALLELISM: usize = 10;
/// Dependencies are drawn from the `WINDOW` resources before: chains that are long but not
/// the whole graph, so the ready queue's order matters.
const WINDOW: u64 = 35;
const SEEDS: [u64; 4] = [0x5eed, 0xbeef, 0xcafe, 0xf00d];

struct Dag {
    template: String,
    critical: Duration,
    work: Duration,
}

impl Dag {
    fn bound(&self) -> Duration {
        self.critical.max(self.work / PARALLELISM as u32)
    }
}

/// A deterministic pseudo-random DAG: up to three dependencies per node among the `WINDOW`
/// before it, declared in a shuffled order (a template's order says nothing about its graph).
fn dag(seed: u64, op: Duration) -> Dag {
    let mut seed = seed;
    let mut next = move || {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed
    };
    let ms = op.as_millis() as u64;
    let mut deps: Vec<Vec<usize>> = Vec::with_capacity(N);
    let mut finish: Vec<u64> = Vec::with_capacity(N);
    for i in 0..N {
        let lo = (i as u64).saturating_sub(WINDOW);
        let mut d: Vec<usize> = (0..next() % 4)
            .filter(|_| i > 0)
            .map(|_| (lo + next() % (i as u64 - lo)) as usize)
            .collect();
        d.sort_unstable();
        d.dedup();
        let start = d.iter().map(|j| finish[*j]).max().unwrap_or(0);
        finish.push(start + ms);
        deps.push(d);
    }
    let mut order: Vec<usize> = (0..N).collect();
    for i in (1..N).rev() {
        order.swap(i, (next() % (i as u64 + 1)) as usize);
    }
    let mut t = String::from("name: schedule\nresources:\n");
    for i in order {
        t.push_str(&format!(
            "  r{i}:\n    type: sim.resource\n    properties:\n      latency_ms: {ms}\n"
        ));
        if !deps[i].is_empty() {
            t.push_str("      tags:\n");
            for d in &deps[i] {
                t.push_str(&format!("        d{d}: \"${{r{d}.arn}}\"\n"));
            }
        }
    }
    Dag {
        template: t,
        critical: Duration::from_millis(finish.into_iter().max().unwrap_or(0)),
        work: op * N as u32,
    }
}

/// One deploy of `text` into a fresh home; its wall time.
fn deploy_once(rt: &tokio::runtime::Runtime, text: &str) -> Duration {
    let home = std::env::temp_dir().join(format!(
        "sf-bench-schedule-{}-{}",
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
        parallelism: PARALLELISM,
        retry: RetryPolicy::default(),
        cancel: tokio_util::sync::CancellationToken::new(),
        events: tx,
        stack_dir: home.join("stacks/schedule"),
    };
    let request = DeployRequest {
        files: StackFiles::new(home.join("stacks/schedule")),
        name: "schedule",
        template: TemplateSource::Given(SourceFile::new("schedule.yaml", text.to_owned())),
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
    let _ = std::fs::remove_dir_all(&home);
    wall
}

fn bench(c: &mut Criterion) {
    let op = Duration::from_millis(
        std::env::var("SF_BENCH_OP_MS")
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(200),
    );
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    let mut group = c.benchmark_group("schedule");
    group
        .sample_size(10)
        .measurement_time(Duration::from_secs(1))
        .warm_up_time(Duration::from_millis(1));
    let mut lines = Vec::new();
    let mut all = Vec::new();
    for seed in SEEDS {
        let dag = dag(seed, op);
        let mut ratios = Vec::new();
        group.bench_function(format!("dag300_p10_{seed:x}"), |b| {
            b.iter_custom(|iters| {
                let mut total = Duration::ZERO;
                for _ in 0..iters {
                    let wall = deploy_once(&rt, &dag.template);
                    ratios.push(wall.as_secs_f64() / dag.bound().as_secs_f64());
                    total += wall;
                }
                total
            })
        });
        ratios.sort_by(f64::total_cmp);
        if !ratios.is_empty() {
            lines.push(format!(
                "dag {seed:x}: critical path {} ms, work / {PARALLELISM} {} ms; wall / bound: median {:.3}, best {:.3}, worst {:.3} over {} runs",
                dag.critical.as_millis(),
                (dag.work / PARALLELISM as u32).as_millis(),
                ratios[ratios.len() / 2],
                ratios[0],
                ratios[ratios.len() - 1],
                ratios.len()
            ));
            all.extend(ratios);
        }
    }
    group.finish();
    all.sort_by(f64::total_cmp);
    for l in lines {
        println!("{l}");
    }
    if !all.is_empty() {
        println!(
            "{} ms operations, parallelism {PARALLELISM}: wall / max(critical path, work / {PARALLELISM}): median {:.3}, worst {:.3} over {} runs",
            op.as_millis(),
            all[all.len() / 2],
            all[all.len() - 1],
            all.len()
        );
    }
}

criterion_group!(benches, bench);
criterion_main!(benches);
