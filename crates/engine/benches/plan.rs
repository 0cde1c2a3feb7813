//! Planning a 10,000-resource template against a state that already holds all of it (no
//! refresh): the goal is under 100 ms. See BENCHMARKS.md.

use std::collections::HashMap;

use criterion::{Criterion, criterion_group, criterion_main};
use stackform_engine::base::source::SourceFile;
use stackform_engine::lang::template;
use stackform_engine::plan::resolve::{InputValues, StackContext};
use stackform_engine::plan::{PlanRequest, plan};

#[path = "scale.rs"]
mod scale;

fn bench(c: &mut Criterion) {
    let catalog = scale::catalog();
    let mut group = c.benchmark_group("plan");
    group.sample_size(20);
    for n in [1_000usize, 10_000] {
        let text = scale::template(n);
        let state = scale::state(n);
        let inputs = InputValues::default();
        let data = HashMap::new();
        let run = |parsed: &template::Template| {
            let p = plan(&PlanRequest {
                template: parsed,
                catalog: &catalog,
                inputs: &inputs,
                stack: StackContext {
                    name: Some("scale".into()),
                    suffix: Some("aaaaaa".into()),
                    id: None,
                },
                state: Some(&state),
                data: &data,
                partial: false,
                replace: &[],
            })
            .expect("plans");
            assert_eq!(p.summary.unchanged, n);
        };
        let parsed = template::parse(&SourceFile::new("scale.yaml", text.clone())).expect("parses");
        group.bench_function(format!("plan_{n}_unchanged"), |b| b.iter(|| run(&parsed)));
        group.bench_function(format!("parse_and_plan_{n}_unchanged"), |b| {
            b.iter(|| {
                run(&template::parse(&SourceFile::new("scale.yaml", text.clone())).expect("parses"))
            })
        });
    }
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
