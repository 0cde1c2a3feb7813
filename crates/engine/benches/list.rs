//! `stack list` at 1,000 stacks: rows from the index (the goal: <= 20 ms through the binary,
//! which adds process start and the printer), and from every state when the index is missing.
//! See BENCHMARKS.md.

use criterion::{Criterion, criterion_group, criterion_main};
use stackform_engine::ops::list::{INDEX_FILE, ListRequest, list};
use stackform_engine::state::store::{Recorder, StackFiles};
use stackform_engine::state::{State, StateError, TemplateRecord};

#[path = "scale.rs"]
mod scale;

/// `n` stacks of `resources` resources each, as deploys leave them.
fn stacks(n: usize, resources: usize) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("sf-bench-list-{n}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let template = scale::state(resources);
    for i in 0..n {
        let name = format!("stack-{i:04}");
        let mut state = State::new(
            &name,
            "abc123",
            TemplateRecord {
                name: "aws".into(),
                hash: String::new(),
                source: String::new(),
            },
        );
        state.resources = template.resources.clone();
        drop(Recorder::create(StackFiles::new(dir.join(&name)), state).expect("stack"));
    }
    dir
}

fn run(dir: &std::path::Path) -> usize {
    list(ListRequest {
        stacks_dir: dir.to_owned(),
        open_remote: &mut |name| {
            Err(StateError::Corrupt {
                path: name.into(),
                detail: "no remote stacks here".into(),
            })
        },
        price: &mut |_| None,
    })
    .len()
}

fn bench(c: &mut Criterion) {
    let mut group = c.benchmark_group("stack_list");
    group.sample_size(20);
    let dir = stacks(1_000, 20);
    assert_eq!(run(&dir), 1_000);
    group.bench_function("list_1000_stacks_indexed", |b| b.iter(|| run(&dir)));
    group.bench_function("list_1000_stacks_no_index", |b| {
        b.iter(|| {
            let _ = std::fs::remove_file(dir.join(INDEX_FILE));
            run(&dir)
        })
    });
    group.finish();
    let _ = std::fs::remove_dir_all(&dir);
}

criterion_group!(benches, bench);
criterion_main!(benches);
