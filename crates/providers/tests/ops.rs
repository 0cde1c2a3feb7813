//! The use cases (`stackform_engine::ops`) on the in-process `sim` provider, each checked as a
//! user would: what the state records, what the sim world holds on disk, what the plan shows.
//!
//! The sim provider has no census of its own; `SimCensus` below lists its world by the marks
//! each resource was created with, so that sweep, reap, rebuild and the census after destroy
//! have something to find. `lab.cluster` is a sim-world type whose deletion leaves leftovers
//! (what Kubernetes would make in a cluster), for the plans that must take them along.

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use stackform_engine::base::source::SourceFile;
use stackform_engine::base::value::Value;
use stackform_engine::exec::{RetryPolicy, RunConfig};
use stackform_engine::ext::secret_store::LocalStore;
use stackform_engine::lang::schema::{OutputSchema, PropType, PropertySchema, ResourceSchema};
use stackform_engine::ops::deploy::{self, DeployReport, DeployRequest};
use stackform_engine::ops::destroy::{self, DestroyReport, DestroyRequest};
use stackform_engine::ops::prepare::{self, PlanCommand, PrepareRequest, Prepared, TemplateSource};
use stackform_engine::ops::{Confirm, OpError};
use stackform_engine::plan::plan_file::SavedPlan;
use stackform_engine::plan::resolve::InputValues;
use stackform_engine::plan::{Action, InputOrigin, PlannedValue};
use stackform_engine::provider::{
    Applied, Disposition, ErrorKind, Found, Inventory, Leftover, Marks, OpContext, Outcome,
    Progress, Props, ProviderError, Recorded, Registry, ResourceType, TAG_ADDRESS, TAG_STACK,
    TAG_STACK_ID,
};
use stackform_engine::state::store::{self, StackFiles};
use stackform_engine::state::{State, StoredInput};
use stackform_providers::sim::{World, WorldResource};

/// A stackform home of its own, removed afterwards, with the sim world in it.
struct Home {
    dir: PathBuf,
    registry: Registry,
    secrets: LocalStore,
}

impl Home {
    fn new() -> Home {
        let dir = std::env::temp_dir().join(format!("sf-ops-{}", uuid::Uuid::new_v4().simple()));
        std::fs::create_dir_all(&dir).unwrap();
        // Only the in-process providers: a cloud's inventory would look for its resources
        // (sweep, reap and rebuild ask every inventory), and tests talk to no cloud.
        let mut registry = Registry::new();
        stackform_providers::local::register(&mut registry);
        stackform_providers::sim::register(&mut registry, &dir.join("sim"));
        let world = Arc::new(World::new(&dir.join("sim")));
        registry.add(Arc::new(LabCluster::new(Arc::clone(&world))));
        registry.add_inventory("sim", Arc::new(SimCensus { world }));
        Home {
            secrets: LocalStore::new(&dir),
            dir,
            registry,
        }
    }

    fn files(&self, name: &str) -> StackFiles {
        StackFiles::new(self.dir.join("stacks").join(name))
    }

    fn run(&self, name: &str) -> RunConfig {
        let (tx, _rx) = tokio::sync::mpsc::unbounded_channel();
        RunConfig {
            parallelism: 10,
            retry: RetryPolicy {
                max_attempts: 3,
                base: Duration::from_millis(1),
                cap: Duration::from_millis(5),
            },
            cancel: tokio_util::sync::CancellationToken::new(),
            events: tx,
            stack_dir: self.dir.join("stacks").join(name),
        }
    }

    fn world(&self) -> World {
        World::new(&self.dir.join("sim"))
    }

    /// What the sim world holds for stack `name`, by address.
    fn held(&self, name: &str) -> BTreeMap<String, WorldResource> {
        self.world()
            .all()
            .into_iter()
            .filter(|r| r.stack == name)
            .map(|r| (r.address.clone(), r))
            .collect()
    }

    fn state(&self, name: &str) -> Option<State> {
        store::load(&self.files(name)).unwrap()
    }

    fn deploy_request<'a>(&'a self, name: &'a str, template: TemplateSource) -> DeployRequest<'a> {
        DeployRequest {
            files: self.files(name),
            name,
            template,
            inputs: InputValues::default(),
            registry: &self.registry,
            run: self.run(name),
            lock_wait: Duration::ZERO,
            command: "test",
            saved: None,
            expires_at: None,
            environment: None,
            secrets: &self.secrets,
            connector: None,
            targets: Vec::new(),
            replace: Vec::new(),
        }
    }

    async fn deploy(&self, name: &str, text: &str, vars: &[(&str, &str)]) -> DeployReport {
        let mut req = self.deploy_request(name, given(text));
        req.inputs = vars_of(vars);
        deploy::deploy(req, |_| Confirm::Yes).await.unwrap()
    }

    fn prepare_request<'a>(
        &'a self,
        name: &'a str,
        template: TemplateSource,
        inputs: InputValues,
        run: &'a RunConfig,
        files: &'a StackFiles,
        targets: &'a [String],
    ) -> PrepareRequest<'a> {
        PrepareRequest {
            name,
            template,
            inputs,
            registry: &self.registry,
            run,
            saved: None,
            expires_at: None,
            environment: None,
            secrets: &self.secrets,
            connector: None,
            targets,
            replace: &[],
            files,
        }
    }

    /// `stackform plan` (refreshing first unless `refresh` is false).
    async fn plan(
        &self,
        name: &str,
        template: TemplateSource,
        vars: &[(&str, &str)],
        targets: &[String],
        refresh: bool,
    ) -> Result<Prepared, OpError> {
        let run = self.run(name);
        let files = self.files(name);
        prepare::plan(PlanCommand {
            prepare: self.prepare_request(name, template, vars_of(vars), &run, &files, targets),
            lock_wait: Duration::ZERO,
            refresh,
        })
        .await
    }

    async fn destroy(&self, name: &str, targets: &[&str]) -> DestroyReport {
        destroy::destroy(
            DestroyRequest {
                files: self.files(name),
                name,
                registry: &self.registry,
                run: self.run(name),
                lock_wait: Duration::ZERO,
                command: "test",
                retain_data: false,
                targets: targets.iter().map(|t| (*t).to_owned()).collect(),
            },
            |_| Confirm::Yes,
        )
        .await
        .unwrap()
    }
}

impl Drop for Home {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn given(text: &str) -> TemplateSource {
    TemplateSource::Given(SourceFile::new("stack.yaml", text.to_owned()))
}

fn vars_of(vars: &[(&str, &str)]) -> InputValues {
    InputValues {
        vars: vars
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect(),
        file: BTreeMap::new(),
    }
}

fn rt() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

/// The actions of a plan's changes, by address (no-ops left out).
fn actions(plan: &stackform_engine::plan::Plan) -> BTreeMap<String, Action> {
    plan.changes
        .iter()
        .filter(|c| c.action != Action::Noop)
        .map(|c| (c.address.clone(), c.action))
        .collect()
}

fn known(v: &Option<PlannedValue>) -> Option<&Value> {
    match v {
        Some(PlannedValue::Known(v)) => Some(v),
        _ => None,
    }
}

/// A bucket named with the stack's suffix, a queue after it, and a sized worker.
const APP: &str = r#"name: app
inputs:
  size:
    type: integer
    default: 2
resources:
  bucket:
    type: sim.store
    properties:
      name: bucket-${stack.suffix}
  queue:
    type: sim.resource
    properties:
      tags:
        bucket: ${bucket.arn}
  worker:
    type: sim.resource
    properties:
      size: ${inputs.size}
      tags:
        queue: ${queue.endpoint}
outputs:
  bucket: ${bucket.arn}
"#;

#[test]
fn deploy_records_what_the_world_holds() {
    let home = Home::new();
    rt().block_on(async {
        let report = home.deploy("dev", APP, &[]).await;
        let run = report.report.expect("applied");
        assert!(run.ok(), "{run:?}");
        assert_eq!(report.plan.summary.add, 3);

        let state = home.state("dev").expect("a state");
        let held = home.held("dev");
        assert_eq!(
            state.resources.keys().collect::<Vec<_>>(),
            held.keys().collect::<Vec<_>>()
        );
        for (address, r) in &state.resources {
            let w = &held[address];
            assert_eq!(r.physical_id, w.id, "{address}");
            assert_eq!(w.stack_id, state.stack.id.to_string());
        }
        assert!(state.pending.is_empty());
        // Names made with the suffix, dependencies and inputs as the template says.
        assert_eq!(
            held["bucket"].properties["name"],
            Value::String(format!("bucket-{}", state.stack.suffix))
        );
        assert_eq!(held["worker"].properties["size"], Value::Int(2));
        assert_eq!(state.resources["worker"].dependencies, ["queue"]);
        assert_eq!(
            state.outputs["bucket"],
            Value::String(format!("sim:{}", held["bucket"].id))
        );
        assert_eq!(state.inputs["size"], StoredInput::Value(Value::Int(2)));

        // Deployed again unchanged: nothing to do, nothing called.
        let again = home.deploy("dev", APP, &[]).await;
        assert!(!again.plan.summary.has_changes());
        assert_eq!(home.held("dev"), held);
    });
}

#[test]
fn deploy_changes_in_place_and_replaces_what_must_be() {
    let home = Home::new();
    rt().block_on(async {
        home.deploy("dev", APP, &[]).await;
        let before = home.held("dev");
        let changed = APP.replace("bucket-${stack.suffix}", "bucket2-${stack.suffix}");
        let report = home.deploy("dev", &changed, &[("size", "5")]).await;
        assert!(report.report.expect("applied").ok());
        let a = actions(&report.plan);
        assert_eq!(a["bucket"], Action::Replace);
        assert_eq!(a["worker"], Action::Update);
        let held = home.held("dev");
        assert_ne!(held["bucket"].id, before["bucket"].id);
        assert!(home.world().get(&before["bucket"].id).is_none());
        assert_eq!(held["worker"].id, before["worker"].id);
        assert_eq!(held["worker"].properties["size"], Value::Int(5));
        let state = home.state("dev").unwrap();
        assert_eq!(state.resources["bucket"].physical_id, held["bucket"].id);
    });
}

#[test]
fn deploy_with_a_failure_keeps_what_was_made_and_skips_its_dependents() {
    let home = Home::new();
    let text = APP.replace(
        "  queue:\n    type: sim.resource\n    properties:\n",
        "  queue:\n    type: sim.resource\n    properties:\n      fail: [\"create:1:invalid\"]\n",
    );
    rt().block_on(async {
        let report = home.deploy("dev", &text, &[]).await;
        let run = report.report.expect("applied");
        assert_eq!(run.failed.len(), 1);
        assert_eq!(run.failed[0].address, "queue");
        assert_eq!(
            run.skipped,
            [("worker".to_owned(), "a dependency failed".to_owned())]
        );
        let state = home.state("dev").unwrap();
        assert_eq!(state.resources.keys().collect::<Vec<_>>(), ["bucket"]);
        assert_eq!(home.held("dev").keys().collect::<Vec<_>>(), ["bucket"]);
        assert!(state.pending.is_empty());
        // The next deploy finishes the job (the injected failure was the first call only).
        let next = home.deploy("dev", &text, &[]).await;
        assert!(next.report.expect("applied").ok());
        assert_eq!(home.held("dev").len(), 3);
    });
}

#[test]
fn recorded_inputs_are_kept_unless_given_again() {
    let home = Home::new();
    rt().block_on(async {
        home.deploy("dev", APP, &[("size", "3")]).await;
        // A plan without the input keeps the recorded 3, and says so.
        let plan = home
            .plan("dev", given(APP), &[], &[], true)
            .await
            .unwrap()
            .plan;
        assert!(!plan.summary.has_changes(), "{:?}", actions(&plan));
        assert_eq!(plan.inputs["size"].origin, InputOrigin::Kept);
        assert_eq!(
            plan.inputs["size"].value,
            PlannedValue::Known(Value::Int(3))
        );
        // The same without a template: the recorded one is used.
        let plan = home
            .plan("dev", TemplateSource::Recorded, &[], &[], true)
            .await
            .unwrap()
            .plan;
        assert!(!plan.summary.has_changes());
        // Deployed again without it: still 3.
        let again = home.deploy("dev", APP, &[]).await;
        assert!(!again.plan.summary.has_changes());
        assert_eq!(home.held("dev")["worker"].properties["size"], Value::Int(3));
        // Given again: the new value, shown as given.
        let plan = home
            .plan("dev", given(APP), &[("size", "4")], &[], true)
            .await
            .unwrap()
            .plan;
        assert_eq!(plan.inputs["size"].origin, InputOrigin::Given);
        assert_eq!(actions(&plan)["worker"], Action::Update);
        let worker = plan.changes.iter().find(|c| c.address == "worker").unwrap();
        let size = worker.properties.iter().find(|p| p.name == "size").unwrap();
        assert_eq!(known(&size.before), Some(&Value::Int(3)));
        assert_eq!(known(&size.after), Some(&Value::Int(4)));
        home.deploy("dev", APP, &[("size", "4")]).await;
        assert_eq!(
            home.state("dev").unwrap().inputs["size"],
            StoredInput::Value(Value::Int(4))
        );
    });
}

#[test]
fn the_suffix_of_the_first_plan_is_the_one_deployed() {
    let home = Home::new();
    rt().block_on(async {
        let first = home.plan("new", given(APP), &[], &[], true).await.unwrap();
        let second = home.plan("new", given(APP), &[], &[], true).await.unwrap();
        assert_eq!(first.suffix, second.suffix, "a plan reserves its suffix");
        let bucket = first
            .plan
            .changes
            .iter()
            .find(|c| c.address == "bucket")
            .unwrap();
        let name = bucket.properties.iter().find(|p| p.name == "name").unwrap();
        assert_eq!(
            known(&name.after),
            Some(&Value::String(format!("bucket-{}", first.suffix)))
        );
        home.deploy("new", APP, &[]).await;
        let state = home.state("new").unwrap();
        assert_eq!(state.stack.suffix, first.suffix);
        assert_eq!(
            home.held("new")["bucket"].properties["name"],
            Value::String(format!("bucket-{}", first.suffix))
        );
    });
}

#[test]
fn plan_refreshes_unless_told_not_to_and_changes_nothing() {
    let home = Home::new();
    rt().block_on(async {
        home.deploy("dev", APP, &[]).await;
        let held = home.held("dev");
        // Deleted outside stackform.
        home.world().remove(&held["worker"].id).unwrap();
        let plan = home
            .plan("dev", given(APP), &[], &[], true)
            .await
            .unwrap()
            .plan;
        assert_eq!(plan.summary.add, 1);
        assert_eq!(actions(&plan)["worker"], Action::Create);
        let stale = home
            .plan("dev", given(APP), &[], &[], false)
            .await
            .unwrap()
            .plan;
        assert_eq!(stale.summary.add, 0, "as recorded, without a refresh");
        // A plan records nothing: the state still has the worker; the deploy adds it back.
        assert!(home.state("dev").unwrap().resources.contains_key("worker"));
        let report = home.deploy("dev", APP, &[]).await;
        assert_eq!(report.plan.summary.add, 1);
        assert_eq!(home.held("dev").len(), 3);
    });
}

#[test]
fn a_saved_plan_applies_exactly_and_a_stale_one_is_refused() {
    let home = Home::new();
    rt().block_on(async {
        home.deploy("dev", APP, &[]).await;
        let prepared = home
            .plan("dev", given(APP), &[("size", "7")], &[], true)
            .await
            .unwrap();
        let saved = round_trip(&prepared.saved("dev", &[], &[]));
        // The stack moves on before the plan is applied.
        home.deploy("dev", APP, &[("size", "6")]).await;
        let mut req = home.deploy_request("dev", TemplateSource::Recorded);
        req.saved = Some(saved);
        let err = deploy::deploy(req, |_| Confirm::Yes).await.unwrap_err();
        assert!(matches!(err, OpError::Stale { .. }), "{err:?}");
        assert_eq!(home.held("dev")["worker"].properties["size"], Value::Int(6));
        // Planned again and applied at once: applied as planned.
        let prepared = home
            .plan("dev", given(APP), &[("size", "7")], &[], true)
            .await
            .unwrap();
        let mut req = home.deploy_request("dev", TemplateSource::Recorded);
        req.saved = Some(round_trip(&prepared.saved("dev", &[], &[])));
        let report = deploy::deploy(req, |_| Confirm::No).await.unwrap();
        assert!(report.report.expect("applied without asking").ok());
        assert_eq!(home.held("dev")["worker"].properties["size"], Value::Int(7));
    });
}

/// A cluster and a bucket; `lab.cluster`'s deletion leaves what its controllers made.
const CLUSTERED: &str = r#"name: clustered
inputs:
  cluster:
    type: boolean
    default: true
resources:
  artifacts:
    type: sim.resource
  cluster:
    type: lab.cluster
    when: ${inputs.cluster}
    properties:
      name: cluster-${stack.suffix}
"#;

#[test]
fn a_targeted_plan_saved_on_a_stack_with_leftovers_applies_without_being_called_stale() {
    let home = Home::new();
    rt().block_on(async {
        home.deploy("aimed", CLUSTERED, &[]).await;
        let state = home.state("aimed").unwrap();
        let cluster = state.resources["cluster"].physical_id.clone();
        make_leftovers(&home, &cluster, 3);
        // Dropping the cluster, aimed at the cluster alone: what it left goes with it.
        let targets = vec!["cluster".to_owned()];
        let prepared = home
            .plan(
                "aimed",
                given(CLUSTERED),
                &[("cluster", "false")],
                &targets,
                true,
            )
            .await
            .unwrap();
        let deletes: BTreeSet<String> = actions(&prepared.plan)
            .into_iter()
            .filter(|(_, a)| *a == Action::Delete)
            .map(|(address, _)| address)
            .collect();
        assert_eq!(
            deletes.len(),
            4,
            "the cluster and its three leftovers: {deletes:?}"
        );
        assert!(deletes.contains("cluster"));
        let saved = round_trip(&prepared.saved("aimed", &targets, &[]));
        let mut req = home.deploy_request("aimed", TemplateSource::Recorded);
        req.targets = saved.targets.clone();
        req.saved = Some(saved);
        let report = deploy::deploy(req, |_| Confirm::Yes).await;
        let report = match report {
            Ok(r) => r,
            Err(e) => panic!("the saved plan was refused: {e}"),
        };
        assert!(report.report.expect("applied").ok());
        let held = home.world().all();
        assert!(
            held.iter().all(|r| r.type_name != "lab.cluster"),
            "the cluster is gone"
        );
        assert!(
            held.iter().all(|r| r.data_of() != Some(cluster.as_str())),
            "and what it left"
        );
        let state = home.state("aimed").unwrap();
        assert_eq!(state.resources.keys().collect::<Vec<_>>(), ["artifacts"]);
    });
}

#[test]
fn destroy_deletes_everything_and_the_census_proves_it() {
    let home = Home::new();
    rt().block_on(async {
        home.deploy("dev", APP, &[]).await;
        let report = home.destroy("dev", &[]).await;
        assert!(report.report.as_ref().expect("applied").ok());
        assert_eq!(report.plan.summary.destroy, 3);
        assert!(report.removed, "the stack is gone");
        let census = report.census.expect("a census");
        assert!(census.clean(), "{census:?}");
        assert!(census.checked.contains(&"sim".to_owned()));
        assert!(home.held("dev").is_empty());
        assert!(home.state("dev").is_none());
    });
}

#[test]
fn destroy_takes_a_clusters_leftovers_and_deletes_dependents_first() {
    let home = Home::new();
    rt().block_on(async {
        home.deploy("dev", CLUSTERED, &[]).await;
        let cluster = home.state("dev").unwrap().resources["cluster"]
            .physical_id
            .clone();
        make_leftovers(&home, &cluster, 2);
        let report = home.destroy("dev", &[]).await;
        assert!(report.report.as_ref().expect("applied").ok());
        assert_eq!(report.plan.summary.destroy, 4);
        assert!(home.world().all().is_empty(), "{:?}", home.world().all());
    });
}

#[test]
fn a_targeted_destroy_takes_the_target_and_its_dependents_only() {
    let home = Home::new();
    rt().block_on(async {
        home.deploy("dev", APP, &[]).await;
        let report = home.destroy("dev", &["queue"]).await;
        assert!(report.report.as_ref().expect("applied").ok());
        assert!(!report.removed);
        assert_eq!(
            actions(&report.plan).into_keys().collect::<Vec<_>>(),
            ["queue", "worker"]
        );
        assert_eq!(home.held("dev").keys().collect::<Vec<_>>(), ["bucket"]);
        assert_eq!(
            home.state("dev")
                .unwrap()
                .resources
                .keys()
                .collect::<Vec<_>>(),
            ["bucket"]
        );
    });
}

#[test]
fn protected_resources_survive_destroy_and_refuse_a_replace() {
    use stackform_engine::ops::protect::{ProtectRequest, protect};
    let home = Home::new();
    rt().block_on(async {
        home.deploy("dev", APP, &[]).await;
        let changed = protect(ProtectRequest {
            files: home.files("dev"),
            name: "dev",
            address: Some("bucket"),
            protect: true,
            lock_wait: Duration::ZERO,
            command: "test",
        })
        .await
        .unwrap();
        assert_eq!(changed, ["bucket"]);
        assert!(home.state("dev").unwrap().resources["bucket"].protect);
        // A plan that would replace it is refused before anything changes.
        let renamed = APP.replace("bucket-${stack.suffix}", "other-${stack.suffix}");
        let Err(err) = home.plan("dev", given(&renamed), &[], &[], true).await else {
            panic!("a plan replacing a protected resource was accepted");
        };
        assert!(err.to_string().contains("bucket"), "{err}");
        // Destroy keeps it (and says so); the rest goes.
        let report = home.destroy("dev", &[]).await;
        assert_eq!(report.kept, ["bucket"]);
        assert!(!report.removed);
        assert_eq!(home.held("dev").keys().collect::<Vec<_>>(), ["bucket"]);
        // Unprotected, it goes too.
        protect(ProtectRequest {
            files: home.files("dev"),
            name: "dev",
            address: None,
            protect: false,
            lock_wait: Duration::ZERO,
            command: "test",
        })
        .await
        .unwrap();
        let report = home.destroy("dev", &[]).await;
        assert!(report.removed);
        assert!(home.held("dev").is_empty());
    });
}

#[test]
fn state_mv_and_rm_change_the_state_and_never_the_world() {
    use stackform_engine::ops::state_edit::{Edit, edit};
    let home = Home::new();
    rt().block_on(async {
        home.deploy("dev", APP, &[]).await;
        let held = home.held("dev");
        let files = home.files("dev");
        let state = edit(
            &files,
            "dev",
            Edit::Move {
                from: "worker",
                to: "consumer",
            },
            Duration::ZERO,
            "test",
        )
        .await
        .unwrap();
        assert!(
            state.resources.contains_key("consumer") && !state.resources.contains_key("worker")
        );
        assert_eq!(state.resources["consumer"].physical_id, held["worker"].id);
        // An unknown address is refused with the known ones suggested.
        let err = edit(
            &files,
            "dev",
            Edit::Forget { address: "wrker" },
            Duration::ZERO,
            "test",
        )
        .await
        .unwrap_err();
        assert!(matches!(err, OpError::Invalid(_)), "{err:?}");
        let state = edit(
            &files,
            "dev",
            Edit::Forget {
                address: "consumer",
            },
            Duration::ZERO,
            "test",
        )
        .await
        .unwrap();
        assert!(!state.resources.contains_key("consumer"));
        // The world is as it was; destroy leaves the forgotten resource, named as unmanaged.
        assert_eq!(
            home.world().all().len(),
            held.len(),
            "nothing called in the cloud"
        );
        let report = home.destroy("dev", &[]).await;
        assert!(report.report.as_ref().expect("applied").ok());
        let census = report.census.expect("a census");
        assert_eq!(census.unmanaged.len(), 1, "{census:?}");
        let left = home.world().all();
        assert_eq!(left.len(), 1);
        assert_eq!(left[0].id, held["worker"].id);
    });
}

#[test]
fn sweep_deletes_a_stack_whose_state_is_lost() {
    use stackform_engine::ops::sweep::{SweepRequest, sweep};
    let home = Home::new();
    rt().block_on(async {
        home.deploy("lost", APP, &[]).await;
        home.deploy("kept", APP, &[]).await;
        let id = home.state("lost").unwrap().stack.id;
        std::fs::remove_dir_all(home.files("lost").dir).unwrap();
        let request = |delete| SweepRequest {
            marks: Marks::StackId(id),
            settings: BTreeMap::new(),
            registry: &home.registry,
            run: home.run("lost"),
            stacks_dir: home.dir.join("stacks"),
            sweeps_dir: home.dir.join("sweeps"),
            delete,
            lock_wait: Duration::ZERO,
            command: "test",
        };
        // A dry run shows and deletes nothing.
        let dry = sweep(request(false)).await.unwrap();
        assert_eq!(dry.len(), 1);
        assert_eq!(dry[0].plan.summary.destroy, 3);
        assert_eq!(home.held("lost").len(), 3);
        let swept = sweep(request(true)).await.unwrap();
        assert!(swept[0].clean(), "{swept:?}");
        assert!(home.held("lost").is_empty());
        assert_eq!(home.held("kept").len(), 3, "another stack is left alone");
        // A stack with a state is destroyed, not swept.
        let kept = home.state("kept").unwrap().stack.id;
        let mut req = request(true);
        req.marks = Marks::StackId(kept);
        assert!(sweep(req).await.is_err());
    });
}

#[test]
fn expiring_lists_stacks_past_their_ttl() {
    use stackform_engine::ops::reap::expiring;
    let home = Home::new();
    rt().block_on(async {
        let mut req = home.deploy_request("old", given(APP));
        req.expires_at = Some("2020-01-01T00:00:00Z".into());
        deploy::deploy(req, |_| Confirm::Yes).await.unwrap();
        let mut req = home.deploy_request("young", given(APP));
        req.expires_at = Some("2999-01-01T00:00:00Z".into());
        deploy::deploy(req, |_| Confirm::Yes).await.unwrap();
        home.deploy("forever", APP, &[]).await;
        let states: Vec<State> = ["old", "young", "forever"]
            .iter()
            .filter_map(|n| home.state(n))
            .collect();
        let now = std::time::SystemTime::now();
        let list = expiring(
            &home.registry,
            &BTreeMap::new(),
            &states,
            now,
            &home.run("x"),
        )
        .await
        .unwrap();
        let seen: Vec<(&str, bool, bool)> = list
            .iter()
            .map(|e| (e.name.as_str(), e.expired, e.local))
            .collect();
        assert_eq!(seen, [("old", true, true), ("young", false, true)]);
    });
}

#[test]
fn rebuild_recovers_a_lost_state_from_the_world() {
    use stackform_engine::ops::rebuild::{RebuildRequest, rebuild};
    let home = Home::new();
    rt().block_on(async {
        home.deploy("dev", APP, &[("size", "3")]).await;
        let before = home.state("dev").unwrap();
        std::fs::remove_dir_all(home.files("dev").dir).unwrap();
        let (state, missing) = rebuild(RebuildRequest {
            files: home.files("dev"),
            name: "dev",
            stack_id: Some(before.stack.id),
            template: Some(SourceFile::new("stack.yaml", APP.to_owned())),
            inputs: vars_of(&[("size", "3")]),
            registry: &home.registry,
            run: home.run("dev"),
            lock_wait: Duration::ZERO,
        })
        .await
        .unwrap();
        assert!(missing.is_empty(), "{missing:?}");
        assert_eq!(state.stack.suffix, before.stack.suffix);
        for (address, r) in &before.resources {
            assert_eq!(
                state.resources[address].physical_id, r.physical_id,
                "{address}"
            );
        }
        // The rebuilt stack plans no change.
        let plan = home
            .plan("dev", given(APP), &[("size", "3")], &[], true)
            .await
            .unwrap()
            .plan;
        assert!(!plan.summary.has_changes(), "{:?}", actions(&plan));
    });
}

fn round_trip(saved: &SavedPlan) -> SavedPlan {
    serde_json::from_str(&serde_json::to_string(saved).unwrap()).unwrap()
}

/// What a cluster's controllers would make: sim resources that no state records, marked with
/// the cluster's id.
fn make_leftovers(home: &Home, cluster: &str, n: usize) {
    for i in 0..n {
        home.world()
            .insert(&WorldResource {
                id: format!("{cluster}-lb-{i}"),
                type_name: "sim.resource".into(),
                stack: String::new(),
                stack_id: String::new(),
                address: String::new(),
                properties: Props::from([(
                    "data".to_owned(),
                    Value::Map(BTreeMap::from([(
                        "cluster".to_owned(),
                        Value::String(cluster.to_owned()),
                    )])),
                )]),
            })
            .unwrap();
    }
}

trait DataOf {
    fn data_of(&self) -> Option<&str>;
}

impl DataOf for WorldResource {
    /// The cluster a leftover was made by.
    fn data_of(&self) -> Option<&str> {
        match self.properties.get("data") {
            Some(Value::Map(m)) => m.get("cluster").and_then(Value::as_str),
            _ => None,
        }
    }
}

/// `lab.cluster`: kept in the sim world; what it left is every sim resource marked with its id.
struct LabCluster {
    schema: ResourceSchema,
    world: Arc<World>,
}

impl LabCluster {
    fn new(world: Arc<World>) -> LabCluster {
        LabCluster {
            schema: ResourceSchema::new("lab.cluster", "a cluster whose controllers leave things")
                .property(PropertySchema::new("name", PropType::String, "").force_new())
                .output(OutputSchema::new("arn", PropType::String, "")),
            world,
        }
    }

    fn applied(r: &WorldResource) -> Applied {
        Applied {
            physical_id: r.id.clone(),
            properties: r.properties.clone(),
            outputs: Props::from([("arn".to_owned(), Value::String(format!("lab:{}", r.id)))]),
        }
    }
}

#[async_trait::async_trait]
impl ResourceType for LabCluster {
    fn schema(&self) -> &ResourceSchema {
        &self.schema
    }

    async fn create(&self, ctx: &OpContext, props: &Props) -> Result<Outcome, ProviderError> {
        let r = WorldResource {
            id: props
                .get("name")
                .and_then(Value::as_str)
                .unwrap_or("cluster")
                .to_owned(),
            type_name: self.schema.type_name.clone(),
            stack: ctx.ownership.stack.clone(),
            stack_id: ctx.ownership.stack_id.to_string(),
            address: ctx.ownership.address.clone(),
            properties: props.clone(),
        };
        self.world.insert(&r)?;
        Ok(Progress::Done(Some(Self::applied(&r))))
    }

    async fn read(
        &self,
        _ctx: &OpContext,
        id: &str,
        _props: &Props,
    ) -> Result<Option<Applied>, ProviderError> {
        Ok(self.world.get(id).map(|r| Self::applied(&r)))
    }

    async fn update(
        &self,
        _ctx: &OpContext,
        id: &str,
        _old: &Props,
        new: &Props,
    ) -> Result<Outcome, ProviderError> {
        let mut r = self
            .world
            .get(id)
            .ok_or_else(|| ProviderError::new(ErrorKind::NotFound, "no such cluster"))?;
        r.properties = new.clone();
        self.world.replace(&r)?;
        Ok(Progress::Done(Some(Self::applied(&r))))
    }

    async fn delete(
        &self,
        _ctx: &OpContext,
        id: &str,
        _props: &Props,
    ) -> Result<Outcome, ProviderError> {
        self.world.remove(id)?;
        Ok(Progress::Done(None))
    }

    async fn find(
        &self,
        ctx: &OpContext,
        _props: &Props,
    ) -> Result<Option<Applied>, ProviderError> {
        let stack_id = ctx.ownership.stack_id.to_string();
        Ok(self
            .world
            .all()
            .into_iter()
            .find(|r| r.stack_id == stack_id && r.address == ctx.ownership.address)
            .map(|r| Self::applied(&r)))
    }

    async fn leftovers(
        &self,
        _ctx: &OpContext,
        resource: Recorded<'_>,
    ) -> Result<Vec<Leftover>, ProviderError> {
        Ok(self
            .world
            .all()
            .into_iter()
            .filter(|r| r.data_of() == Some(resource.physical_id))
            .map(|r| Leftover {
                key: format!("lb/{}", r.id),
                type_name: r.type_name.clone(),
                physical_id: r.id.clone(),
                properties: r.properties.clone(),
                found_by: format!("data.cluster {}", resource.physical_id),
                before: Vec::new(),
                in_network: false,
                rank: 0,
                disposition: Disposition::Delete,
            })
            .collect())
    }
}

/// The sim world as a census: every resource created with a stack's marks.
struct SimCensus {
    world: Arc<World>,
}

#[async_trait::async_trait]
impl Inventory for SimCensus {
    async fn owned(
        &self,
        _settings: &Props,
        marks: &Marks,
        _kinds: Option<&BTreeSet<String>>,
    ) -> Result<Vec<Found>, ProviderError> {
        Ok(self
            .world
            .all()
            .into_iter()
            .filter(|r| !r.stack_id.is_empty())
            .filter_map(|r| {
                let mut tags = BTreeMap::from([
                    (TAG_STACK.to_owned(), r.stack.clone()),
                    (TAG_STACK_ID.to_owned(), r.stack_id.clone()),
                    (TAG_ADDRESS.to_owned(), r.address.clone()),
                ]);
                if let Some(Value::Map(t)) = r.properties.get("tags") {
                    for (k, v) in t {
                        if let Some(v) = v.as_str() {
                            tags.entry(k.clone()).or_insert_with(|| v.to_owned());
                        }
                    }
                }
                marks.matches(&tags).then(|| Found {
                    type_name: r.type_name.clone(),
                    physical_id: r.id.clone(),
                    label: format!("sim:{}", r.id),
                    tags,
                    properties: r.properties.clone(),
                    outputs: Props::new(),
                    rank: 0,
                })
            })
            .collect())
    }
}
