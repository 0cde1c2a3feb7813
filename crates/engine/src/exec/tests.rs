//! The executor against a resource type that records every call: the ready queue's order and
//! limits, retries, the outcome-unknown path, failures and cancellation.
//!
//! Calls take time only through tokio's clock, which these tests pause: a 10 ms call takes no
//! real time, and the order of events is exact.

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use super::{Desired, Event, Report, RetryPolicy, RunConfig};
use crate::base::source::SourceFile;
use crate::base::value::Value;
use crate::lang::schema::{OutputSchema, PropType, PropertySchema, ResourceSchema};
use crate::lang::template;
use crate::plan::resolve::{InputValues, StackContext};
use crate::plan::{Action, PlanRequest};
use crate::provider::{
    Applied, ErrorKind, OpContext, Outcome, Progress, Props, ProviderError, RecoveryKind, Registry,
    ResourceType, provider_of,
};
use crate::state::store::{Recorder, StackFiles};
use crate::state::{State, TemplateRecord};

/// What a call does instead of succeeding.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Fault {
    /// Throttled: retryable, nothing happened.
    Throttled,
    /// Refused for good (a bad request).
    Refused,
    /// The call took effect, then its answer was lost.
    AnswerLost,
    /// The call was lost before it took effect; the outcome is reported unknown.
    RequestLost,
}

/// One call as the probe saw it.
#[derive(Debug, Clone)]
struct Call {
    op: &'static str,
    address: String,
    start: Instant,
}

/// The world the probe types act on, and what they saw.
#[derive(Default)]
struct Lab {
    calls: Mutex<Vec<Call>>,
    /// What exists, by address.
    world: Mutex<BTreeMap<String, Applied>>,
    /// Faults still to inject, per (address, operation), one per call in order.
    faults: Mutex<HashMap<(String, &'static str), Vec<Fault>>>,
    in_flight: AtomicUsize,
    max_in_flight: AtomicUsize,
    per_provider: Mutex<HashMap<String, (usize, usize)>>,
    created: AtomicUsize,
    /// Cancelled when the create of this address starts.
    cancel_at: Mutex<Option<(String, CancellationToken)>>,
}

impl Lab {
    fn fail(&self, address: &str, op: &'static str, faults: &[Fault]) {
        self.faults
            .lock()
            .unwrap()
            .insert((address.to_owned(), op), faults.to_vec());
    }

    fn calls(&self) -> Vec<Call> {
        self.calls.lock().unwrap().clone()
    }

    /// The addresses of the calls of one operation, in the order they started.
    fn order(&self, op: &str) -> Vec<String> {
        self.calls()
            .into_iter()
            .filter(|c| c.op == op)
            .map(|c| c.address)
            .collect()
    }

    fn ops_of(&self, address: &str) -> Vec<&'static str> {
        self.calls()
            .into_iter()
            .filter(|c| c.address == address)
            .map(|c| c.op)
            .collect()
    }

    fn max_of(&self, provider: &str) -> usize {
        self.per_provider
            .lock()
            .unwrap()
            .get(provider)
            .map_or(0, |p| p.1)
    }
}

/// A resource type whose calls take `latency`, fail as the lab says and record themselves.
struct Probe {
    schema: ResourceSchema,
    lab: Arc<Lab>,
    latency: Duration,
}

impl Probe {
    fn new(type_name: &str, lab: &Arc<Lab>, latency: Duration) -> Probe {
        Probe {
            schema: ResourceSchema::new(type_name, "a probe")
                .property(PropertySchema::new("name", PropType::String, ""))
                .property(PropertySchema::new("size", PropType::Integer, ""))
                .output(OutputSchema::new("arn", PropType::String, "")),
            lab: Arc::clone(lab),
            latency,
        }
    }

    fn slow(mut self, d: Duration) -> Probe {
        self.schema = self.schema.expected_duration(d);
        self
    }

    /// Records the call, holds it in flight for the latency, and says which fault to inject.
    async fn call(&self, op: &'static str, ctx: &OpContext) -> Option<Fault> {
        let address = ctx.ownership.address.clone();
        self.lab.calls.lock().unwrap().push(Call {
            op,
            address: address.clone(),
            start: Instant::now(),
        });
        if op == "create"
            && let Some((at, token)) = self.lab.cancel_at.lock().unwrap().as_ref()
            && *at == address
        {
            token.cancel();
        }
        let provider = provider_of(&self.schema.type_name).to_owned();
        let now = self.lab.in_flight.fetch_add(1, Ordering::SeqCst) + 1;
        self.lab.max_in_flight.fetch_max(now, Ordering::SeqCst);
        {
            let mut per = self.lab.per_provider.lock().unwrap();
            let p = per.entry(provider.clone()).or_default();
            p.0 += 1;
            p.1 = p.1.max(p.0);
        }
        tokio::time::sleep(self.latency).await;
        self.lab.in_flight.fetch_sub(1, Ordering::SeqCst);
        self.lab
            .per_provider
            .lock()
            .unwrap()
            .get_mut(&provider)
            .expect("counted above")
            .0 -= 1;
        let mut faults = self.lab.faults.lock().unwrap();
        let queue = faults.get_mut(&(address, op))?;
        (!queue.is_empty()).then(|| queue.remove(0))
    }

    fn error(fault: Fault) -> ProviderError {
        match fault {
            Fault::Throttled => ProviderError::new(ErrorKind::Retryable, "throttled"),
            Fault::Refused => ProviderError::new(ErrorKind::Invalid, "refused"),
            Fault::AnswerLost | Fault::RequestLost => {
                ProviderError::new(ErrorKind::OutcomeUnknown, "connection reset")
            }
        }
    }
}

#[async_trait::async_trait]
impl ResourceType for Probe {
    fn schema(&self) -> &ResourceSchema {
        &self.schema
    }

    fn recovery(&self) -> RecoveryKind {
        RecoveryKind::Tags
    }

    async fn create(&self, ctx: &OpContext, props: &Props) -> Result<Outcome, ProviderError> {
        let fault = self.call("create", ctx).await;
        if matches!(
            fault,
            Some(Fault::Throttled | Fault::Refused | Fault::RequestLost)
        ) {
            return Err(Self::error(fault.expect("matched")));
        }
        let n = self.lab.created.fetch_add(1, Ordering::SeqCst) + 1;
        let applied = Applied {
            physical_id: format!("{}-{n}", ctx.ownership.address),
            properties: props.clone(),
            outputs: Props::from([(
                "arn".to_owned(),
                Value::String(format!("probe:{}", ctx.ownership.address)),
            )]),
        };
        let previous = self
            .lab
            .world
            .lock()
            .unwrap()
            .insert(ctx.ownership.address.clone(), applied.clone());
        assert!(
            previous.is_none(),
            "`{}` created twice",
            ctx.ownership.address
        );
        match fault {
            Some(f) => Err(Self::error(f)),
            None => Ok(Progress::Done(Some(applied))),
        }
    }

    async fn read(
        &self,
        _ctx: &OpContext,
        physical_id: &str,
        _props: &Props,
    ) -> Result<Option<Applied>, ProviderError> {
        Ok(self
            .lab
            .world
            .lock()
            .unwrap()
            .values()
            .find(|a| a.physical_id == physical_id)
            .cloned())
    }

    async fn update(
        &self,
        ctx: &OpContext,
        _physical_id: &str,
        _old: &Props,
        new: &Props,
    ) -> Result<Outcome, ProviderError> {
        if let Some(f) = self.call("update", ctx).await {
            return Err(Self::error(f));
        }
        let mut world = self.lab.world.lock().unwrap();
        let r = world
            .get_mut(&ctx.ownership.address)
            .expect("updates what exists");
        r.properties = new.clone();
        Ok(Progress::Done(Some(r.clone())))
    }

    async fn delete(
        &self,
        ctx: &OpContext,
        _physical_id: &str,
        _props: &Props,
    ) -> Result<Outcome, ProviderError> {
        if let Some(f) = self.call("delete", ctx).await {
            return Err(Self::error(f));
        }
        self.lab
            .world
            .lock()
            .unwrap()
            .remove(&ctx.ownership.address);
        Ok(Progress::Done(None))
    }

    async fn find(
        &self,
        ctx: &OpContext,
        _props: &Props,
    ) -> Result<Option<Applied>, ProviderError> {
        self.lab.calls.lock().unwrap().push(Call {
            op: "find",
            address: ctx.ownership.address.clone(),
            start: Instant::now(),
        });
        Ok(self
            .lab
            .world
            .lock()
            .unwrap()
            .get(&ctx.ownership.address)
            .cloned())
    }
}

/// One run's settings.
struct Run {
    parallelism: usize,
    cancel: CancellationToken,
    retry: RetryPolicy,
}

impl Default for Run {
    fn default() -> Self {
        Run {
            parallelism: 10,
            cancel: CancellationToken::new(),
            retry: RetryPolicy {
                max_attempts: 5,
                base: Duration::from_millis(200),
                cap: Duration::from_secs(10),
            },
        }
    }
}

/// What a run left: its report, the state, and the events in order.
struct Ran {
    report: Report,
    state: State,
    events: Vec<Event>,
}

/// Plans `template` against `state` (a new stack when `None`) and applies the plan.
async fn apply_template(
    registry: &Registry,
    template: &str,
    state: Option<State>,
    run: Run,
) -> Ran {
    let source = SourceFile::new("test.yaml", template.to_owned());
    let parsed = template::parse(&source).expect("parses");
    let catalog = registry.catalog();
    let stack = StackContext {
        name: Some("test".into()),
        suffix: Some("abcd".into()),
        id: None,
    };
    let no_data = HashMap::new();
    let plan = crate::plan::plan(&PlanRequest {
        template: &parsed,
        catalog: &catalog,
        inputs: &InputValues::default(),
        stack: stack.clone(),
        state: state.as_ref(),
        data: &no_data,
        partial: false,
        replace: &[],
    })
    .expect("plans");
    let state = state.unwrap_or_else(|| {
        State::new(
            "test",
            "abcd",
            TemplateRecord {
                name: "test".into(),
                hash: String::new(),
                source: template.to_owned(),
            },
        )
    });
    let recorder = Recorder::in_memory(StackFiles::new("/nonexistent/stackform-exec-test"), state);
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    let cfg = RunConfig {
        parallelism: run.parallelism,
        retry: run.retry,
        cancel: run.cancel,
        events: tx,
        stack_dir: "/nonexistent/stackform-exec-test".into(),
    };
    let inputs = BTreeMap::new();
    let data = HashMap::new();
    let desired = Desired {
        template: Some(&parsed),
        catalog: &catalog,
        inputs: &inputs,
        stack: &stack,
        data: &data,
    };
    let report = super::apply(&plan, &desired, registry, &recorder, &cfg)
        .await
        .expect("runs");
    drop(cfg);
    let mut events = Vec::new();
    while let Ok(e) = rx.try_recv() {
        events.push(e);
    }
    Ran {
        report,
        state: recorder.state(),
        events,
    }
}

fn registry(types: Vec<Probe>) -> Registry {
    let mut r = Registry::new();
    for t in types {
        r.add(Arc::new(t));
    }
    r
}

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

/// `count` independent resources `i0..` of `type_name`, then what `extra` adds.
fn template(type_name: &str, count: usize, extra: &str) -> String {
    let mut t = String::from("name: test\nresources:\n");
    for i in 0..count {
        t.push_str(&format!("  i{i}:\n    type: {type_name}\n"));
    }
    t.push_str(extra);
    t
}

/// A chain `c0 -> c1 -> ... ` of `len` resources of `type_name`, each after the one before.
fn chain(type_name: &str, len: usize) -> String {
    let mut t = String::new();
    for i in 0..len {
        t.push_str(&format!("  c{i}:\n    type: {type_name}\n"));
        if i > 0 {
            t.push_str(&format!("    depends_on: [c{}]\n", i - 1));
        }
    }
    t
}

fn done(ran: &Ran) -> Vec<String> {
    let mut d: Vec<String> = ran.report.done.iter().map(|(a, _)| a.clone()).collect();
    d.sort();
    d
}

#[tokio::test(start_paused = true)]
async fn the_critical_path_starts_first() {
    let lab = Arc::new(Lab::default());
    let reg = registry(vec![Probe::new("test.thing", &lab, ms(10))]);
    // Six short independent resources declared first, a chain of four declared last.
    let text = template("test.thing", 6, &chain("test.thing", 4));
    let ran = apply_template(
        &reg,
        &text,
        None,
        Run {
            parallelism: 1,
            ..Run::default()
        },
    )
    .await;
    assert!(ran.report.ok());
    // With one slot, each link of the chain goes as soon as the one before it finishes; the
    // last one has no more ahead of it than the independent ones, and the plan's order decides.
    assert_eq!(
        lab.order("create"),
        ["c0", "c1", "c2", "i0", "i1", "i2", "i3", "i4", "i5", "c3"]
    );
}

#[tokio::test(start_paused = true)]
async fn with_more_slots_the_chain_never_waits() {
    let lab = Arc::new(Lab::default());
    let reg = registry(vec![Probe::new("test.thing", &lab, ms(10))]);
    let text = template("test.thing", 30, &chain("test.thing", 6));
    let t0 = Instant::now();
    let ran = apply_template(
        &reg,
        &text,
        None,
        Run {
            parallelism: 3,
            ..Run::default()
        },
    )
    .await;
    assert!(ran.report.ok());
    // 36 calls of 10 ms over 3 slots: 120 ms is the bound, and the chain (60 ms) never waits
    // for a slot while it is the longest path left, so the schedule meets it.
    assert_eq!(t0.elapsed(), ms(120));
    let calls = lab.calls();
    for w in 1..5 {
        let at = |a: &str| calls.iter().find(|c| c.address == a).expect("called").start;
        assert_eq!(
            at(&format!("c{w}")) - at(&format!("c{}", w - 1)),
            ms(10),
            "c{w} waited"
        );
    }
}

#[tokio::test(start_paused = true)]
async fn expected_durations_weigh_the_paths() {
    let lab = Arc::new(Lab::default());
    let reg = registry(vec![
        Probe::new("test.thing", &lab, ms(10)),
        Probe::new("test.cluster", &lab, ms(10)).slow(Duration::from_secs(600)),
    ]);
    // A three-link chain of quick things, declared first, and one slow cluster: the cluster's
    // path is the longer one, so it starts first.
    let text = format!(
        "name: test\nresources:\n{}  k:\n    type: test.cluster\n",
        chain("test.thing", 3)
    );
    let ran = apply_template(
        &reg,
        &text,
        None,
        Run {
            parallelism: 1,
            ..Run::default()
        },
    )
    .await;
    assert!(ran.report.ok());
    assert_eq!(lab.order("create"), ["k", "c0", "c1", "c2"]);
}

#[tokio::test(start_paused = true)]
async fn ties_keep_the_plan_order() {
    let lab = Arc::new(Lab::default());
    let reg = registry(vec![Probe::new("test.thing", &lab, ms(10))]);
    let text = template("test.thing", 8, "");
    let ran = apply_template(
        &reg,
        &text,
        None,
        Run {
            parallelism: 1,
            ..Run::default()
        },
    )
    .await;
    assert!(ran.report.ok());
    let plan_order: Vec<String> = (0..8).map(|i| format!("i{i}")).collect();
    assert_eq!(lab.order("create"), plan_order);
    let started: Vec<String> = ran
        .events
        .iter()
        .filter_map(|e| match e {
            Event::Started { address, .. } => Some(address.clone()),
            _ => None,
        })
        .collect();
    assert_eq!(started, plan_order);
}

#[tokio::test(start_paused = true)]
async fn never_more_calls_in_flight_than_the_limits() {
    let lab = Arc::new(Lab::default());
    let mut reg = registry(vec![
        Probe::new("fast.thing", &lab, ms(7)),
        Probe::new("slow.thing", &lab, ms(13)),
    ]);
    reg.set_limit("slow", 2);
    let mut text = template("fast.thing", 25, "");
    for i in 0..25 {
        text.push_str(&format!("  s{i}:\n    type: slow.thing\n"));
    }
    let ran = apply_template(
        &reg,
        &text,
        None,
        Run {
            parallelism: 5,
            ..Run::default()
        },
    )
    .await;
    assert!(ran.report.ok());
    assert_eq!(ran.report.done.len(), 50);
    assert_eq!(lab.max_in_flight.load(Ordering::SeqCst), 5);
    assert_eq!(lab.max_of("slow"), 2);
    assert_eq!(lab.max_of("fast"), 5);
    assert_eq!(lab.in_flight.load(Ordering::SeqCst), 0);
}

#[tokio::test(start_paused = true)]
async fn a_throttled_call_is_retried_after_a_backoff() {
    let lab = Arc::new(Lab::default());
    let reg = registry(vec![Probe::new("test.thing", &lab, ms(1))]);
    lab.fail("i0", "create", &[Fault::Throttled, Fault::Throttled]);
    let ran = apply_template(&reg, &template("test.thing", 1, ""), None, Run::default()).await;
    assert!(ran.report.ok(), "{:?}", ran.report);
    assert_eq!(lab.ops_of("i0"), ["create", "create", "create"]);
    // Full jitter: between half and all of 200 ms, then of 400 ms.
    let delays: Vec<(u32, Duration)> = ran
        .events
        .iter()
        .filter_map(|e| match e {
            Event::Retrying { attempt, delay, .. } => Some((*attempt, *delay)),
            _ => None,
        })
        .collect();
    assert_eq!(delays.len(), 2);
    assert_eq!(delays[0].0, 1);
    assert!(
        delays[0].1 >= ms(100) && delays[0].1 <= ms(200),
        "{delays:?}"
    );
    assert_eq!(delays[1].0, 2);
    assert!(
        delays[1].1 >= ms(200) && delays[1].1 <= ms(400),
        "{delays:?}"
    );
    // Each retry waited its backoff after the failed call.
    let calls = lab.calls();
    assert!(calls[1].start - calls[0].start >= ms(1) + delays[0].1);
    assert!(calls[2].start - calls[1].start >= ms(1) + delays[1].1);
    assert!(ran.state.resources.contains_key("i0"));
    assert!(ran.state.pending.is_empty());
}

#[tokio::test(start_paused = true)]
async fn retries_stop_at_the_policys_attempts() {
    let lab = Arc::new(Lab::default());
    let reg = registry(vec![Probe::new("test.thing", &lab, ms(1))]);
    lab.fail("i0", "create", &[Fault::Throttled; 5]);
    let ran = apply_template(
        &reg,
        &template("test.thing", 1, ""),
        None,
        Run {
            retry: RetryPolicy {
                max_attempts: 3,
                base: ms(10),
                cap: ms(20),
            },
            ..Run::default()
        },
    )
    .await;
    assert_eq!(ran.report.failed.len(), 1);
    assert_eq!(ran.report.failed[0].error.kind, ErrorKind::Retryable);
    // Three attempts, then the failure is looked up once (a create may leave something), and
    // recorded as failed: nothing pending.
    assert_eq!(lab.ops_of("i0"), ["create", "create", "create", "find"]);
    assert!(ran.state.pending.is_empty());
    assert!(!ran.state.resources.contains_key("i0"));
}

#[tokio::test(start_paused = true)]
async fn a_permanent_error_is_not_retried() {
    let lab = Arc::new(Lab::default());
    let reg = registry(vec![Probe::new("test.thing", &lab, ms(1))]);
    lab.fail("i0", "create", &[Fault::Refused]);
    let ran = apply_template(&reg, &template("test.thing", 1, ""), None, Run::default()).await;
    assert_eq!(ran.report.failed.len(), 1);
    assert_eq!(ran.report.failed[0].error.kind, ErrorKind::Invalid);
    assert_eq!(lab.ops_of("i0"), ["create", "find"]);
    assert!(
        !ran.events
            .iter()
            .any(|e| matches!(e, Event::Retrying { .. }))
    );
    assert!(ran.state.pending.is_empty());
    assert!(lab.world.lock().unwrap().is_empty());
}

#[tokio::test(start_paused = true)]
async fn a_create_whose_answer_is_lost_is_found_and_adopted() {
    let lab = Arc::new(Lab::default());
    let reg = registry(vec![Probe::new("test.thing", &lab, ms(1))]);
    lab.fail("i0", "create", &[Fault::AnswerLost]);
    let ran = apply_template(&reg, &template("test.thing", 1, ""), None, Run::default()).await;
    assert!(ran.report.ok(), "{:?}", ran.report);
    // Looked up before any retry, and adopted: one create, one resource.
    assert_eq!(lab.ops_of("i0"), ["create", "find"]);
    assert_eq!(lab.created.load(Ordering::SeqCst), 1);
    let world = lab.world.lock().unwrap().clone();
    assert_eq!(world.len(), 1);
    assert_eq!(
        ran.state.resources["i0"].physical_id,
        world["i0"].physical_id
    );
    assert!(ran.state.pending.is_empty());
}

#[tokio::test(start_paused = true)]
async fn a_create_lost_before_it_happened_is_looked_up_then_retried() {
    let lab = Arc::new(Lab::default());
    let reg = registry(vec![Probe::new("test.thing", &lab, ms(1))]);
    lab.fail("i0", "create", &[Fault::RequestLost]);
    let ran = apply_template(&reg, &template("test.thing", 1, ""), None, Run::default()).await;
    assert!(ran.report.ok(), "{:?}", ran.report);
    assert_eq!(lab.ops_of("i0"), ["create", "find", "create"]);
    assert_eq!(lab.world.lock().unwrap().len(), 1);
    assert!(ran.state.resources.contains_key("i0"));
}

#[tokio::test(start_paused = true)]
async fn dependents_of_a_failure_are_skipped_and_the_rest_finishes() {
    let lab = Arc::new(Lab::default());
    let reg = registry(vec![Probe::new("test.thing", &lab, ms(5))]);
    lab.fail("c0", "create", &[Fault::Refused]);
    // c0 -> c1 -> c2 fails at its head; i0..i2 are independent.
    let text = template("test.thing", 3, &chain("test.thing", 3));
    let ran = apply_template(&reg, &text, None, Run::default()).await;
    assert!(!ran.report.ok());
    assert_eq!(done(&ran), ["i0", "i1", "i2"]);
    let mut skipped = ran.report.skipped.clone();
    skipped.sort();
    assert_eq!(
        skipped,
        [
            ("c1".to_owned(), "a dependency failed".to_owned()),
            ("c2".to_owned(), "a dependency failed".to_owned()),
        ]
    );
    assert!(lab.ops_of("c1").is_empty() && lab.ops_of("c2").is_empty());
    assert!(!ran.report.cancelled);
}

#[tokio::test(start_paused = true)]
async fn on_cancellation_what_runs_finishes_and_nothing_new_starts() {
    let lab = Arc::new(Lab::default());
    let reg = registry(vec![Probe::new("test.thing", &lab, ms(10))]);
    let cancel = CancellationToken::new();
    *lab.cancel_at.lock().unwrap() = Some(("c1".into(), cancel.clone()));
    let text = template("test.thing", 0, &chain("test.thing", 4));
    let ran = apply_template(
        &reg,
        &text,
        None,
        Run {
            cancel,
            ..Run::default()
        },
    )
    .await;
    assert!(ran.report.cancelled);
    // c1 was in flight when the run was cancelled: it finished and is recorded.
    assert_eq!(done(&ran), ["c0", "c1"]);
    assert!(ran.state.resources.contains_key("c1"));
    assert!(ran.state.pending.is_empty());
    let mut skipped = ran.report.skipped.clone();
    skipped.sort();
    assert_eq!(
        skipped,
        [
            ("c2".to_owned(), "cancelled".to_owned()),
            ("c3".to_owned(), "cancelled".to_owned()),
        ]
    );
    assert_eq!(lab.order("create"), ["c0", "c1"]);
}

#[tokio::test(start_paused = true)]
async fn a_cancellation_after_the_last_start_leaves_a_complete_run() {
    let lab = Arc::new(Lab::default());
    let reg = registry(vec![Probe::new("test.thing", &lab, ms(10))]);
    let cancel = CancellationToken::new();
    // Ctrl-C while the last operation is in flight: nothing is left to start.
    *lab.cancel_at.lock().unwrap() = Some(("c3".into(), cancel.clone()));
    let text = template("test.thing", 0, &chain("test.thing", 4));
    let ran = apply_template(
        &reg,
        &text,
        None,
        Run {
            cancel,
            ..Run::default()
        },
    )
    .await;
    assert_eq!(done(&ran), ["c0", "c1", "c2", "c3"]);
    assert!(!ran.report.cancelled, "every operation finished");
    assert!(ran.report.ok());
}

#[tokio::test(start_paused = true)]
async fn deletes_go_dependents_first() {
    let lab = Arc::new(Lab::default());
    let reg = registry(vec![Probe::new("test.thing", &lab, ms(10))]);
    let first = format!(
        "name: test\nresources:\n{}  r:\n    type: test.thing\n    properties:\n      name: one\n",
        chain("test.thing", 3)
    );
    let ran = apply_template(&reg, &first, None, Run::default()).await;
    assert!(ran.report.ok());
    lab.calls.lock().unwrap().clear();
    // The chain goes; `r` is renamed, which the probe's schema does not force: an update.
    let second =
        "name: test\nresources:\n  r:\n    type: test.thing\n    properties:\n      name: two\n";
    let ran = apply_template(
        &reg,
        second,
        Some(ran.state),
        Run {
            parallelism: 1,
            ..Run::default()
        },
    )
    .await;
    assert!(ran.report.ok(), "{:?}", ran.report);
    assert_eq!(lab.order("delete"), ["c2", "c1", "c0"]);
    assert_eq!(lab.order("update"), ["r"]);
    assert_eq!(
        ran.state.resources.keys().collect::<Vec<_>>(),
        [&"r".to_owned()]
    );
    let actions: Vec<Action> = ran.report.done.iter().map(|(_, a)| *a).collect();
    assert!(actions.contains(&Action::Update));
}
