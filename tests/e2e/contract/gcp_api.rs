//! A loopback server for the Google Cloud REST calls stackform's GCP resource types make, written
//! from the documented contract because none of these services has an emulator:
//!
//! - Artifact Registry v1 repositories and their operations,
//!   https://cloud.google.com/artifact-registry/docs/reference/rest
//! - IAM v1 service accounts,
//!   https://cloud.google.com/iam/docs/reference/rest/v1/projects.serviceAccounts
//! - Resource Manager v3 project IAM policies,
//!   https://cloud.google.com/resource-manager/reference/rest/v3/projects/getIamPolicy and
//!   https://cloud.google.com/resource-manager/reference/rest/v3/projects/setIamPolicy, and the
//!   caller's permissions,
//!   https://cloud.google.com/resource-manager/reference/rest/v3/projects/testIamPermissions
//! - Kubernetes Engine v1 clusters, node pools and operations,
//!   https://cloud.google.com/kubernetes-engine/docs/reference/rest/v1/projects.locations.clusters
//! - Compute Engine v1 list, get, delete and operation get for the resources GKE makes on its own
//!   for Services, Ingresses and volumes (forwarding rules, target pools, backend services,
//!   firewalls, network endpoint groups, disks), which a teardown has to find and remove. Tests
//!   [`GcpApi::seed`] them, as Kubernetes inside the cluster would;
//!   https://cloud.google.com/compute/docs/reference/rest/v1
//!
//! Every client (google-cloud-rust over reqwest) points its endpoint at [`GcpApi::url`]; the paths
//! of the five APIs do not overlap, so one port serves them all.
//!
//! Long-running operations advance only when polled: an operation answers "not done" to the
//! first [`GcpApi::set_polls`] GETs (default 2) and is done from the next one on, and its effect
//! (a cluster or pool RUNNING, a resource gone, a size or labels applied) happens at that moment.
//! So a client that does not wait for its operations sees what a client racing the real services
//! sees: a node pool refused while its cluster is still provisioning, a resource still there after
//! its delete was accepted.
//!
//! Errors use the Google JSON error body, https://cloud.google.com/apis/design/errors; Compute
//! uses its older shape with an `errors` array and no `status`
//! (https://cloud.google.com/compute/docs/api/how-tos/api-requests-responses), so a Compute
//! client has to look at the HTTP status or the `reason`, not at the gRPC code.
//!
//! The clients send enums as numbers and ask for `$alt=json;enum-encoding=int`. The server takes
//! both numbers and names, stores and answers the documented names (the clients' enum
//! deserializers take both), so that [`GcpApi::get`] reads like the reference pages. Compute
//! clients send and expect names.
//!
//! Requests no route matches, and requests that break the contract (a required field missing, a
//! malformed id, a body that is not JSON), are answered 400/404 as the real API would and also
//! recorded in [`GcpApi::unexpected`], which tests assert is empty: the stack must not depend on
//! the server forgiving it. A Compute list `filter` this server does not understand is answered
//! unfiltered and recorded too, rather than silently matching everything.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex, MutexGuard};

use serde_json::{Map, Value, json};

use super::shared::{civil, fnv, lock, matches, now, now_secs};
use crate::harness::http::{self, Incoming, Response};

/// Where Compute Engine's self links start, as the real API writes them.
const COMPUTE: &str = "https://www.googleapis.com/compute/v1/";
/// Where Kubernetes Engine's self links start.
const CONTAINER: &str = "https://container.googleapis.com/v1/";
/// Every fresh project's policy holds its creator as owner; not part of any stack, so it is left
/// out of [`GcpApi::contents`].
const OWNER_ROLE: &str = "roles/owner";
const OWNER: &str = "user:owner@example.com";
/// The version GKE reports for new clusters and node pools.
const GKE_VERSION: &str = "1.31.5-gke.1000000";

/// The server: its address, and the shared state the tests inspect (a clone is another handle
/// on the same server).
#[derive(Clone)]
pub struct GcpApi {
    /// `http://127.0.0.1:PORT`: the endpoint every client is given.
    pub url: String,
    pub port: u16,
    state: Arc<Mutex<State>>,
}

/// One request as it arrived: the path percent-decoded, without its query.
#[derive(Clone, Debug)]
pub struct Request {
    pub method: String,
    pub path: String,
    /// Decoded `key=value` pairs in order, `$alt` included.
    pub query: Vec<(String, String)>,
    /// The JSON body; `Null` when there was none, a string when it was not JSON.
    pub body: Value,
    /// Who called: the `iss` of the bearer token when it is a JWT (what a service account key
    /// signs: Google accepts those in place of an access token), `None` for an anonymous call.
    pub caller: Option<String>,
}

/// Binds a free loopback port and serves on background threads for the rest of the process.
pub fn start() -> GcpApi {
    let state = Arc::new(Mutex::new(State {
        polls: 2,
        ..State::default()
    }));
    let served = Arc::clone(&state);
    let port = http::serve(move |req| Some(respond(&served, &req)));
    GcpApi {
        url: format!("http://127.0.0.1:{port}"),
        port,
        state,
    }
}

impl GcpApi {
    fn state(&self) -> MutexGuard<'_, State> {
        lock(&self.state)
    }

    /// Every request so far, in arrival order, as `METHOD /path` (no query string).
    pub fn log(&self) -> Vec<String> {
        self.state()
            .requests
            .iter()
            .map(|r| format!("{} {}", r.method, r.path))
            .collect()
    }

    /// From now on, answers only requests signed by `caller` (a service account's email);
    /// others get 401 (anonymous) or 403, as Google answers them.
    pub fn allow_only(&self, caller: &str) {
        self.state().only = Some(caller.to_owned());
    }

    /// Every request so far, with its query and body.
    pub fn requests(&self) -> Vec<Request> {
        self.state().requests.clone()
    }

    /// Requests that matched no route or broke the contract, as `METHOD /path: why`.
    pub fn unexpected(&self) -> Vec<String> {
        self.state().unexpected.clone()
    }

    /// How many GETs of an operation started from now on answer "not done" before it is done.
    /// With 0 an operation is done (and its effect applied) in the answer that starts it.
    pub fn set_polls(&self, n: u32) {
        self.state().polls = n;
    }

    /// Answers the next `times` requests whose method is `method` and whose decoded path
    /// contains `path_contains` with `status` and the API's error body, without doing anything:
    /// 429 RESOURCE_EXHAUSTED, 409 ABORTED, 503 UNAVAILABLE, 404 NOT_FOUND, 500 INTERNAL, ...
    /// (Compute paths get Compute's error body). The requests are still logged.
    pub fn fail_next(&self, method: &str, path_contains: &str, status: u16, times: u32) {
        self.state().faults.push(Fault {
            method: method.to_ascii_uppercase(),
            path: path_contains.to_owned(),
            status,
            times,
        });
    }

    /// Makes the next operation of `op_type` end done but failed with `message`, its effect not
    /// applied: a GKE `CREATE_CLUSTER` or `CREATE_NODE_POOL` leaves its cluster or pool in status
    /// ERROR (as GKE does), a `DELETE_*` leaves it in ERROR and in place, `SET_NODE_POOL_SIZE`
    /// and `SET_LABELS` change nothing; Artifact Registry's `CREATE_REPOSITORY` removes the
    /// repository, `DELETE_REPOSITORY` keeps it; Compute's `delete` keeps the resource.
    pub fn fail_operation(&self, op_type: &str, message: &str) {
        self.state()
            .failing
            .push((op_type.to_owned(), message.to_owned()));
    }

    /// The caller no longer holds `permission` (for testIamPermissions).
    pub fn deny(&self, permission: &str) {
        self.state().denied.insert(permission.to_owned());
    }

    /// Puts a Compute resource in `collection` directly, as GKE would create it for a Kubernetes
    /// object: `collection` is `projects/P/regions/R/forwardingRules`, `.../targetPools`,
    /// `projects/P/global/backendServices`, `.../firewalls`,
    /// `projects/P/zones/Z/networkEndpointGroups` or `.../disks`, and `item` has at least a
    /// `name`. The output-only fields (kind, id, selfLink, creationTimestamp, region or zone) are
    /// filled in unless given.
    pub fn seed(&self, collection: &str, item: Value) {
        let (project, scope, kind) = compute_collection(collection)
            .unwrap_or_else(|| panic!("{collection} is not a collection GcpApi serves"));
        let name = item["name"]
            .as_str()
            .unwrap_or_else(|| panic!("a seeded {kind} needs a name: {item}"))
            .to_owned();
        let mut st = self.state();
        let id = st.next();
        let mut item = item;
        fill_compute(&mut item, collection, &scope, kind, &name, id);
        st.scopes.insert((project, scope));
        st.compute.insert(format!("{collection}/{name}"), item);
    }

    /// Removes a seeded Compute resource (`COLLECTION/NAME`), as GKE's controllers do when
    /// the object they made it for goes; whether it was there.
    pub fn unseed(&self, path: &str) -> bool {
        self.state().compute.remove(path).is_some()
    }

    /// GKE's service controller for the clusters of `project` in `region`, as the Kubernetes
    /// contract server's [`Controller`](super::kube_api::Controller): a `LoadBalancer` Service
    /// gets a forwarding rule and a target pool named `a` + its UID's 32 hex digits, and a
    /// firewall rule `k8s-fw-` + that name, each described by the Service's namespace and name
    /// only, never the cluster's; all three go when the Service does, before its finalizer is
    /// released (kubernetes/cloud-provider-gcp, `providers/gce/gce_loadbalancer_external.go`:
    /// `ensureExternalLoadBalancer`, `makeServiceDescription`, `makeFirewallName`;
    /// `cloudprovider.DefaultLoadBalancerName`). The Service's UID stands here as a hash of the
    /// cluster and the Service. Answers the address the Service reports.
    pub fn service_controller(&self, project: &str, region: &str) -> super::kube_api::Controller {
        use super::kube_api::CloudEvent;
        let api = self.clone();
        let regional = format!("projects/{project}/regions/{region}");
        let global = format!("projects/{project}/global");
        Arc::new(move |event: &CloudEvent| {
            let (place, wanted) = match event {
                CloudEvent::LoadBalancerWanted(p) => (p, true),
                CloudEvent::LoadBalancerGone(p) => (p, false),
            };
            let service = format!("{}/{}", place.namespace, place.name);
            let uid = format!("{}/{service}", place.cluster);
            let name = format!("a{:016x}{:016x}", fnv(&uid), fnv(&format!("{uid}#")));
            let paths = [
                format!("{regional}/forwardingRules/{name}"),
                format!("{regional}/targetPools/{name}"),
                format!("{global}/firewalls/k8s-fw-{name}"),
            ];
            if !wanted {
                for p in &paths {
                    api.unseed(p);
                }
                return None;
            }
            let description = json!({"kubernetes.io/service-name": service}).to_string();
            let address = format!("34.77.{}.{}", fnv(&uid) % 250, fnv(&name) % 250);
            api.seed(
                &format!("{regional}/targetPools"),
                json!({"name": name, "description": description}),
            );
            api.seed(
                &format!("{regional}/forwardingRules"),
                json!({
                    "name": name, "description": description, "IPAddress": address,
                    "target": format!("{COMPUTE}{regional}/targetPools/{name}"),
                }),
            );
            api.seed(
                &format!("{global}/firewalls"),
                json!({"name": format!("k8s-fw-{name}"), "description": description}),
            );
            Some(address)
        })
    }

    /// Every resource the server holds, by full name (`projects/p/locations/l/repositories/r`,
    /// `projects/p/serviceAccounts/EMAIL`, `projects/p/locations/l/clusters/c`,
    /// `projects/p/locations/l/clusters/c/nodePools/np`, `projects/p/regions/r/forwardingRules/x`,
    /// ...), plus `projects/p iam binding ROLE MEMBER` for every member of a project policy but
    /// the project's seeded owner. Resources whose delete has not finished are still held.
    pub fn contents(&self) -> Vec<String> {
        let st = self.state();
        let mut all = BTreeSet::new();
        all.extend(st.repositories.keys().cloned());
        all.extend(st.accounts.keys().cloned());
        all.extend(st.compute.keys().cloned());
        for (key, cluster) in &st.clusters {
            all.insert(key.clone());
            for pool in cluster["nodePools"].as_array().into_iter().flatten() {
                all.insert(format!(
                    "{key}/nodePools/{}",
                    pool["name"].as_str().unwrap_or_default()
                ));
            }
        }
        for (project, policy) in &st.policies {
            // A project's policy is keyed by its id, a service account's by its name.
            let owner = if project.contains('/') {
                project.clone()
            } else {
                format!("projects/{project}")
            };
            for binding in policy["bindings"].as_array().into_iter().flatten() {
                let role = binding["role"].as_str().unwrap_or_default();
                for member in binding["members"].as_array().into_iter().flatten() {
                    let member = member.as_str().unwrap_or_default();
                    if role != OWNER_ROLE || member != OWNER {
                        all.insert(format!("{owner} iam binding {role} {member}"));
                    }
                }
            }
        }
        all.into_iter().collect()
    }

    /// One held resource by the name [`GcpApi::contents`] gives it; also `projects/p` for the
    /// project's IAM policy and an operation's path (`projects/p/locations/l/operations/op`,
    /// `projects/p/regions/r/operations/op`, ...) for the operation, which does not count as a
    /// poll.
    pub fn get(&self, name: &str) -> Option<Value> {
        let st = self.state();
        if let Some(project) = name.strip_prefix("projects/")
            && !project.contains('/')
        {
            return st.policies.get(project).cloned();
        }
        if let Some((cluster, pool)) = name.split_once("/nodePools/") {
            return st
                .clusters
                .get(cluster)
                .and_then(|c| find_pool(c, pool))
                .cloned();
        }
        if let Some(op) = st.operations.get(name) {
            return Some(render(op));
        }
        st.repositories
            .get(name)
            .or_else(|| st.accounts.get(name))
            .or_else(|| st.clusters.get(name))
            .or_else(|| st.compute.get(name))
            .cloned()
    }
}

/// Everything the server holds. One lock for all of it: requests are served one at a time
/// against it, so an answer never sees half of another request's effect.
#[derive(Default)]
struct State {
    requests: Vec<Request>,
    unexpected: Vec<String>,
    polls: u32,
    faults: Vec<Fault>,
    /// Operation types whose next operation fails, with the message.
    failing: Vec<(String, String)>,
    /// By full name, as each API names its resources.
    repositories: BTreeMap<String, Value>,
    accounts: BTreeMap<String, Value>,
    /// By project id.
    policies: BTreeMap<String, Value>,
    /// Node pools live inside their cluster's `nodePools`, as GetCluster answers them.
    clusters: BTreeMap<String, Value>,
    compute: BTreeMap<String, Value>,
    /// (project, `zones/z` | `regions/r` | `global`) pairs Compute has been asked about, so
    /// aggregated lists answer them with a "no results" warning as the real API does.
    scopes: BTreeSet<(String, String)>,
    /// By full path below the API version, e.g. `projects/p/locations/l/operations/op` or
    /// `projects/p/zones/z/operations/op`; ids are unique across the three kinds.
    operations: BTreeMap<String, Operation>,
    counter: u64,
    /// Permissions the caller does not hold on any project (testIamPermissions leaves them out).
    denied: BTreeSet<String>,
    /// The only caller answered; anyone else is refused as Google refuses an unknown identity.
    only: Option<String>,
}

struct Fault {
    method: String,
    path: String,
    status: u16,
    times: u32,
}

/// Which operation resource an operation is: they look different in each API.
#[derive(Clone, Copy, PartialEq)]
enum Api {
    /// google.longrunning.Operation (Artifact Registry).
    LongRunning,
    /// google.container.v1.Operation.
    Container,
    /// compute#operation.
    Compute,
}

struct Operation {
    api: Api,
    /// The operation type `fail_operation` names.
    kind: String,
    /// The operation as first answered; `render` adds the state.
    body: Value,
    polls_left: u32,
    done: bool,
    end_time: String,
    failure: Option<String>,
    effect: Effect,
    /// The GKE cluster the operation holds, which refuses other operations meanwhile.
    cluster: Option<String>,
    /// The longrunning `response`, fixed when done.
    response: Value,
}

impl Operation {
    fn new(api: Api, kind: &str, body: Value, effect: Effect) -> Operation {
        Operation {
            api,
            kind: kind.to_owned(),
            body,
            polls_left: 0,
            done: false,
            end_time: String::new(),
            failure: None,
            effect,
            cluster: None,
            response: Value::Null,
        }
    }
}

/// What an operation does to the held resources once done.
enum Effect {
    None,
    RepositoryCreated(String),
    RepositoryDeleted(String),
    ClusterCreated(String),
    ClusterDeleted(String),
    PoolCreated(String, String),
    PoolDeleted(String, String),
    PoolResized(String, String, i64),
    LabelsSet(String, Value),
    ComputeDeleted(String),
}

impl State {
    fn next(&mut self) -> u64 {
        self.counter += 1;
        self.counter
    }

    /// A GKE/Compute-style operation id, unique in this server.
    fn op_name(&mut self) -> String {
        let n = self.next();
        format!("operation-{}-{n}", now().as_millis())
    }

    /// Holds `op` at `key` and answers it as it stands after starting.
    fn start_op(&mut self, key: String, mut op: Operation) -> Value {
        if let Some(i) = self.failing.iter().position(|(t, _)| *t == op.kind) {
            op.failure = Some(self.failing.remove(i).1);
        }
        op.polls_left = self.polls;
        self.operations.insert(key.clone(), op);
        if self.polls == 0 {
            self.complete(&key);
        }
        render(&self.operations[&key])
    }

    /// One GET of the operation at `key`: counts as a poll.
    fn poll(&mut self, key: &str) -> Option<Value> {
        let op = self.operations.get_mut(key)?;
        if !op.done {
            if op.polls_left == 0 {
                self.complete(key);
            } else {
                op.polls_left -= 1;
            }
        }
        Some(render(&self.operations[key]))
    }

    fn complete(&mut self, key: &str) {
        let Some(op) = self.operations.get_mut(key) else {
            return;
        };
        if op.done {
            return;
        }
        op.done = true;
        op.end_time = rfc3339(now_secs());
        let failed = op.failure.is_some();
        let effect = std::mem::replace(&mut op.effect, Effect::None);
        let response = self.apply(effect, failed);
        if let Some(op) = self.operations.get_mut(key) {
            op.response = response;
        }
    }

    /// Applies a finished operation's effect; answers the longrunning `response`.
    fn apply(&mut self, effect: Effect, failed: bool) -> Value {
        let settle = |status: &str| if failed { "ERROR" } else { status }.to_owned();
        match effect {
            Effect::None => Value::Null,
            Effect::RepositoryCreated(key) => {
                if failed {
                    self.repositories.remove(&key);
                    return Value::Null;
                }
                // https://cloud.google.com/artifact-registry/docs/reference/rest/v1/projects.locations.repositories/create
                // "Its response will be the created Repository."
                let mut repo = self.repositories.get(&key).cloned().unwrap_or(json!({}));
                repo["@type"] =
                    json!("type.googleapis.com/google.devtools.artifactregistry.v1.Repository");
                repo
            }
            Effect::RepositoryDeleted(key) => {
                if !failed {
                    self.repositories.remove(&key);
                }
                // https://cloud.google.com/artifact-registry/docs/reference/rest/v1/projects.locations.repositories/delete
                // "Its response will be an empty response" (google.protobuf.Empty).
                json!({"@type": "type.googleapis.com/google.protobuf.Empty"})
            }
            Effect::ClusterCreated(key) => {
                if let Some(cluster) = self.clusters.get_mut(&key) {
                    cluster["status"] = json!(settle("RUNNING"));
                    for pool in pools_mut(cluster) {
                        pool["status"] = json!(settle("RUNNING"));
                    }
                }
                Value::Null
            }
            Effect::ClusterDeleted(key) => {
                if failed {
                    if let Some(cluster) = self.clusters.get_mut(&key) {
                        cluster["status"] = json!("ERROR");
                    }
                } else {
                    self.clusters.remove(&key);
                }
                Value::Null
            }
            Effect::PoolCreated(key, pool) => {
                if let Some(pool) = self.clusters.get_mut(&key).and_then(|c| pool_mut(c, &pool)) {
                    pool["status"] = json!(settle("RUNNING"));
                }
                Value::Null
            }
            Effect::PoolDeleted(key, name) => {
                if let Some(cluster) = self.clusters.get_mut(&key) {
                    if failed {
                        if let Some(pool) = pool_mut(cluster, &name) {
                            pool["status"] = json!("ERROR");
                        }
                    } else if let Some(pools) = cluster["nodePools"].as_array_mut() {
                        pools.retain(|p| p["name"] != name.as_str());
                    }
                }
                Value::Null
            }
            Effect::PoolResized(key, name, count) => {
                if let Some(pool) = self.clusters.get_mut(&key).and_then(|c| pool_mut(c, &name)) {
                    if !failed {
                        pool["initialNodeCount"] = json!(count);
                    }
                    pool["status"] = json!("RUNNING");
                }
                Value::Null
            }
            Effect::LabelsSet(key, labels) => {
                if let Some(cluster) = self.clusters.get_mut(&key)
                    && !failed
                {
                    cluster["labelFingerprint"] = json!(fingerprint(&labels));
                    cluster["resourceLabels"] = labels;
                }
                Value::Null
            }
            Effect::ComputeDeleted(key) => {
                if !failed {
                    self.compute.remove(&key);
                }
                Value::Null
            }
        }
    }

    /// GKE's refusal of a cluster mutation while another operation on the cluster runs: 400
    /// FAILED_PRECONDITION, the error Terraform's google provider retries on.
    fn busy(&self, cluster: &str, name: &str) -> Result<(), Reply> {
        let running = self.operations.values().find(|op| {
            op.api == Api::Container && !op.done && op.cluster.as_deref() == Some(cluster)
        });
        let Some(op) = running else {
            return Ok(());
        };
        let id = op.body["name"].as_str().unwrap_or_default();
        let message = match op.kind.as_str() {
            "CREATE_CLUSTER" => format!(
                "Operation {id} is currently creating cluster {name}. Please wait and try again once it is done."
            ),
            "DELETE_CLUSTER" => format!(
                "Operation {id} is currently deleting cluster {name}. Please wait and try again once it is done."
            ),
            _ => format!("Cluster is running incompatible operation {id}."),
        };
        Err(error(400, "FAILED_PRECONDITION", message))
    }
}

/// An operation as the API answers it now.
fn render(op: &Operation) -> Value {
    let mut v = op.body.clone();
    let failure = op.failure.as_deref().filter(|_| op.done);
    match op.api {
        // https://cloud.google.com/artifact-registry/docs/reference/rest/Shared.Types/Operation
        Api::LongRunning => {
            v["done"] = json!(op.done);
            if op.done {
                match failure {
                    Some(m) => v["error"] = json!({"code": 13, "message": m}),
                    None => v["response"] = op.response.clone(),
                }
            }
        }
        // https://cloud.google.com/kubernetes-engine/docs/reference/rest/v1/projects.locations.operations#Operation
        Api::Container => {
            v["status"] = json!(if op.done { "DONE" } else { "RUNNING" });
            if op.done {
                v["endTime"] = json!(op.end_time);
            }
            if let Some(m) = failure {
                v["error"] = json!({"code": 13, "message": m});
                v["statusMessage"] = json!(m);
            }
        }
        // https://cloud.google.com/compute/docs/reference/rest/v1/regionOperations#Operation
        Api::Compute => {
            v["status"] = json!(if op.done { "DONE" } else { "RUNNING" });
            v["progress"] = json!(if op.done { 100 } else { 0 });
            if op.done {
                v["endTime"] = json!(op.end_time);
            }
            if let Some(m) = failure {
                v["error"] = json!({"errors": [{"code": "INTERNAL_ERROR", "message": m}]});
                v["httpErrorStatusCode"] = json!(500);
                v["httpErrorMessage"] = json!("INTERNAL SERVER ERROR");
            }
        }
    }
    v
}

// ---------------------------------------------------------------------------------------------
// HTTP

fn respond(state: &Mutex<State>, req: &Incoming) -> Response {
    let reply = answer(&mut lock(state), req);
    let text = reply.body.to_string();
    Response::new(
        reply.status,
        &[("Content-Type", "application/json; charset=UTF-8")],
        text.as_bytes(),
    )
}

/// One answer: status, JSON body, and why the request counts as unexpected, if it does.
struct Reply {
    status: u16,
    body: Value,
    unexpected: Option<String>,
}

type Routed = Result<Reply, Reply>;

fn ok(body: Value) -> Routed {
    Ok(Reply {
        status: 200,
        body,
        unexpected: None,
    })
}

/// The Google JSON error body, https://cloud.google.com/apis/design/errors#http_mapping
fn error(status: u16, code: &str, message: impl Into<String>) -> Reply {
    Reply {
        status,
        body: json!({"error": {"code": status, "message": message.into(), "status": code}}),
        unexpected: None,
    }
}

fn not_found(message: impl Into<String>) -> Reply {
    error(404, "NOT_FOUND", message)
}

/// A request that breaks the documented contract: answered 400 INVALID_ARGUMENT, as the API
/// would, and recorded.
fn invalid(message: impl Into<String>) -> Reply {
    let message = message.into();
    let mut reply = error(400, "INVALID_ARGUMENT", message.clone());
    reply.unexpected = Some(message);
    reply
}

/// Compute Engine's error body: `errors[]` with a `reason`, no `status`.
// https://cloud.google.com/compute/docs/api/how-tos/api-requests-responses#handling_api_errors
fn compute_error(status: u16, reason: &str, message: impl Into<String>) -> Reply {
    let message = message.into();
    Reply {
        status,
        body: json!({"error": {"code": status, "message": message, "errors": [
            {"domain": "global", "reason": reason, "message": message}
        ]}}),
        unexpected: None,
    }
}

/// The gRPC status name of an HTTP status, for injected errors.
fn status_name(status: u16) -> &'static str {
    match status {
        400 => "INVALID_ARGUMENT",
        401 => "UNAUTHENTICATED",
        403 => "PERMISSION_DENIED",
        404 => "NOT_FOUND",
        409 => "ABORTED",
        412 => "FAILED_PRECONDITION",
        429 => "RESOURCE_EXHAUSTED",
        499 => "CANCELLED",
        501 => "UNIMPLEMENTED",
        503 => "UNAVAILABLE",
        504 => "DEADLINE_EXCEEDED",
        _ => "INTERNAL",
    }
}

/// Compute's `reason` for an HTTP status, for injected errors.
fn compute_reason(status: u16) -> &'static str {
    match status {
        400 => "invalid",
        403 => "forbidden",
        404 => "notFound",
        409 => "conflict",
        412 => "conditionNotMet",
        429 => "rateLimitExceeded",
        _ => "backendError",
    }
}

fn answer(st: &mut State, incoming: &Incoming) -> Reply {
    let method = incoming.method();
    let segments = incoming.segments();
    let path = format!("/{}", segments.join("/"));
    let (json_body, bad_body) = incoming.json_body();
    let req = Request {
        method: method.clone(),
        path: path.clone(),
        query: incoming.query(),
        body: json_body,
        caller: caller(incoming),
    };
    st.requests.push(req.clone());
    let line = format!("{method} {path}");
    let is_compute = path.starts_with("/compute/");
    if let Some(only) = &st.only
        && req.caller.as_ref() != Some(only)
    {
        let message = match &req.caller {
            None => "Request is missing required authentication credential. Expected OAuth 2 access token, login cookie or other valid authentication credential.".to_owned(),
            Some(who) => format!("The caller {who} does not have permission"),
        };
        let status = if req.caller.is_none() { 401 } else { 403 };
        return if is_compute {
            compute_error(status, compute_reason(status), message)
        } else {
            error(status, status_name(status), message)
        };
    }

    if let Some(i) = st
        .faults
        .iter()
        .position(|f| f.times > 0 && f.method == method && path.contains(&f.path))
    {
        let fault = &mut st.faults[i];
        fault.times -= 1;
        let status = fault.status;
        if fault.times == 0 {
            st.faults.remove(i);
        }
        let message = format!("injected by the test server ({status})");
        return if is_compute {
            compute_error(status, compute_reason(status), message)
        } else {
            error(status, status_name(status), message)
        };
    }

    let reply = if bad_body {
        if is_compute {
            let mut r = compute_error(
                400,
                "parseError",
                "This API does not support parsing form-encoded input.",
            );
            r.unexpected = Some("the body is not JSON".to_owned());
            r
        } else {
            invalid("Invalid JSON payload received.")
        }
    } else {
        route(st, &req, &segments).unwrap_or_else(|e| e)
    };
    if let Some(why) = &reply.unexpected {
        st.unexpected.push(format!("{line}: {why}"));
    }
    reply
}

fn route(st: &mut State, req: &Request, segments: &[String]) -> Routed {
    let mut segs: Vec<&str> = segments.iter().map(String::as_str).collect();
    // `name:verb` custom methods (https://cloud.google.com/apis/design/custom_methods); no name
    // these APIs take contains a colon.
    let mut verb = None;
    if let Some(last) = segs.last_mut()
        && let Some((name, v)) = last.split_once(':')
    {
        *last = name;
        verb = Some(v);
    }
    let key = segs.get(1..).map(|s| s.join("/")).unwrap_or_default();
    match (req.method.as_str(), segs.as_slice(), verb) {
        // Artifact Registry v1
        ("POST", ["v1", "projects", p, "locations", l, "repositories"], None) => {
            repository_create(st, req, p, l)
        }
        ("GET", ["v1", "projects", p, "locations", l, "repositories"], None) => {
            repository_list(st, req, p, l)
        }
        ("GET", ["v1", "projects", _, "locations", _, "repositories", _], None) => st
            .repositories
            .get(&key)
            .cloned()
            .map_or_else(|| Err(not_found("Requested entity was not found.")), ok),
        ("PATCH", ["v1", "projects", _, "locations", _, "repositories", _], None) => {
            repository_patch(st, req, &key)
        }
        ("DELETE", ["v1", "projects", p, "locations", l, "repositories", _], None) => {
            repository_delete(st, &key, p, l)
        }
        // Artifact Registry's and GKE's operations share this path; ids never collide.
        ("GET", ["v1", "projects", _, "locations", _, "operations", _], None) => {
            operation_get(st, &key)
        }
        // IAM v1
        ("POST", ["v1", "projects", p, "serviceAccounts"], None) => account_create(st, req, p),
        ("GET", ["v1", "projects", p, "serviceAccounts"], None) => account_list(st, req, p),
        (
            m @ ("GET" | "PATCH" | "PUT" | "DELETE"),
            ["v1", "projects", p, "serviceAccounts", a],
            None,
        ) => account_one(st, req, m, p, a),
        (
            "POST",
            ["v1", "projects", p, "serviceAccounts", a],
            Some(v @ ("getIamPolicy" | "setIamPolicy")),
        ) => account_policy(st, req, v, p, a),
        // Resource Manager v3
        ("POST", ["v3", "projects", p], Some("getIamPolicy")) => policy_get(st, req, p),
        ("POST", ["v3", "projects", p], Some("setIamPolicy")) => policy_set(st, req, p),
        ("POST", ["v3", "projects", _], Some("testIamPermissions")) => permissions_test(st, req),
        // Kubernetes Engine v1
        ("POST", ["v1", "projects", p, "locations", l, "clusters"], None) => {
            cluster_create(st, req, p, l)
        }
        ("GET", ["v1", "projects", p, "locations", l, "clusters"], None) => {
            let prefix = if *l == "-" {
                format!("projects/{p}/locations/")
            } else {
                format!("projects/{p}/locations/{l}/clusters/")
            };
            let clusters: Vec<Value> = st
                .clusters
                .iter()
                .filter(|(k, _)| k.starts_with(&prefix))
                .map(|(_, c)| c.clone())
                .collect();
            ok(with_list(json!({}), "clusters", clusters))
        }
        (
            m,
            [
                "v1",
                "projects",
                p,
                "locations",
                l,
                "clusters",
                c,
                rest @ ..,
            ],
            v,
        ) => cluster_route(st, req, m, [p, l, c], rest, v),
        // Compute Engine v1
        (_, ["compute", "v1", "projects", p, rest @ ..], None) => compute(st, req, p, rest),
        _ => Err(no_route(req)),
    }
}

/// A cluster's own methods and its node pools', below `projects/P/locations/L/clusters/C`.
fn cluster_route(
    st: &mut State,
    req: &Request,
    method: &str,
    [p, l, c]: [&str; 3],
    rest: &[&str],
    verb: Option<&str>,
) -> Routed {
    let key = format!("projects/{p}/locations/{l}/clusters/{c}");
    match (method, rest, verb) {
        ("GET", [], None) => cluster(st, &key).cloned().and_then(ok),
        ("DELETE", [], None) => cluster_delete(st, &key, p, l, c),
        ("POST", [], Some("setResourceLabels")) => cluster_set_labels(st, req, &key, p, l, c),
        ("POST", ["nodePools"], None) => pool_create(st, req, p, l, c),
        ("GET", ["nodePools"], None) => {
            let pools = cluster(st, &key)?["nodePools"]
                .as_array()
                .cloned()
                .unwrap_or_default();
            ok(with_list(json!({}), "nodePools", pools))
        }
        ("GET", ["nodePools", np], None) => find_pool(cluster(st, &key)?, np)
            .cloned()
            .ok_or_else(|| not_found(format!("Not found: {key}/nodePools/{np}.")))
            .and_then(ok),
        ("DELETE", ["nodePools", np], None) => {
            pool_change(st, req, PoolChange::Delete, [p, l, c, np])
        }
        ("POST", ["nodePools", np], Some("setSize")) => {
            pool_change(st, req, PoolChange::Resize, [p, l, c, np])
        }
        _ => Err(no_route(req)),
    }
}

/// A request no route matches: 404, and recorded.
fn no_route(req: &Request) -> Reply {
    let mut r = not_found(format!("No route for {} {}", req.method, req.path));
    r.unexpected = Some("no route matches".to_owned());
    r
}

// ---------------------------------------------------------------------------------------------
// Shared helpers

fn query<'a>(req: &'a Request, key: &str) -> Option<&'a str> {
    req.query
        .iter()
        .find(|(k, _)| k == key)
        .map(|(_, v)| v.as_str())
}

/// A list page of `items` from `token` (an offset this server handed out).
fn page(
    items: Vec<Value>,
    size: Option<&str>,
    token: Option<&str>,
    max: usize,
) -> Result<(Vec<Value>, Option<String>), Reply> {
    let size = match size.filter(|s| !s.is_empty()) {
        None => max,
        Some(s) => match s.parse::<usize>() {
            Ok(0) => max,
            Ok(n) => n.min(max),
            Err(_) => return Err(invalid(format!("Invalid page size {s}"))),
        },
    };
    let start = match token.filter(|t| !t.is_empty()) {
        None => 0,
        Some(t) => t
            .parse::<usize>()
            .map_err(|_| invalid(format!("Invalid page token {t}")))?,
    };
    let rest: Vec<Value> = items.into_iter().skip(start).collect();
    let next = (rest.len() > size).then(|| (start + size).to_string());
    Ok((rest.into_iter().take(size).collect(), next))
}

/// `base` with `items` under `field`, left out when empty as proto3 JSON does.
fn with_list(mut base: Value, field: &str, items: Vec<Value>) -> Value {
    if !items.is_empty() {
        base[field] = Value::Array(items);
    }
    base
}

/// One page of a list: [`with_list`], and the token of the next page when there is one.
fn with_page(base: Value, field: &str, (items, next): (Vec<Value>, Option<String>)) -> Value {
    let mut answer = with_list(base, field, items);
    if let Some(next) = next {
        answer["nextPageToken"] = json!(next);
    }
    answer
}

fn body_object<'a>(req: &'a Request, what: &str) -> Result<&'a Map<String, Value>, Reply> {
    req.body
        .as_object()
        .ok_or_else(|| invalid(format!("The request body must be a JSON object ({what})")))
}

/// An integer sent as a JSON number or, as proto3 JSON allows, a string.
fn int(v: &Value) -> Option<i64> {
    match v {
        Value::Number(n) => n.as_i64().or_else(|| n.as_f64().map(|f| f as i64)),
        Value::String(s) => s.parse().ok(),
        _ => None,
    }
}

/// An enum's documented name from its number or name; `None` when it is neither.
fn enum_name(v: &Value, names: &[(i64, &'static str)]) -> Option<&'static str> {
    match v {
        Value::String(s) => names.iter().find(|(_, n)| n == s).map(|(_, n)| *n),
        _ => int(v).and_then(|i| names.iter().find(|(n, _)| *n == i).map(|(_, n)| *n)),
    }
}

/// Replaces the enum at `pointer` in `v` by its name, if it is there.
fn name_enum(v: &mut Value, pointer: &str, names: &[(i64, &'static str)]) -> Result<(), Reply> {
    if let Some(field) = v.pointer_mut(pointer) {
        match enum_name(field, names) {
            Some(name) => *field = json!(name),
            None => return Err(invalid(format!("Invalid value at '{pointer}': {field}"))),
        }
    }
    Ok(())
}

/// Google Cloud label rules, shared by every API here.
// https://cloud.google.com/resource-manager/docs/labels-overview#requirements
fn check_labels(labels: &Value, field: &str) -> Result<(), Reply> {
    let map = match labels {
        Value::Null => return Ok(()),
        Value::Object(m) => m,
        _ => return Err(invalid(format!("{field} must be a map of strings"))),
    };
    if map.len() > 64 {
        return Err(invalid(format!("{field}: at most 64 labels are allowed")));
    }
    for (k, v) in map {
        if !matches(r"^[\p{Ll}\p{Lo}][\p{Ll}\p{Lo}\p{N}_-]{0,62}$", k) {
            return Err(invalid(format!(
                "{field}: label key '{k}' must start with a lowercase letter and hold only lowercase letters, digits, '_' and '-' (at most 63)"
            )));
        }
        let ok_value = v
            .as_str()
            .is_some_and(|v| matches(r"^[\p{Ll}\p{Lo}\p{N}_-]{0,63}$", v));
        if !ok_value {
            return Err(invalid(format!(
                "{field}: label value {v} of '{k}' must hold only lowercase letters, digits, '_' and '-' (at most 63)"
            )));
        }
    }
    Ok(())
}

/// RFC 3339 UTC, the form google.protobuf.Timestamp and Compute's timestamps take.
fn rfc3339(secs: u64) -> String {
    let (year, month, day, hour, minute, second) = civil(secs);
    format!("{year:04}-{month:02}-{day:02}T{hour:02}:{minute:02}:{second:02}Z")
}

/// The `iss` claim of the request's `Authorization: Bearer` JWT. The signature is not checked:
/// the server has no key registry, and what tests ask is whose credentials were used.
fn caller(req: &Incoming) -> Option<String> {
    use base64::Engine as _;
    let token = req
        .header("authorization")?
        .strip_prefix("Bearer ")?
        .to_owned();
    let claims = token.split('.').nth(1)?;
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(claims.trim_end_matches('='))
        .ok()?;
    let claims: Value = serde_json::from_slice(&bytes).ok()?;
    claims["iss"].as_str().map(str::to_owned)
}

fn base64(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::new();
    for c in bytes.chunks(3) {
        let n = (u32::from(c[0]) << 16)
            | (u32::from(*c.get(1).unwrap_or(&0)) << 8)
            | u32::from(*c.get(2).unwrap_or(&0));
        for i in 0..4 {
            if i <= c.len() {
                out.push(ALPHABET[(n >> (18 - 6 * i) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

/// An etag as IAM writes them: base64 of eight bytes (the clients decode it as bytes).
fn etag(n: u64) -> String {
    let mut bytes = [0u8; 8];
    bytes[0] = 0x07;
    bytes[2..].copy_from_slice(&n.to_be_bytes()[2..]);
    base64(&bytes)
}

/// GKE's label fingerprint: a hash of the labels, changing with them.
fn fingerprint(labels: &Value) -> String {
    let sorted: BTreeMap<String, Value> = labels
        .as_object()
        .map(|m| m.iter().map(|(k, v)| (k.clone(), v.clone())).collect())
        .unwrap_or_default();
    format!("{:08x}", fnv(&json!(sorted).to_string()) & 0xffff_ffff)
}

// ---------------------------------------------------------------------------------------------
// Operations

fn operation_get(st: &mut State, key: &str) -> Routed {
    match st.poll(key) {
        Some(op) => ok(op),
        None => {
            // Operations are never forgotten here, so a miss is a client building a wrong name.
            let mut r = not_found(format!("Operation {key} was not found."));
            r.unexpected = Some("no such operation".to_owned());
            Err(r)
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Artifact Registry

// https://cloud.google.com/artifact-registry/docs/reference/rest/v1/projects.locations.repositories#Format
const FORMATS: &[(i64, &str)] = &[
    (0, "FORMAT_UNSPECIFIED"),
    (1, "DOCKER"),
    (2, "MAVEN"),
    (3, "NPM"),
    (5, "APT"),
    (6, "YUM"),
    (8, "PYTHON"),
    (9, "KFP"),
    (10, "GO"),
    (11, "GENERIC"),
    (12, "RUBY"),
];
// https://cloud.google.com/artifact-registry/docs/reference/rest/v1/projects.locations.repositories#Mode
const MODES: &[(i64, &str)] = &[
    (0, "MODE_UNSPECIFIED"),
    (1, "STANDARD_REPOSITORY"),
    (2, "VIRTUAL_REPOSITORY"),
    (3, "REMOTE_REPOSITORY"),
];

/// CreateRepository. The repository exists (GET finds it) as soon as the create is accepted, as
/// it does in practice; the operation finishes after the polls with the repository as its
/// response.
// https://cloud.google.com/artifact-registry/docs/reference/rest/v1/projects.locations.repositories/create
fn repository_create(st: &mut State, req: &Request, p: &str, l: &str) -> Routed {
    let id = query(req, "repositoryId").unwrap_or_default();
    if id.is_empty() {
        return Err(invalid("repositoryId is required"));
    }
    if !matches(r"^[a-z]([a-z0-9-]{0,61}[a-z0-9])?$", id) {
        return Err(invalid(format!(
            "Invalid repository id '{id}': it must start with a lowercase letter, end with a letter or digit, and hold only lowercase letters, digits and hyphens (at most 63)"
        )));
    }
    let body = body_object(req, "Repository")?;
    let format = match body.get("format").map(|f| enum_name(f, FORMATS)) {
        None | Some(Some("FORMAT_UNSPECIFIED")) => {
            return Err(invalid("Repository.format is required"));
        }
        Some(None) => return Err(invalid("Repository.format is not a known format")),
        Some(Some(f)) => f,
    };
    let mode = match body.get("mode").map(|m| enum_name(m, MODES)) {
        None | Some(Some("MODE_UNSPECIFIED")) => "STANDARD_REPOSITORY",
        Some(None) => return Err(invalid("Repository.mode is not a known mode")),
        Some(Some(m)) => m,
    };
    if let Some(n) = body.get("name").and_then(Value::as_str)
        && !n.is_empty()
        && n != format!("projects/{p}/locations/{l}/repositories/{id}")
    {
        return Err(invalid(format!(
            "Repository.name {n} does not match the parent and repositoryId"
        )));
    }
    let labels = body.get("labels").cloned().unwrap_or(Value::Null);
    check_labels(&labels, "labels")?;
    let key = format!("projects/{p}/locations/{l}/repositories/{id}");
    if st.repositories.contains_key(&key) {
        return Err(error(
            409,
            "ALREADY_EXISTS",
            "the repository already exists",
        ));
    }
    // https://cloud.google.com/artifact-registry/docs/reference/rest/v1/projects.locations.repositories#Repository
    let now = rfc3339(now_secs());
    let mut repo = Value::Object(body.clone());
    repo["name"] = json!(key);
    repo["format"] = json!(format);
    repo["mode"] = json!(mode);
    repo["createTime"] = json!(now);
    repo["updateTime"] = json!(now);
    repo["registryUri"] = json!(format!(
        "{l}-{}.pkg.dev/{p}/{id}",
        format.to_ascii_lowercase()
    ));
    st.repositories.insert(key.clone(), repo);
    let op_key = format!("projects/{p}/locations/{l}/operations/{}", uuidish(st));
    let body = longrunning(&op_key);
    let op = st.start_op(
        op_key,
        Operation::new(
            Api::LongRunning,
            "CREATE_REPOSITORY",
            body,
            Effect::RepositoryCreated(key),
        ),
    );
    ok(op)
}

/// An Artifact Registry operation id, which is a UUID there.
fn uuidish(st: &mut State) -> String {
    let n = st.next();
    let h = fnv(&format!("{n}-{}", now().as_millis()));
    format!(
        "{:08x}-{:04x}-4{:03x}-8{:03x}-{:012x}",
        h >> 32,
        (h >> 16) & 0xffff,
        h & 0xfff,
        (h >> 12) & 0xfff,
        n
    )
}

/// A google.longrunning.Operation before its state is added.
// https://cloud.google.com/artifact-registry/docs/reference/rest/Shared.Types/Operation
fn longrunning(name: &str) -> Value {
    json!({
        "name": name,
        "metadata": {"@type": "type.googleapis.com/google.devtools.artifactregistry.v1.OperationMetadata"},
    })
}

// https://cloud.google.com/artifact-registry/docs/reference/rest/v1/projects.locations.repositories/list
fn repository_list(st: &mut State, req: &Request, p: &str, l: &str) -> Routed {
    let prefix = format!("projects/{p}/locations/{l}/repositories/");
    let all: Vec<Value> = st
        .repositories
        .iter()
        .filter(|(k, _)| k.starts_with(&prefix))
        .map(|(_, r)| r.clone())
        .collect();
    let page = page(all, query(req, "pageSize"), query(req, "pageToken"), 1000)?;
    ok(with_page(json!({}), "repositories", page))
}

/// UpdateRepository: applies exactly the fields `updateMask` names (comma separated, camelCase,
/// `labels.KEY` for one map entry); without a mask, every field the body sets (AIP-134).
// https://cloud.google.com/artifact-registry/docs/reference/rest/v1/projects.locations.repositories/patch
fn repository_patch(st: &mut State, req: &Request, key: &str) -> Routed {
    let body = body_object(req, "Repository")?;
    if let Some(n) = body.get("name").and_then(Value::as_str)
        && !n.is_empty()
        && n != key
    {
        return Err(invalid(format!(
            "Repository.name {n} does not match the path"
        )));
    }
    let mut mask: Vec<String> = req
        .query
        .iter()
        .filter(|(k, _)| k == "updateMask")
        .flat_map(|(_, v)| v.split(','))
        .map(|s| s.trim().to_owned())
        .filter(|s| !s.is_empty())
        .collect();
    if mask.is_empty() {
        mask = body.keys().filter(|k| *k != "name").cloned().collect();
    }
    const MUTABLE: &[&str] = &[
        "description",
        "labels",
        "cleanupPolicies",
        "cleanupPolicyDryRun",
        "dockerConfig",
        "mavenConfig",
        "virtualRepositoryConfig",
        "remoteRepositoryConfig",
        "vulnerabilityScanningConfig",
        "disallowUnspecifiedMode",
    ];
    for path in &mask {
        let top = path.split('.').next().unwrap_or_default();
        if !MUTABLE.contains(&top) {
            return Err(invalid(format!(
                "Invalid update_mask path '{path}': the field cannot be updated"
            )));
        }
    }
    if mask.iter().any(|m| m.starts_with("labels")) {
        check_labels(body.get("labels").unwrap_or(&Value::Null), "labels")?;
    }
    let Some(repo) = st.repositories.get_mut(key) else {
        return Err(not_found("Requested entity was not found."));
    };
    let from = Value::Object(body.clone());
    for path in &mask {
        let pointer = format!("/{}", path.replace('.', "/"));
        let (parent, leaf) = pointer.rsplit_once('/').unwrap_or(("", ""));
        let value = from.pointer(&pointer).cloned();
        if !parent.is_empty() && repo.pointer(parent).is_none() {
            let mut target = &mut *repo;
            for part in parent.trim_start_matches('/').split('/') {
                if !target[part].is_object() {
                    target[part] = json!({});
                }
                target = &mut target[part];
            }
        }
        let Some(Value::Object(container)) = (if parent.is_empty() {
            Some(&mut *repo)
        } else {
            repo.pointer_mut(parent)
        }) else {
            continue;
        };
        match value {
            Some(v) => {
                container.insert(leaf.to_owned(), v);
            }
            None => {
                container.remove(leaf);
            }
        }
    }
    repo["updateTime"] = json!(rfc3339(now_secs()));
    ok(repo.clone())
}

/// DeleteRepository: the repository stays (GET finds it) until the operation is done.
// https://cloud.google.com/artifact-registry/docs/reference/rest/v1/projects.locations.repositories/delete
fn repository_delete(st: &mut State, key: &str, p: &str, l: &str) -> Routed {
    if !st.repositories.contains_key(key) {
        return Err(not_found("Requested entity was not found."));
    }
    let op_key = format!("projects/{p}/locations/{l}/operations/{}", uuidish(st));
    let body = longrunning(&op_key);
    let op = st.start_op(
        op_key,
        Operation::new(
            Api::LongRunning,
            "DELETE_REPOSITORY",
            body,
            Effect::RepositoryDeleted(key.to_owned()),
        ),
    );
    ok(op)
}

// ---------------------------------------------------------------------------------------------
// IAM service accounts

/// CreateServiceAccount; synchronous, as in IAM (no operation).
// https://cloud.google.com/iam/docs/reference/rest/v1/projects.serviceAccounts/create
fn account_create(st: &mut State, req: &Request, p: &str) -> Routed {
    let body = body_object(req, "CreateServiceAccountRequest")?;
    let Some(id) = body.get("accountId").and_then(Value::as_str) else {
        return Err(invalid("accountId is required"));
    };
    if !(6..=30).contains(&id.len()) || !matches(r"^[a-z]([-a-z0-9]*[a-z0-9])$", id) {
        return Err(invalid(format!(
            "Invalid account ID '{id}': it must be 6 to 30 characters, start with a lowercase letter, end with a letter or digit, and hold only lowercase letters, digits and hyphens"
        )));
    }
    let given = body.get("serviceAccount").cloned().unwrap_or(json!({}));
    if !given.is_object() {
        return Err(invalid("serviceAccount must be a ServiceAccount object"));
    }
    check_account_text(&given)?;
    let email = format!("{id}@{p}.iam.gserviceaccount.com");
    let key = format!("projects/{p}/serviceAccounts/{email}");
    if st.accounts.contains_key(&key) {
        return Err(error(
            409,
            "ALREADY_EXISTS",
            format!("Service account {id} already exists within project projects/{p}."),
        ));
    }
    let n = st.next();
    let unique = format!("1{:020}", 4_200_000_000_000_000_000u64 + n);
    // https://cloud.google.com/iam/docs/reference/rest/v1/projects.serviceAccounts#ServiceAccount
    let mut account = json!({
        "name": key,
        "projectId": p,
        "uniqueId": unique,
        "email": email,
        "etag": etag(n),
        "oauth2ClientId": unique,
    });
    for field in ["displayName", "description"] {
        if let Some(v) = given[field].as_str().filter(|v| !v.is_empty()) {
            account[field] = json!(v);
        }
    }
    st.accounts.insert(key, account.clone());
    ok(account)
}

fn check_account_text(account: &Value) -> Result<(), Reply> {
    if account["displayName"]
        .as_str()
        .is_some_and(|s| s.chars().count() > 100)
    {
        return Err(invalid("displayName must be at most 100 characters"));
    }
    if account["description"]
        .as_str()
        .is_some_and(|s| s.chars().count() > 256)
    {
        return Err(invalid("description must be at most 256 characters"));
    }
    Ok(())
}

// https://cloud.google.com/iam/docs/reference/rest/v1/projects.serviceAccounts/list
fn account_list(st: &mut State, req: &Request, p: &str) -> Routed {
    let prefix = format!("projects/{p}/serviceAccounts/");
    let all: Vec<Value> = st
        .accounts
        .iter()
        .filter(|(k, _)| k.starts_with(&prefix))
        .map(|(_, a)| a.clone())
        .collect();
    let page = page(all, query(req, "pageSize"), query(req, "pageToken"), 100)?;
    ok(with_page(json!({}), "accounts", page))
}

/// Get, Patch, Update (PUT) and Delete of one account, named by email or unique id, in its
/// project or in `-` (any project). Deleting leaves the project's IAM bindings alone: real IAM
/// keeps them, shown as `deleted:serviceAccount:EMAIL?uid=ID`, until the policy is rewritten.
// https://cloud.google.com/iam/docs/reference/rest/v1/projects.serviceAccounts/get
// https://cloud.google.com/iam/docs/reference/rest/v1/projects.serviceAccounts/patch
// https://cloud.google.com/iam/docs/reference/rest/v1/projects.serviceAccounts/update
// https://cloud.google.com/iam/docs/reference/rest/v1/projects.serviceAccounts/delete
/// The name of the account `who` (its email or unique id) of project `p` (`-`: any).
fn find_account(st: &State, p: &str, who: &str) -> Option<String> {
    st.accounts
        .iter()
        .find(|(k, a)| {
            (p == "-" || k.starts_with(&format!("projects/{p}/serviceAccounts/")))
                && (a["email"] == who || a["uniqueId"] == who)
        })
        .map(|(k, _)| k.clone())
}

fn account_one(st: &mut State, req: &Request, method: &str, p: &str, who: &str) -> Routed {
    let Some(key) = find_account(st, p, who) else {
        return Err(not_found("Unknown service account"));
    };
    match method {
        "GET" => ok(st.accounts[&key].clone()),
        "DELETE" => {
            st.accounts.remove(&key);
            // Its IAM policy goes with it.
            st.policies.remove(&format!("{key}{ACCOUNT_POLICY}"));
            ok(json!({}))
        }
        _ => {
            let body = body_object(req, "service account update")?;
            let (given, mask): (Value, Vec<String>) = if method == "PATCH" {
                let given = body.get("serviceAccount").cloned().unwrap_or(Value::Null);
                if !given.is_object() {
                    return Err(invalid("serviceAccount is required"));
                }
                let Some(mask) = body.get("updateMask").and_then(Value::as_str) else {
                    return Err(invalid("updateMask is required"));
                };
                let mask = mask
                    .split(',')
                    .map(|s| s.trim().to_owned())
                    .filter(|s| !s.is_empty())
                    .collect();
                (given, mask)
            } else {
                (
                    Value::Object(body.clone()),
                    vec!["displayName".to_owned(), "description".to_owned()],
                )
            };
            if mask.is_empty() {
                return Err(invalid("updateMask is required"));
            }
            if let Some(bad) = mask
                .iter()
                .find(|m| *m != "displayName" && *m != "description")
            {
                return Err(invalid(format!(
                    "Invalid update mask path '{bad}': only displayName and description can be updated"
                )));
            }
            check_account_text(&given)?;
            let n = st.next();
            let account = st.accounts.get_mut(&key).unwrap();
            if let Some(tag) = given["etag"].as_str()
                && !tag.is_empty()
                && account["etag"] != tag
            {
                return Err(error(
                    409,
                    "ABORTED",
                    "The etag does not match the service account's current etag.",
                ));
            }
            for field in &mask {
                match given[field.as_str()].as_str().filter(|v| !v.is_empty()) {
                    Some(v) => account[field.as_str()] = json!(v),
                    None => {
                        account.as_object_mut().unwrap().remove(field.as_str());
                    }
                }
            }
            account["etag"] = json!(etag(n));
            ok(account.clone())
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Resource Manager project IAM policies

/// The project's policy, made on first use with the project's owner binding.
// https://cloud.google.com/resource-manager/reference/rest/Shared.Types/Policy
fn policy(st: &mut State, p: &str) -> Value {
    if !st.policies.contains_key(p) {
        let n = st.next();
        // A project starts with its owner; a service account with no bindings at all (proto3
        // JSON leaves the empty list out).
        let fresh = if p.ends_with(ACCOUNT_POLICY) {
            json!({"version": 1, "etag": etag(n)})
        } else {
            json!({"version": 1, "etag": etag(n), "bindings": [{"role": OWNER_ROLE, "members": [OWNER]}]})
        };
        st.policies.insert(p.to_owned(), fresh);
    }
    st.policies[p].clone()
}

/// What follows a service account's name in the key of its IAM policy.
const ACCOUNT_POLICY: &str = ":iamPolicy";

/// A service account's IAM policy, read or replaced like a project's (the same
/// `google.iam.v1` methods); the account must exist (404). A `serviceAccount:P.svc.id.goog[NS/KSA]`
/// member names a Kubernetes service account of GKE's workload pool `P.svc.id.goog`, which exists
/// only once a cluster of project P has workload identity: before that the write is refused
/// 400 "Identity Pool does not exist"
/// (https://cloud.google.com/kubernetes-engine/docs/how-to/workload-identity, "Enable Workload
/// Identity Federation for GKE on clusters").
// https://cloud.google.com/iam/docs/reference/rest/v1/projects.serviceAccounts/getIamPolicy
// https://cloud.google.com/iam/docs/reference/rest/v1/projects.serviceAccounts/setIamPolicy
fn account_policy(st: &mut State, req: &Request, verb: &str, p: &str, who: &str) -> Routed {
    let Some(account) = find_account(st, p, who) else {
        return Err(not_found(format!("Service account {who} does not exist.")));
    };
    let key = format!("{account}{ACCOUNT_POLICY}");
    if verb == "getIamPolicy" {
        return policy_get(st, req, &key);
    }
    let members = req
        .body
        .pointer("/policy/bindings")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .flat_map(|b| b["members"].as_array().into_iter().flatten())
        .filter_map(Value::as_str);
    for m in members {
        if let Some((pool, _)) = m
            .strip_prefix("serviceAccount:")
            .and_then(|rest| rest.split_once(".svc.id.goog["))
        {
            let wanted = format!("{pool}.svc.id.goog");
            let exists = st
                .clusters
                .values()
                .any(|c| c.pointer("/workloadIdentityConfig/workloadPool") == Some(&json!(wanted)));
            if !exists {
                return Err(error(
                    400,
                    "INVALID_ARGUMENT",
                    format!(
                        "Identity Pool does not exist ({wanted}). Please check that you specified a valid resource name as returned in the `name` attribute in the configuration API."
                    ),
                ));
            }
        }
    }
    policy_set(st, req, &key)
}

impl GcpApi {
    /// The IAM policy of service account `email`, if anything was ever read or written of it.
    pub fn account_policy(&self, email: &str) -> Option<Value> {
        let st = self.state();
        st.policies
            .iter()
            .find(|(k, _)| k.ends_with(&format!("/serviceAccounts/{email}{ACCOUNT_POLICY}")))
            .map(|(_, v)| v.clone())
    }
}

/// TestIamPermissions: the subset of the requested permissions the caller holds (all but those
/// `deny` named). The request must list at least one permission, each `service.resource.verb`;
/// an empty answer has no `permissions` field, as proto3 JSON leaves out empty lists.
// https://cloud.google.com/resource-manager/reference/rest/v3/projects/testIamPermissions
fn permissions_test(st: &mut State, req: &Request) -> Routed {
    let body = body_object(req, "TestIamPermissionsRequest")?;
    let Some(asked) = body.get("permissions").and_then(Value::as_array) else {
        return Err(invalid("permissions is required"));
    };
    if asked.is_empty() {
        return Err(invalid("permissions must name at least one permission"));
    }
    let mut held = Vec::new();
    for p in asked {
        let Some(p) = p.as_str() else {
            return Err(invalid(format!("Permission {p} is not a string")));
        };
        if !matches(r"^[a-z][a-zA-Z0-9]*(\.[a-zA-Z0-9]+){2,}$", p) {
            return Err(invalid(format!("Permission {p} is not valid")));
        }
        if !st.denied.contains(p) {
            held.push(Value::String(p.to_owned()));
        }
    }
    ok(with_list(json!({}), "permissions", held))
}

// https://cloud.google.com/resource-manager/reference/rest/v3/projects/getIamPolicy
fn policy_get(st: &mut State, req: &Request, p: &str) -> Routed {
    if !req.body.is_null() && !req.body.is_object() {
        return Err(invalid("The request body must be a GetIamPolicyRequest"));
    }
    if let Some(v) = req.body.pointer("/options/requestedPolicyVersion")
        && !matches!(int(v), Some(0 | 1 | 3))
    {
        return Err(invalid(format!(
            "Invalid requestedPolicyVersion {v}: it must be 0, 1 or 3"
        )));
    }
    ok(policy(st, p))
}

/// SetIamPolicy: replaces the bindings (the default `updateMask` is `bindings,etag`). A policy
/// with an etag other than the current one is refused 409 ABORTED, as the documented
/// read-modify-write requires. Bindings are merged by role and condition, members deduplicated,
/// empty bindings dropped, and a `serviceAccount:` member newly added must exist if it is a
/// project's own account (`...@P.iam.gserviceaccount.com`), as IAM checks.
// https://cloud.google.com/resource-manager/reference/rest/v3/projects/setIamPolicy
// https://cloud.google.com/iam/docs/policies#etag
fn policy_set(st: &mut State, req: &Request, p: &str) -> Routed {
    let body = body_object(req, "SetIamPolicyRequest")?;
    let Some(given) = body.get("policy").and_then(Value::as_object) else {
        return Err(invalid("policy is required"));
    };
    let bindings = match given.get("bindings") {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::Array(b)) => b.clone(),
        Some(_) => return Err(invalid("policy.bindings must be a list")),
    };
    let version = given.get("version").and_then(int).unwrap_or(0);
    if !matches!(version, 0 | 1 | 3) {
        return Err(invalid(format!("Invalid policy version {version}")));
    }
    let mut merged: Vec<(String, Value, BTreeSet<String>)> = Vec::new();
    for b in &bindings {
        let Some(role) = b["role"].as_str().filter(|r| !r.is_empty()) else {
            return Err(invalid(format!("A binding has no role: {b}")));
        };
        if !matches(
            r"^(roles|projects/[^/]+/roles|organizations/[0-9]+/roles)/[A-Za-z0-9_.]+$",
            role,
        ) {
            return Err(invalid(format!("Role {role} is not a valid role name")));
        }
        let condition = b.get("condition").cloned().unwrap_or(Value::Null);
        if !condition.is_null() {
            if condition["expression"].as_str().is_none_or(str::is_empty) {
                return Err(invalid("A binding condition needs an expression"));
            }
            if version != 3 {
                return Err(invalid(
                    "A policy with conditional bindings must have version 3",
                ));
            }
        }
        let members = match &b["members"] {
            Value::Null => Vec::new(),
            Value::Array(m) => m.clone(),
            _ => return Err(invalid(format!("members of {role} must be a list"))),
        };
        let mut set = BTreeSet::new();
        for m in &members {
            let Some(m) = m.as_str() else {
                return Err(invalid(format!("A member of {role} is not a string: {m}")));
            };
            let valid = matches!(m, "allUsers" | "allAuthenticatedUsers")
                || matches(
                    r"^(user|serviceAccount|group|domain|deleted:user|deleted:serviceAccount|deleted:group|principal|principalSet):\S+$",
                    m,
                );
            if !valid {
                return Err(invalid(format!("Invalid member '{m}' of {role}")));
            }
            set.insert(m.to_owned());
        }
        match merged
            .iter_mut()
            .find(|(r, c, _)| r == role && *c == condition)
        {
            Some((_, _, all)) => all.extend(set),
            None => merged.push((role.to_owned(), condition, set)),
        }
    }
    let current = policy(st, p);
    if let Some(tag) = given.get("etag").and_then(Value::as_str)
        && !tag.is_empty()
        && current["etag"] != tag
    {
        return Err(error(
            409,
            "ABORTED",
            "There were concurrent policy changes. Please retry the whole read-modify-write with exponential backoff.",
        ));
    }
    let had = |role: &str, member: &str| {
        current["bindings"]
            .as_array()
            .into_iter()
            .flatten()
            .any(|b| {
                b["role"] == role
                    && b["members"]
                        .as_array()
                        .into_iter()
                        .flatten()
                        .any(|m| m == member)
            })
    };
    for (role, _, members) in &merged {
        for m in members {
            if let Some(email) = m.strip_prefix("serviceAccount:")
                && email.ends_with(".iam.gserviceaccount.com")
                && !had(role, m)
                && !st.accounts.values().any(|a| a["email"] == email)
            {
                return Err(error(
                    400,
                    "INVALID_ARGUMENT",
                    format!("Service account {email} does not exist."),
                ));
            }
        }
    }
    merged.retain(|(_, _, members)| !members.is_empty());
    merged.sort_by(|a, b| a.0.cmp(&b.0));
    let conditional = merged.iter().any(|(_, c, _)| !c.is_null());
    let bindings: Vec<Value> = merged
        .into_iter()
        .map(|(role, condition, members)| {
            let mut b = json!({"role": role, "members": members.into_iter().collect::<Vec<_>>()});
            if !condition.is_null() {
                b["condition"] = condition;
            }
            b
        })
        .collect();
    let n = st.next();
    let mut updated = json!({"version": if conditional { 3 } else { 1 }, "etag": etag(n)});
    updated = with_list(updated, "bindings", bindings);
    let mask = body.get("updateMask").and_then(Value::as_str).unwrap_or("");
    let audit = if mask.split(',').any(|m| m.trim() == "auditConfigs") {
        given.get("auditConfigs")
    } else {
        current.get("auditConfigs")
    };
    if let Some(audit) = audit {
        updated["auditConfigs"] = audit.clone();
    }
    st.policies.insert(p.to_owned(), updated.clone());
    ok(updated)
}

// ---------------------------------------------------------------------------------------------
// Kubernetes Engine

// https://cloud.google.com/kubernetes-engine/docs/reference/rest/v1/NodeConfig#mode
const WORKLOAD_METADATA: &[(i64, &str)] = &[
    (0, "MODE_UNSPECIFIED"),
    (1, "GCE_METADATA"),
    (2, "GKE_METADATA"),
];
// https://cloud.google.com/kubernetes-engine/docs/reference/rest/v1/projects.locations.clusters#channel
const CHANNELS: &[(i64, &str)] = &[
    (0, "UNSPECIFIED"),
    (1, "RAPID"),
    (2, "REGULAR"),
    (3, "STABLE"),
    (4, "EXTENDED"),
];
// https://cloud.google.com/kubernetes-engine/docs/reference/rest/v1/projects.locations.clusters.nodePools#locationpolicy
const LOCATION_POLICIES: &[(i64, &str)] = &[
    (0, "LOCATION_POLICY_UNSPECIFIED"),
    (1, "BALANCED"),
    (2, "ANY"),
];

/// The scopes GKE gives nodes when the pool names none.
const DEFAULT_SCOPES: &[&str] = &[
    "https://www.googleapis.com/auth/devstorage.read_only",
    "https://www.googleapis.com/auth/logging.write",
    "https://www.googleapis.com/auth/monitoring",
    "https://www.googleapis.com/auth/service.management.readonly",
    "https://www.googleapis.com/auth/servicecontrol",
    "https://www.googleapis.com/auth/trace.append",
];

fn cluster<'a>(st: &'a State, key: &str) -> Result<&'a Value, Reply> {
    st.clusters
        .get(key)
        .ok_or_else(|| not_found(format!("Not found: {key}.")))
}

fn find_pool<'a>(cluster: &'a Value, name: &str) -> Option<&'a Value> {
    cluster["nodePools"]
        .as_array()?
        .iter()
        .find(|p| p["name"] == name)
}

fn pool_mut<'a>(cluster: &'a mut Value, name: &str) -> Option<&'a mut Value> {
    cluster["nodePools"]
        .as_array_mut()?
        .iter_mut()
        .find(|p| p["name"] == name)
}

fn pools_mut(cluster: &mut Value) -> impl Iterator<Item = &mut Value> {
    cluster["nodePools"].as_array_mut().into_iter().flatten()
}

/// A regional location's zones, or a zonal location itself.
fn zones_of(location: &str) -> Vec<String> {
    if matches(r"-[a-z]$", location) {
        vec![location.to_owned()]
    } else {
        ["b", "c", "d"]
            .iter()
            .map(|z| format!("{location}-{z}"))
            .collect()
    }
}

/// A container.v1 Operation before its state is added.
// https://cloud.google.com/kubernetes-engine/docs/reference/rest/v1/projects.locations.operations#Operation
fn container_op(st: &mut State, p: &str, l: &str, kind: &str, target: &str) -> (String, Value) {
    let name = st.op_name();
    let key = format!("projects/{p}/locations/{l}/operations/{name}");
    let body = json!({
        "name": name,
        "zone": l,
        "location": l,
        "operationType": kind,
        "selfLink": format!("{CONTAINER}{key}"),
        "targetLink": format!("{CONTAINER}{target}"),
        "startTime": rfc3339(now_secs()),
    });
    (key, body)
}

fn start_container_op(
    st: &mut State,
    p: &str,
    l: &str,
    kind: &str,
    target: &str,
    cluster: &str,
    effect: Effect,
) -> Value {
    let (key, body) = container_op(st, p, l, kind, target);
    let mut op = Operation::new(Api::Container, kind, body, effect);
    op.cluster = Some(cluster.to_owned());
    st.start_op(key, op)
}

fn check_gke_name(name: &str, what: &str) -> Result<(), Reply> {
    if !matches(r"^[a-z]([-a-z0-9]{0,38}[a-z0-9])?$", name) {
        return Err(invalid(format!(
            "Invalid {what} name \"{name}\": it must be 1 to 40 characters, start with a lowercase letter, end with a letter or digit, and hold only lowercase letters, digits and hyphens."
        )));
    }
    Ok(())
}

/// A node pool as GKE holds it: the given one with GKE's defaults and output fields.
// https://cloud.google.com/kubernetes-engine/docs/reference/rest/v1/projects.locations.clusters.nodePools#NodePool
fn build_pool(
    st: &State,
    given: &Value,
    cluster_key: &str,
    cluster_name: &str,
    zones: &[String],
    workload_identity: bool,
) -> Result<Value, Reply> {
    if !given.is_object() {
        return Err(invalid("nodePool must be a NodePool object"));
    }
    let name = given["name"].as_str().unwrap_or_default();
    check_gke_name(name, "node pool")?;
    let count = match given.get("initialNodeCount") {
        None | Some(Value::Null) => 0,
        Some(v) => int(v).ok_or_else(|| invalid("initialNodeCount must be an integer"))?,
    };
    if count < 0 {
        return Err(invalid("NodePool.initial_node_count must be non-negative."));
    }
    let mut pool = given.clone();
    pool["initialNodeCount"] = json!(count);
    if let Some(a) = given.get("autoscaling").filter(|a| a["enabled"] == true) {
        let min = a.get("minNodeCount").and_then(int).unwrap_or(0);
        let max = a.get("maxNodeCount").and_then(int).unwrap_or(0);
        if min < 0 || max < 1 || min > max {
            return Err(invalid(format!(
                "Invalid autoscaling: minNodeCount {min} and maxNodeCount {max} must satisfy 0 <= min <= max and max >= 1."
            )));
        }
    }
    name_enum(&mut pool, "/autoscaling/locationPolicy", LOCATION_POLICIES)?;
    let mut config = given.get("config").cloned().unwrap_or(json!({}));
    if !config.is_object() {
        return Err(invalid("nodePool.config must be a NodeConfig object"));
    }
    name_enum(
        &mut config,
        "/workloadMetadataConfig/mode",
        WORKLOAD_METADATA,
    )?;
    let mode = config
        .pointer("/workloadMetadataConfig/mode")
        .and_then(Value::as_str);
    if mode == Some("GKE_METADATA") && !workload_identity {
        return Err(invalid(
            "Workload Identity must be enabled on the cluster (workloadIdentityConfig.workloadPool) to use the GKE_METADATA workload metadata mode.",
        ));
    }
    if mode.is_none() && workload_identity {
        config["workloadMetadataConfig"] = json!({"mode": "GKE_METADATA"});
    }
    let account = config["serviceAccount"]
        .as_str()
        .unwrap_or("default")
        .to_owned();
    if account.ends_with(".iam.gserviceaccount.com")
        && !st.accounts.values().any(|a| a["email"] == account.as_str())
    {
        return Err(error(
            400,
            "INVALID_ARGUMENT",
            format!("Service account \"{account}\" does not exist."),
        ));
    }
    let defaults = json!({
        "machineType": "e2-medium",
        "diskSizeGb": 100,
        "diskType": "pd-balanced",
        "imageType": "COS_CONTAINERD",
        "serviceAccount": "default",
        "oauthScopes": DEFAULT_SCOPES,
        "metadata": {"disable-legacy-endpoints": "true"},
    });
    for (k, v) in defaults.as_object().unwrap() {
        let empty = match &config[k] {
            Value::Null => true,
            Value::String(s) => s.is_empty(),
            Value::Array(a) => a.is_empty(),
            Value::Number(n) => n.as_i64() == Some(0),
            _ => false,
        };
        if empty {
            config[k] = v.clone();
        }
    }
    pool["config"] = config;
    if pool.get("management").is_none() {
        pool["management"] = json!({"autoUpgrade": true, "autoRepair": true});
    }
    if pool.get("locations").is_none() {
        pool["locations"] = json!(zones);
    }
    let project = cluster_key.split('/').nth(1).unwrap_or_default();
    pool["selfLink"] = json!(format!("{CONTAINER}{cluster_key}/nodePools/{name}"));
    pool["version"] = json!(GKE_VERSION);
    pool["status"] = json!("PROVISIONING");
    let hash = format!(
        "{:08x}",
        fnv(&format!("{cluster_key}/{name}")) & 0xffff_ffff
    );
    pool["instanceGroupUrls"] = json!(
        zones
            .iter()
            .map(|z| format!("{COMPUTE}projects/{project}/zones/{z}/instanceGroupManagers/gke-{cluster_name}-{name}-{hash}-grp"))
            .collect::<Vec<_>>()
    );
    Ok(pool)
}

/// CreateCluster: the cluster exists at once in PROVISIONING and is RUNNING once its operation
/// is done. Either `initialNodeCount` (making "default-pool") or `nodePools`, or Autopilot.
// https://cloud.google.com/kubernetes-engine/docs/reference/rest/v1/projects.locations.clusters/create
fn cluster_create(st: &mut State, req: &Request, p: &str, l: &str) -> Routed {
    let body = body_object(req, "CreateClusterRequest")?;
    let Some(given) = body.get("cluster").filter(|c| c.is_object()) else {
        return Err(invalid("Cluster is required"));
    };
    let name = given["name"].as_str().unwrap_or_default();
    check_gke_name(name, "cluster")?;
    let autopilot = given.pointer("/autopilot/enabled") == Some(&json!(true));
    let pools = given["nodePools"].as_array().cloned().unwrap_or_default();
    let count = given.get("initialNodeCount").and_then(int).unwrap_or(0);
    if !pools.is_empty() && count > 0 {
        return Err(invalid(
            "Cluster.initial_node_count and Cluster.node_pools cannot both be set.",
        ));
    }
    if pools.is_empty() && count <= 0 && !autopilot {
        return Err(invalid(
            "Cluster.initial_node_count must be greater than zero.",
        ));
    }
    let workload_pool = given
        .pointer("/workloadIdentityConfig/workloadPool")
        .and_then(Value::as_str)
        .unwrap_or("");
    if !workload_pool.is_empty() && workload_pool != format!("{p}.svc.id.goog") {
        return Err(invalid(format!(
            "Invalid workload pool \"{workload_pool}\": it must be \"{p}.svc.id.goog\"."
        )));
    }
    let labels = given.get("resourceLabels").cloned().unwrap_or(json!({}));
    check_labels(&labels, "resourceLabels")?;
    let key = format!("projects/{p}/locations/{l}/clusters/{name}");
    let zones = given["locations"]
        .as_array()
        .filter(|z| !z.is_empty())
        .map(|z| {
            z.iter()
                .filter_map(|v| v.as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_else(|| zones_of(l));
    let workload_identity = !workload_pool.is_empty();
    let mut built = Vec::new();
    if pools.is_empty() && !autopilot {
        let default = json!({
            "name": "default-pool",
            "initialNodeCount": count,
            "config": given.get("nodeConfig").cloned().unwrap_or(json!({})),
        });
        built.push(build_pool(
            st,
            &default,
            &key,
            name,
            &zones,
            workload_identity,
        )?);
    }
    for pool in &pools {
        let b = build_pool(st, pool, &key, name, &zones, workload_identity)?;
        if built.iter().any(|o| o["name"] == b["name"]) {
            return Err(invalid(format!(
                "Node pool names must be unique: {}",
                b["name"]
            )));
        }
        built.push(b);
    }
    if st.clusters.contains_key(&key) {
        return Err(error(
            409,
            "ALREADY_EXISTS",
            format!("Already exists: {key}."),
        ));
    }
    let n = st.next();
    let mut cluster = given.clone();
    name_enum(&mut cluster, "/releaseChannel/channel", CHANNELS)?;
    // A real certificate (the tests' CA), base64 of its PEM as GKE gives it: a client parses
    // it before it dials the cluster.
    let ca = base64(include_str!("../../fixtures/tls/ca.pem").as_bytes());
    // https://cloud.google.com/kubernetes-engine/docs/reference/rest/v1/projects.locations.clusters#Cluster
    let fields = json!({
        "name": name,
        "selfLink": format!("{CONTAINER}{key}"),
        "location": l,
        "zone": l,
        "locations": zones,
        "resourceLabels": labels,
        "labelFingerprint": fingerprint(&labels),
        "endpoint": format!("34.{}.{}.{}", 64 + n / 65_536 % 64, n / 256 % 256, n % 256),
        "masterAuth": {"clusterCaCertificate": ca},
        "initialClusterVersion": given["initialClusterVersion"].as_str().filter(|v| !v.is_empty()).unwrap_or(GKE_VERSION),
        "currentMasterVersion": GKE_VERSION,
        "currentNodeVersion": GKE_VERSION,
        "status": "PROVISIONING",
        "network": given["network"].as_str().filter(|v| !v.is_empty()).unwrap_or("default"),
        "subnetwork": given["subnetwork"].as_str().filter(|v| !v.is_empty()).unwrap_or("default"),
        "clusterIpv4Cidr": "10.4.0.0/14",
        "servicesIpv4Cidr": "34.118.224.0/20",
        "loggingService": "logging.googleapis.com/kubernetes",
        "monitoringService": "monitoring.googleapis.com/kubernetes",
        "createTime": rfc3339(now_secs()),
        "id": format!("{:016x}{:016x}", fnv(&key), n),
    });
    for (k, v) in fields.as_object().unwrap() {
        cluster[k] = v.clone();
    }
    if cluster.get("releaseChannel").is_none() {
        cluster["releaseChannel"] = json!({"channel": "REGULAR"});
    }
    if let Some(first) = built.first() {
        cluster["nodeConfig"] = first["config"].clone();
    }
    cluster["nodePools"] = json!(built);
    st.clusters.insert(key.clone(), cluster);
    let op = start_container_op(
        st,
        p,
        l,
        "CREATE_CLUSTER",
        &key,
        &key,
        Effect::ClusterCreated(key.clone()),
    );
    ok(op)
}

/// DeleteCluster: STOPPING until the operation is done, then gone with its node pools. Allowed
/// while other operations run (as GKE does), but not twice.
// https://cloud.google.com/kubernetes-engine/docs/reference/rest/v1/projects.locations.clusters/delete
fn cluster_delete(st: &mut State, key: &str, p: &str, l: &str, c: &str) -> Routed {
    cluster(st, key)?;
    let deleting = st.operations.values().find(|op| {
        op.api == Api::Container
            && !op.done
            && op.kind == "DELETE_CLUSTER"
            && op.cluster.as_deref() == Some(key)
    });
    if let Some(op) = deleting {
        return Err(error(
            400,
            "FAILED_PRECONDITION",
            format!(
                "Operation {} is currently deleting cluster {c}. Please wait and try again once it is done.",
                op.body["name"].as_str().unwrap_or_default()
            ),
        ));
    }
    let cluster = st.clusters.get_mut(key).unwrap();
    cluster["status"] = json!("STOPPING");
    for pool in pools_mut(cluster) {
        pool["status"] = json!("STOPPING");
    }
    let op = start_container_op(
        st,
        p,
        l,
        "DELETE_CLUSTER",
        key,
        key,
        Effect::ClusterDeleted(key.to_owned()),
    );
    ok(op)
}

/// SetLabels: `labelFingerprint` is required and must be the cluster's current one; the labels
/// and a new fingerprint apply when the operation is done.
// https://cloud.google.com/kubernetes-engine/docs/reference/rest/v1/projects.locations.clusters/setResourceLabels
fn cluster_set_labels(
    st: &mut State,
    req: &Request,
    key: &str,
    p: &str,
    l: &str,
    c: &str,
) -> Routed {
    let body = body_object(req, "SetLabelsRequest")?;
    // The client leaves an empty map out of the body.
    let labels = body.get("resourceLabels").cloned().unwrap_or(json!({}));
    check_labels(&labels, "resourceLabels")?;
    let Some(given) = body.get("labelFingerprint").and_then(Value::as_str) else {
        return Err(invalid("labelFingerprint is required"));
    };
    let current = cluster(st, key)?;
    if current["labelFingerprint"] != given {
        return Err(error(
            400,
            "FAILED_PRECONDITION",
            "Labels could not be updated because the fingerprint did not match; get the cluster for its current labelFingerprint.",
        ));
    }
    st.busy(key, c)?;
    let op = start_container_op(
        st,
        p,
        l,
        "SET_LABELS",
        key,
        key,
        Effect::LabelsSet(key.to_owned(), labels),
    );
    ok(op)
}

/// CreateNodePool: refused while the cluster is not RUNNING or runs another operation; the pool
/// is PROVISIONING until its operation is done, then RUNNING.
// https://cloud.google.com/kubernetes-engine/docs/reference/rest/v1/projects.locations.clusters.nodePools/create
fn pool_create(st: &mut State, req: &Request, p: &str, l: &str, c: &str) -> Routed {
    let key = format!("projects/{p}/locations/{l}/clusters/{c}");
    let body = body_object(req, "CreateNodePoolRequest")?;
    let Some(given) = body.get("nodePool") else {
        return Err(invalid("nodePool is required"));
    };
    let current = cluster(st, &key)?;
    let zones: Vec<String> = current["locations"]
        .as_array()
        .map(|z| {
            z.iter()
                .filter_map(|v| v.as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_else(|| zones_of(l));
    let workload_identity = current
        .pointer("/workloadIdentityConfig/workloadPool")
        .and_then(Value::as_str)
        .is_some_and(|w| !w.is_empty());
    let pool = build_pool(st, given, &key, c, &zones, workload_identity)?;
    let name = pool["name"].as_str().unwrap_or_default().to_owned();
    let pool_key = format!("{key}/nodePools/{name}");
    if find_pool(current, &name).is_some() {
        return Err(error(
            409,
            "ALREADY_EXISTS",
            format!("Already exists: {pool_key}."),
        ));
    }
    st.busy(&key, c)?;
    if current["status"] != "RUNNING" {
        return Err(error(
            400,
            "FAILED_PRECONDITION",
            format!(
                "Cluster {c} is {} and cannot be changed.",
                current["status"].as_str().unwrap_or("not running")
            ),
        ));
    }
    let cluster = st.clusters.get_mut(&key).unwrap();
    if !cluster["nodePools"].is_array() {
        cluster["nodePools"] = json!([]);
    }
    cluster["nodePools"].as_array_mut().unwrap().push(pool);
    let op = start_container_op(
        st,
        p,
        l,
        "CREATE_NODE_POOL",
        &pool_key,
        &key,
        Effect::PoolCreated(key.clone(), name),
    );
    ok(op)
}

enum PoolChange {
    Delete,
    Resize,
}

/// DeleteNodePool (STOPPING, then gone) and SetNodePoolSize (applied to `initialNodeCount`, the
/// size GKE reports, when done; `nodeCount` absent means 0, as the client leaves 0 out).
// https://cloud.google.com/kubernetes-engine/docs/reference/rest/v1/projects.locations.clusters.nodePools/delete
// https://cloud.google.com/kubernetes-engine/docs/reference/rest/v1/projects.locations.clusters.nodePools/setSize
fn pool_change(
    st: &mut State,
    req: &Request,
    change: PoolChange,
    [p, l, c, np]: [&str; 4],
) -> Routed {
    let key = format!("projects/{p}/locations/{l}/clusters/{c}");
    let pool_key = format!("{key}/nodePools/{np}");
    let count = match change {
        PoolChange::Resize => {
            let body = body_object(req, "SetNodePoolSizeRequest")?;
            let count = match body.get("nodeCount") {
                None => 0,
                Some(v) => int(v).ok_or_else(|| invalid("nodeCount must be an integer"))?,
            };
            if count < 0 {
                return Err(invalid("nodeCount must be non-negative"));
            }
            count
        }
        PoolChange::Delete => 0,
    };
    let current = cluster(st, &key)?;
    if find_pool(current, np).is_none() {
        return Err(not_found(format!("Not found: {pool_key}.")));
    }
    st.busy(&key, c)?;
    let pool = pool_mut(st.clusters.get_mut(&key).unwrap(), np).unwrap();
    let (kind, effect) = match change {
        PoolChange::Delete => {
            pool["status"] = json!("STOPPING");
            (
                "DELETE_NODE_POOL",
                Effect::PoolDeleted(key.clone(), np.to_string()),
            )
        }
        PoolChange::Resize => {
            pool["status"] = json!("RECONCILING");
            (
                "SET_NODE_POOL_SIZE",
                Effect::PoolResized(key.clone(), np.to_string(), count),
            )
        }
    };
    let op = start_container_op(st, p, l, kind, &pool_key, &key, effect);
    ok(op)
}

// ---------------------------------------------------------------------------------------------
// Compute Engine

/// The collections served, by scope kind.
const REGIONAL: &[&str] = &["forwardingRules", "targetPools"];
const GLOBAL: &[&str] = &["backendServices", "firewalls"];
const ZONAL: &[&str] = &["networkEndpointGroups", "disks"];

/// (project, scope, collection) of a collection path `projects/P/regions/R/forwardingRules`.
fn compute_collection(path: &str) -> Option<(String, String, &'static str)> {
    let parts: Vec<&str> = path.split('/').collect();
    let (project, scope, kind, allowed) = match parts.as_slice() {
        ["projects", p, "global", kind] => (*p, "global".to_owned(), *kind, GLOBAL),
        ["projects", p, "regions", r, kind] => (*p, format!("regions/{r}"), *kind, REGIONAL),
        ["projects", p, "zones", z, kind] => (*p, format!("zones/{z}"), *kind, ZONAL),
        _ => return None,
    };
    let kind = allowed.iter().find(|k| **k == kind)?;
    Some((project.to_owned(), scope, kind))
}

/// `forwardingRules` → `forwardingRule`, for `kind` strings.
fn singular(collection: &str) -> &str {
    collection.strip_suffix('s').unwrap_or(collection)
}

/// The output-only fields a Compute resource carries.
// e.g. https://cloud.google.com/compute/docs/reference/rest/v1/forwardingRules#ForwardingRule
fn fill_compute(item: &mut Value, collection: &str, scope: &str, kind: &str, name: &str, n: u64) {
    let project = collection.split('/').nth(1).unwrap_or_default();
    let defaults = [
        ("kind", json!(format!("compute#{}", singular(kind)))),
        (
            "id",
            json!((4_000_000_000_000_000_000u64 + n * 7919).to_string()),
        ),
        ("creationTimestamp", json!(rfc3339(now_secs()))),
        ("selfLink", json!(format!("{COMPUTE}{collection}/{name}"))),
    ];
    for (k, v) in defaults {
        if item.get(k).is_none() {
            item[k] = v;
        }
    }
    if let Some((which, _)) = scope.split_once('/') {
        let field = if which == "regions" { "region" } else { "zone" };
        if item.get(field).is_none() {
            item[field] = json!(format!("{COMPUTE}projects/{project}/{scope}"));
        }
    }
}

fn compute(st: &mut State, req: &Request, p: &str, rest: &[&str]) -> Routed {
    let method = req.method.as_str();
    let no_route = || {
        let mut r = compute_error(
            404,
            "notFound",
            format!("No route for {method} {}", req.path),
        );
        r.unexpected = Some("no route matches".to_owned());
        r
    };
    if let ["aggregated", kind] = rest
        && method == "GET"
    {
        return compute_aggregated(st, req, p, kind).ok_or_else(no_route)?;
    }
    let (scope, tail) = match rest {
        ["global", tail @ ..] => ("global".to_owned(), tail),
        [which @ ("regions" | "zones"), s, tail @ ..] => (format!("{which}/{s}"), tail),
        _ => return Err(no_route()),
    };
    st.scopes.insert((p.to_owned(), scope.clone()));
    let base = format!("projects/{p}/{scope}");
    match (method, tail) {
        ("GET", ["operations", op]) => {
            let key = format!("{base}/operations/{op}");
            match st.poll(&key) {
                Some(v) => ok(v),
                None => {
                    let mut r = compute_error(
                        404,
                        "notFound",
                        format!("The resource '{key}' was not found"),
                    );
                    r.unexpected = Some("no such operation".to_owned());
                    Err(r)
                }
            }
        }
        // https://cloud.google.com/compute/docs/reference/rest/v1/regionOperations/wait
        ("POST", ["operations", op, "wait"]) => {
            let key = format!("{base}/operations/{op}");
            if !st.operations.contains_key(&key) {
                let mut r = compute_error(
                    404,
                    "notFound",
                    format!("The resource '{key}' was not found"),
                );
                r.unexpected = Some("no such operation".to_owned());
                return Err(r);
            }
            st.complete(&key);
            ok(render(&st.operations[&key]))
        }
        ("GET", [kind]) => {
            let collection = format!("{base}/{kind}");
            if compute_collection(&collection).is_none() {
                return Err(no_route());
            }
            compute_list(st, req, &collection, kind)
        }
        (m @ ("GET" | "DELETE"), [kind, name]) => {
            let collection = format!("{base}/{kind}");
            if compute_collection(&collection).is_none() {
                return Err(no_route());
            }
            let key = format!("{collection}/{name}");
            let Some(item) = st.compute.get(&key).cloned() else {
                return Err(compute_error(
                    404,
                    "notFound",
                    format!("The resource '{key}' was not found"),
                ));
            };
            if m == "GET" {
                return ok(item);
            }
            compute_delete(st, p, &scope, kind, &key, &item)
        }
        _ => Err(no_route()),
    }
}

/// A resource reference (full URL, partial URL or bare name) resolved against the project and
/// scope it is used in, as Compute resolves them.
fn resolve(reference: &str, project: &str, scope: &str, collection: &str) -> String {
    let r = reference
        .trim_start_matches(COMPUTE)
        .trim_start_matches("https://compute.googleapis.com/compute/v1/")
        .trim_start_matches('/');
    if r.starts_with("projects/") {
        r.to_owned()
    } else if r.starts_with("regions/") || r.starts_with("zones/") || r.starts_with("global/") {
        format!("projects/{project}/{r}")
    } else {
        format!("projects/{project}/{scope}/{collection}/{r}")
    }
}

/// The scope of a Compute resource name: `global`, `regions/R` or `zones/Z`.
fn scope_of(key: &str) -> String {
    let parts: Vec<&str> = key.split('/').collect();
    if parts.get(2) == Some(&"global") {
        "global".to_owned()
    } else {
        parts.get(2..4).map(|s| s.join("/")).unwrap_or_default()
    }
}

/// Who still uses the resource at `key`, so that Compute refuses to delete it.
fn user_of(st: &State, p: &str, kind: &str, key: &str, item: &Value) -> Option<String> {
    let refers = |user: &str, reference: &Value| {
        reference
            .as_str()
            .is_some_and(|r| resolve(r, p, &scope_of(user), kind) == key)
    };
    let users = |collection: &str| {
        let part = format!("/{collection}/");
        st.compute.iter().filter(move |(k, _)| k.contains(&part))
    };
    match kind {
        "targetPools" => users("forwardingRules")
            .find(|(k, v)| refers(k, &v["target"]))
            .map(|(k, _)| k.clone()),
        "backendServices" => users("forwardingRules")
            .find(|(k, v)| refers(k, &v["backendService"]))
            .map(|(k, _)| k.clone()),
        "networkEndpointGroups" => users("backendServices")
            .find(|(k, v)| {
                v["backends"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .any(|b| refers(k, &b["group"]))
            })
            .map(|(k, _)| k.clone()),
        "disks" => item["users"]
            .as_array()
            .and_then(|u| u.first())
            .and_then(Value::as_str)
            .map(|u| resolve(u, p, &scope_of(key), "instances")),
        _ => None,
    }
}

/// Delete: refused 400 resourceInUseByAnotherResource while another resource refers to it (a
/// forwarding rule's `target`/`backendService`, a backend service's `backends[].group`, a disk's
/// `users`), 400 resourceNotReady while a delete of it runs; else an operation, the resource
/// gone when it is done.
// https://cloud.google.com/compute/docs/reference/rest/v1/targetPools/delete (and each collection's delete)
fn compute_delete(
    st: &mut State,
    p: &str,
    scope: &str,
    kind: &str,
    key: &str,
    item: &Value,
) -> Routed {
    let pending = st.operations.values().any(|op| {
        op.api == Api::Compute
            && !op.done
            && matches!(&op.effect, Effect::ComputeDeleted(k) if k == key)
    });
    if pending {
        return Err(compute_error(
            400,
            "resourceNotReady",
            format!("The resource '{key}' is not ready"),
        ));
    }
    if let Some(user) = user_of(st, p, kind, key, item) {
        let what = match kind {
            "targetPools" => "target_pool",
            "backendServices" => "backend_service",
            "networkEndpointGroups" => "network_endpoint_group",
            _ => "disk",
        };
        return Err(compute_error(
            400,
            "resourceInUseByAnotherResource",
            format!("The {what} resource '{key}' is already being used by '{user}'"),
        ));
    }
    let name = st.op_name();
    let op_key = format!("projects/{p}/{scope}/operations/{name}");
    let n = st.next();
    let now = rfc3339(now_secs());
    // https://cloud.google.com/compute/docs/reference/rest/v1/regionOperations#Operation
    let mut body = json!({
        "kind": "compute#operation",
        "id": (3_000_000_000_000_000_000u64 + n).to_string(),
        "name": name,
        "operationType": "delete",
        "targetLink": item["selfLink"].clone(),
        "targetId": item["id"].clone(),
        "user": "stackform-e2e@example.com",
        "insertTime": now,
        "startTime": now,
        "selfLink": format!("{COMPUTE}{op_key}"),
    });
    if let Some((which, _)) = scope.split_once('/') {
        let field = if which == "regions" { "region" } else { "zone" };
        body[field] = json!(format!("{COMPUTE}projects/{p}/{scope}"));
    }
    let op = st.start_op(
        op_key,
        Operation::new(
            Api::Compute,
            "delete",
            body,
            Effect::ComputeDeleted(key.to_owned()),
        ),
    );
    ok(op)
}

// https://cloud.google.com/compute/docs/reference/rest/v1/forwardingRules/list (and each collection's list)
fn compute_list(st: &mut State, req: &Request, collection: &str, kind: &str) -> Routed {
    let prefix = format!("{collection}/");
    let all: Vec<Value> = st
        .compute
        .iter()
        .filter(|(k, _)| k.starts_with(&prefix) && !k[prefix.len()..].contains('/'))
        .map(|(_, v)| v.clone())
        .collect();
    let (all, filter_problem) = apply_filter(all, query(req, "filter"));
    let page = page(all, query(req, "maxResults"), query(req, "pageToken"), 500)?;
    let answer = json!({
        "kind": format!("compute#{}List", singular(kind)),
        "id": collection,
        "selfLink": format!("{COMPUTE}{collection}"),
    });
    let mut reply = ok(with_page(answer, "items", page))?;
    reply.unexpected = filter_problem;
    Ok(reply)
}

/// AggregatedList: every scope of the project asked about, each with its items or the "no
/// results" warning, as the real API answers (it lists every zone and region).
// https://cloud.google.com/compute/docs/reference/rest/v1/disks/aggregatedList
// https://cloud.google.com/compute/docs/reference/rest/v1/networkEndpointGroups/aggregatedList
fn compute_aggregated(st: &mut State, req: &Request, p: &str, kind: &str) -> Option<Routed> {
    let default_scope = if ZONAL.contains(&kind) {
        "zones/us-central1-a"
    } else if REGIONAL.contains(&kind) {
        "regions/us-central1"
    } else if kind == "backendServices" {
        "global"
    } else {
        return None;
    };
    let mut scopes: BTreeMap<String, Vec<Value>> = BTreeMap::new();
    scopes.insert(default_scope.to_owned(), Vec::new());
    for (project, scope) in &st.scopes {
        let fits = (ZONAL.contains(&kind) && scope.starts_with("zones/"))
            || (REGIONAL.contains(&kind) && scope.starts_with("regions/"))
            || (kind == "backendServices" && scope == "global");
        if project == p && fits {
            scopes.entry(scope.clone()).or_default();
        }
    }
    let mut problem = None;
    for (scope, items) in scopes.iter_mut() {
        let prefix = format!("projects/{p}/{scope}/{kind}/");
        let held: Vec<Value> = st
            .compute
            .iter()
            .filter(|(k, _)| k.starts_with(&prefix))
            .map(|(_, v)| v.clone())
            .collect();
        let (held, why) = apply_filter(held, query(req, "filter"));
        problem = problem.or(why);
        *items = held;
    }
    let items: Map<String, Value> = scopes
        .into_iter()
        .map(|(scope, items)| {
            let value = if items.is_empty() {
                json!({"warning": {
                    "code": "NO_RESULTS_ON_PAGE",
                    "message": format!("There are no results for scope '{scope}' on this page."),
                    "data": [{"key": "scope", "value": scope}],
                }})
            } else {
                json!({ kind: items })
            };
            (scope, value)
        })
        .collect();
    let answer = json!({
        "kind": format!("compute#{}AggregatedList", singular(kind)),
        "id": format!("projects/{p}/aggregated/{kind}"),
        "items": items,
        "selfLink": format!("{COMPUTE}projects/{p}/aggregated/{kind}"),
    });
    Some(ok(answer).map(|mut r| {
        r.unexpected = problem;
        r
    }))
}

/// Compute's list `filter`, roughly: terms `field = value`, `field != value`, `field:value`
/// (`field:*` for "has the field"), `field eq regex`, `field ne regex`, alone, joined by `AND`,
/// or each in parentheses; `*` is a wildcard in `=`/`!=`/`:` values; dotted fields reach into
/// maps (`labels.env`) and match any element of a list. Anything else (OR, `<`, `>`) is not
/// understood: every item is answered and the request recorded as unexpected, so a test using
/// such a filter finds out.
// https://cloud.google.com/compute/docs/reference/rest/v1/forwardingRules/list#query-parameters
fn apply_filter(items: Vec<Value>, filter: Option<&str>) -> (Vec<Value>, Option<String>) {
    let Some(filter) = filter.map(str::trim).filter(|f| !f.is_empty()) else {
        return (items, None);
    };
    match parse_filter(filter) {
        Ok(terms) => (
            items
                .into_iter()
                .filter(|item| terms.iter().all(|t| t.holds(item)))
                .collect(),
            None,
        ),
        Err(why) => (
            items,
            Some(format!("filter {filter:?} not understood: {why}")),
        ),
    }
}

enum Test {
    Eq,
    Ne,
    Has,
    Re,
    NotRe,
}

struct Term {
    field: Vec<String>,
    test: Test,
    value: String,
}

fn parse_filter(filter: &str) -> Result<Vec<Term>, String> {
    let mut parts = Vec::new();
    if filter.contains('(') {
        let mut rest = filter;
        while let Some(open) = rest.find('(') {
            let between = rest[..open].trim();
            if !between.is_empty() && between != "AND" {
                return Err(format!("'{between}' between terms"));
            }
            let close = rest[open..].find(')').ok_or("an unclosed parenthesis")? + open;
            parts.push(rest[open + 1..close].to_owned());
            rest = &rest[close + 1..];
        }
        if !rest.trim().is_empty() {
            return Err(format!("'{}' after the terms", rest.trim()));
        }
    } else {
        if filter.contains(" OR ") {
            return Err("OR".to_owned());
        }
        parts.extend(filter.split(" AND ").map(str::to_owned));
    }
    parts
        .iter()
        .map(|t| {
            let t = t.trim();
            let (field, test, value) = if let Some((f, v)) = t.split_once(" eq ") {
                (f, Test::Re, v)
            } else if let Some((f, v)) = t.split_once(" ne ") {
                (f, Test::NotRe, v)
            } else if let Some((f, v)) = t.split_once("!=") {
                (f, Test::Ne, v)
            } else if t.contains(['<', '>']) {
                return Err(format!("comparison in '{t}'"));
            } else if let Some((f, v)) = t.split_once('=') {
                (f, Test::Eq, v)
            } else if let Some((f, v)) = t.split_once(':') {
                (f, Test::Has, v)
            } else {
                return Err(format!("no operator in '{t}'"));
            };
            let field = field.trim();
            if field.is_empty() || field.contains(char::is_whitespace) {
                return Err(format!("field '{field}'"));
            }
            let value = value.trim();
            let value = value
                .strip_prefix('"')
                .and_then(|v| v.strip_suffix('"'))
                .or_else(|| value.strip_prefix('\'').and_then(|v| v.strip_suffix('\'')))
                .unwrap_or(value);
            if matches!(test, Test::Re | Test::NotRe) && regex::Regex::new(value).is_err() {
                return Err(format!("regular expression '{value}'"));
            }
            Ok(Term {
                field: field.split('.').map(str::to_owned).collect(),
                test,
                value: value.to_owned(),
            })
        })
        .collect()
}

impl Term {
    fn holds(&self, item: &Value) -> bool {
        let mut found = Vec::new();
        collect(item, &self.field, &mut found);
        let texts: Vec<String> = found
            .iter()
            .map(|v| match v {
                Value::String(s) => s.clone(),
                other => other.to_string(),
            })
            .collect();
        let glob = |s: &str| {
            let pattern = format!("^{}$", regex::escape(&self.value).replace(r"\*", ".*"));
            matches(&pattern, s)
        };
        let re = || regex::Regex::new(&format!("^(?:{})$", self.value)).unwrap();
        match self.test {
            Test::Eq => texts.iter().any(|t| glob(t)),
            Test::Ne => !texts.iter().any(|t| glob(t)),
            Test::Has if self.value == "*" => !found.is_empty(),
            Test::Has => texts.iter().any(|t| glob(t)),
            Test::Re => texts.iter().any(|t| re().is_match(t)),
            Test::NotRe => !texts.iter().any(|t| re().is_match(t)),
        }
    }
}

/// The values at a dotted path, through lists.
fn collect<'a>(v: &'a Value, path: &[String], out: &mut Vec<&'a Value>) {
    match (v, path.split_first()) {
        (Value::Array(items), _) => items.iter().for_each(|i| collect(i, path, out)),
        (Value::Null, _) => {}
        (_, None) => out.push(v),
        (Value::Object(m), Some((head, rest))) => {
            if let Some(next) = m.get(head) {
                collect(next, rest, out);
            }
        }
        _ => {}
    }
}

// ---------------------------------------------------------------------------------------------
// Self-tests: the server against its contract, through plain HTTP (no stackform binary).

#[cfg(test)]
mod tests {
    use std::io::{Read, Write};
    use std::net::TcpStream;

    use super::*;
    use crate::harness::http::{decode, http};

    /// One JSON call; `Null` sends no body.
    fn call(api: &GcpApi, method: &str, path: &str, body: Value) -> (u16, Value) {
        let bytes = if body.is_null() {
            Vec::new()
        } else {
            body.to_string().into_bytes()
        };
        let answer = http(
            api.port,
            method,
            path,
            &[("Content-Type", "application/json".to_owned())],
            &bytes,
        );
        (answer.status, answer.json())
    }

    const ALT: &str = "$alt=json;enum-encoding=int";

    #[test]
    fn a_repository_is_created_through_its_operation_changed_and_deleted() {
        let api = start();
        let parent = "/v1/projects/p/locations/europe-west1";
        let (status, op) = call(
            &api,
            "POST",
            &format!("{parent}/repositories?repositoryId=images&{ALT}"),
            json!({"format": 1, "description": "images", "labels": {"team": "ml"}}),
        );
        assert_eq!(status, 200, "{op}");
        assert_eq!(op["done"], false, "{op}");
        let op_name = op["name"].as_str().unwrap().to_owned();
        assert!(
            op_name.starts_with("projects/p/locations/europe-west1/operations/"),
            "{op_name}"
        );
        for _ in 0..2 {
            let (_, polled) = call(&api, "GET", &format!("/v1/{op_name}?{ALT}"), Value::Null);
            assert_eq!(polled["done"], false, "{polled}");
        }
        let (_, polled) = call(&api, "GET", &format!("/v1/{op_name}"), Value::Null);
        assert_eq!(polled["done"], true, "{polled}");
        assert_eq!(
            polled["response"]["@type"],
            "type.googleapis.com/google.devtools.artifactregistry.v1.Repository"
        );
        assert_eq!(polled["response"]["format"], "DOCKER");

        let (status, repo) = call(
            &api,
            "GET",
            &format!("{parent}/repositories/images"),
            Value::Null,
        );
        assert_eq!(status, 200);
        assert_eq!(
            repo["name"],
            "projects/p/locations/europe-west1/repositories/images"
        );
        assert_eq!(repo["mode"], "STANDARD_REPOSITORY");
        assert_eq!(repo["registryUri"], "europe-west1-docker.pkg.dev/p/images");

        let (status, dup) = call(
            &api,
            "POST",
            &format!("{parent}/repositories?repositoryId=images"),
            json!({"format": "DOCKER"}),
        );
        assert_eq!(
            (status, dup["error"]["status"].as_str()),
            (409, Some("ALREADY_EXISTS")),
            "{dup}"
        );

        // Only the masked field changes.
        let (status, patched) = call(
            &api,
            "PATCH",
            &format!("{parent}/repositories/images?updateMask=description&{ALT}"),
            json!({"name": "projects/p/locations/europe-west1/repositories/images", "description": "new", "labels": {"x": "y"}}),
        );
        assert_eq!(status, 200, "{patched}");
        assert_eq!(patched["description"], "new");
        assert_eq!(patched["labels"], json!({"team": "ml"}));

        let (_, listed) = call(
            &api,
            "GET",
            &format!("{parent}/repositories?pageSize=0&pageToken=&filter=&orderBy="),
            Value::Null,
        );
        assert_eq!(
            listed["repositories"].as_array().map(Vec::len),
            Some(1),
            "{listed}"
        );

        let (status, op) = call(
            &api,
            "DELETE",
            &format!("{parent}/repositories/images?{ALT}"),
            Value::Null,
        );
        assert_eq!(status, 200);
        let op_name = op["name"].as_str().unwrap().to_owned();
        assert!(
            api.get("projects/p/locations/europe-west1/repositories/images")
                .is_some(),
            "held until done"
        );
        let mut polled = json!({});
        for _ in 0..3 {
            polled = call(&api, "GET", &format!("/v1/{op_name}"), Value::Null).1;
        }
        assert_eq!(
            polled["response"]["@type"], "type.googleapis.com/google.protobuf.Empty",
            "{polled}"
        );
        let (status, _) = call(
            &api,
            "GET",
            &format!("{parent}/repositories/images"),
            Value::Null,
        );
        assert_eq!(status, 404);
        assert!(api.contents().is_empty(), "{:?}", api.contents());
        assert!(api.unexpected().is_empty(), "{:?}", api.unexpected());
        assert_eq!(
            api.log()[0],
            "POST /v1/projects/p/locations/europe-west1/repositories"
        );
        let first = &api.requests()[0];
        assert_eq!(first.method, "POST");
        assert_eq!(
            first.path,
            "/v1/projects/p/locations/europe-west1/repositories"
        );
        assert!(
            first
                .query
                .contains(&("repositoryId".to_owned(), "images".to_owned())),
            "{:?}",
            first.query
        );
        assert!(
            first
                .query
                .contains(&("$alt".to_owned(), "json;enum-encoding=int".to_owned()))
        );
        assert_eq!(first.body["format"], 1);

        // Without polls the operation is done in its first answer.
        api.set_polls(0);
        let (_, op) = call(
            &api,
            "POST",
            &format!("{parent}/repositories?repositoryId=charts"),
            json!({"format": "GENERIC"}),
        );
        assert_eq!(op["done"], true, "{op}");
        // A missing format breaks the contract.
        let (status, _) = call(
            &api,
            "POST",
            &format!("{parent}/repositories?repositoryId=bad"),
            json!({}),
        );
        assert_eq!(status, 400);
        assert_eq!(api.unexpected().len(), 1, "{:?}", api.unexpected());
    }

    #[test]
    fn a_node_pool_waits_for_its_cluster_and_the_cluster_goes_with_its_pools() {
        let api = start();
        let base = "/v1/projects/p/locations/europe-west1/clusters";
        let (status, op) = call(
            &api,
            "POST",
            &format!("{base}?{ALT}"),
            json!({"cluster": {
                "name": "ml",
                "initialNodeCount": 1,
                "resourceLabels": {"team": "ml"},
                "workloadIdentityConfig": {"workloadPool": "p.svc.id.goog"},
                "releaseChannel": {"channel": 2},
            }}),
        );
        assert_eq!(status, 200, "{op}");
        assert_eq!(
            (op["operationType"].as_str(), op["status"].as_str()),
            (Some("CREATE_CLUSTER"), Some("RUNNING"))
        );
        let op_path = format!(
            "/v1/projects/p/locations/europe-west1/operations/{}",
            op["name"].as_str().unwrap()
        );
        let cluster = api
            .get("projects/p/locations/europe-west1/clusters/ml")
            .unwrap();
        assert_eq!(cluster["status"], "PROVISIONING");
        assert_eq!(cluster["releaseChannel"]["channel"], "REGULAR");
        assert_eq!(cluster["nodePools"][0]["name"], "default-pool");

        let pool = json!({"nodePool": {
            "name": "gpu",
            "initialNodeCount": 2,
            "config": {"machineType": "g2-standard-8", "workloadMetadataConfig": {"mode": 2}},
        }});
        let (status, refused) = call(&api, "POST", &format!("{base}/ml/nodePools"), pool.clone());
        assert_eq!(
            (status, refused["error"]["status"].as_str()),
            (400, Some("FAILED_PRECONDITION")),
            "{refused}"
        );

        for expected in ["RUNNING", "RUNNING", "DONE"] {
            let (_, polled) = call(&api, "GET", &op_path, Value::Null);
            assert_eq!(polled["status"], expected, "{polled}");
        }
        let (_, cluster) = call(&api, "GET", &format!("{base}/ml"), Value::Null);
        assert_eq!(cluster["status"], "RUNNING");
        assert_eq!(cluster["nodePools"][0]["status"], "RUNNING");

        api.set_polls(0);
        let (status, op) = call(&api, "POST", &format!("{base}/ml/nodePools"), pool.clone());
        assert_eq!((status, op["status"].as_str()), (200, Some("DONE")), "{op}");
        let (_, np) = call(
            &api,
            "GET",
            &format!("{base}/ml/nodePools/gpu"),
            Value::Null,
        );
        assert_eq!(np["status"], "RUNNING");
        assert_eq!(
            np["config"]["workloadMetadataConfig"]["mode"],
            "GKE_METADATA"
        );
        let (status, _) = call(&api, "POST", &format!("{base}/ml/nodePools"), pool);
        assert_eq!(status, 409);

        let (_, op) = call(
            &api,
            "POST",
            &format!("{base}/ml/nodePools/gpu:setSize"),
            json!({"nodeCount": 3}),
        );
        assert_eq!(op["operationType"], "SET_NODE_POOL_SIZE");
        assert_eq!(
            api.get("projects/p/locations/europe-west1/clusters/ml/nodePools/gpu")
                .unwrap()["initialNodeCount"],
            3
        );

        let (status, stale) = call(
            &api,
            "POST",
            &format!("{base}/ml:setResourceLabels"),
            json!({"resourceLabels": {"team": "ai"}, "labelFingerprint": "0"}),
        );
        assert_eq!(
            (status, stale["error"]["status"].as_str()),
            (400, Some("FAILED_PRECONDITION"))
        );
        let print = cluster["labelFingerprint"].as_str().unwrap();
        let (status, _) = call(
            &api,
            "POST",
            &format!("{base}/ml:setResourceLabels"),
            json!({"resourceLabels": {"team": "ai"}, "labelFingerprint": print}),
        );
        assert_eq!(status, 200);
        let (_, cluster) = call(&api, "GET", &format!("{base}/ml"), Value::Null);
        assert_eq!(cluster["resourceLabels"], json!({"team": "ai"}));
        assert_ne!(cluster["labelFingerprint"], print);

        // A failed pool creation leaves the pool in ERROR, the operation DONE with an error.
        api.fail_operation("CREATE_NODE_POOL", "quota exceeded");
        let (_, op) = call(
            &api,
            "POST",
            &format!("{base}/ml/nodePools"),
            json!({"nodePool": {"name": "spot", "initialNodeCount": 1}}),
        );
        assert_eq!(op["error"]["message"], "quota exceeded", "{op}");
        assert_eq!(
            api.get("projects/p/locations/europe-west1/clusters/ml/nodePools/spot")
                .unwrap()["status"],
            "ERROR"
        );

        let (_, listed) = call(
            &api,
            "GET",
            "/v1/projects/p/locations/-/clusters",
            Value::Null,
        );
        assert_eq!(listed["clusters"].as_array().map(Vec::len), Some(1));

        api.set_polls(1);
        let (_, op) = call(&api, "DELETE", &format!("{base}/ml"), Value::Null);
        let op_path = format!(
            "/v1/projects/p/locations/europe-west1/operations/{}",
            op["name"].as_str().unwrap()
        );
        assert_eq!(
            api.get("projects/p/locations/europe-west1/clusters/ml")
                .unwrap()["status"],
            "STOPPING"
        );
        call(&api, "GET", &op_path, Value::Null);
        let (_, polled) = call(&api, "GET", &op_path, Value::Null);
        assert_eq!(polled["status"], "DONE");
        assert!(api.contents().is_empty(), "{:?}", api.contents());
        assert!(api.unexpected().is_empty(), "{:?}", api.unexpected());

        // Contract breaks are answered and recorded.
        let (status, _) = call(&api, "POST", base, json!({"cluster": {"name": "empty"}}));
        assert_eq!(status, 400);
        let (status, _) = call(
            &api,
            "POST",
            base,
            json!({"cluster": {"name": "wi", "initialNodeCount": 1, "workloadIdentityConfig": {"workloadPool": "other.svc.id.goog"}}}),
        );
        assert_eq!(status, 400);
        assert_eq!(api.unexpected().len(), 2, "{:?}", api.unexpected());
    }

    #[test]
    fn a_compute_resource_in_use_is_not_deleted() {
        let api = start();
        api.seed(
            "projects/p/regions/europe-west1/targetPools",
            json!({"name": "a1b2"}),
        );
        api.seed(
            "projects/p/regions/europe-west1/forwardingRules",
            json!({"name": "a1b2", "target": format!("{COMPUTE}projects/p/regions/europe-west1/targetPools/a1b2")}),
        );
        api.seed(
            "projects/p/zones/europe-west1-b/disks",
            json!({"name": "pvc-1", "labels": {"goog-k8s-cluster-name": "ml"}}),
        );
        let pools = "/compute/v1/projects/p/regions/europe-west1/targetPools";
        let rules = "/compute/v1/projects/p/regions/europe-west1/forwardingRules";

        let (status, refused) = call(
            &api,
            "DELETE",
            &format!("{pools}/a1b2?requestId=r1"),
            Value::Null,
        );
        assert_eq!(status, 400);
        assert_eq!(
            refused["error"]["errors"][0]["reason"], "resourceInUseByAnotherResource",
            "{refused}"
        );
        assert!(
            refused["error"]["message"]
                .as_str()
                .unwrap()
                .contains("forwardingRules/a1b2")
        );

        let (status, op) = call(&api, "DELETE", &format!("{rules}/a1b2"), Value::Null);
        assert_eq!(
            (status, op["status"].as_str(), op["operationType"].as_str()),
            (200, Some("RUNNING"), Some("delete")),
            "{op}"
        );
        let op_path = format!(
            "/compute/v1/projects/p/regions/europe-west1/operations/{}",
            op["name"].as_str().unwrap()
        );
        let mut polled = json!({});
        for _ in 0..3 {
            polled = call(&api, "GET", &op_path, Value::Null).1;
        }
        assert_eq!(polled["status"], "DONE");
        let (_, listed) = call(&api, "GET", &format!("{rules}?$alt=json"), Value::Null);
        assert_eq!(listed["kind"], "compute#forwardingRuleList");
        assert!(listed.get("items").is_none(), "{listed}");

        api.set_polls(0);
        let (status, op) = call(&api, "DELETE", &format!("{pools}/a1b2"), Value::Null);
        assert_eq!((status, op["status"].as_str()), (200, Some("DONE")));
        let (status, missing) = call(&api, "DELETE", &format!("{pools}/a1b2"), Value::Null);
        assert_eq!(status, 404);
        assert_eq!(missing["error"]["errors"][0]["reason"], "notFound");

        let (_, aggregated) = call(
            &api,
            "GET",
            "/compute/v1/projects/p/aggregated/disks?filter=labels.goog-k8s-cluster-name%20%3D%20%22ml%22",
            Value::Null,
        );
        assert_eq!(
            aggregated["items"]["zones/europe-west1-b"]["disks"][0]["name"], "pvc-1",
            "{aggregated}"
        );
        assert_eq!(
            aggregated["items"]["zones/us-central1-a"]["warning"]["code"],
            "NO_RESULTS_ON_PAGE"
        );
        let (_, none) = call(
            &api,
            "GET",
            "/compute/v1/projects/p/aggregated/disks?filter=name%20eq%20other.*",
            Value::Null,
        );
        assert!(
            none["items"]["zones/europe-west1-b"].get("disks").is_none(),
            "{none}"
        );
        assert_eq!(
            api.contents(),
            ["projects/p/zones/europe-west1-b/disks/pvc-1"]
        );
        assert!(api.unexpected().is_empty(), "{:?}", api.unexpected());
    }

    #[test]
    fn injected_errors_answer_once_and_are_logged() {
        let api = start();
        assert_eq!(api.url, format!("http://127.0.0.1:{}", api.port));
        api.fail_next("GET", "/serviceAccounts", 429, 1);
        let (status, body) = call(&api, "GET", "/v1/projects/p/serviceAccounts", Value::Null);
        assert_eq!(
            (status, body["error"]["status"].as_str()),
            (429, Some("RESOURCE_EXHAUSTED")),
            "{body}"
        );
        let (status, _) = call(&api, "GET", "/v1/projects/p/serviceAccounts", Value::Null);
        assert_eq!(status, 200);
        api.fail_next("delete", "/disks/", 503, 1);
        let (status, body) = call(
            &api,
            "DELETE",
            "/compute/v1/projects/p/zones/z/disks/d",
            Value::Null,
        );
        assert_eq!(
            (status, body["error"]["errors"][0]["reason"].as_str()),
            (503, Some("backendError"))
        );
        assert_eq!(api.log().len(), 3);
        let (status, _) = call(&api, "GET", "/v2/nothing", Value::Null);
        assert_eq!(status, 404);
        assert_eq!(api.unexpected(), ["GET /v2/nothing: no route matches"]);
    }

    #[test]
    fn a_workload_identity_member_needs_a_cluster_with_the_pool_and_goes_with_its_account() {
        let api = start();
        let (status, sa) = call(
            &api,
            "POST",
            &format!("/v1/projects/p/serviceAccounts?{ALT}"),
            json!({"accountId": "access"}),
        );
        assert_eq!(status, 200, "{sa}");
        let account = "/v1/projects/-/serviceAccounts/access@p.iam.gserviceaccount.com";
        let (status, policy) = call(
            &api,
            "POST",
            &format!("{account}:getIamPolicy"),
            Value::Null,
        );
        assert_eq!(status, 200, "{policy}");
        assert!(policy.get("bindings").is_none(), "{policy}");
        let grant = |etag: &Value| {
            json!({"policy": {"etag": etag, "bindings": [{
                "role": "roles/iam.workloadIdentityUser",
                "members": ["serviceAccount:p.svc.id.goog[pipelines/pipelines]"],
            }]}})
        };
        // No cluster has the pool yet.
        let (status, refused) = call(
            &api,
            "POST",
            &format!("{account}:setIamPolicy"),
            grant(&policy["etag"]),
        );
        assert_eq!(status, 400, "{refused}");
        assert!(
            refused["error"]["message"]
                .as_str()
                .unwrap()
                .starts_with("Identity Pool does not exist (p.svc.id.goog)"),
            "{refused}"
        );
        let (status, _) = call(
            &api,
            "POST",
            &format!("/v1/projects/p/locations/europe-west1/clusters?{ALT}"),
            json!({"cluster": {
                "name": "ml", "initialNodeCount": 1,
                "workloadIdentityConfig": {"workloadPool": "p.svc.id.goog"},
            }}),
        );
        assert_eq!(status, 200);
        let (status, set) = call(
            &api,
            "POST",
            &format!("{account}:setIamPolicy"),
            grant(&policy["etag"]),
        );
        assert_eq!(status, 200, "{set}");
        assert_eq!(
            api.account_policy("access@p.iam.gserviceaccount.com")
                .unwrap()["bindings"][0]["role"],
            "roles/iam.workloadIdentityUser"
        );
        // The account's policy is deleted with it; an unknown account has none to read.
        let (status, _) = call(&api, "DELETE", account, Value::Null);
        assert_eq!(status, 200);
        assert!(
            api.account_policy("access@p.iam.gserviceaccount.com")
                .is_none()
        );
        let (status, _) = call(
            &api,
            "POST",
            &format!("{account}:getIamPolicy"),
            Value::Null,
        );
        assert_eq!(status, 404);
    }

    #[test]
    fn a_policy_change_on_a_stale_etag_is_aborted() {
        let api = start();
        let (status, bad) = call(
            &api,
            "POST",
            "/v1/projects/p/serviceAccounts",
            json!({"accountId": "ab"}),
        );
        assert_eq!(
            (status, bad["error"]["status"].as_str()),
            (400, Some("INVALID_ARGUMENT"))
        );
        let (status, sa) = call(
            &api,
            "POST",
            &format!("/v1/projects/p/serviceAccounts?{ALT}"),
            json!({"accountId": "trainer", "serviceAccount": {"displayName": "Trainer"}}),
        );
        assert_eq!(status, 200, "{sa}");
        assert_eq!(sa["email"], "trainer@p.iam.gserviceaccount.com");
        assert_eq!(sa["uniqueId"].as_str().unwrap().len(), 21);
        let (status, _) = call(
            &api,
            "GET",
            "/v1/projects/-/serviceAccounts/trainer@p.iam.gserviceaccount.com",
            Value::Null,
        );
        assert_eq!(status, 200);
        let (status, patched) = call(
            &api,
            "PATCH",
            "/v1/projects/p/serviceAccounts/trainer@p.iam.gserviceaccount.com",
            json!({"serviceAccount": {"description": "trains"}, "updateMask": "description"}),
        );
        assert_eq!(
            (
                status,
                patched["description"].as_str(),
                patched["displayName"].as_str()
            ),
            (200, Some("trains"), Some("Trainer"))
        );

        let (_, policy) = call(
            &api,
            "POST",
            "/v3/projects/p:getIamPolicy",
            json!({"options": {"requestedPolicyVersion": 3}}),
        );
        assert_eq!(
            policy["bindings"],
            json!([{"role": "roles/owner", "members": ["user:owner@example.com"]}])
        );
        let mut changed = policy.clone();
        changed["bindings"].as_array_mut().unwrap().push(json!({"role": "roles/storage.objectViewer", "members": ["serviceAccount:trainer@p.iam.gserviceaccount.com"]}));
        let (status, set) = call(
            &api,
            "POST",
            "/v3/projects/p%3AsetIamPolicy",
            json!({"policy": changed}),
        );
        assert_eq!(status, 200, "{set}");
        assert_ne!(set["etag"], policy["etag"]);
        assert_eq!(
            api.contents(),
            [
                "projects/p iam binding roles/storage.objectViewer serviceAccount:trainer@p.iam.gserviceaccount.com",
                "projects/p/serviceAccounts/trainer@p.iam.gserviceaccount.com"
            ]
        );
        // The first read's etag is stale now.
        let (status, stale) = call(
            &api,
            "POST",
            "/v3/projects/p:setIamPolicy",
            json!({"policy": policy}),
        );
        assert_eq!(
            (status, stale["error"]["status"].as_str()),
            (409, Some("ABORTED")),
            "{stale}"
        );
        // A member that does not exist is refused.
        let mut ghost = set.clone();
        ghost["bindings"][0]["members"] = json!(["serviceAccount:ghost@p.iam.gserviceaccount.com"]);
        let (status, _) = call(
            &api,
            "POST",
            "/v3/projects/p:setIamPolicy",
            json!({"policy": ghost}),
        );
        assert_eq!(status, 400);
        // Removing the member leaves only the account; deleting it leaves nothing.
        let (status, _) = call(
            &api,
            "POST",
            "/v3/projects/p:setIamPolicy",
            json!({"policy": {"etag": set["etag"], "bindings": [
                {"role": "roles/owner", "members": ["user:owner@example.com"]},
                {"role": "roles/storage.objectViewer", "members": []},
            ]}}),
        );
        assert_eq!(status, 200);
        let (status, _) = call(
            &api,
            "DELETE",
            "/v1/projects/p/serviceAccounts/trainer@p.iam.gserviceaccount.com",
            Value::Null,
        );
        assert_eq!(status, 200);
        assert!(api.contents().is_empty(), "{:?}", api.contents());
        assert_eq!(api.unexpected().len(), 1, "{:?}", api.unexpected());
        assert!(api.get("projects/p").is_some());
    }

    #[test]
    fn timestamps_and_etags_are_well_formed() {
        assert_eq!(rfc3339(1_700_000_000), "2023-11-14T22:13:20Z");
        assert_eq!(rfc3339(951_782_400), "2000-02-29T00:00:00Z");
        assert_eq!(base64(b"hello"), "aGVsbG8=");
        assert_eq!(base64(b"hi"), "aGk=");
        assert_eq!(base64(b"abc"), "YWJj");
        assert_eq!(etag(1), "BwAAAAAAAAE=");
        assert_eq!(decode("p%3AsetIamPolicy", false), "p:setIamPolicy");
        assert_eq!(decode("a+b%2", true), "a b%2");
    }

    #[test]
    fn a_chunked_body_is_read() {
        let api = start();
        let mut s = TcpStream::connect(("127.0.0.1", api.port)).unwrap();
        let body = json!({"accountId": "chunked-sa"}).to_string();
        let (a, b) = body.split_at(7);
        let request = format!(
            "POST /v1/projects/p/serviceAccounts HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nContent-Type: application/json\r\n\r\n{:x}\r\n{a}\r\n{:x}\r\n{b}\r\n0\r\n\r\n",
            a.len(),
            b.len()
        );
        s.write_all(request.as_bytes()).unwrap();
        let mut raw = String::new();
        s.read_to_string(&mut raw).unwrap();
        assert!(raw.starts_with("HTTP/1.1 200"), "{raw}");
        assert!(raw.contains("Connection: close"), "{raw}");
        assert!(
            api.get("projects/p/serviceAccounts/chunked-sa@p.iam.gserviceaccount.com")
                .is_some()
        );
    }
}
