//! A loopback server for the Azure Resource Manager REST calls stackform's Azure resource types
//! make, written from the documented contract because ARM has no emulator:
//!
//! - Resource groups, https://learn.microsoft.com/en-us/rest/api/resources/resource-groups
//! - Resources by tag (the census), https://learn.microsoft.com/en-us/rest/api/resources/resources/list
//!   and https://learn.microsoft.com/en-us/rest/api/resources/resource-groups/list
//! - Storage accounts, https://learn.microsoft.com/en-us/rest/api/storagerp/storage-accounts
//! - Blob containers, https://learn.microsoft.com/en-us/rest/api/storagerp/blob-containers
//! - Container registries, https://learn.microsoft.com/en-us/rest/api/containerregistry/registries
//! - AKS managed clusters, https://learn.microsoft.com/en-us/rest/api/aks/managed-clusters
//! - Role assignments, https://learn.microsoft.com/en-us/rest/api/authorization/role-assignments
//! - User-assigned managed identities and their federated credentials,
//!   https://learn.microsoft.com/en-us/rest/api/managedidentity/user-assigned-identities and
//!   https://learn.microsoft.com/en-us/rest/api/managedidentity/federated-identity-credentials
//!
//! It speaks TLS only, with the certificate in `tests/fixtures/tls/` (made by `regenerate.sh`
//! there, signed by the test CA [`ca_file`]), because azure_core's bearer-token policy refuses
//! plain http. Clients trust [`ca_file`] and point their ARM endpoint at [`ArmApi::url`].
//!
//! ARM ids are case-insensitive: the server keys what it holds by the lowercased id, matches
//! every path segment (`resourcegroups`, `Microsoft.Storage`, ...) case-insensitively, and
//! answers `id` with the casing the client sent when it created the resource. Any subscription
//! id is accepted; none has to be registered first.
//!
//! Long-running operations follow
//! https://learn.microsoft.com/en-us/azure/azure-resource-manager/management/async-operations in
//! both its styles: `Azure-AsyncOperation` (a status resource answering
//! `{"status":"InProgress"}` until `Succeeded`, `Failed` or `Canceled`) and `Location` (a URL
//! answering 202 until the operation is done, then its result). They advance only when polled:
//! an operation answers "not done" to the first [`ArmApi::set_polls`] GETs (default 2) and is done
//! from the next one on, and its effect (`provisioningState` settling on `Succeeded`, an AKS node
//! resource group appearing, a resource and everything below it gone) happens at that moment. No
//! `Retry-After` is sent on them, so tests do not wait.
//!
//! Errors use ARM's error body `{"error":{"code","message"}}`,
//! https://learn.microsoft.com/en-us/azure/azure-resource-manager/troubleshooting/common-deployment-errors.
//! Every answer carries `x-ms-request-id` and `x-ms-correlation-request-id` (the client's own
//! correlation id when it sent one), `Content-Length` and `Connection: close`.
//!
//! It also answers what ARM's callers need around it:
//!
//! - Entra ID's client-credentials token endpoint, `POST /{tenant}/oauth2/v2.0/token`
//!   (https://learn.microsoft.com/en-us/entra/identity-platform/v2-oauth2-client-creds-grant-flow),
//!   for the applications [`ArmApi::add_app`] registers; clients point `AZURE_AUTHORITY_HOST`
//!   at [`ArmApi::url`]. The tokens it issues name their application, so [`Request::caller`]
//!   says who made each ARM call, and [`ArmApi::allow_only`] refuses everyone else as ARM
//!   refuses a principal without a role assignment.
//! - ACR's exchange of such a token for a registry refresh token, `POST /oauth2/exchange`
//!   (clients point `STACKFORM_AZURE_ACR_ENDPOINT` here instead of the registry host).
//! - The caller's permissions on a subscription, `GET /subscriptions/{s}/providers/
//!   Microsoft.Authorization/permissions`
//!   (https://learn.microsoft.com/en-us/rest/api/authorization/permissions/list-for-resource-group
//!   has the shape): everything, less what [`ArmApi::deny_action`] names.
//!
//! Requests no route matches, and requests that break the contract (no `api-version`, no bearer
//! token, a body that is not JSON, a required field missing, a malformed name) are answered
//! 400/401/404 as ARM would and also recorded in [`ArmApi::unexpected`], which tests assert is
//! empty: the stack must not depend on the server forgiving it. Refusals a correct client meets
//! in practice (a name taken, a principal not replicated yet, a conflicting operation) are
//! answered but not recorded.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex, MutexGuard};

use serde_json::{Map, Value, json};

use super::shared::{civil, fnv, lock, matches, now, now_secs};
use crate::harness::http::{self, Incoming, Response, decode};
pub use crate::harness::tls::ca_file;

/// The object id in the fixed token stackform sends a loopback ARM without a connector
/// (`azure/client/arm.rs`).
pub const LOOPBACK_PRINCIPAL: &str = "00000000-0000-4000-8000-00000000100b";
/// The role that lets a principal do everything inside an AKS cluster with Azure RBAC.
const AKS_RBAC_CLUSTER_ADMIN: &str = "b1ff04bb-8a4e-4dc4-8eb5-8693973ce19b";

/// The directory every principal here belongs to.
pub const TENANT: &str = "72f5a3c1-5d0e-4b6f-9a43-2c3b8e0d1f00";
/// Who the server says created a role assignment.
const CALLER: &str = "0b1c2d3e-4f50-4617-8283-94a5b6c7d8e9";
/// The version AKS gives a cluster that names none.
const K8S_VERSION: &str = "1.31.7";
/// The node image AKS reports for Linux pools.
const NODE_IMAGE: &str = "AKSUbuntu-2204gen2containerd-202501.12.0";

// Resource types as the reference pages write them in `type`.
const GROUP_TYPE: &str = "Microsoft.Resources/resourceGroups";
const STORAGE_TYPE: &str = "Microsoft.Storage/storageAccounts";
const CONTAINER_TYPE: &str = "Microsoft.Storage/storageAccounts/blobServices/containers";
const REGISTRY_TYPE: &str = "Microsoft.ContainerRegistry/registries";
// https://learn.microsoft.com/en-us/rest/api/aks/managed-clusters/get: the examples answer
// `ManagedClusters` with a capital M.
const CLUSTER_TYPE: &str = "Microsoft.ContainerService/ManagedClusters";
const LB_TYPE: &str = "Microsoft.Network/loadBalancers";
const ASSIGNMENT_TYPE: &str = "Microsoft.Authorization/roleAssignments";
const IDENTITY_TYPE: &str = "Microsoft.ManagedIdentity/userAssignedIdentities";
const CREDENTIAL_TYPE: &str =
    "Microsoft.ManagedIdentity/userAssignedIdentities/federatedIdentityCredentials";

/// Built-in role definition guids stackform assigns; any guid is accepted.
// https://learn.microsoft.com/en-us/azure/role-based-access-control/built-in-roles
pub const STORAGE_BLOB_DATA_CONTRIBUTOR: &str = "ba92f5b4-2d11-453d-a403-e96b0029c9fe";
pub const ACR_PULL: &str = "7f951dda-4ed3-4680-a7ca-43fe172d538d";

const GUID: &str = r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$";

/// The server: its address, and the shared state the tests inspect.
#[derive(Clone)]
pub struct ArmApi {
    /// `https://127.0.0.1:PORT`: the ARM endpoint every client is given.
    pub url: String,
    pub port: u16,
    state: Arc<Mutex<State>>,
}

/// One request as it arrived: the path percent-decoded with its casing, without its query.
#[derive(Clone, Debug)]
pub struct Request {
    pub method: String,
    pub path: String,
    /// Decoded `key=value` pairs in order, `api-version` included.
    pub query: Vec<(String, String)>,
    /// The JSON body; `Null` when there was none, a string when it was not JSON.
    pub body: Value,
    /// Every header, its name lowercased.
    pub headers: Vec<(String, String)>,
    /// The application whose token (issued here) the request carried; `None` for any other
    /// token, or none.
    pub caller: Option<String>,
}

impl Request {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    fn query(&self, key: &str) -> Option<&str> {
        self.query
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(key))
            .map(|(_, v)| v.as_str())
    }
}

/// Binds a free loopback port and serves TLS on background threads for the rest of the process.
pub fn start() -> ArmApi {
    let listener = http::Listener::bind();
    let port = listener.port();
    let url = format!("https://127.0.0.1:{port}");
    let mut st = State {
        base: url.clone(),
        polls: 2,
        ..State::default()
    };
    // The fixed identity stackform calls a loopback ARM as without a connector is a service
    // principal of the tenant.
    st.principals.insert(LOOPBACK_PRINCIPAL.to_owned());
    let state = Arc::new(Mutex::new(st));
    let served = Arc::clone(&state);
    listener.serve_tls(crate::harness::tls::server_config(false), move |req, _| {
        Some(respond(&served, &req))
    });
    ArmApi { url, port, state }
}

impl ArmApi {
    fn state(&self) -> MutexGuard<'_, State> {
        lock(&self.state)
    }

    /// Every request so far, in arrival order, as `METHOD /path` (no query string, the path's
    /// casing as sent).
    pub fn log(&self) -> Vec<String> {
        self.state()
            .requests
            .iter()
            .map(|r| format!("{} {}", r.method, r.path))
            .collect()
    }

    /// AKS's service controller (cloud-provider-azure) for the clusters this server holds, as
    /// the Kubernetes contract server's [`Controller`](super::kube_api::Controller): a
    /// `LoadBalancer` Service gets a public IP address `kubernetes-a` + its UID's 32 hex digits
    /// in the cluster's node resource group, tagged `k8s-azure-service: NAMESPACE/NAME` and
    /// `k8s-azure-cluster-name: kubernetes`, which goes when the Service does, before its
    /// finalizer is released (https://cloud-provider-azure.sigs.k8s.io/topics/loadbalancer/,
    /// "Public IP"; https://kubernetes.io/docs/concepts/services-networking/service/#loadbalancer).
    /// The Service's UID stands here as a hash of the cluster and the Service. Answers the
    /// address. What it does is in [`ArmApi::controller_log`].
    pub fn service_controller(&self) -> super::kube_api::Controller {
        use super::kube_api::CloudEvent;
        let api = self.clone();
        Arc::new(move |event: &CloudEvent| {
            let (place, wanted) = match event {
                CloudEvent::LoadBalancerWanted(p) => (p, true),
                CloudEvent::LoadBalancerGone(p) => (p, false),
            };
            let mut st = api.state();
            let cluster = st
                .resources
                .iter()
                .find(|(_, v)| {
                    v["type"] == CLUSTER_TYPE && v["name"].as_str() == Some(place.cluster)
                })
                .map(|(k, v)| (k.clone(), v.clone()))?;
            let sub = cluster.0.split('/').nth(2).unwrap_or_default().to_owned();
            let nrg = cluster.1["properties"]["nodeResourceGroup"]
                .as_str()
                .unwrap_or_default()
                .to_owned();
            let service = format!("{}/{}", place.namespace, place.name);
            let uid = format!("{}/{service}", place.cluster);
            let name = format!(
                "kubernetes-a{:016x}{:016x}",
                fnv(&uid),
                fnv(&format!("{uid}#"))
            );
            let id = format!(
                "/subscriptions/{sub}/resourceGroups/{nrg}/providers/Microsoft.Network/publicIPAddresses/{name}"
            );
            let key = id.to_ascii_lowercase();
            let at = st.requests.len();
            if !wanted {
                st.resources.remove(&key);
                st.controller.push((at, format!("deleted {id}")));
                return None;
            }
            let address = format!("20.61.{}.{}", fnv(&uid) % 250, fnv(&name) % 250);
            let location = cluster.1["location"].clone();
            st.resources.insert(
                key,
                json!({
                    "id": id, "name": name, "type": "Microsoft.Network/publicIPAddresses",
                    "location": location, "sku": {"name": "Standard"},
                    "tags": {"k8s-azure-service": service, "k8s-azure-cluster-name": "kubernetes"},
                    "properties": {"ipAddress": address, "publicIPAllocationMethod": "Static", "provisioningState": "Succeeded"},
                }),
            );
            st.controller.push((at, format!("made {id}")));
            Some(address)
        })
    }

    /// What [`ArmApi::service_controller`] did, each with the number of requests that had
    /// arrived by then (an index into [`ArmApi::log`]).
    pub fn controller_log(&self) -> Vec<(usize, String)> {
        self.state().controller.clone()
    }

    /// Every request so far, with its query (so its `api-version`), body and headers.
    pub fn requests(&self) -> Vec<Request> {
        self.state().requests.clone()
    }

    /// Requests that matched no route or broke the contract, as `METHOD /path: why`.
    pub fn unexpected(&self) -> Vec<String> {
        self.state().unexpected.clone()
    }

    /// How many polls of an operation started from now on answer "not done" (`InProgress`, or
    /// 202 on its `Location`) before it is done. With 0 an operation is done, and its effect
    /// applied, in the answer that starts it.
    pub fn set_polls(&self, n: u32) {
        self.state().polls = n;
    }

    /// Answers the next `times` requests whose method is `method` and whose decoded path
    /// contains `path_contains` (both compared case-insensitively) with `status` and ARM's error
    /// body, without doing anything: 429 `TooManyRequests` with `Retry-After: 1`, 409 `Conflict`,
    /// 500 `InternalServerError`, 503 `ServiceUnavailable`, ... The requests are still logged.
    pub fn fail_next(&self, method: &str, path_contains: &str, status: u16, times: u32) {
        self.state().faults.push(Fault {
            method: method.to_ascii_uppercase(),
            path: path_contains.to_ascii_lowercase(),
            status,
            times,
        });
    }

    /// Makes the next operation of `kind` end `Failed` with `message` (its `error.code` is
    /// `message`'s leading `Code:` if it has one, else `OperationFailed`), its effect not
    /// applied. Kinds are ARM's operation names: `Microsoft.Resources/resourceGroups/delete`,
    /// `Microsoft.Storage/storageAccounts/write`, `Microsoft.ContainerRegistry/registries/write`
    /// and `/delete`, `Microsoft.ContainerService/managedClusters/write` and `/delete`. A failed
    /// write leaves the resource in `provisioningState` `Failed` (a storage account is not
    /// created at all), a failed delete leaves it in place.
    pub fn fail_operation(&self, kind: &str, message: &str) {
        self.state()
            .failing
            .push((kind.to_ascii_lowercase(), message.to_owned()));
    }

    /// Registers an application in the server's tenant: its client id and secret sign in at
    /// the token endpoint.
    pub fn add_app(&self, client_id: &str, secret: &str) {
        let mut st = self.state();
        st.apps.insert(client_id.to_owned(), secret.to_owned());
        // Its service principal, which role assignments name and its tokens' `oid` is.
        let object = st.uuid();
        st.principals.insert(object.clone());
        st.app_objects.insert(client_id.to_owned(), object);
    }

    /// The object id of `client_id`'s service principal.
    pub fn app_object(&self, client_id: &str) -> Option<String> {
        self.state().app_objects.get(client_id).cloned()
    }

    /// Whether the caller of `token` may do everything inside the AKS cluster named
    /// `cluster`: with Azure RBAC for Kubernetes authorization, an assignment of `Azure
    /// Kubernetes Service RBAC Cluster Admin` at the cluster or a scope above it
    /// (https://learn.microsoft.com/en-us/azure/aks/manage-azure-rbac). The caller is the
    /// token's `oid` claim.
    pub fn may_admin_cluster(&self, token: &str, cluster: &str) -> bool {
        use base64::Engine as _;
        let st = self.state();
        let Some(oid) = token
            .split('.')
            .nth(1)
            .and_then(|c| {
                base64::engine::general_purpose::URL_SAFE_NO_PAD
                    .decode(c)
                    .ok()
            })
            .and_then(|b| serde_json::from_slice::<Value>(&b).ok())
            .and_then(|c| c["oid"].as_str().map(str::to_ascii_lowercase))
        else {
            return false;
        };
        let Some((key, managed)) = st
            .resources
            .iter()
            .find(|(_, v)| v["type"] == CLUSTER_TYPE && v["name"].as_str() == Some(cluster))
            .map(|(k, v)| {
                (
                    k.clone(),
                    v["properties"]["aadProfile"]["enableAzureRBAC"] == true,
                )
            })
        else {
            return false;
        };
        managed
            && st.resources.values().any(|a| {
                let p = &a["properties"];
                a["type"] == ASSIGNMENT_TYPE
                    && p["principalId"]
                        .as_str()
                        .is_some_and(|id| id.eq_ignore_ascii_case(&oid))
                    && p["roleDefinitionId"]
                        .as_str()
                        .is_some_and(|r| r.ends_with(AKS_RBAC_CLUSTER_ADMIN))
                    && p["scope"].as_str().is_some_and(|scope| {
                        let scope = scope.to_ascii_lowercase();
                        key == scope || key.starts_with(&format!("{scope}/"))
                    })
            })
    }

    /// From now on, ARM answers only calls with a token issued to `client_id`: others get 401
    /// (a token the server did not issue) or 403 `AuthorizationFailed`.
    pub fn allow_only(&self, client_id: &str) {
        self.state().only = Some(client_id.to_owned());
    }

    /// The application and registry an ACR refresh token was issued for.
    pub fn refresh_token_owner(&self, token: &str) -> Option<(String, String)> {
        self.state().refresh_tokens.get(token).cloned()
    }

    /// The application a token was issued to.
    pub fn token_owner(&self, token: &str) -> Option<String> {
        self.state().tokens.get(token).cloned()
    }

    /// The application a token was issued to, if it was issued for `scope` (its audience).
    pub fn token_owner_for(&self, token: &str, scope: &str) -> Option<String> {
        let st = self.state();
        (st.scopes.get(token).map(String::as_str) == Some(scope))
            .then(|| st.tokens.get(token).cloned())
            .flatten()
    }

    /// Leaves `action` out of every caller's permissions (as a role's `notActions`).
    pub fn deny_action(&self, action: &str) {
        self.state().denied.push(action.to_owned());
    }

    /// Makes `id` a principal the directory knows, so role assignments to it are accepted. The
    /// principals of the managed identities the server makes (an AKS cluster's `principalId`,
    /// its kubelet identity's `objectId`) are known from the moment they are answered.
    pub fn add_principal(&self, id: &str) {
        self.state().principals.insert(id.to_ascii_lowercase());
    }

    /// Every resource id the server holds, lowercased and sorted: resource groups (an AKS node
    /// resource group too), the resources in them, blob containers
    /// (`.../blobservices/default/containers/c`) and role assignments
    /// (`{scope}/providers/microsoft.authorization/roleassignments/{name}`). Resources whose
    /// delete has not finished are still held.
    pub fn contents(&self) -> Vec<String> {
        self.state().resources.keys().cloned().collect()
    }

    /// One held resource by its id, case-insensitively, as GET answers it.
    pub fn get(&self, id: &str) -> Option<Value> {
        self.state()
            .resources
            .get(&id.trim_end_matches('/').to_ascii_lowercase())
            .cloned()
    }
}

/// Everything the server holds. One lock for all of it: requests are served one at a time
/// against it, so an answer never sees half of another request's effect.
#[derive(Default)]
struct State {
    /// `https://127.0.0.1:PORT`, which operation URLs start with.
    base: String,
    requests: Vec<Request>,
    unexpected: Vec<String>,
    polls: u32,
    faults: Vec<Fault>,
    /// Lowercased operation kinds whose next operation fails, with the message.
    failing: Vec<(String, String)>,
    /// By lowercased id.
    resources: BTreeMap<String, Value>,
    /// By operation id.
    operations: BTreeMap<String, Operation>,
    /// Lowercased object ids the directory knows.
    principals: BTreeSet<String>,
    counter: u64,
    /// Registered applications: client id to client secret.
    apps: BTreeMap<String, String>,
    /// Each application's service principal (its object id).
    app_objects: BTreeMap<String, String>,
    /// What the AKS service controller did, each with how many requests had arrived by then.
    controller: Vec<(usize, String)>,
    /// Access tokens issued, to the client id they were issued to, and the scope each was
    /// asked for.
    tokens: BTreeMap<String, String>,
    scopes: BTreeMap<String, String>,
    /// ACR refresh tokens issued, to the client id and the registry.
    refresh_tokens: BTreeMap<String, (String, String)>,
    /// The only application ARM answers, once set.
    only: Option<String>,
    /// Actions the caller's permissions leave out (`notActions`).
    denied: Vec<String>,
}

struct Fault {
    method: String,
    path: String,
    status: u16,
    times: u32,
}

#[derive(Clone, PartialEq)]
enum Status {
    InProgress,
    Succeeded,
    Failed { code: String, message: String },
    Canceled,
}

struct Operation {
    /// The status resource's path (`.../operations/{id}`), its `id`.
    status_path: String,
    /// Absolute URLs with the starting request's `api-version`.
    status_url: String,
    result_url: String,
    /// The lowercased id of the resource operated on.
    target: String,
    /// What the resource is doing meanwhile, for AKS's refusal of a concurrent operation.
    doing: &'static str,
    polls_left: u32,
    status: Status,
    failure: Option<(String, String)>,
    start_time: String,
    end_time: Option<String>,
    effect: Effect,
    /// What the `Location` URL answers once the operation succeeded: 200 with the resource
    /// (a PUT), or this status with no body (a DELETE).
    done: Done,
}

#[derive(Clone, Copy)]
enum Done {
    Resource,
    Empty(u16),
}

/// What an operation does to the held resources once done.
enum Effect {
    None,
    /// A create or update settling: `provisioningState` `Succeeded` (`Failed` if the operation
    /// failed, or the resource removed if `remove_on_failure`).
    Provisioned {
        key: String,
        remove_on_failure: bool,
    },
    /// An AKS create or update settling; on success the node resource group exists.
    ClusterProvisioned(String),
    /// The resource and everything below it removed.
    Deleted(String),
}

impl State {
    fn next(&mut self) -> u64 {
        self.counter += 1;
        self.counter
    }

    /// A fresh uuid-shaped id, unique in this server.
    fn uuid(&mut self) -> String {
        let n = self.next();
        let h = fnv(&format!("{n}-{}", now().as_nanos()));
        let g = fnv(&format!("{h:x}-{n}"));
        format!(
            "{:08x}-{:04x}-4{:03x}-{:04x}-{:012x}",
            h >> 32,
            (h >> 16) & 0xffff,
            h & 0xfff,
            0x8000 | ((g >> 48) & 0x3fff),
            g & 0xffff_ffff_ffff
        )
    }

    /// The operation in progress on the resource `key`, if any.
    fn pending(&self, key: &str) -> Option<(&String, &Operation)> {
        self.operations
            .iter()
            .find(|(_, op)| op.status == Status::InProgress && op.target == key)
    }

    /// Starts an operation on `target` in `namespace`'s `location`, answering its id.
    #[allow(clippy::too_many_arguments)]
    fn start_op(
        &mut self,
        req: &Request,
        sub: &str,
        namespace: &str,
        location: &str,
        kind: &str,
        target: &str,
        doing: &'static str,
        effect: Effect,
        done: Done,
    ) -> String {
        let id = self.uuid();
        let version = req.query("api-version").unwrap_or_default().to_owned();
        let location = if location.is_empty() {
            "global"
        } else {
            location
        };
        let prefix = format!("/subscriptions/{sub}/providers/{namespace}/locations/{location}");
        let status_path = format!("{prefix}/operations/{id}");
        let status_url = format!("{}{status_path}?api-version={version}", self.base);
        let result_url = format!(
            "{}{prefix}/operationResults/{id}?api-version={version}",
            self.base
        );
        let kind = kind.to_ascii_lowercase();
        let failure = self
            .failing
            .iter()
            .position(|(k, _)| *k == kind)
            .map(|i| self.failing.remove(i).1)
            .map(|message| match message.split_once(": ") {
                Some((code, rest))
                    if !code.is_empty() && code.chars().all(char::is_alphanumeric) =>
                {
                    (code.to_owned(), rest.to_owned())
                }
                _ => ("OperationFailed".to_owned(), message),
            });
        self.operations.insert(
            id.clone(),
            Operation {
                status_path,
                status_url,
                result_url,
                target: target.to_owned(),
                doing,
                polls_left: self.polls,
                status: Status::InProgress,
                failure,
                start_time: arm_time(now_secs()),
                end_time: None,
                effect,
                done,
            },
        );
        if self.polls == 0 {
            self.complete(&id);
        }
        id
    }

    /// One poll of the operation `id`; `None` if there is no such operation.
    fn poll(&mut self, id: &str) -> Option<&Operation> {
        let op = self.operations.get_mut(id)?;
        if op.status == Status::InProgress {
            if op.polls_left == 0 {
                self.complete(id);
            } else {
                op.polls_left -= 1;
            }
        }
        self.operations.get(id)
    }

    fn complete(&mut self, id: &str) {
        let Some(op) = self.operations.get_mut(id) else {
            return;
        };
        if op.status != Status::InProgress {
            return;
        }
        op.end_time = Some(arm_time(now_secs()));
        op.status = match op.failure.take() {
            Some((code, message)) => Status::Failed { code, message },
            None => Status::Succeeded,
        };
        let failed = op.status != Status::Succeeded;
        let effect = std::mem::replace(&mut op.effect, Effect::None);
        self.apply(effect, failed);
    }

    /// Ends every operation in progress on `key` as `Canceled`, its effect not applied: a
    /// delete supersedes them.
    fn cancel(&mut self, key: &str) {
        let now = arm_time(now_secs());
        for op in self.operations.values_mut() {
            if op.status == Status::InProgress && op.target == key {
                op.status = Status::Canceled;
                op.end_time = Some(now.clone());
                op.effect = Effect::None;
            }
        }
    }

    fn apply(&mut self, effect: Effect, failed: bool) {
        match effect {
            Effect::None => {}
            Effect::Provisioned {
                key,
                remove_on_failure,
            } => {
                if failed && remove_on_failure {
                    self.remove(&key);
                } else {
                    self.set_state(&key, if failed { "Failed" } else { "Succeeded" });
                }
            }
            Effect::ClusterProvisioned(key) => {
                self.set_state(&key, if failed { "Failed" } else { "Succeeded" });
                if !failed {
                    self.node_group(&key);
                }
            }
            Effect::Deleted(key) => {
                if failed {
                    let kept = if is_group_key(&key) {
                        "Succeeded"
                    } else {
                        "Failed"
                    };
                    self.set_state(&key, kept);
                } else {
                    self.remove(&key);
                }
            }
        }
    }

    /// Sets `properties.provisioningState` of a held resource (and of an AKS cluster's pools).
    fn set_state(&mut self, key: &str, state: &str) {
        let Some(v) = self.resources.get_mut(key) else {
            return;
        };
        v["properties"]["provisioningState"] = json!(state);
        if let Some(pools) = v["properties"]["agentPoolProfiles"].as_array_mut() {
            for pool in pools {
                pool["provisioningState"] = json!(state);
            }
        }
    }

    /// Removes `key` and everything whose id starts with it (a group's resources, a resource's
    /// containers and role assignments), and with an AKS cluster its node resource group.
    fn remove(&mut self, key: &str) {
        let mut work = vec![key.to_owned()];
        while let Some(k) = work.pop() {
            let below = format!("{k}/");
            let gone: Vec<String> = self
                .resources
                .keys()
                .filter(|id| **id == k || id.starts_with(&below))
                .cloned()
                .collect();
            for id in gone {
                self.cancel(&id);
                let Some(v) = self.resources.remove(&id) else {
                    continue;
                };
                if v["type"] == IDENTITY_TYPE
                    && let Some(p) = v["properties"]["principalId"].as_str()
                {
                    self.principals.remove(&p.to_ascii_lowercase());
                }
                if v["type"] == CLUSTER_TYPE {
                    let sub = id.split('/').nth(2).unwrap_or_default();
                    if let Some(nrg) = v["properties"]["nodeResourceGroup"].as_str() {
                        work.push(
                            format!("/subscriptions/{sub}/resourcegroups/{nrg}")
                                .to_ascii_lowercase(),
                        );
                    }
                    for p in [
                        &v["identity"]["principalId"],
                        &v["properties"]["identityProfile"]["kubeletidentity"]["objectId"],
                    ] {
                        if let Some(p) = p.as_str() {
                            self.principals.remove(&p.to_ascii_lowercase());
                        }
                    }
                }
            }
        }
    }

    /// Makes the node resource group of the AKS cluster `key` and the load balancer AKS puts in
    /// it, if they are not there yet.
    // https://learn.microsoft.com/en-us/azure/aks/faq#why-are-two-resource-groups-created-with-aks
    fn node_group(&mut self, key: &str) {
        let Some(cluster) = self.resources.get(key) else {
            return;
        };
        let id = cluster["id"].as_str().unwrap_or_default().to_owned();
        let parts: Vec<&str> = id.trim_start_matches('/').split('/').collect();
        let (Some(sub), Some(rg)) = (parts.get(1), parts.get(3)) else {
            return;
        };
        let (sub, rg) = (sub.to_string(), rg.to_string());
        let name = cluster["name"].clone();
        let location = cluster["location"].clone();
        let Some(nrg) = cluster["properties"]["nodeResourceGroup"].as_str() else {
            return;
        };
        let nrg = nrg.to_owned();
        let group_id = format!("/subscriptions/{sub}/resourceGroups/{nrg}");
        let group_key = group_id.to_ascii_lowercase();
        // https://learn.microsoft.com/en-us/rest/api/resources/resource-groups/get
        self.resources.entry(group_key).or_insert_with(|| {
            json!({
                "id": group_id,
                "name": nrg,
                "type": GROUP_TYPE,
                "location": location,
                "managedBy": id,
                "tags": {"aks-managed-cluster-name": name, "aks-managed-cluster-rg": rg},
                "properties": {"provisioningState": "Succeeded"},
            })
        });
        let lb_id = format!("{group_id}/providers/Microsoft.Network/loadBalancers/kubernetes");
        self.resources
            .entry(lb_id.to_ascii_lowercase())
            .or_insert_with(|| {
                // https://learn.microsoft.com/en-us/rest/api/load-balancer/load-balancers/get
                json!({
                    "id": lb_id,
                    "name": "kubernetes",
                    "type": LB_TYPE,
                    "location": location,
                    "sku": {"name": "Standard", "tier": "Regional"},
                    "properties": {"provisioningState": "Succeeded"},
                })
            });
    }
}

/// An operation's status resource as its `Azure-AsyncOperation` URL answers it.
// https://learn.microsoft.com/en-us/azure/azure-resource-manager/management/async-operations#azure-asyncoperation-request-and-response
fn render(id: &str, op: &Operation) -> Value {
    let mut v = json!({
        "id": op.status_path,
        "name": id,
        "startTime": op.start_time,
    });
    v["status"] = json!(match &op.status {
        Status::InProgress => "InProgress",
        Status::Succeeded => "Succeeded",
        Status::Failed { .. } => "Failed",
        Status::Canceled => "Canceled",
    });
    if let Some(end) = &op.end_time {
        v["endTime"] = json!(end);
        v["percentComplete"] = json!(100.0);
    }
    match &op.status {
        Status::Failed { code, message } => v["error"] = json!({"code": code, "message": message}),
        Status::Canceled => {
            v["error"] = json!({"code": "OperationCanceled", "message": "The operation was canceled by a later delete of the resource."})
        }
        _ => {}
    }
    v
}

fn is_group_key(key: &str) -> bool {
    let parts: Vec<&str> = key.trim_start_matches('/').split('/').collect();
    parts.len() == 4 && parts[0] == "subscriptions" && parts[2] == "resourcegroups"
}

// ---------------------------------------------------------------------------------------------
// HTTP over TLS

fn respond(state: &Mutex<State>, req: &Incoming) -> Response {
    let head_only = req.method() == "HEAD";
    let reply = answer(&mut lock(state), req);
    let text = match (&reply.body, head_only) {
        (Some(body), false) => body.to_string(),
        _ => String::new(),
    };
    let mut headers: Vec<(&str, &str)> = Vec::new();
    if reply.body.is_some() {
        headers.push(("Content-Type", "application/json; charset=utf-8"));
    }
    headers.extend(reply.headers.iter().map(|(k, v)| (k.as_str(), v.as_str())));
    Response::new(reply.status, &headers, text.as_bytes())
}

/// One answer: status, JSON body (none for 202/204 and HEAD), extra headers, and why the request
/// counts as unexpected, if it does.
struct Reply {
    status: u16,
    body: Option<Value>,
    headers: Vec<(String, String)>,
    unexpected: Option<String>,
}

impl Reply {
    fn json(status: u16, body: Value) -> Reply {
        Reply {
            status,
            body: Some(body),
            headers: Vec::new(),
            unexpected: None,
        }
    }

    fn empty(status: u16) -> Reply {
        Reply {
            status,
            body: None,
            headers: Vec::new(),
            unexpected: None,
        }
    }

    fn header(mut self, name: &str, value: impl Into<String>) -> Reply {
        self.headers.push((name.to_owned(), value.into()));
        self
    }
}

type Routed = Result<Reply, Reply>;

/// ARM's error body.
// https://learn.microsoft.com/en-us/azure/azure-resource-manager/troubleshooting/common-deployment-errors
fn error(status: u16, code: &str, message: impl Into<String>) -> Reply {
    Reply::json(
        status,
        json!({"error": {"code": code, "message": message.into()}}),
    )
}

/// A request that breaks the documented contract: answered as ARM would, and recorded.
fn invalid(status: u16, code: &str, message: impl Into<String>) -> Reply {
    let message = message.into();
    let mut reply = error(status, code, message.clone());
    reply.unexpected = Some(message);
    reply
}

/// A request no route matches: 404, and recorded.
fn no_route(req: &Request) -> Reply {
    let mut r = error(
        404,
        "NoRoute",
        format!("No route for {} {}", req.method, req.path),
    );
    r.unexpected = Some("no route matches".to_owned());
    r
}

/// ARM's code for an injected status.
fn fault_code(status: u16) -> &'static str {
    match status {
        400 => "BadRequest",
        401 => "AuthenticationFailed",
        403 => "AuthorizationFailed",
        404 => "ResourceNotFound",
        409 => "Conflict",
        412 => "PreconditionFailed",
        429 => "TooManyRequests",
        502 => "BadGateway",
        503 => "ServiceUnavailable",
        504 => "GatewayTimeout",
        _ => "InternalServerError",
    }
}

fn answer(st: &mut State, incoming: &Incoming) -> Reply {
    let method = incoming.method();
    let path = decode(incoming.path_and_query().0, false);
    let mut segments = incoming.segments();
    while segments.last().is_some_and(String::is_empty) {
        segments.pop();
    }
    let query = incoming.query();
    let headers = incoming.headers();
    let (json_body, bad_body) = incoming.json_body();
    let body = incoming.body.as_slice();
    let caller = headers
        .iter()
        .find(|(k, _)| k == "authorization")
        .and_then(|(_, v)| v.strip_prefix("Bearer "))
        .and_then(|t| st.tokens.get(t.trim()).cloned());
    let req = Request {
        method: method.clone(),
        path: path.clone(),
        query,
        body: json_body,
        headers,
        caller,
    };
    st.requests.push(req.clone());
    let line = format!("{method} {path}");
    if method == "POST"
        && segments.len() == 4
        && segments[1] == "oauth2"
        && segments[2] == "v2.0"
        && segments[3] == "token"
    {
        return token(st, &segments[0], body);
    }
    if method == "POST" && segments == ["oauth2", "exchange"] {
        return exchange(st, body);
    }

    let mut reply = contract(&req, bad_body)
        .and_then(|()| authorized(st, &req))
        .and_then(|()| fault(st, &req))
        .and_then(|()| route(st, &req, &segments))
        .unwrap_or_else(|e| e);
    if let Some(why) = &reply.unexpected {
        st.unexpected.push(format!("{line}: {why}"));
    }
    let request_id = st.uuid();
    let correlation = match req.header("x-ms-correlation-request-id") {
        Some(c) => c.to_owned(),
        None => st.uuid(),
    };
    reply = reply
        .header("x-ms-request-id", request_id)
        .header("x-ms-correlation-request-id", correlation);
    if let Some(client) = req.header("x-ms-client-request-id") {
        reply = reply.header("x-ms-client-request-id", client);
    }
    reply
}

/// What every ARM request needs: a bearer token, an `api-version`, a JSON body if any.
// https://learn.microsoft.com/en-us/rest/api/azure/#create-the-request
fn contract(req: &Request, bad_body: bool) -> Result<(), Reply> {
    let challenge = "Bearer authorization_uri=\"https://login.microsoftonline.com/common\", error=\"invalid_token\"";
    match req.header("authorization") {
        None => {
            return Err(invalid(
                401,
                "AuthenticationFailed",
                "Authentication failed. The 'Authorization' header is missing.",
            )
            .header("WWW-Authenticate", challenge));
        }
        Some(v) => {
            let token = v
                .split_once(' ')
                .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
                .map(|(_, t)| t.trim());
            if token.is_none_or(str::is_empty) {
                return Err(invalid(
                    401,
                    "AuthenticationFailedInvalidHeader",
                    "Authentication failed. The 'Authorization' header is provided in an invalid format.",
                )
                .header("WWW-Authenticate", challenge));
            }
        }
    }
    if req.query("api-version").is_none_or(str::is_empty) {
        return Err(invalid(
            400,
            "MissingApiVersionParameter",
            "The api-version query parameter (?api-version=) is required for all requests.",
        ));
    }
    if bad_body {
        return Err(invalid(
            400,
            "InvalidRequestContent",
            "The request content was invalid and could not be deserialized.",
        ));
    }
    Ok(())
}

/// Entra ID's answer to a client-credentials grant: a token for a registered application
/// whose secret matches, `invalid_client` otherwise.
fn token(st: &mut State, tenant: &str, body: &[u8]) -> Reply {
    let form: BTreeMap<String, String> = String::from_utf8_lossy(body)
        .split('&')
        .filter_map(|kv| kv.split_once('='))
        .map(|(k, v)| (decode(k, true), decode(v, true)))
        .collect();
    let entra_error = |status: u16, error: &str, code: u32, description: String| {
        Reply::json(
            status,
            json!({
                "error": error,
                "error_description": description,
                "error_codes": [code],
                "timestamp": arm_time(now_secs()),
                "trace_id": "00000000-0000-0000-0000-000000000000",
                "correlation_id": "00000000-0000-0000-0000-000000000000",
            }),
        )
    };
    if form.get("grant_type").map(String::as_str) != Some("client_credentials")
        || form.get("scope").is_none_or(|s| !s.ends_with("/.default"))
    {
        let mut r = entra_error(
            400,
            "invalid_request",
            900144,
            "AADSTS900144: The request body must contain the grant_type and a scope ending in /.default.".into(),
        );
        r.unexpected = Some("not a client-credentials grant".into());
        return r;
    }
    if tenant != TENANT {
        return entra_error(
            400,
            "invalid_request",
            90002,
            format!("AADSTS90002: Tenant '{tenant}' not found."),
        );
    }
    let client = form.get("client_id").cloned().unwrap_or_default();
    match st.apps.get(&client) {
        None => entra_error(
            400,
            "unauthorized_client",
            700016,
            format!(
                "AADSTS700016: Application with identifier '{client}' was not found in the directory '{TENANT}'."
            ),
        ),
        Some(secret) if form.get("client_secret") != Some(secret) => entra_error(
            401,
            "invalid_client",
            7000215,
            format!(
                "AADSTS7000215: Invalid client secret provided. Ensure the secret being sent in the request is the client secret value, not the client secret ID, for a secret added to app '{client}'."
            ),
        ),
        Some(_) => {
            // A JWT as Entra ID issues them, its claims naming the caller (unsigned here).
            // https://learn.microsoft.com/en-us/entra/identity-platform/access-token-claims-reference
            let claims = json!({
                "oid": st.app_objects.get(&client).cloned().unwrap_or_default(),
                "appid": client, "tid": TENANT, "idtyp": "app", "uti": st.uuid(),
            });
            let token = {
                use base64::Engine as _;
                format!(
                    "eyJ0eXAiOiJKV1QifQ.{}.{}",
                    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(claims.to_string()),
                    st.uuid()
                )
            };
            st.tokens.insert(token.clone(), client);
            let scope = form.get("scope").cloned().unwrap_or_default();
            st.scopes.insert(token.clone(), scope);
            Reply::json(
                200,
                json!({
                    "token_type": "Bearer",
                    "expires_in": 3599,
                    "ext_expires_in": 3599,
                    "access_token": token,
                }),
            )
        }
    }
}

/// ACR's exchange of an Entra ID access token for a registry refresh token, as `az acr login`
/// makes it (https://github.com/Azure/acr/blob/main/docs/AAD-OAuth.md): a form with
/// `grant_type=access_token`, the registry as `service`, and a token this server issued.
fn exchange(st: &mut State, body: &[u8]) -> Reply {
    let form: BTreeMap<String, String> = String::from_utf8_lossy(body)
        .split('&')
        .filter_map(|kv| kv.split_once('='))
        .map(|(k, v)| (decode(k, true), decode(v, true)))
        .collect();
    let refuse = |status: u16, message: &str| {
        Reply::json(
            status,
            json!({"errors": [{"code": "UNAUTHORIZED", "message": message}]}),
        )
    };
    let service = form.get("service").cloned().unwrap_or_default();
    let known_registry = st.resources.values().any(|r| {
        r["properties"]["loginServer"]
            .as_str()
            .is_some_and(|l| l.eq_ignore_ascii_case(&service))
    });
    if form.get("grant_type").map(String::as_str) != Some("access_token") || service.is_empty() {
        let mut r = refuse(400, "grant_type=access_token and service are required");
        r.unexpected = Some("not an access-token exchange".into());
        return r;
    }
    if !known_registry {
        return refuse(404, &format!("registry {service} not found"));
    }
    let Some(client) = form
        .get("access_token")
        .and_then(|t| st.tokens.get(t))
        .cloned()
    else {
        return refuse(401, "the access token is invalid");
    };
    let refresh = format!("acr-refresh-{}", st.uuid());
    st.refresh_tokens.insert(refresh.clone(), (client, service));
    Reply::json(200, json!({"refresh_token": refresh}))
}

/// Once [`ArmApi::allow_only`] names an application, ARM answers no one else.
fn authorized(st: &State, req: &Request) -> Result<(), Reply> {
    let Some(only) = &st.only else {
        return Ok(());
    };
    match &req.caller {
        Some(c) if c == only => Ok(()),
        Some(c) => Err(error(
            403,
            "AuthorizationFailed",
            format!(
                "The client '{c}' with object id '{c}' does not have authorization to perform action over scope '{}' or the scope is invalid.",
                req.path
            ),
        )),
        None => Err(error(
            401,
            "InvalidAuthenticationToken",
            "The access token is invalid.",
        )),
    }
}

/// The caller's permissions: every action, less the denied ones.
fn permissions(st: &State) -> Routed {
    Ok(Reply::json(
        200,
        json!({"value": [{
            "actions": ["*"],
            "notActions": st.denied,
            "dataActions": ["*"],
            "notDataActions": [],
        }]}),
    ))
}

/// An injected failure, if one matches.
fn fault(st: &mut State, req: &Request) -> Result<(), Reply> {
    let path = req.path.to_ascii_lowercase();
    let Some(i) = st
        .faults
        .iter()
        .position(|f| f.times > 0 && f.method == req.method && path.contains(&f.path))
    else {
        return Ok(());
    };
    let fault = &mut st.faults[i];
    fault.times -= 1;
    let status = fault.status;
    if fault.times == 0 {
        st.faults.remove(i);
    }
    let mut reply = error(
        status,
        fault_code(status),
        format!("Injected by the test server ({status})."),
    );
    if status == 429 || status == 503 {
        // https://learn.microsoft.com/en-us/azure/azure-resource-manager/management/request-limits-and-throttling
        reply = reply.header("Retry-After", "1");
    }
    Err(reply)
}

fn route(st: &mut State, req: &Request, o: &[String]) -> Routed {
    let lower: Vec<String> = o.iter().map(|s| s.to_ascii_lowercase()).collect();
    let l: Vec<&str> = lower.iter().map(String::as_str).collect();
    let m = req.method.as_str();
    let n = l.len();
    // `{scope}/providers/Microsoft.Authorization/roleAssignments/{name}` below any scope.
    if n >= 5
        && l[n - 4] == "providers"
        && l[n - 3] == "microsoft.authorization"
        && l[n - 2] == "roleassignments"
    {
        return role_assignment(st, req, m, o, n - 4);
    }
    match (m, l.as_slice()) {
        (
            "GET",
            [
                "subscriptions",
                _,
                "providers",
                "microsoft.authorization",
                "permissions",
            ],
        ) => permissions(st),
        // https://learn.microsoft.com/en-us/rest/api/containerregistry/registries/list,
        // .../aks/managed-clusters/list, .../storagerp/storage-accounts/list
        (
            "GET",
            [
                "subscriptions",
                _,
                "providers",
                "microsoft.containerregistry" | "microsoft.containerservice" | "microsoft.storage",
                "registries" | "managedclusters" | "storageaccounts",
            ],
        ) => Ok(type_list(st, &o[1], &format!("{}/{}", o[3], o[4]))),
        ("GET", ["subscriptions", _, "resourcegroups"]) => group_list(st, req, &o[1]),
        (_, ["subscriptions", _, "resourcegroups", _]) => group(st, req, m, o),
        ("GET", ["subscriptions", _, "resources"]) => resource_list(st, req, &o[1]),
        (
            "POST",
            [
                "subscriptions",
                _,
                "providers",
                "microsoft.storage",
                "checknameavailability",
            ],
        ) => storage_name_check(st, req),
        (
            "GET",
            [
                "subscriptions",
                _,
                "providers",
                _,
                "locations",
                _,
                kind @ ("operations" | "operationresults"),
                id,
            ],
        ) => operation_get(st, id, *kind == "operations"),
        (
            _,
            [
                "subscriptions",
                _,
                "resourcegroups",
                _,
                "providers",
                "microsoft.storage",
                "storageaccounts",
                _,
            ],
        ) => storage(st, req, m, o),
        (
            _,
            [
                "subscriptions",
                _,
                "resourcegroups",
                _,
                "providers",
                "microsoft.storage",
                "storageaccounts",
                _,
                "blobservices",
                "default",
                "containers",
                _,
            ],
        ) => container(st, req, m, o),
        (
            _,
            [
                "subscriptions",
                _,
                "resourcegroups",
                _,
                "providers",
                "microsoft.containerregistry",
                "registries",
                _,
            ],
        ) => registry(st, req, m, o),
        (
            _,
            [
                "subscriptions",
                _,
                "resourcegroups",
                _,
                "providers",
                "microsoft.containerservice",
                "managedclusters",
                _,
            ],
        ) => cluster(st, req, m, o),
        (
            "POST",
            [
                "subscriptions",
                _,
                "resourcegroups",
                _,
                "providers",
                "microsoft.containerservice",
                "managedclusters",
                _,
                "listclusterusercredential",
            ],
        ) => cluster_user_credential(st, o),
        (
            _,
            [
                "subscriptions",
                _,
                "resourcegroups",
                _,
                "providers",
                "microsoft.managedidentity",
                "userassignedidentities",
                _,
            ],
        ) => identity(st, req, m, o),
        (
            _,
            [
                "subscriptions",
                _,
                "resourcegroups",
                _,
                "providers",
                "microsoft.managedidentity",
                "userassignedidentities",
                _,
                "federatedidentitycredentials",
                _,
            ],
        ) => federated_credential(st, req, m, o),
        _ => Err(no_route(req)),
    }
}

/// The cluster's user kubeconfig, as `listClusterUserCredential` answers it: base64 YAML whose
/// user signs in to Entra ID through kubelogin (an AAD-enabled cluster's), and whose cluster is
/// the API server with the cluster CA (the server's test CA here).
// https://learn.microsoft.com/en-us/rest/api/aks/managed-clusters/list-cluster-user-credentials
fn cluster_user_credential(st: &mut State, o: &[String]) -> Routed {
    let t = target(&o[..o.len() - 1]);
    let cluster = held(st, &t, &o[..o.len() - 1])?.clone();
    let name = cluster["name"].as_str().unwrap_or_default();
    let fqdn = cluster["properties"]["fqdn"].as_str().unwrap_or_default();
    let ca = std::fs::read(ca_file()).unwrap();
    let base64 = |b: &[u8]| {
        use base64::Engine as _;
        base64::engine::general_purpose::STANDARD.encode(b)
    };
    // A cluster with Entra ID integration answers a user that signs in through kubelogin; one
    // without, a local user with a client certificate.
    let user = if cluster["properties"]["aadProfile"]["managed"] == true {
        "    exec:\n      apiVersion: client.authentication.k8s.io/v1beta1\n      command: kubelogin\n      args: [get-token, --server-id, 6dae42f8-4368-4678-94ff-3960e28e3630]\n".to_owned()
    } else {
        format!(
            "    client-certificate-data: {}\n    client-key-data: {}\n",
            base64(b"local user certificate"),
            base64(b"local user key")
        )
    };
    let kubeconfig = format!(
        "apiVersion: v1\nkind: Config\nclusters:\n- name: {name}\n  cluster:\n    server: https://{fqdn}:443\n    certificate-authority-data: {}\ncontexts:\n- name: {name}\n  context:\n    cluster: {name}\n    user: clusterUser_{name}\ncurrent-context: {name}\nusers:\n- name: clusterUser_{name}\n  user:\n{user}",
        base64(&ca)
    );
    Ok(Reply::json(
        200,
        json!({"kubeconfigs": [{"name": "clusterUser", "value": base64(kubeconfig.as_bytes())}]}),
    ))
}

// ---------------------------------------------------------------------------------------------
// Shared helpers

/// A resource path below a resource group, as sent and as keyed.
struct Target {
    sub: String,
    rg: String,
    /// The path as sent: the `id` a new resource gets.
    id: String,
    /// Lowercased: the key it is held by.
    key: String,
    name: String,
    group_key: String,
}

/// `segments` is `subscriptions/S/resourceGroups/RG/...`.
fn target(o: &[String]) -> Target {
    let id = format!("/{}", o.join("/"));
    Target {
        sub: o[1].clone(),
        rg: o[3].clone(),
        key: id.to_ascii_lowercase(),
        id,
        name: o.last().cloned().unwrap_or_default(),
        group_key: format!("/subscriptions/{}/resourcegroups/{}", o[1], o[3]).to_ascii_lowercase(),
    }
}

/// `Type/name` of the resource at `segments` below `providers`, as ARM's not-found message
/// names it: `Microsoft.Storage/storageAccounts/acc`.
fn resource_ref(o: &[String]) -> String {
    o.iter()
        .position(|s| s.eq_ignore_ascii_case("providers"))
        .map(|i| o[i + 1..].join("/"))
        .unwrap_or_else(|| o.join("/"))
}

// https://learn.microsoft.com/en-us/azure/azure-resource-manager/troubleshooting/error-not-found
fn group_not_found(rg: &str) -> Reply {
    error(
        404,
        "ResourceGroupNotFound",
        format!("Resource group '{rg}' could not be found."),
    )
}

fn resource_not_found(what: &str, rg: &str) -> Reply {
    error(
        404,
        "ResourceNotFound",
        format!(
            "The Resource '{what}' under resource group '{rg}' was not found. For more details please go to https://aka.ms/ARMResourceNotFoundFix"
        ),
    )
}

fn group_exists(st: &State, t: &Target) -> Result<(), Reply> {
    if st.resources.contains_key(&t.group_key) {
        Ok(())
    } else {
        Err(group_not_found(&t.rg))
    }
}

/// The group a resource is written into: it must exist and not be being deleted.
fn group_for_write(st: &State, t: &Target) -> Result<(), Reply> {
    let group = st
        .resources
        .get(&t.group_key)
        .ok_or_else(|| group_not_found(&t.rg))?;
    if group["properties"]["provisioningState"] == "Deleting" {
        return Err(error(
            409,
            "ResourceGroupBeingDeleted",
            format!(
                "The resource group '{}' is in deprovisioning state and cannot perform this operation.",
                t.rg
            ),
        ));
    }
    Ok(())
}

/// A held resource below a group: 404 `ResourceGroupNotFound` or `ResourceNotFound` otherwise.
fn held<'a>(st: &'a State, t: &Target, o: &[String]) -> Result<&'a Value, Reply> {
    group_exists(st, t)?;
    st.resources
        .get(&t.key)
        .ok_or_else(|| resource_not_found(&resource_ref(o), &t.rg))
}

fn body_object(req: &Request) -> Result<&Map<String, Value>, Reply> {
    req.body.as_object().ok_or_else(|| {
        invalid(
            400,
            "InvalidRequestContent",
            "The request content was invalid: the body must be a JSON object.",
        )
    })
}

/// ARM's normalized location: `West Europe` is `westeurope`.
fn location(body: &Map<String, Value>) -> Result<String, Reply> {
    match body.get("location").and_then(Value::as_str) {
        Some(l) if !l.trim().is_empty() => Ok(l.replace(' ', "").to_ascii_lowercase()),
        _ => Err(invalid(
            400,
            "LocationRequired",
            "The location property is required for this definition.",
        )),
    }
}

/// Tags: a map of strings, at most 50.
// https://learn.microsoft.com/en-us/azure/azure-resource-manager/management/tag-resources#limitations
fn tags(body: &Map<String, Value>) -> Result<Option<Value>, Reply> {
    match body.get("tags") {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Object(m)) if m.len() <= 50 && m.values().all(Value::is_string) => {
            Ok(Some(Value::Object(m.clone())))
        }
        Some(other) => Err(invalid(
            400,
            "InvalidRequestContent",
            format!("tags must be a map of at most 50 strings: {other}"),
        )),
    }
}

/// ARM refuses to move a resource by PUT.
fn same_location(old: &Value, location: &str, t: &Target) -> Result<(), Reply> {
    let was = old["location"].as_str().unwrap_or_default();
    if was == location {
        return Ok(());
    }
    Err(error(
        409,
        "InvalidResourceLocation",
        format!(
            "The resource '{}' already exists in location '{was}' in resource group '{}'. A resource with the same name cannot be created in location '{location}'. Please select a new resource name.",
            t.name, t.rg
        ),
    ))
}

/// Copies the fields of `from` over `into`, one level deep.
fn merge(into: &mut Value, from: Option<&Value>) {
    if let (Some(into), Some(Value::Object(from))) = (into.as_object_mut(), from) {
        for (k, v) in from {
            into.insert(k.clone(), v.clone());
        }
    }
}

/// The headers of an operation's answer: `Azure-AsyncOperation` and/or `Location`.
fn op_headers(st: &State, id: &str, reply: Reply, async_op: bool, location: bool) -> Reply {
    let op = &st.operations[id];
    let mut reply = reply;
    if async_op {
        reply = reply.header("Azure-AsyncOperation", op.status_url.clone());
    }
    if location {
        reply = reply.header("Location", op.result_url.clone());
    }
    reply
}

/// A timestamp as ARM writes them: `2025-01-31T12:00:00.0000000Z`.
fn arm_time(secs: u64) -> String {
    let (year, month, day, hour, minute, second) = civil(secs);
    format!("{year:04}-{month:02}-{day:02}T{hour:02}:{minute:02}:{second:02}.0000000Z")
}

// ---------------------------------------------------------------------------------------------
// Operations

/// GET of an operation's `Azure-AsyncOperation` (`.../operations/{id}`) or `Location`
/// (`.../operationResults/{id}`) URL; either counts as a poll.
// https://learn.microsoft.com/en-us/azure/azure-resource-manager/management/async-operations
fn operation_get(st: &mut State, id: &str, async_op: bool) -> Routed {
    let Some(op) = st.poll(id) else {
        // Operations are never forgotten here, so a miss is a client building a wrong URL.
        let mut r = error(
            404,
            "OperationNotFound",
            format!("The operation '{id}' was not found."),
        );
        r.unexpected = Some("no such operation".to_owned());
        return Err(r);
    };
    if async_op {
        return Ok(Reply::json(200, render(id, op)));
    }
    // "If the operation hasn't finished, the URL returns 202 ... When the operation
    // successfully completes, the URL returns 200 (OK) ... or 204 (No Content); an error status
    // code (4xx or 5xx) if the operation failed."
    let (status, done, target, result_url) = (
        op.status.clone(),
        op.done,
        op.target.clone(),
        op.result_url.clone(),
    );
    match status {
        Status::InProgress => Ok(Reply::empty(202).header("Location", result_url)),
        Status::Succeeded => match done {
            Done::Resource => match st.resources.get(&target) {
                Some(v) => Ok(Reply::json(200, v.clone())),
                None => Ok(Reply::empty(204)),
            },
            Done::Empty(code) => Ok(Reply::empty(code)),
        },
        Status::Failed { code, message } => Err(error(400, &code, message)),
        Status::Canceled => Err(error(
            400,
            "OperationCanceled",
            "The operation was canceled by a later delete of the resource.",
        )),
    }
}

// ---------------------------------------------------------------------------------------------
// Resource groups

fn group(st: &mut State, req: &Request, m: &str, o: &[String]) -> Routed {
    let id = format!("/{}", o.join("/"));
    let key = id.to_ascii_lowercase();
    let sub = &o[1];
    let name = &o[3];
    match m {
        "PUT" => group_put(st, req, &id, &key, name),
        // https://learn.microsoft.com/en-us/rest/api/resources/resource-groups/get
        "GET" => st
            .resources
            .get(&key)
            .map(|g| Reply::json(200, g.clone()))
            .ok_or_else(|| group_not_found(name)),
        // https://learn.microsoft.com/en-us/rest/api/resources/resource-groups/check-existence
        "HEAD" => Ok(Reply::empty(if st.resources.contains_key(&key) {
            204
        } else {
            404
        })),
        // https://learn.microsoft.com/en-us/rest/api/resources/resource-groups/delete
        // 202 with a Location; done, the group and everything in it are gone.
        "DELETE" => {
            let Some(group) = st.resources.get_mut(&key) else {
                return Err(group_not_found(name));
            };
            group["properties"]["provisioningState"] = json!("Deleting");
            let location = group["location"].as_str().unwrap_or_default().to_owned();
            if let Some((op, _)) = st.pending(&key) {
                let op = op.clone();
                return Ok(op_headers(st, &op, Reply::empty(202), false, true));
            }
            let op = st.start_op(
                req,
                sub,
                "Microsoft.Resources",
                &location,
                "Microsoft.Resources/resourceGroups/delete",
                &key,
                "Deleting",
                Effect::Deleted(key.clone()),
                Done::Empty(200),
            );
            Ok(op_headers(st, &op, Reply::empty(202), false, true))
        }
        _ => Err(no_route(req)),
    }
}

// https://learn.microsoft.com/en-us/rest/api/resources/resource-groups/create-or-update
// 201 for a new group, 200 for an update; the body is the group.
fn group_put(st: &mut State, req: &Request, id: &str, key: &str, name: &str) -> Routed {
    // "pattern: ^[-\w\._\(\)]+$", at most 90 characters, not ending in a period.
    if !matches(r"^[-\w\._\(\)]{1,90}$", name) || name.ends_with('.') {
        return Err(invalid(
            400,
            "InvalidResourceGroupName",
            format!(
                "Resource group name '{name}' is invalid. It can include alphanumeric, underscore, parentheses, hyphen, period (except at end), and Unicode characters that match the allowed characters, and be at most 90 characters long."
            ),
        ));
    }
    let body = body_object(req)?;
    let location = location(body)?;
    let tags = tags(body)?;
    if let Some(old) = st.resources.get_mut(key) {
        if old["properties"]["provisioningState"] == "Deleting" {
            return Err(error(
                409,
                "ResourceGroupBeingDeleted",
                format!(
                    "The resource group '{name}' is in deprovisioning state and cannot perform this operation."
                ),
            ));
        }
        let was = old["location"].as_str().unwrap_or_default();
        if was != location {
            return Err(error(
                409,
                "InvalidResourceGroupLocation",
                format!(
                    "Invalid resource group location '{location}'. The Resource group already exists in location '{was}'."
                ),
            ));
        }
        let obj = old.as_object_mut().unwrap();
        match tags {
            Some(t) => obj.insert("tags".to_owned(), t),
            None => obj.remove("tags"),
        };
        return Ok(Reply::json(200, old.clone()));
    }
    let mut group = json!({
        "id": id,
        "name": name,
        "type": GROUP_TYPE,
        "location": location,
        "properties": {"provisioningState": "Succeeded"},
    });
    if let Some(t) = tags {
        group["tags"] = t;
    }
    if let Some(by) = body.get("managedBy").filter(|v| v.is_string()) {
        group["managedBy"] = by.clone();
    }
    st.resources.insert(key.to_owned(), group.clone());
    Ok(Reply::json(201, group))
}

/// A `$filter` of the documented tag forms: `tagName eq 'k'`, optionally
/// `and tagValue eq 'v'`. `Err` for anything else.
// https://learn.microsoft.com/en-us/rest/api/resources/resources/list#uri-parameters
fn parse_filter(filter: &str) -> Result<(String, Option<String>), String> {
    let re = regex::Regex::new(
        r"(?i)^\s*tagName\s+eq\s+'((?:[^']|'')*)'\s*(?:and\s+tagValue\s+eq\s+'((?:[^']|'')*)'\s*)?$",
    )
    .unwrap();
    let caps = re
        .captures(filter)
        .ok_or_else(|| format!("unsupported $filter {filter:?}"))?;
    let name = caps[1].replace("''", "'");
    let value = caps.get(2).map(|v| v.as_str().replace("''", "'"));
    Ok((name, value))
}

/// Whether `v`'s tags match the filter: tag names are case-insensitive, values are not.
// https://learn.microsoft.com/en-us/azure/azure-resource-manager/management/tag-resources#limitations
fn tagged(v: &Value, filter: &Option<(String, Option<String>)>) -> bool {
    let Some((name, value)) = filter else {
        return true;
    };
    v["tags"].as_object().is_some_and(|tags| {
        tags.iter().any(|(k, v)| {
            k.eq_ignore_ascii_case(name) && value.as_ref().is_none_or(|want| v == want.as_str())
        })
    })
}

/// The filter of a list request; an unsupported one lists everything and is recorded.
fn list_filter(req: &Request) -> (Option<(String, Option<String>)>, Option<String>) {
    match req.query("$filter") {
        None => (None, None),
        Some(f) => match parse_filter(f) {
            Ok(f) => (Some(f), None),
            Err(why) => (None, Some(why)),
        },
    }
}

// https://learn.microsoft.com/en-us/rest/api/resources/resource-groups/list
fn group_list(st: &mut State, req: &Request, sub: &str) -> Routed {
    let (filter, why) = list_filter(req);
    let prefix = format!("/subscriptions/{sub}/resourcegroups/").to_ascii_lowercase();
    let value: Vec<Value> = st
        .resources
        .iter()
        .filter(|(k, _)| k.starts_with(&prefix) && is_group_key(k))
        .filter(|(_, v)| tagged(v, &filter))
        .map(|(_, v)| v.clone())
        .collect();
    let mut reply = Reply::json(200, json!({"value": value}));
    reply.unexpected = why;
    Ok(reply)
}

/// Every resource in the subscription: not the groups themselves, nor nested resources (blob
/// containers) or role assignments, which the real list leaves out too. Items are
/// GenericResourceExpanded: id, name, type, location, and tags, sku, kind, managedBy, identity
/// when the resource has them.
// https://learn.microsoft.com/en-us/rest/api/resources/resources/list
/// Every resource of ARM type `kind` (`Microsoft.ContainerRegistry/registries`) in the
/// subscription, as GET answers each.
fn type_list(st: &State, sub: &str, kind: &str) -> Reply {
    let prefix = format!("/subscriptions/{sub}/resourcegroups/").to_ascii_lowercase();
    let value: Vec<Value> = st
        .resources
        .iter()
        .filter(|(k, v)| {
            k.starts_with(&prefix)
                && k.trim_start_matches('/').split('/').count() == 8
                && v["type"]
                    .as_str()
                    .is_some_and(|t| t.eq_ignore_ascii_case(kind))
        })
        .map(|(_, v)| v.clone())
        .collect();
    Reply::json(200, json!({"value": value}))
}

fn resource_list(st: &mut State, req: &Request, sub: &str) -> Routed {
    let (filter, why) = list_filter(req);
    let prefix = format!("/subscriptions/{sub}/resourcegroups/").to_ascii_lowercase();
    let value: Vec<Value> = st
        .resources
        .iter()
        .filter(|(k, v)| {
            k.starts_with(&prefix)
                && k.trim_start_matches('/').split('/').count() == 8
                && v["type"] != ASSIGNMENT_TYPE
        })
        .filter(|(_, v)| tagged(v, &filter))
        .map(|(_, v)| {
            let mut item = json!({
                "id": v["id"], "name": v["name"], "type": v["type"], "location": v["location"],
            });
            for field in ["tags", "sku", "kind", "managedBy", "identity"] {
                if let Some(x) = v.get(field) {
                    item[field] = x.clone();
                }
            }
            item
        })
        .collect();
    let mut reply = Reply::json(200, json!({"value": value}));
    reply.unexpected = why;
    Ok(reply)
}

// ---------------------------------------------------------------------------------------------
// Storage accounts and blob containers

// https://learn.microsoft.com/en-us/rest/api/storagerp/storage-accounts/create#skuname
const STORAGE_SKUS: &[&str] = &[
    "Standard_LRS",
    "Standard_GRS",
    "Standard_RAGRS",
    "Standard_ZRS",
    "Premium_LRS",
    "Premium_ZRS",
    "Standard_GZRS",
    "Standard_RAGZRS",
];
// https://learn.microsoft.com/en-us/rest/api/storagerp/storage-accounts/create#kind
const STORAGE_KINDS: &[&str] = &[
    "Storage",
    "StorageV2",
    "BlobStorage",
    "FileStorage",
    "BlockBlobStorage",
];

fn account_name_invalid(name: &str) -> String {
    format!(
        "{name} is not a valid storage account name. Storage account name must be between 3 and 24 characters in length and use numbers and lower-case letters only."
    )
}

/// Another account holding `name` anywhere: storage account names are global.
fn account_taken(st: &State, name: &str, except: &str) -> bool {
    let suffix = format!(
        "/providers/microsoft.storage/storageaccounts/{}",
        name.to_ascii_lowercase()
    );
    st.resources
        .keys()
        .any(|k| k.ends_with(&suffix) && k != except)
}

fn storage(st: &mut State, req: &Request, m: &str, o: &[String]) -> Routed {
    let t = target(o);
    match m {
        "PUT" => storage_put(st, req, &t),
        // https://learn.microsoft.com/en-us/rest/api/storagerp/storage-accounts/get-properties
        "GET" => held(st, &t, o).map(|v| Reply::json(200, v.clone())),
        // https://learn.microsoft.com/en-us/rest/api/storagerp/storage-accounts/delete
        // Synchronous: 200, or 204 when there is no such account.
        "DELETE" => {
            group_exists(st, &t)?;
            if st.resources.contains_key(&t.key) {
                st.remove(&t.key);
                Ok(Reply::empty(200))
            } else {
                Ok(Reply::empty(204))
            }
        }
        _ => Err(no_route(req)),
    }
}

// https://learn.microsoft.com/en-us/rest/api/storagerp/storage-accounts/create
// A new account: 202 with a Location and no body; the Location answers 202 until the account is
// made, then 200 with it. An existing one is updated in place: 200 with it.
fn storage_put(st: &mut State, req: &Request, t: &Target) -> Routed {
    if !matches("^[a-z0-9]{3,24}$", &t.name) {
        return Err(invalid(
            400,
            "AccountNameInvalid",
            account_name_invalid(&t.name),
        ));
    }
    group_for_write(st, t)?;
    let body = body_object(req)?;
    let location = location(body)?;
    let tags = tags(body)?;
    let sku = body
        .get("sku")
        .and_then(|s| s["name"].as_str())
        .and_then(|s| STORAGE_SKUS.iter().find(|k| k.eq_ignore_ascii_case(s)));
    let Some(sku) = sku else {
        return Err(invalid(
            400,
            "InvalidRequestContent",
            format!("sku.name must be one of {STORAGE_SKUS:?}"),
        ));
    };
    let kind = body
        .get("kind")
        .and_then(Value::as_str)
        .and_then(|s| STORAGE_KINDS.iter().find(|k| k.eq_ignore_ascii_case(s)));
    let Some(kind) = kind else {
        return Err(invalid(
            400,
            "InvalidRequestContent",
            format!("kind must be one of {STORAGE_KINDS:?}"),
        ));
    };
    if let Some(p) = body.get("properties")
        && !p.is_object()
    {
        return Err(invalid(
            400,
            "InvalidRequestContent",
            "properties must be an object",
        ));
    }
    if account_taken(st, &t.name, &t.key) {
        // https://learn.microsoft.com/en-us/azure/azure-resource-manager/troubleshooting/error-storage-account-name
        return Err(error(
            409,
            "StorageAccountAlreadyTaken",
            format!("The storage account named {} is already taken.", t.name),
        ));
    }
    let tier = if sku.starts_with("Premium") {
        "Premium"
    } else {
        "Standard"
    };
    if let Some(old) = st.resources.get(&t.key).cloned() {
        if let Some((op, _)) = st.pending(&t.key) {
            // Still being made: the same answer as the create.
            let op = op.clone();
            return Ok(op_headers(st, &op, Reply::empty(202), false, true));
        }
        same_location(&old, &location, t)?;
        let mut account = old;
        merge(&mut account["properties"], body.get("properties"));
        account["sku"] = json!({"name": sku, "tier": tier});
        account["kind"] = json!(kind);
        let obj = account.as_object_mut().unwrap();
        match tags {
            Some(t) => obj.insert("tags".to_owned(), t),
            None => obj.remove("tags"),
        };
        st.resources.insert(t.key.clone(), account.clone());
        return Ok(Reply::json(200, account));
    }
    let name = &t.name;
    let now = arm_time(now_secs());
    // https://learn.microsoft.com/en-us/rest/api/storagerp/storage-accounts/get-properties#storageaccount
    let mut properties = json!({
        "keyCreationTime": {"key1": now, "key2": now},
        "privateEndpointConnections": [],
        "minimumTlsVersion": "TLS1_2",
        "allowBlobPublicAccess": false,
        "allowSharedKeyAccess": true,
        "networkAcls": {"bypass": "AzureServices", "virtualNetworkRules": [], "ipRules": [], "defaultAction": "Allow"},
        "supportsHttpsTrafficOnly": true,
        "encryption": {
            "services": {
                "file": {"keyType": "Account", "enabled": true, "lastEnabledTime": now},
                "blob": {"keyType": "Account", "enabled": true, "lastEnabledTime": now},
            },
            "keySource": "Microsoft.Storage",
        },
        "creationTime": now,
    });
    if *kind != "Storage" {
        properties["accessTier"] = json!("Hot");
    }
    merge(&mut properties, body.get("properties"));
    properties["provisioningState"] = json!("Creating");
    properties["primaryEndpoints"] = json!({
        "dfs": format!("https://{name}.dfs.core.windows.net/"),
        "web": format!("https://{name}.z6.web.core.windows.net/"),
        "blob": format!("https://{name}.blob.core.windows.net/"),
        "queue": format!("https://{name}.queue.core.windows.net/"),
        "table": format!("https://{name}.table.core.windows.net/"),
        "file": format!("https://{name}.file.core.windows.net/"),
    });
    properties["primaryLocation"] = json!(location);
    properties["statusOfPrimary"] = json!("available");
    let mut account = json!({
        "id": t.id,
        "name": name,
        "type": STORAGE_TYPE,
        "location": location,
        "sku": {"name": sku, "tier": tier},
        "kind": kind,
        "properties": properties,
    });
    if let Some(tags) = tags {
        account["tags"] = tags;
    }
    st.resources.insert(t.key.clone(), account);
    let op = st.start_op(
        req,
        &t.sub,
        "Microsoft.Storage",
        &location,
        "Microsoft.Storage/storageAccounts/write",
        &t.key,
        "Creating",
        Effect::Provisioned {
            key: t.key.clone(),
            remove_on_failure: true,
        },
        Done::Resource,
    );
    Ok(op_headers(st, &op, Reply::empty(202), false, true))
}

// https://learn.microsoft.com/en-us/rest/api/storagerp/storage-accounts/check-name-availability
fn storage_name_check(st: &mut State, req: &Request) -> Routed {
    let body = body_object(req)?;
    let name = body.get("name").and_then(Value::as_str);
    let ty = body.get("type").and_then(Value::as_str);
    let (Some(name), Some(ty)) = (name, ty) else {
        return Err(invalid(
            400,
            "InvalidRequestContent",
            "name and type are required",
        ));
    };
    if !ty.eq_ignore_ascii_case(STORAGE_TYPE) {
        return Err(invalid(
            400,
            "InvalidRequestContent",
            format!("type must be {STORAGE_TYPE}"),
        ));
    }
    let answer = if !matches("^[a-z0-9]{3,24}$", name) {
        json!({"nameAvailable": false, "reason": "AccountNameInvalid", "message": account_name_invalid(name)})
    } else if account_taken(st, name, "") {
        json!({"nameAvailable": false, "reason": "AlreadyExists", "message": format!("The storage account named {name} is already taken.")})
    } else {
        json!({"nameAvailable": true})
    };
    Ok(Reply::json(200, answer))
}

fn container(st: &mut State, req: &Request, m: &str, o: &[String]) -> Routed {
    let t = target(o);
    let account = target(&o[..8]);
    group_exists(st, &t)?;
    let Some(acc) = st.resources.get(&account.key).cloned() else {
        return Err(resource_not_found(&resource_ref(&o[..8]), &t.rg));
    };
    match m {
        "PUT" => container_put(st, req, &t, &acc),
        // https://learn.microsoft.com/en-us/rest/api/storagerp/blob-containers/get
        "GET" => st
            .resources
            .get(&t.key)
            .map(|c| Reply::json(200, c.clone()))
            .ok_or_else(|| {
                error(
                    404,
                    "ContainerNotFound",
                    "The specified container does not exist.",
                )
            }),
        // https://learn.microsoft.com/en-us/rest/api/storagerp/blob-containers/delete
        "DELETE" => {
            if st.resources.contains_key(&t.key) {
                st.remove(&t.key);
                Ok(Reply::empty(200))
            } else {
                Ok(Reply::empty(204))
            }
        }
        _ => Err(no_route(req)),
    }
}

// https://learn.microsoft.com/en-us/rest/api/storagerp/blob-containers/create
// Synchronous: 201 for a new container, 200 for an update; the body is the container.
fn container_put(st: &mut State, req: &Request, t: &Target, account: &Value) -> Routed {
    // 3 to 63 lowercase letters, digits and hyphens, starting and ending with a letter or digit,
    // no two hyphens in a row.
    // https://learn.microsoft.com/en-us/rest/api/storageservices/naming-and-referencing-containers--blobs--and-metadata#container-names
    if !matches("^[a-z0-9][a-z0-9-]{1,61}[a-z0-9]$", &t.name) || t.name.contains("--") {
        return Err(invalid(
            400,
            "ContainerOperationFailure",
            format!(
                "The specified resource name '{}' contains invalid characters.",
                t.name
            ),
        ));
    }
    let body = body_object(req)?;
    let props = match body.get("properties") {
        None | Some(Value::Null) => Map::new(),
        Some(Value::Object(p)) => p.clone(),
        Some(_) => {
            return Err(invalid(
                400,
                "InvalidRequestContent",
                "properties must be an object",
            ));
        }
    };
    let access = match props.get("publicAccess") {
        None | Some(Value::Null) => "None",
        Some(v) => match ["None", "Blob", "Container"]
            .into_iter()
            .find(|a| v.as_str().is_some_and(|s| s.eq_ignore_ascii_case(a)))
        {
            Some(a) => a,
            None => {
                return Err(invalid(
                    400,
                    "InvalidRequestContent",
                    format!("publicAccess must be None, Blob or Container, not {v}"),
                ));
            }
        },
    };
    if access != "None" && account["properties"]["allowBlobPublicAccess"] != true {
        return Err(error(
            409,
            "PublicAccessNotPermitted",
            "Public access is not permitted on this storage account.",
        ));
    }
    let metadata = match props.get("metadata") {
        None | Some(Value::Null) => json!({}),
        Some(Value::Object(m)) if m.values().all(Value::is_string) => Value::Object(m.clone()),
        Some(other) => {
            return Err(invalid(
                400,
                "InvalidRequestContent",
                format!("metadata must be a map of strings: {other}"),
            ));
        }
    };
    let now = arm_time(now_secs());
    let n = st.next();
    let etag = format!(
        "\"0x8DC{:012X}\"",
        fnv(&format!("{}-{n}", t.key)) & 0xffff_ffff_ffff
    );
    let (status, mut c) = match st.resources.get(&t.key) {
        Some(old) => (200, old.clone()),
        None => (
            201,
            // https://learn.microsoft.com/en-us/rest/api/storagerp/blob-containers/get#blobcontainer
            json!({
                "id": t.id,
                "name": t.name,
                "type": CONTAINER_TYPE,
                "properties": {
                    "deleted": false,
                    "remainingRetentionDays": 0,
                    "defaultEncryptionScope": "$account-encryption-key",
                    "denyEncryptionScopeOverride": false,
                    "leaseStatus": "Unlocked",
                    "leaseState": "Available",
                    "hasImmutabilityPolicy": false,
                    "hasLegalHold": false,
                },
            }),
        ),
    };
    merge(&mut c["properties"], Some(&Value::Object(props)));
    c["etag"] = json!(etag);
    c["properties"]["publicAccess"] = json!(access);
    c["properties"]["metadata"] = metadata;
    c["properties"]["lastModifiedTime"] = json!(now);
    st.resources.insert(t.key.clone(), c.clone());
    Ok(Reply::json(status, c))
}

// ---------------------------------------------------------------------------------------------
// Container registries

fn registry(st: &mut State, req: &Request, m: &str, o: &[String]) -> Routed {
    let t = target(o);
    match m {
        "PUT" => registry_put(st, req, &t),
        // https://learn.microsoft.com/en-us/rest/api/containerregistry/registries/get
        "GET" => held(st, &t, o).map(|v| Reply::json(200, v.clone())),
        // https://learn.microsoft.com/en-us/rest/api/containerregistry/registries/delete
        "DELETE" => async_delete(
            st,
            req,
            &t,
            "Microsoft.ContainerRegistry",
            "Microsoft.ContainerRegistry/registries/delete",
        ),
        _ => Err(no_route(req)),
    }
}

// https://learn.microsoft.com/en-us/rest/api/managedidentity/user-assigned-identities
// Synchronous: PUT answers 201 for a new identity, 200 for an update, with the identity; its
// `principalId`, `clientId` and `tenantId` are made once and never change. DELETE answers 200,
// or 204 when there is none, and takes the identity's federated credentials with it. A new
// identity's principal can be given roles at once (it is a service principal the role
// assignment names with principalType ServicePrincipal).
fn identity(st: &mut State, req: &Request, m: &str, o: &[String]) -> Routed {
    let t = target(o);
    match m {
        "PUT" => {
            // 3 to 128 letters, digits, `-` and `_`, starting with a letter or digit.
            // https://learn.microsoft.com/en-us/azure/azure-resource-manager/management/resource-name-rules#microsoftmanagedidentity
            if !matches("^[a-zA-Z0-9][a-zA-Z0-9_-]{2,127}$", &t.name) {
                return Err(invalid(
                    400,
                    "InvalidResourceName",
                    format!("Resource name '{}' is invalid.", t.name),
                ));
            }
            group_for_write(st, &t)?;
            let body = body_object(req)?;
            let location = location(body)?;
            let tags = tags(body)?;
            let (status, mut v) = match st.resources.get(&t.key).cloned() {
                Some(old) => {
                    same_location(&old, &location, &t)?;
                    (200, old)
                }
                None => {
                    let principal = st.uuid();
                    let client = st.uuid();
                    st.principals.insert(principal.clone());
                    (
                        201,
                        json!({
                            "id": t.id, "name": t.name, "type": IDENTITY_TYPE, "location": location,
                            "properties": {"tenantId": TENANT, "principalId": principal, "clientId": client},
                        }),
                    )
                }
            };
            v["tags"] = tags.unwrap_or_else(|| json!({}));
            st.resources.insert(t.key.clone(), v.clone());
            Ok(Reply::json(status, v))
        }
        "GET" => held(st, &t, o).map(|v| Reply::json(200, v.clone())),
        "DELETE" => {
            group_exists(st, &t)?;
            if st.resources.contains_key(&t.key) {
                st.remove(&t.key);
                Ok(Reply::empty(200))
            } else {
                Ok(Reply::empty(204))
            }
        }
        _ => Err(no_route(req)),
    }
}

// https://learn.microsoft.com/en-us/rest/api/managedidentity/federated-identity-credentials
// Synchronous like the identity. `issuer` must be an https URL, `subject` is required,
// `audiences` holds exactly one audience; at most 20 credentials per identity
// (https://learn.microsoft.com/en-us/entra/workload-id/workload-identity-federation-considerations#general-federated-identity-credential-considerations).
// Two credentials of one identity written at once are refused with
// ConcurrentFederatedIdentityCredentialsWritesForSingleManagedIdentity (same page, "Concurrent
// updates aren't supported"): this server serves one request at a time, so a client that
// writes them concurrently meets it only through [`ArmApi::fail_next`].
fn federated_credential(st: &mut State, req: &Request, m: &str, o: &[String]) -> Routed {
    let t = target(o);
    let owner = target(&o[..8]);
    group_exists(st, &t)?;
    if !st.resources.contains_key(&owner.key) {
        return Err(resource_not_found(&resource_ref(&o[..8]), &t.rg));
    }
    match m {
        "PUT" => {
            if !matches("^[a-zA-Z0-9][a-zA-Z0-9_-]{2,119}$", &t.name) {
                return Err(invalid(
                    400,
                    "InvalidResourceName",
                    format!("Resource name '{}' is invalid.", t.name),
                ));
            }
            let body = body_object(req)?;
            let props = body
                .get("properties")
                .and_then(Value::as_object)
                .cloned()
                .unwrap_or_default();
            let text = |k: &str| props.get(k).and_then(Value::as_str).unwrap_or_default();
            if !text("issuer").starts_with("https://") {
                return Err(invalid(
                    400,
                    "BadRequest",
                    "Issuer must be a valid URL starting with https.",
                ));
            }
            if text("subject").is_empty() {
                return Err(invalid(400, "BadRequest", "Subject is required."));
            }
            let audiences: Vec<&str> = props
                .get("audiences")
                .and_then(Value::as_array)
                .map(|a| a.iter().filter_map(Value::as_str).collect())
                .unwrap_or_default();
            if audiences.len() != 1 {
                return Err(invalid(
                    400,
                    "BadRequest",
                    "Audiences must contain exactly one audience.",
                ));
            }
            let below = format!("{}/federatedidentitycredentials/", owner.key);
            let siblings = st
                .resources
                .keys()
                .filter(|k| k.starts_with(&below) && **k != t.key)
                .count();
            if siblings >= 20 {
                return Err(error(
                    400,
                    "BadRequest",
                    "The maximum number of federated identity credentials (20) for this managed identity is reached.",
                ));
            }
            let status = if st.resources.contains_key(&t.key) {
                200
            } else {
                201
            };
            let v = json!({
                "id": t.id, "name": t.name, "type": CREDENTIAL_TYPE,
                "properties": {"issuer": text("issuer"), "subject": text("subject"), "audiences": audiences},
            });
            st.resources.insert(t.key.clone(), v.clone());
            Ok(Reply::json(status, v))
        }
        "GET" => held(st, &t, o).map(|v| Reply::json(200, v.clone())),
        "DELETE" => {
            if st.resources.remove(&t.key).is_some() {
                Ok(Reply::empty(200))
            } else {
                Ok(Reply::empty(204))
            }
        }
        _ => Err(no_route(req)),
    }
}

/// A DELETE answered 202 with `Azure-AsyncOperation` and `Location`, the resource `Deleting`
/// until the operation is done (its `Location` then answers 204); 204 at once when there is no
/// such resource. A second DELETE meanwhile answers the same operation.
fn async_delete(st: &mut State, req: &Request, t: &Target, namespace: &str, kind: &str) -> Routed {
    group_exists(st, t)?;
    let Some(v) = st.resources.get(&t.key) else {
        return Ok(Reply::empty(204));
    };
    let location = v["location"].as_str().unwrap_or_default().to_owned();
    if let Some((op, o)) = st.pending(&t.key)
        && o.doing == "Deleting"
    {
        let op = op.clone();
        return Ok(op_headers(st, &op, Reply::empty(202), true, true));
    }
    st.cancel(&t.key);
    st.set_state(&t.key, "Deleting");
    let op = st.start_op(
        req,
        &t.sub,
        namespace,
        &location,
        kind,
        &t.key,
        "Deleting",
        Effect::Deleted(t.key.clone()),
        Done::Empty(204),
    );
    Ok(op_headers(st, &op, Reply::empty(202), true, true))
}

// https://learn.microsoft.com/en-us/rest/api/containerregistry/registries/create
// 201 for a new registry, 200 for an update, with Azure-AsyncOperation; the body is the
// registry, `Creating` or `Updating` until the operation is done.
fn registry_put(st: &mut State, req: &Request, t: &Target) -> Routed {
    // "pattern: ^[a-zA-Z0-9]*$", 5 to 50 characters.
    if !matches("^[a-zA-Z0-9]{5,50}$", &t.name) {
        return Err(invalid(
            400,
            "InvalidResourceName",
            format!(
                "Registry name '{}' is invalid: it may contain only alpha numeric characters and must be between 5 and 50 characters.",
                t.name
            ),
        ));
    }
    group_for_write(st, t)?;
    let body = body_object(req)?;
    let location = location(body)?;
    let tags = tags(body)?;
    let sku = body
        .get("sku")
        .and_then(|s| s["name"].as_str())
        .and_then(|s| {
            ["Basic", "Standard", "Premium"]
                .into_iter()
                .find(|k| k.eq_ignore_ascii_case(s))
        });
    let Some(sku) = sku else {
        return Err(invalid(
            400,
            "InvalidRequestContent",
            "sku.name must be Basic, Standard or Premium",
        ));
    };
    if let Some(p) = body.get("properties")
        && !p.is_object()
    {
        return Err(invalid(
            400,
            "InvalidRequestContent",
            "properties must be an object",
        ));
    }
    let lower = t.name.to_ascii_lowercase();
    let suffix = format!("/providers/microsoft.containerregistry/registries/{lower}");
    if st
        .resources
        .keys()
        .any(|k| k.ends_with(&suffix) && *k != t.key)
    {
        return Err(error(
            409,
            "AlreadyInUse",
            format!(
                "The registry DNS name {lower}.azurecr.io is already in use. You can check if the name is already claimed using following API: https://docs.microsoft.com/en-us/rest/api/containerregistry/registries/checknameavailability"
            ),
        ));
    }
    let old = st.resources.get(&t.key).cloned();
    let (status, doing, mut reg) = match old {
        Some(old) => {
            same_location(&old, &location, t)?;
            (200, "Updating", old)
        }
        None => (
            201,
            "Creating",
            // https://learn.microsoft.com/en-us/rest/api/containerregistry/registries/get#registry
            json!({
                "id": t.id,
                "name": t.name,
                "type": REGISTRY_TYPE,
                "location": location,
                "properties": {
                    "loginServer": format!("{lower}.azurecr.io"),
                    "creationDate": arm_time(now_secs()),
                    "adminUserEnabled": false,
                    "policies": {
                        "quarantinePolicy": {"status": "disabled"},
                        "trustPolicy": {"type": "Notary", "status": "disabled"},
                        "retentionPolicy": {"days": 7, "status": "disabled"},
                        "exportPolicy": {"status": "enabled"},
                    },
                    "encryption": {"status": "disabled"},
                    "dataEndpointEnabled": false,
                    "dataEndpointHostNames": [],
                    "privateEndpointConnections": [],
                    "publicNetworkAccess": "Enabled",
                    "networkRuleBypassOptions": "AzureServices",
                    "zoneRedundancy": "Disabled",
                    "anonymousPullEnabled": false,
                },
            }),
        ),
    };
    merge(&mut reg["properties"], body.get("properties"));
    reg["properties"]["provisioningState"] = json!(doing);
    reg["sku"] = json!({"name": sku, "tier": sku});
    let obj = reg.as_object_mut().unwrap();
    match tags {
        Some(t) => obj.insert("tags".to_owned(), t),
        None => obj.remove("tags"),
    };
    st.resources.insert(t.key.clone(), reg);
    let op = st.start_op(
        req,
        &t.sub,
        "Microsoft.ContainerRegistry",
        &location,
        "Microsoft.ContainerRegistry/registries/write",
        &t.key,
        doing,
        Effect::Provisioned {
            key: t.key.clone(),
            remove_on_failure: false,
        },
        Done::Resource,
    );
    let reg = st.resources[&t.key].clone();
    Ok(op_headers(st, &op, Reply::json(status, reg), true, false))
}

// ---------------------------------------------------------------------------------------------
// AKS managed clusters

fn cluster(st: &mut State, req: &Request, m: &str, o: &[String]) -> Routed {
    let t = target(o);
    match m {
        "PUT" => cluster_put(st, req, &t),
        // https://learn.microsoft.com/en-us/rest/api/aks/managed-clusters/get
        "GET" => held(st, &t, o).map(|v| Reply::json(200, v.clone())),
        // https://learn.microsoft.com/en-us/rest/api/aks/managed-clusters/delete
        "DELETE" => async_delete(
            st,
            req,
            &t,
            "Microsoft.ContainerService",
            "Microsoft.ContainerService/managedClusters/delete",
        ),
        _ => Err(no_route(req)),
    }
}

/// AKS's refusal of a bad request body.
fn aks_invalid(message: impl Into<String>) -> Reply {
    invalid(400, "InvalidParameter", message)
}

/// The agent pools of a create or update, checked and with AKS's defaults filled in.
// https://learn.microsoft.com/en-us/rest/api/aks/managed-clusters/create-or-update#managedclusteragentpoolprofile
fn agent_pools(
    props: &Map<String, Value>,
    version: &str,
    current: &str,
) -> Result<Vec<Value>, Reply> {
    let pools = props
        .get("agentPoolProfiles")
        .and_then(Value::as_array)
        .filter(|p| !p.is_empty())
        .ok_or_else(|| aks_invalid("properties.agentPoolProfiles must hold at least one pool"))?;
    let mut names = BTreeSet::new();
    let mut out = Vec::new();
    for pool in pools {
        let Some(p) = pool.as_object() else {
            return Err(aks_invalid("an agent pool profile must be an object"));
        };
        let name = p.get("name").and_then(Value::as_str).unwrap_or_default();
        // "pattern: ^[a-z][a-z0-9]{0,11}$"
        if !matches("^[a-z][a-z0-9]{0,11}$", name) {
            return Err(aks_invalid(format!(
                "The agent pool name '{name}' is invalid: it must start with a lowercase letter and hold only lowercase letters and digits, at most 12."
            )));
        }
        if !names.insert(name.to_owned()) {
            return Err(aks_invalid(format!(
                "Agent pool name '{name}' is duplicated."
            )));
        }
        let mode = match p.get("mode").and_then(Value::as_str) {
            Some(m) if m.eq_ignore_ascii_case("System") => "System",
            Some(m) if m.eq_ignore_ascii_case("User") => "User",
            None => "User",
            Some(m) => {
                return Err(aks_invalid(format!(
                    "Agent pool mode '{m}' is not System or User."
                )));
            }
        };
        // "Allowed values must be in the range of 0 to 1000 (inclusive) for user pools and in
        // the range of 1 to 1000 (inclusive) for system pools."
        let min = if mode == "System" { 1 } else { 0 };
        let count = p.get("count").and_then(Value::as_i64);
        if !count.is_some_and(|c| (min..=1000).contains(&c)) {
            return Err(aks_invalid(format!(
                "Agent pool '{name}' count must be between {min} and 1000."
            )));
        }
        let os = p.get("osType").and_then(Value::as_str).unwrap_or("Linux");
        if mode == "System" && !os.eq_ignore_ascii_case("Linux") {
            return Err(aks_invalid(format!("System pool '{name}' must run Linux.")));
        }
        let kind = p
            .get("type")
            .and_then(Value::as_str)
            .unwrap_or("VirtualMachineScaleSets");
        if !["VirtualMachineScaleSets", "AvailabilitySet"]
            .iter()
            .any(|k| k.eq_ignore_ascii_case(kind))
        {
            return Err(aks_invalid(format!(
                "Agent pool type '{kind}' is not supported."
            )));
        }
        let mut v = json!({
            "vmSize": "Standard_DS2_v2",
            "osDiskSizeGB": 128,
            "osDiskType": "Managed",
            "kubeletDiskType": "OS",
            "maxPods": 110,
            "type": "VirtualMachineScaleSets",
            "enableAutoScaling": false,
            "enableNodePublicIP": false,
            "osType": "Linux",
            "osSKU": "Ubuntu",
            "enableFIPS": false,
            "nodeImageVersion": NODE_IMAGE,
        });
        merge(&mut v, Some(pool));
        v["mode"] = json!(mode);
        v["orchestratorVersion"] = json!(version);
        v["currentOrchestratorVersion"] = json!(current);
        v["powerState"] = json!({"code": "Running"});
        out.push(v);
    }
    if !out.iter().any(|p| p["mode"] == "System") {
        // https://learn.microsoft.com/en-us/azure/aks/use-system-pools
        return Err(invalid(
            400,
            "MustDefineAtLeastOneSystemPool",
            "Must define at least one system pool.",
        ));
    }
    Ok(out)
}

// https://learn.microsoft.com/en-us/rest/api/aks/managed-clusters/create-or-update
// 201 for a new cluster, 200 for an update, with Azure-AsyncOperation; the body is the cluster,
// `Creating` or `Updating` until the operation is done. Done, a new cluster's node resource
// group exists.
fn cluster_put(st: &mut State, req: &Request, t: &Target) -> Routed {
    // "pattern: ^[a-zA-Z0-9]$|^[a-zA-Z0-9][-_a-zA-Z0-9]{0,61}[a-zA-Z0-9]$"
    if !matches(
        "^[a-zA-Z0-9]$|^[a-zA-Z0-9][-_a-zA-Z0-9]{0,61}[a-zA-Z0-9]$",
        &t.name,
    ) {
        return Err(aks_invalid(format!(
            "The managed cluster name '{}' is invalid.",
            t.name
        )));
    }
    group_for_write(st, t)?;
    if let Some((_, op)) = st.pending(&t.key) {
        // https://aka.ms/aks-pending-operation
        return Err(error(
            409,
            "OperationNotAllowed",
            format!(
                "Operation is not allowed: Another operation ({}) is in progress, please wait for it to finish before starting a new operation. See https://aka.ms/aks-pending-operation for more details",
                op.doing
            ),
        ));
    }
    let body = body_object(req)?;
    let location = location(body)?;
    let tags = tags(body)?;
    // https://learn.microsoft.com/en-us/rest/api/aks/managed-clusters/create-or-update#managedclusteridentity
    let identity = body.get("identity").and_then(|i| i["type"].as_str());
    if !identity.is_some_and(|i| i.eq_ignore_ascii_case("SystemAssigned")) {
        return Err(aks_invalid(format!(
            "identity.type must be SystemAssigned (the only identity this server models), not {identity:?}"
        )));
    }
    let Some(props) = body.get("properties").and_then(Value::as_object) else {
        return Err(aks_invalid("properties is required"));
    };
    let dns = props
        .get("dnsPrefix")
        .and_then(Value::as_str)
        .unwrap_or_default();
    // "pattern: ^[a-zA-Z0-9]$|^[a-zA-Z0-9][a-zA-Z0-9-]{0,52}[a-zA-Z0-9]$"
    if !matches(
        "^[a-zA-Z0-9]$|^[a-zA-Z0-9][a-zA-Z0-9-]{0,52}[a-zA-Z0-9]$",
        dns,
    ) {
        return Err(aks_invalid(format!(
            "properties.dnsPrefix '{dns}' is invalid: 1 to 54 letters, digits and hyphens, starting and ending with a letter or digit."
        )));
    }
    let version = match props.get("kubernetesVersion") {
        None | Some(Value::Null) => K8S_VERSION.to_owned(),
        Some(Value::String(v)) if matches(r"^\d+\.\d+(\.\d+)?$", v) => v.clone(),
        Some(v) => return Err(aks_invalid(format!("kubernetesVersion {v} is invalid."))),
    };
    // A `major.minor` version runs that minor's latest patch.
    let current = if version.matches('.').count() == 1 {
        format!("{version}.7")
    } else {
        version.clone()
    };
    let pools = agent_pools(props, &version, &current)?;
    let oidc = props
        .get("oidcIssuerProfile")
        .is_some_and(|p| p["enabled"] == true);
    let workload = props
        .get("securityProfile")
        .is_some_and(|p| p["workloadIdentity"]["enabled"] == true);
    // https://learn.microsoft.com/en-us/azure/aks/workload-identity-deploy-cluster
    if workload && !oidc {
        return Err(aks_invalid(
            "Enabling workload identity requires enabling the OIDC issuer (properties.oidcIssuerProfile.enabled).",
        ));
    }
    let asked_nrg = props.get("nodeResourceGroup").and_then(Value::as_str);
    let old = st.resources.get(&t.key).cloned();
    if let Some(old) = &old {
        same_location(old, &location, t)?;
        let was = &old["properties"];
        let unchanged = |field: &str, now: Option<&str>| match now {
            Some(now)
                if !was[field]
                    .as_str()
                    .is_some_and(|w| w.eq_ignore_ascii_case(now)) =>
            {
                Err(invalid(
                    400,
                    "PropertyChangeNotAllowed",
                    format!("Changing property '{field}' is not allowed."),
                ))
            }
            _ => Ok(()),
        };
        unchanged("dnsPrefix", Some(dns))?;
        unchanged("nodeResourceGroup", asked_nrg)?;
        for pool in &pools {
            let before = was["agentPoolProfiles"]
                .as_array()
                .into_iter()
                .flatten()
                .find(|p| p["name"] == pool["name"]);
            if let Some(before) = before
                && before["vmSize"] != pool["vmSize"]
            {
                return Err(invalid(
                    400,
                    "PropertyChangeNotAllowed",
                    "Changing property 'vmSize' is not allowed.",
                ));
            }
        }
    }
    let (status, doing) = if old.is_some() {
        (200, "Updating")
    } else {
        (201, "Creating")
    };
    // What AKS makes once and keeps: identities, addresses, the node resource group's name.
    let made = match &old {
        Some(old) => old.clone(),
        None => {
            let nrg = asked_nrg
                .map(str::to_owned)
                .unwrap_or_else(|| format!("MC_{}_{}_{location}", t.rg, t.name));
            let principal = st.uuid();
            let kubelet_client = st.uuid();
            let kubelet_object = st.uuid();
            st.principals.insert(principal.clone());
            st.principals.insert(kubelet_object.clone());
            let hash = format!("{:08x}", fnv(&t.key) & 0xffff_ffff);
            json!({
                "identity": {"type": "SystemAssigned", "principalId": principal, "tenantId": TENANT},
                "properties": {
                    "fqdn": format!("{}-{hash}.hcp.{location}.azmk8s.io", dns.to_ascii_lowercase()),
                    "azurePortalFQDN": format!("{}-{hash}.portal.hcp.{location}.azmk8s.io", dns.to_ascii_lowercase()),
                    "nodeResourceGroup": nrg,
                    "identityProfile": {"kubeletidentity": {
                        "resourceId": format!("/subscriptions/{}/resourcegroups/{nrg}/providers/Microsoft.ManagedIdentity/userAssignedIdentities/{}-agentpool", t.sub, t.name),
                        "clientId": kubelet_client,
                        "objectId": kubelet_object,
                    }},
                },
            })
        }
    };
    let mp = &made["properties"];
    // https://learn.microsoft.com/en-us/rest/api/aks/managed-clusters/get#managedcluster
    let mut properties = json!({
        "enableRBAC": true,
        "supportPlan": "KubernetesOfficial",
        "maxAgentPools": 100,
        "servicePrincipalProfile": {"clientId": "msi"},
        "networkProfile": {
            "networkPlugin": "azure",
            "networkPluginMode": "overlay",
            "podCidr": "10.244.0.0/16",
            "serviceCidr": "10.0.0.0/16",
            "dnsServiceIP": "10.0.0.10",
            "outboundType": "loadBalancer",
            "loadBalancerSku": "standard",
            "loadBalancerProfile": {"managedOutboundIPs": {"count": 1}},
            "ipFamilies": ["IPv4"],
        },
        "securityProfile": {},
    });
    merge(&mut properties, body.get("properties"));
    for field in [
        "fqdn",
        "azurePortalFQDN",
        "nodeResourceGroup",
        "identityProfile",
    ] {
        properties[field] = mp[field].clone();
    }
    // A managed Entra ID profile is the subscription's tenant's unless it names another.
    // https://learn.microsoft.com/en-us/rest/api/aks/managed-clusters/create-or-update#managedclusteraadprofile
    if properties["aadProfile"]["managed"] == true && properties["aadProfile"]["tenantID"].is_null()
    {
        properties["aadProfile"]["tenantID"] = json!(TENANT);
    }
    properties["provisioningState"] = json!(doing);
    properties["powerState"] = json!({"code": "Running"});
    properties["kubernetesVersion"] = json!(version);
    properties["currentKubernetesVersion"] = json!(current);
    properties["dnsPrefix"] = json!(dns);
    properties["agentPoolProfiles"] = json!(pools);
    // https://learn.microsoft.com/en-us/azure/aks/use-oidc-issuer: one issuer per cluster.
    properties["oidcIssuerProfile"] = if oidc {
        let h = fnv(&format!("issuer {}", t.key));
        let issuer = format!(
            "{:08x}-{:04x}-4{:03x}-a{:03x}-{:012x}",
            h >> 32,
            (h >> 16) & 0xffff,
            h & 0xfff,
            (h >> 20) & 0xfff,
            h & 0xffff_ffff_ffff
        );
        json!({"enabled": true, "issuerURL": format!("https://{location}.oic.prod-aks.azure.com/{TENANT}/{issuer}/")})
    } else {
        json!({"enabled": false})
    };
    if workload {
        properties["securityProfile"]["workloadIdentity"] = json!({"enabled": true});
    }
    let mut cluster = json!({
        "id": old.as_ref().map_or(json!(t.id), |o| o["id"].clone()),
        "location": location,
        "name": t.name,
        "type": CLUSTER_TYPE,
        "sku": body.get("sku").cloned().unwrap_or(json!({"name": "Base", "tier": "Free"})),
        "identity": made["identity"],
        "properties": properties,
    });
    if let Some(tags) = tags {
        cluster["tags"] = tags;
    }
    st.resources.insert(t.key.clone(), cluster);
    let op = st.start_op(
        req,
        &t.sub,
        "Microsoft.ContainerService",
        &location,
        "Microsoft.ContainerService/managedClusters/write",
        &t.key,
        doing,
        Effect::ClusterProvisioned(t.key.clone()),
        Done::Resource,
    );
    let cluster = st.resources[&t.key].clone();
    Ok(op_headers(
        st,
        &op,
        Reply::json(status, cluster),
        true,
        false,
    ))
}

// ---------------------------------------------------------------------------------------------
// Role assignments

// https://learn.microsoft.com/en-us/rest/api/authorization/role-assignments/create#principaltype
const PRINCIPAL_TYPES: &[&str] = &[
    "User",
    "Group",
    "ServicePrincipal",
    "ForeignGroup",
    "Device",
];

/// `o[..split]` is the scope, `o[split + 3]` the assignment's name.
fn role_assignment(st: &mut State, req: &Request, m: &str, o: &[String], split: usize) -> Routed {
    let scope = format!("/{}", o[..split].join("/"));
    let id = format!("/{}", o.join("/"));
    let key = id.to_ascii_lowercase();
    let name = &o[split + 3];
    match m {
        "PUT" => role_assignment_put(st, req, o, split, &scope, &id, &key),
        // https://learn.microsoft.com/en-us/rest/api/authorization/role-assignments/get
        "GET" => st
            .resources
            .get(&key)
            .map(|v| Reply::json(200, v.clone()))
            .ok_or_else(|| {
                error(
                    404,
                    "RoleAssignmentNotFound",
                    format!("The role assignment '{name}' is not found."),
                )
            }),
        // https://learn.microsoft.com/en-us/rest/api/authorization/role-assignments/delete
        // 200 with the assignment, 204 if there is none.
        "DELETE" => match st.resources.remove(&key) {
            Some(v) => Ok(Reply::json(200, v)),
            None => Ok(Reply::empty(204)),
        },
        _ => Err(no_route(req)),
    }
}

/// Whether the scope of an assignment exists: a subscription always does, anything else must be
/// held.
fn scope_exists(st: &State, o: &[String]) -> Result<(), Reply> {
    let l: Vec<String> = o.iter().map(|s| s.to_ascii_lowercase()).collect();
    match l.as_slice() {
        [s, _] if s == "subscriptions" => Ok(()),
        [s, _, g, _, ..] if s == "subscriptions" && g == "resourcegroups" => {
            let t = target(o);
            if o.len() == 4 {
                return group_exists(st, &t);
            }
            held(st, &t, o).map(|_| ())
        }
        _ => Err(invalid(
            400,
            "InvalidScope",
            format!(
                "The scope '/{}' is not valid for a role assignment.",
                o.join("/")
            ),
        )),
    }
}

// https://learn.microsoft.com/en-us/rest/api/authorization/role-assignments/create
// Synchronous: 201 with the assignment.
fn role_assignment_put(
    st: &mut State,
    req: &Request,
    o: &[String],
    split: usize,
    scope: &str,
    id: &str,
    key: &str,
) -> Routed {
    let name = &o[split + 3];
    if !matches(GUID, name) {
        return Err(invalid(
            400,
            "InvalidRoleAssignmentId",
            format!(
                "The role assignment ID '{name}' is not valid. The role assignment ID must be a GUID."
            ),
        ));
    }
    scope_exists(st, &o[..split])?;
    let body = body_object(req)?;
    let Some(props) = body.get("properties").and_then(Value::as_object) else {
        return Err(invalid(
            400,
            "InvalidRequestContent",
            "properties is required",
        ));
    };
    let role = props
        .get("roleDefinitionId")
        .and_then(Value::as_str)
        .unwrap_or_default();
    let guid = &GUID[1..GUID.len() - 1];
    if !matches(
        &format!(
            "(?i)^(/subscriptions/[^/]+)?/providers/Microsoft\\.Authorization/roleDefinitions/{guid}$"
        ),
        role,
    ) {
        return Err(invalid(
            400,
            "InvalidRoleDefinitionId",
            format!("The role definition ID '{role}' is not valid."),
        ));
    }
    let principal = props
        .get("principalId")
        .and_then(Value::as_str)
        .unwrap_or_default();
    if !matches(GUID, principal) {
        return Err(invalid(
            400,
            "InvalidPrincipalId",
            format!("The principal ID '{principal}' is not valid. It must be a GUID."),
        ));
    }
    let principal_type = match props.get("principalType") {
        None | Some(Value::Null) => "ServicePrincipal",
        Some(v) => match PRINCIPAL_TYPES
            .iter()
            .find(|p| v.as_str().is_some_and(|s| s.eq_ignore_ascii_case(p)))
        {
            Some(p) => p,
            None => {
                return Err(invalid(
                    400,
                    "InvalidRequestContent",
                    format!("principalType must be one of {PRINCIPAL_TYPES:?}, not {v}"),
                ));
            }
        },
    };
    // https://learn.microsoft.com/en-us/azure/role-based-access-control/troubleshooting#symptom---assigning-a-role-to-a-new-principal-sometimes-fails
    if !st.principals.contains(&principal.to_ascii_lowercase()) {
        return Err(error(
            400,
            "PrincipalNotFound",
            format!(
                "Principal {} does not exist in the directory {TENANT}. Check that you have the correct principal ID. If you are creating this principal and then immediately assigning a role, this error might be related to a replication delay. In this case, set the role assignment principalType property to a value, such as ServicePrincipal, User, or Group.  See https://aka.ms/docs-principaltype",
                principal.replace('-', "")
            ),
        ));
    }
    let same = |v: &Value| {
        let p = &v["properties"];
        let eq = |field: &str, want: &str| {
            p[field]
                .as_str()
                .is_some_and(|s| s.eq_ignore_ascii_case(want))
        };
        eq("scope", scope)
            && eq("principalId", principal)
            && role_guid(p["roleDefinitionId"].as_str()) == role_guid(Some(role))
    };
    if let Some(old) = st.resources.get(key) {
        if same(old) {
            return Ok(Reply::json(200, old.clone()));
        }
        return Err(invalid(
            400,
            "RoleAssignmentUpdateNotPermitted",
            "Tenant ID, application ID, principal ID, and scope are not allowed to be updated.",
        ));
    }
    // https://learn.microsoft.com/en-us/azure/role-based-access-control/troubleshooting#symptom---role-assignment-already-exists
    if let Some(existing) = st
        .resources
        .values()
        .find(|v| v["type"] == ASSIGNMENT_TYPE && same(v))
    {
        return Err(error(
            409,
            "RoleAssignmentExists",
            format!(
                "The role assignment already exists. The ID of the existing role assignment is {}.",
                existing["name"]
                    .as_str()
                    .unwrap_or_default()
                    .replace('-', "")
            ),
        ));
    }
    let now = arm_time(now_secs());
    // https://learn.microsoft.com/en-us/rest/api/authorization/role-assignments/get#roleassignment
    let assignment = json!({
        "id": id,
        "name": name,
        "type": ASSIGNMENT_TYPE,
        "properties": {
            "roleDefinitionId": role,
            "principalId": principal,
            "principalType": principal_type,
            "scope": scope,
            "condition": props.get("condition").cloned().unwrap_or(Value::Null),
            "conditionVersion": props.get("conditionVersion").cloned().unwrap_or(Value::Null),
            "description": props.get("description").cloned().unwrap_or(Value::Null),
            "createdOn": now,
            "updatedOn": now,
            "createdBy": CALLER,
            "updatedBy": CALLER,
            "delegatedManagedIdentityResourceId": null,
        },
    });
    st.resources.insert(key.to_owned(), assignment.clone());
    Ok(Reply::json(201, assignment))
}

/// The guid at the end of a role definition id, lowercased.
fn role_guid(id: Option<&str>) -> Option<String> {
    id.and_then(|i| i.rsplit('/').next())
        .map(str::to_ascii_lowercase)
}

#[cfg(test)]
mod tests {
    use std::io::{Read, Write};

    use super::*;
    use crate::harness::tls::connect;

    const V: &str = "api-version=2024-01-01";

    /// One request over TLS to `host` (its SNI and certificate name) with exactly `headers`.
    fn send(
        api: &ArmApi,
        host: &str,
        method: &str,
        path_and_query: &str,
        headers: &[(&str, &str)],
        body: &[u8],
    ) -> (u16, Vec<(String, String)>, Value) {
        let mut tls = connect(api.port, host);
        let mut req = format!(
            "{method} {path_and_query} HTTP/1.1\r\nHost: {host}:{}\r\nContent-Length: {}\r\n",
            api.port,
            body.len()
        );
        for (k, v) in headers {
            req.push_str(&format!("{k}: {v}\r\n"));
        }
        req.push_str("\r\n");
        tls.write_all(req.as_bytes()).unwrap();
        tls.write_all(body).unwrap();
        tls.flush().unwrap();
        let mut raw = Vec::new();
        match tls.read_to_end(&mut raw) {
            Ok(_) => {}
            Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => {}
            Err(e) => panic!("reading the answer: {e}"),
        }
        let answer = http::parse_answer(&raw);
        let length: usize = answer
            .header("content-length")
            .and_then(|v| v.parse().ok())
            .expect("every answer has a Content-Length");
        let (status, headers, body) = (answer.status, answer.headers, answer.body);
        assert_eq!(body.len(), length, "{headers:?}");
        let json = if body.is_empty() {
            Value::Null
        } else {
            serde_json::from_slice(&body).unwrap()
        };
        (status, headers, json)
    }

    /// One authorized JSON call; `Null` sends no body.
    fn call(
        api: &ArmApi,
        method: &str,
        path_and_query: &str,
        body: Value,
    ) -> (u16, Vec<(String, String)>, Value) {
        let bytes = if body.is_null() {
            Vec::new()
        } else {
            body.to_string().into_bytes()
        };
        send(
            api,
            "127.0.0.1",
            method,
            path_and_query,
            &[
                ("Authorization", "Bearer test-token"),
                ("Content-Type", "application/json"),
            ],
            &bytes,
        )
    }

    fn header<'a>(headers: &'a [(String, String)], name: &str) -> Option<&'a str> {
        headers
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    /// The path and query of an operation URL the server handed out.
    fn local(api: &ArmApi, url: &str) -> String {
        url.strip_prefix(&api.url)
            .unwrap_or_else(|| panic!("{url} is not on {}", api.url))
            .to_owned()
    }

    fn group(api: &ArmApi, sub: &str, rg: &str) {
        let (status, _, body) = call(
            api,
            "PUT",
            &format!("/subscriptions/{sub}/resourcegroups/{rg}?{V}"),
            json!({"location": "westeurope", "tags": {"stackform": "dev"}}),
        );
        assert_eq!(status, 201, "{body}");
    }

    fn cluster_body() -> Value {
        json!({
            "location": "westeurope",
            "tags": {"stackform": "dev"},
            "identity": {"type": "SystemAssigned"},
            "properties": {
                "dnsPrefix": "ml",
                "agentPoolProfiles": [{"name": "system", "mode": "System", "count": 1, "vmSize": "Standard_D2s_v5", "osType": "Linux", "type": "VirtualMachineScaleSets"}],
                "oidcIssuerProfile": {"enabled": true},
                "securityProfile": {"workloadIdentity": {"enabled": true}},
            },
        })
    }

    #[test]
    fn a_storage_account_is_made_through_its_location_and_holds_a_container() {
        let api = start();
        assert_eq!(api.url, format!("https://127.0.0.1:{}", api.port));
        let g = "/subscriptions/s1/resourceGroups/Data";
        let (status, _, missing) = call(&api, "GET", &format!("{g}?{V}"), Value::Null);
        assert_eq!(
            (status, missing["error"]["code"].as_str()),
            (404, Some("ResourceGroupNotFound"))
        );
        let (status, _, _) = call(&api, "HEAD", &format!("{g}?{V}"), Value::Null);
        assert_eq!(status, 404);
        let account = json!({"location": "West Europe", "sku": {"name": "Standard_LRS"}, "kind": "StorageV2", "tags": {"stackform": "dev"}, "properties": {"minimumTlsVersion": "TLS1_2"}});
        let acc = format!("{g}/providers/Microsoft.Storage/storageAccounts/mldata");
        let (status, _, refused) = call(&api, "PUT", &format!("{acc}?{V}"), account.clone());
        assert_eq!(
            (status, refused["error"]["code"].as_str()),
            (404, Some("ResourceGroupNotFound"))
        );

        let (status, _, rg) = call(
            &api,
            "PUT",
            &format!("{g}?{V}"),
            json!({"location": "westeurope", "tags": {"stackform": "dev"}}),
        );
        assert_eq!(status, 201, "{rg}");
        assert_eq!(rg["id"], g);
        assert_eq!(rg["type"], "Microsoft.Resources/resourceGroups");
        assert_eq!(rg["properties"]["provisioningState"], "Succeeded");
        let (status, _, rg) = call(
            &api,
            "PUT",
            &format!("/subscriptions/s1/resourcegroups/data?{V}"),
            json!({"location": "westeurope", "tags": {"stackform": "dev", "team": "ml"}}),
        );
        assert_eq!(status, 200);
        assert_eq!(rg["id"], g, "the casing of the create is kept");
        assert_eq!(rg["tags"]["team"], "ml");
        let (status, _, _) = call(&api, "HEAD", &format!("{g}?{V}"), Value::Null);
        assert_eq!(status, 204);

        let (status, _, bad) = call(
            &api,
            "PUT",
            &format!("{g}/providers/Microsoft.Storage/storageAccounts/ML-data?{V}"),
            account.clone(),
        );
        assert_eq!(
            (status, bad["error"]["code"].as_str()),
            (400, Some("AccountNameInvalid"))
        );

        let (status, headers, body) = call(&api, "PUT", &format!("{acc}?{V}"), account.clone());
        assert_eq!((status, &body), (202, &Value::Null));
        let location = local(&api, header(&headers, "location").unwrap());
        assert!(
            location.starts_with(
                "/subscriptions/s1/providers/Microsoft.Storage/locations/westeurope/operationResults/"
            ),
            "{location}"
        );
        assert!(location.ends_with(&format!("?{V}")), "{location}");
        assert!(header(&headers, "retry-after").is_none());
        assert_eq!(
            api.get(&acc).unwrap()["properties"]["provisioningState"],
            "Creating"
        );
        for _ in 0..2 {
            let (status, headers, body) = call(&api, "GET", &location, Value::Null);
            assert_eq!((status, &body), (202, &Value::Null));
            assert!(header(&headers, "location").is_some());
        }
        let (status, _, made) = call(&api, "GET", &location, Value::Null);
        assert_eq!(status, 200, "{made}");
        assert_eq!(made["id"], acc.as_str());
        assert_eq!(made["location"], "westeurope");
        assert_eq!(made["properties"]["provisioningState"], "Succeeded");
        assert_eq!(
            made["properties"]["primaryEndpoints"]["blob"],
            "https://mldata.blob.core.windows.net/"
        );
        let (_, _, got) = call(&api, "GET", &format!("{acc}?{V}"), Value::Null);
        assert_eq!(got, made);

        // Storage account names are global.
        group(&api, "s2", "other");
        let (status, _, taken) = call(
            &api,
            "PUT",
            &format!(
                "/subscriptions/s2/resourceGroups/other/providers/Microsoft.Storage/storageAccounts/mldata?{V}"
            ),
            account,
        );
        assert_eq!(
            (status, taken["error"]["code"].as_str()),
            (409, Some("StorageAccountAlreadyTaken"))
        );
        let (status, _, check) = call(
            &api,
            "POST",
            &format!("/subscriptions/s2/providers/Microsoft.Storage/checkNameAvailability?{V}"),
            json!({"name": "mldata", "type": "Microsoft.Storage/storageAccounts"}),
        );
        assert_eq!(status, 200);
        assert_eq!(
            (check["nameAvailable"].as_bool(), check["reason"].as_str()),
            (Some(false), Some("AlreadyExists"))
        );
        let (_, _, check) = call(
            &api,
            "POST",
            &format!("/subscriptions/s2/providers/Microsoft.Storage/checkNameAvailability?{V}"),
            json!({"name": "free1", "type": "Microsoft.Storage/storageAccounts"}),
        );
        assert_eq!(check, json!({"nameAvailable": true}));

        let c = format!("{acc}/blobServices/default/containers/models");
        let body = json!({"properties": {"publicAccess": "None", "metadata": {"team": "ml"}}});
        let (status, _, created) = call(&api, "PUT", &format!("{c}?{V}"), body.clone());
        assert_eq!(status, 201, "{created}");
        assert_eq!(
            created["type"],
            "Microsoft.Storage/storageAccounts/blobServices/containers"
        );
        assert_eq!(created["properties"]["metadata"], json!({"team": "ml"}));
        let (status, _, _) = call(&api, "PUT", &format!("{c}?{V}"), body);
        assert_eq!(status, 200);
        let (status, _, public) = call(
            &api,
            "PUT",
            &format!("{c}?{V}"),
            json!({"properties": {"publicAccess": "Blob"}}),
        );
        assert_eq!(
            (status, public["error"]["code"].as_str()),
            (409, Some("PublicAccessNotPermitted"))
        );
        let (status, _, got) = call(&api, "GET", &format!("{c}?{V}"), Value::Null);
        assert_eq!((status, got["name"].as_str()), (200, Some("models")));
        assert_eq!(
            api.contents(),
            [
                "/subscriptions/s1/resourcegroups/data",
                "/subscriptions/s1/resourcegroups/data/providers/microsoft.storage/storageaccounts/mldata",
                "/subscriptions/s1/resourcegroups/data/providers/microsoft.storage/storageaccounts/mldata/blobservices/default/containers/models",
                "/subscriptions/s2/resourcegroups/other",
            ]
        );
        let (status, _, _) = call(
            &api,
            "GET",
            &format!("{acc}/blobServices/default/containers/nothing?{V}"),
            Value::Null,
        );
        assert_eq!(status, 404);
        let (status, _, _) = call(&api, "DELETE", &format!("{c}?{V}"), Value::Null);
        assert_eq!(status, 200);
        let (status, _, _) = call(&api, "DELETE", &format!("{c}?{V}"), Value::Null);
        assert_eq!(status, 204);
        let (status, _, _) = call(&api, "DELETE", &format!("{acc}?{V}"), Value::Null);
        assert_eq!(status, 200);
        let (status, _, gone) = call(&api, "GET", &format!("{acc}?{V}"), Value::Null);
        assert_eq!(
            (status, gone["error"]["code"].as_str()),
            (404, Some("ResourceNotFound"))
        );
        assert_eq!(api.unexpected().len(), 1, "{:?}", api.unexpected());
        assert!(api.unexpected()[0].contains("ML-data"));
        assert!(api.requests().iter().all(|r| {
            r.query
                .iter()
                .any(|(k, v)| k == "api-version" && v == "2024-01-01")
        }));
    }

    #[test]
    fn an_aks_cluster_is_made_through_its_async_operation_and_deleted_with_its_node_group() {
        let api = start();
        group(&api, "s", "ml");
        let aks = "/subscriptions/s/resourceGroups/ml/providers/Microsoft.ContainerService/managedClusters/train";

        let mut wi_alone = cluster_body();
        wi_alone["properties"]["oidcIssuerProfile"]["enabled"] = json!(false);
        let (status, _, refused) = call(&api, "PUT", &format!("{aks}?{V}"), wi_alone);
        assert_eq!(status, 400, "{refused}");
        let mut no_system = cluster_body();
        no_system["properties"]["agentPoolProfiles"][0]["mode"] = json!("User");
        let (status, _, refused) = call(&api, "PUT", &format!("{aks}?{V}"), no_system);
        assert_eq!(
            (status, refused["error"]["code"].as_str()),
            (400, Some("MustDefineAtLeastOneSystemPool"))
        );
        assert_eq!(api.unexpected().len(), 2, "{:?}", api.unexpected());

        let (status, headers, made) = call(&api, "PUT", &format!("{aks}?{V}"), cluster_body());
        assert_eq!(status, 201, "{made}");
        assert_eq!(made["type"], "Microsoft.ContainerService/ManagedClusters");
        let p = &made["properties"];
        assert_eq!(p["provisioningState"], "Creating");
        assert_eq!(p["nodeResourceGroup"], "MC_ml_train_westeurope");
        assert!(
            matches(
                r"^ml-[0-9a-f]{8}\.hcp\.westeurope\.azmk8s\.io$",
                p["fqdn"].as_str().unwrap()
            ),
            "{p}"
        );
        assert!(matches(
            GUID,
            made["identity"]["principalId"].as_str().unwrap()
        ));
        assert!(
            p["oidcIssuerProfile"]["issuerURL"]
                .as_str()
                .unwrap()
                .starts_with("https://westeurope.oic.prod-aks.azure.com/")
        );
        assert_eq!(p["securityProfile"]["workloadIdentity"]["enabled"], true);
        assert_eq!(p["kubernetesVersion"], K8S_VERSION);
        assert_eq!(p["currentKubernetesVersion"], K8S_VERSION);
        assert_eq!(p["powerState"]["code"], "Running");
        let kubelet = &p["identityProfile"]["kubeletidentity"];
        assert!(matches(GUID, kubelet["objectId"].as_str().unwrap()));
        assert!(
            kubelet["resourceId"]
                .as_str()
                .unwrap()
                .contains("/MC_ml_train_westeurope/")
        );
        assert!(header(&headers, "location").is_none());
        let status_url = local(&api, header(&headers, "azure-asyncoperation").unwrap());
        assert!(
            status_url.starts_with(
                "/subscriptions/s/providers/Microsoft.ContainerService/locations/westeurope/operations/"
            ),
            "{status_url}"
        );

        // Another PUT while the create runs is refused, as AKS does.
        let (status, _, busy) = call(&api, "PUT", &format!("{aks}?{V}"), cluster_body());
        assert_eq!(
            (status, busy["error"]["code"].as_str()),
            (409, Some("OperationNotAllowed"))
        );
        for _ in 0..2 {
            let (status, headers, polled) = call(&api, "GET", &status_url, Value::Null);
            assert_eq!(
                (status, polled["status"].as_str()),
                (200, Some("InProgress"))
            );
            assert!(header(&headers, "retry-after").is_none());
        }
        let nrg = "/subscriptions/s/resourcegroups/mc_ml_train_westeurope";
        assert!(api.get(nrg).is_none());
        let (_, _, polled) = call(&api, "GET", &status_url, Value::Null);
        assert_eq!(polled["status"], "Succeeded", "{polled}");
        let (_, _, got) = call(&api, "GET", &format!("{aks}?{V}"), Value::Null);
        assert_eq!(got["properties"]["provisioningState"], "Succeeded");
        assert_eq!(
            got["properties"]["agentPoolProfiles"][0]["provisioningState"],
            "Succeeded"
        );
        let node_group = api.get(nrg).expect("the node resource group exists");
        assert_eq!(
            node_group["tags"],
            json!({"aks-managed-cluster-name": "train", "aks-managed-cluster-rg": "ml"})
        );
        assert_eq!(node_group["managedBy"], aks);
        assert!(
            api.get(&format!(
                "{nrg}/providers/Microsoft.Network/loadBalancers/kubernetes"
            ))
            .is_some()
        );

        // The census finds the cluster by its tag, and the node group among the groups.
        let (_, _, listed) = call(
            &api,
            "GET",
            &format!(
                "/subscriptions/s/resources?$filter=tagName%20eq%20'stackform'%20and%20tagValue%20eq%20'dev'&{V}"
            ),
            Value::Null,
        );
        assert_eq!(listed["value"].as_array().unwrap().len(), 1, "{listed}");
        assert_eq!(listed["value"][0]["id"], aks);
        let (_, _, groups) = call(
            &api,
            "GET",
            &format!(
                "/subscriptions/s/resourcegroups?$filter=tagName+eq+'aks-managed-cluster-name'&{V}"
            ),
            Value::Null,
        );
        assert_eq!(
            groups["value"][0]["name"], "MC_ml_train_westeurope",
            "{groups}"
        );

        // A change of an immutable property is refused; a tag change is an update.
        let mut renamed = cluster_body();
        renamed["properties"]["dnsPrefix"] = json!("other");
        let (status, _, refused) = call(&api, "PUT", &format!("{aks}?{V}"), renamed);
        assert_eq!(
            (status, refused["error"]["code"].as_str()),
            (400, Some("PropertyChangeNotAllowed"))
        );
        api.set_polls(0);
        let mut retagged = cluster_body();
        retagged["tags"]["team"] = json!("ml");
        let (status, _, updated) = call(&api, "PUT", &format!("{aks}?{V}"), retagged);
        assert_eq!(status, 200, "{updated}");
        assert_eq!(updated["properties"]["provisioningState"], "Succeeded");
        assert_eq!(updated["properties"]["fqdn"], got["properties"]["fqdn"]);
        assert_eq!(updated["identity"], got["identity"]);

        api.set_polls(2);
        let (status, headers, body) = call(&api, "DELETE", &format!("{aks}?{V}"), Value::Null);
        assert_eq!((status, &body), (202, &Value::Null));
        assert!(header(&headers, "azure-asyncoperation").is_some());
        let location = local(&api, header(&headers, "location").unwrap());
        assert_eq!(
            api.get(aks).unwrap()["properties"]["provisioningState"],
            "Deleting"
        );
        for _ in 0..2 {
            let (status, _, _) = call(&api, "GET", &location, Value::Null);
            assert_eq!(status, 202);
        }
        let (status, _, _) = call(&api, "GET", &location, Value::Null);
        assert_eq!(status, 204);
        assert_eq!(api.contents(), ["/subscriptions/s/resourcegroups/ml"]);
        assert_eq!(api.unexpected().len(), 3, "{:?}", api.unexpected());
    }

    #[test]
    fn role_assignments_need_a_known_principal_and_are_unique() {
        let api = start();
        api.set_polls(0);
        group(&api, "s", "apps");
        let acr = "/subscriptions/s/resourceGroups/apps/providers/Microsoft.ContainerRegistry/registries/StackformImages";
        let (status, headers, reg) = call(
            &api,
            "PUT",
            &format!("{acr}?{V}"),
            json!({"location": "westeurope", "sku": {"name": "basic"}, "properties": {"adminUserEnabled": false}}),
        );
        assert_eq!(status, 201, "{reg}");
        assert!(header(&headers, "azure-asyncoperation").is_some());
        assert_eq!(
            reg["properties"]["loginServer"],
            "stackformimages.azurecr.io"
        );
        assert_eq!(reg["properties"]["provisioningState"], "Succeeded");
        assert_eq!(reg["sku"]["name"], "Basic");
        group(&api, "s", "else");
        let (status, _, taken) = call(
            &api,
            "PUT",
            &format!(
                "/subscriptions/s/resourceGroups/else/providers/Microsoft.ContainerRegistry/registries/stackformimages?{V}"
            ),
            json!({"location": "westeurope", "sku": {"name": "Basic"}}),
        );
        assert_eq!(
            (status, taken["error"]["code"].as_str()),
            (409, Some("AlreadyInUse"))
        );

        let principal = "4b5c6d7e-8f90-41a2-b3c4-d5e6f7a8b9c0";
        let role = format!(
            "/subscriptions/s/providers/Microsoft.Authorization/roleDefinitions/{ACR_PULL}"
        );
        let body = json!({"properties": {"roleDefinitionId": role, "principalId": principal, "principalType": "ServicePrincipal"}});
        let ra = format!(
            "{acr}/providers/Microsoft.Authorization/roleAssignments/0f1e2d3c-4b5a-4697-8877-665544332211"
        );
        let (status, _, refused) = call(&api, "PUT", &format!("{ra}?{V}"), body.clone());
        assert_eq!(
            (status, refused["error"]["code"].as_str()),
            (400, Some("PrincipalNotFound")),
            "{refused}"
        );
        api.add_principal(principal);
        let (status, _, made) = call(&api, "PUT", &format!("{ra}?{V}"), body.clone());
        assert_eq!(status, 201, "{made}");
        assert_eq!(made["type"], "Microsoft.Authorization/roleAssignments");
        assert_eq!(made["properties"]["scope"], acr);
        assert_eq!(made["properties"]["principalType"], "ServicePrincipal");
        let (status, _, again) = call(&api, "PUT", &format!("{ra}?{V}"), body.clone());
        assert_eq!((status, &again), (200, &made));
        let other = format!(
            "{acr}/providers/Microsoft.Authorization/roleAssignments/aaaaaaaa-bbbb-4ccc-8ddd-eeeeeeeeeeee"
        );
        let (status, _, dup) = call(&api, "PUT", &format!("{other}?{V}"), body.clone());
        assert_eq!(
            (status, dup["error"]["code"].as_str()),
            (409, Some("RoleAssignmentExists"))
        );
        let (status, _, got) = call(&api, "GET", &format!("{ra}?{V}"), Value::Null);
        assert_eq!((status, got), (200, made));

        // A scope that does not exist.
        let (status, _, _) = call(
            &api,
            "PUT",
            &format!(
                "/subscriptions/s/resourceGroups/apps/providers/Microsoft.ContainerRegistry/registries/nothere1/providers/Microsoft.Authorization/roleAssignments/aaaaaaaa-bbbb-4ccc-8ddd-eeeeeeeeeeee?{V}"
            ),
            body.clone(),
        );
        assert_eq!(status, 404);

        // An AKS cluster's identities are principals as soon as they are answered.
        let (_, _, cluster) = call(
            &api,
            "PUT",
            &format!(
                "/subscriptions/s/resourceGroups/apps/providers/Microsoft.ContainerService/managedClusters/web?{V}"
            ),
            cluster_body(),
        );
        let kubelet = cluster["properties"]["identityProfile"]["kubeletidentity"]["objectId"]
            .as_str()
            .unwrap();
        let (status, _, _) = call(
            &api,
            "PUT",
            &format!("{other}?{V}"),
            json!({"properties": {"roleDefinitionId": role, "principalId": kubelet}}),
        );
        assert_eq!(status, 201);

        // Deleting the registry takes its role assignments along.
        let (status, _, _) = call(&api, "DELETE", &format!("{acr}?{V}"), Value::Null);
        assert_eq!(status, 202);
        assert!(api.get(&ra).is_none());
        assert!(api.get(&other).is_none());
        let (status, _, _) = call(&api, "DELETE", &format!("{ra}?{V}"), Value::Null);
        assert_eq!(status, 204);
        assert!(api.unexpected().is_empty(), "{:?}", api.unexpected());
    }

    #[test]
    fn deleting_a_group_removes_everything_in_it() {
        let api = start();
        api.set_polls(0);
        group(&api, "s", "stack");
        let g = "/subscriptions/s/resourceGroups/stack";
        let acc = format!("{g}/providers/Microsoft.Storage/storageAccounts/stackdata");
        let (status, _, _) = call(
            &api,
            "PUT",
            &format!("{acc}?{V}"),
            json!({"location": "westeurope", "sku": {"name": "Standard_LRS"}, "kind": "StorageV2"}),
        );
        assert_eq!(status, 202);
        let (status, _, _) = call(
            &api,
            "PUT",
            &format!("{acc}/blobServices/default/containers/state?{V}"),
            json!({"properties": {}}),
        );
        assert_eq!(status, 201);
        let (_, _, cluster) = call(
            &api,
            "PUT",
            &format!("{g}/providers/Microsoft.ContainerService/managedClusters/k?{V}"),
            cluster_body(),
        );
        let principal = cluster["identity"]["principalId"].as_str().unwrap();
        let (status, _, _) = call(
            &api,
            "PUT",
            &format!(
                "{acc}/providers/Microsoft.Authorization/roleAssignments/11111111-2222-4333-8444-555555555555?{V}"
            ),
            json!({"properties": {"roleDefinitionId": format!("/subscriptions/s/providers/Microsoft.Authorization/roleDefinitions/{STORAGE_BLOB_DATA_CONTRIBUTOR}"), "principalId": principal, "principalType": "ServicePrincipal"}}),
        );
        assert_eq!(status, 201);
        assert_eq!(api.contents().len(), 7, "{:#?}", api.contents());

        api.set_polls(1);
        let (status, headers, _) = call(&api, "DELETE", &format!("{g}?{V}"), Value::Null);
        assert_eq!(status, 202);
        assert!(header(&headers, "azure-asyncoperation").is_none());
        let location = local(&api, header(&headers, "location").unwrap());
        assert!(
            location.starts_with("/subscriptions/s/providers/Microsoft.Resources/locations/westeurope/operationResults/"),
            "{location}"
        );
        let (_, _, deleting) = call(&api, "GET", &format!("{g}?{V}"), Value::Null);
        assert_eq!(deleting["properties"]["provisioningState"], "Deleting");
        let (status, _, refused) = call(
            &api,
            "PUT",
            &format!("{g}/providers/Microsoft.Storage/storageAccounts/late1?{V}"),
            json!({"location": "westeurope", "sku": {"name": "Standard_LRS"}, "kind": "StorageV2"}),
        );
        assert_eq!(
            (status, refused["error"]["code"].as_str()),
            (409, Some("ResourceGroupBeingDeleted"))
        );
        let (status, _, _) = call(&api, "GET", &location, Value::Null);
        assert_eq!(status, 202);
        let (status, _, _) = call(&api, "GET", &location, Value::Null);
        assert_eq!(status, 200);
        assert!(api.contents().is_empty(), "{:#?}", api.contents());
        let (status, _, gone) = call(&api, "GET", &format!("{g}?{V}"), Value::Null);
        assert_eq!(
            (status, gone["error"]["code"].as_str()),
            (404, Some("ResourceGroupNotFound"))
        );
        assert!(api.unexpected().is_empty(), "{:?}", api.unexpected());
    }

    #[test]
    fn a_failed_operation_ends_failed_and_leaves_its_resource() {
        let api = start();
        api.set_polls(0);
        group(&api, "s", "ml");
        let aks = "/subscriptions/s/resourceGroups/ml/providers/Microsoft.ContainerService/managedClusters/gpu";
        api.fail_operation(
            "Microsoft.ContainerService/managedClusters/write",
            "QuotaExceeded: Insufficient regional vcpu quota left",
        );
        let (status, headers, made) = call(&api, "PUT", &format!("{aks}?{V}"), cluster_body());
        assert_eq!(status, 201);
        assert_eq!(made["properties"]["provisioningState"], "Failed");
        let status_url = local(&api, header(&headers, "azure-asyncoperation").unwrap());
        let (_, _, op) = call(&api, "GET", &status_url, Value::Null);
        assert_eq!(op["status"], "Failed");
        assert_eq!(
            op["error"],
            json!({"code": "QuotaExceeded", "message": "Insufficient regional vcpu quota left"})
        );
        assert!(
            api.get("/subscriptions/s/resourcegroups/MC_ml_gpu_westeurope")
                .is_none()
        );

        // A storage account whose create fails is not made; its Location answers the error.
        api.set_polls(1);
        api.fail_operation("Microsoft.Storage/storageAccounts/write", "disk full");
        let acc = "/subscriptions/s/resourceGroups/ml/providers/Microsoft.Storage/storageAccounts/failing";
        let (_, headers, _) = call(
            &api,
            "PUT",
            &format!("{acc}?{V}"),
            json!({"location": "westeurope", "sku": {"name": "Standard_LRS"}, "kind": "StorageV2"}),
        );
        let location = local(&api, header(&headers, "location").unwrap());
        call(&api, "GET", &location, Value::Null);
        let (status, _, failed) = call(&api, "GET", &location, Value::Null);
        assert_eq!(
            (status, failed["error"]["code"].as_str()),
            (400, Some("OperationFailed")),
            "{failed}"
        );
        assert!(api.get(acc).is_none());

        // A filter the server does not understand lists everything, and is recorded.
        let (status, _, all) = call(
            &api,
            "GET",
            &format!("/subscriptions/s/resources?$filter=resourceType%20eq%20'x'&{V}"),
            Value::Null,
        );
        assert_eq!(status, 200);
        assert_eq!(all["value"].as_array().unwrap().len(), 1);
        assert_eq!(api.unexpected().len(), 1, "{:?}", api.unexpected());
    }

    #[test]
    fn injected_errors_and_contract_breaks_are_answered_and_recorded() {
        let api = start();
        api.fail_next("put", "/RESOURCEGROUPS/", 429, 1);
        let (status, headers, body) = call(
            &api,
            "PUT",
            &format!("/subscriptions/s/resourcegroups/rg?{V}"),
            json!({"location": "westeurope"}),
        );
        assert_eq!(
            (status, body["error"]["code"].as_str()),
            (429, Some("TooManyRequests")),
            "{body}"
        );
        assert_eq!(header(&headers, "retry-after"), Some("1"));
        assert!(header(&headers, "x-ms-request-id").is_some_and(|r| matches(GUID, r)));
        assert!(api.get("/subscriptions/s/resourcegroups/rg").is_none());
        group(&api, "s", "rg");
        api.fail_next("GET", "/resourcegroups/rg", 409, 1);
        let (status, _, body) = call(
            &api,
            "GET",
            &format!("/subscriptions/s/resourcegroups/rg?{V}"),
            Value::Null,
        );
        assert_eq!(
            (status, body["error"]["code"].as_str()),
            (409, Some("Conflict"))
        );
        api.fail_next("GET", "/resourcegroups/rg", 500, 1);
        let (status, _, _) = call(
            &api,
            "GET",
            &format!("/subscriptions/s/resourcegroups/rg?{V}"),
            Value::Null,
        );
        assert_eq!(status, 500);
        let (status, _, _) = call(
            &api,
            "GET",
            &format!("/subscriptions/s/resourcegroups/rg?{V}"),
            Value::Null,
        );
        assert_eq!(status, 200);
        assert!(api.unexpected().is_empty(), "{:?}", api.unexpected());

        // No bearer token, a token of another scheme, no api-version, no route, not JSON.
        let path = format!("/subscriptions/s/resourcegroups/rg?{V}");
        let (status, headers, body) = send(&api, "localhost", "GET", &path, &[], b"");
        assert_eq!(
            (status, body["error"]["code"].as_str()),
            (401, Some("AuthenticationFailed"))
        );
        assert!(header(&headers, "www-authenticate").is_some());
        let (status, _, _) = send(
            &api,
            "localhost",
            "GET",
            &path,
            &[("Authorization", "Basic dXNlcjpwYXNz")],
            b"",
        );
        assert_eq!(status, 401);
        let (status, _, body) = call(
            &api,
            "GET",
            "/subscriptions/s/resourcegroups/rg",
            Value::Null,
        );
        assert_eq!(
            (status, body["error"]["code"].as_str()),
            (400, Some("MissingApiVersionParameter"))
        );
        let (status, _, _) = call(
            &api,
            "GET",
            &format!("/subscriptions/s/providers/Microsoft.Web/sites?{V}"),
            Value::Null,
        );
        assert_eq!(status, 404);
        let (status, _, _) = send(
            &api,
            "127.0.0.1",
            "PUT",
            &path,
            &[
                ("Authorization", "Bearer t"),
                ("x-ms-correlation-request-id", "corr-1"),
            ],
            b"{not json",
        );
        assert_eq!(status, 400);
        let r = api.requests().pop().unwrap();
        assert_eq!(r.body, Value::String("{not json".to_owned()));
        assert!(
            r.headers
                .iter()
                .any(|(k, v)| k == "x-ms-correlation-request-id" && v == "corr-1")
        );
        assert_eq!(
            api.unexpected(),
            [
                "GET /subscriptions/s/resourcegroups/rg: Authentication failed. The 'Authorization' header is missing.",
                "GET /subscriptions/s/resourcegroups/rg: Authentication failed. The 'Authorization' header is provided in an invalid format.",
                "GET /subscriptions/s/resourcegroups/rg: The api-version query parameter (?api-version=) is required for all requests.",
                "GET /subscriptions/s/providers/Microsoft.Web/sites: no route matches",
                "PUT /subscriptions/s/resourcegroups/rg: The request content was invalid and could not be deserialized.",
            ]
        );
        assert_eq!(api.log().len(), 10, "{:#?}", api.log());
        assert_eq!(api.log()[0], "PUT /subscriptions/s/resourcegroups/rg");
    }

    #[test]
    fn filters_timestamps_and_ids_are_well_formed() {
        assert_eq!(
            parse_filter("tagName eq 'stackform' and tagValue eq 'it''s'"),
            Ok(("stackform".to_owned(), Some("it's".to_owned())))
        );
        assert_eq!(parse_filter("TAGNAME eq 'k'"), Ok(("k".to_owned(), None)));
        assert!(parse_filter("tagName eq 'k' or tagValue eq 'v'").is_err());
        let tagged_v = json!({"tags": {"Stackform": "dev"}});
        assert!(tagged(
            &tagged_v,
            &Some(("stackform".to_owned(), Some("dev".to_owned())))
        ));
        assert!(!tagged(
            &tagged_v,
            &Some(("stackform".to_owned(), Some("Dev".to_owned())))
        ));
        assert_eq!(arm_time(1_700_000_000), "2023-11-14T22:13:20.0000000Z");
        let mut st = State::default();
        let a = st.uuid();
        assert!(matches(GUID, &a), "{a}");
        assert_ne!(a, st.uuid());
        assert_eq!(decode("tagName%20eq%20%27k%27", true), "tagName eq 'k'");
    }

    #[test]
    fn a_chunked_body_is_read() {
        let api = start();
        let mut tls = connect(api.port, "localhost");
        let body = json!({"location": "westeurope"}).to_string();
        let (a, b) = body.split_at(7);
        let request = format!(
            "PUT /subscriptions/s/resourcegroups/chunked?{V} HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer t\r\nTransfer-Encoding: chunked\r\n\r\n{:x}\r\n{a}\r\n{:x}\r\n{b}\r\n0\r\n\r\n",
            a.len(),
            b.len()
        );
        tls.write_all(request.as_bytes()).unwrap();
        let mut raw = String::new();
        let _ = tls.read_to_string(&mut raw);
        assert!(raw.starts_with("HTTP/1.1 201"), "{raw}");
        assert!(raw.contains("Connection: close"), "{raw}");
        assert!(api.get("/subscriptions/s/resourceGroups/chunked").is_some());
    }
}
