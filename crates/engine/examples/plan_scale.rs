//! Plans a 10,000-resource template against its full state once and prints the time and the
//! process's peak resident memory (getrusage), for BENCHMARKS.md:
//! `cargo run --release -p stackform-engine --example plan_scale -- 10000`.

use std::collections::HashMap;
use std::time::Instant;

use stackform_engine::base::source::SourceFile;
use stackform_engine::lang::template;
use stackform_engine::plan::resolve::{InputValues, StackContext};
use stackform_engine::plan::{PlanRequest, plan};

#[path = "../benches/scale.rs"]
mod scale;

fn main() {
    let n: usize = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(10_000);
    let text = scale::template(n);
    let state = scale::state(n);
    let catalog = scale::catalog();
    let t0 = Instant::now();
    let parsed = template::parse(&SourceFile::new("scale.yaml", text)).expect("parses");
    let parse_time = t0.elapsed();
    let t1 = Instant::now();
    let p = plan(&PlanRequest {
        template: &parsed,
        catalog: &catalog,
        inputs: &InputValues::default(),
        stack: StackContext {
            name: Some("scale".into()),
            suffix: Some("aaaaaa".into()),
            id: None,
        },
        state: Some(&state),
        data: &HashMap::new(),
        partial: false,
        replace: &[],
    })
    .expect("plans");
    let plan_time = t1.elapsed();
    let elapsed = t0.elapsed();
    // SAFETY: getrusage fills the struct we pass; zeroed is a valid initial value.
    let maxrss_kib = unsafe {
        let mut usage: libc::rusage = std::mem::zeroed();
        libc::getrusage(libc::RUSAGE_SELF, &mut usage);
        usage.ru_maxrss
    };
    println!(
        "{n} resources: parse {:.1} ms + plan {:.1} ms = {:.1} ms, {} unchanged, peak RSS {:.1} MiB",
        parse_time.as_secs_f64() * 1000.0,
        plan_time.as_secs_f64() * 1000.0,
        elapsed.as_secs_f64() * 1000.0,
        p.summary.unchanged,
        maxrss_kib as f64 / 1024.0
    );
}
