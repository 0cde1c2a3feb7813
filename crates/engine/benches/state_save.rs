//! The cost of recording one operation as the state grows: it must stay flat (the journal
//! appends one entry; the snapshot is written once, at the end). See BENCHMARKS.md.

use criterion::{Criterion, criterion_group, criterion_main};
use stackform_engine::state::store::{Entry, Recorder, StackFiles};

#[path = "scale.rs"]
mod scale;

fn bench(c: &mut Criterion) {
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    let mut group = c.benchmark_group("state_save");
    group.sample_size(30);
    for n in [100usize, 1_000, 10_000] {
        let dir = std::env::temp_dir().join(format!("sf-bench-save-{n}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let state = scale::state(n);
        let one = state.resources["r1"].clone();
        let recorder = Recorder::create(StackFiles::new(&dir), state).expect("recorder");
        group.bench_function(format!("record_one_operation_{n}_resources"), |b| {
            b.iter(|| {
                rt.block_on(recorder.record(Entry::Applied {
                    op: None,
                    address: "r1".into(),
                    resource: one.clone(),
                }))
                .expect("recorded")
            })
        });
        drop(recorder);
        let _ = std::fs::remove_dir_all(&dir);
    }
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
