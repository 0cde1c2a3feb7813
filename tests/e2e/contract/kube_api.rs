//! A loopback Kubernetes API server for the `kubernetes` provider's types (no API server can be
//! installed on these machines), written from the API's documented contract, its awkward parts
//! included. Core/v1 namespaces and service accounts:
//!
//! - Bearer tokens: a request without a known one is answered 401 with a `Status`
//!   (https://kubernetes.io/docs/reference/access-authn-authz/authentication/). Started with
//!   [`start_eks`], it takes EKS tokens as EKS does: `k8s-aws-v1.` and the base64url of an STS
//!   `GetCallerIdentity` URL presigned (query-string SigV4) by the caller, valid 60 s, with the
//!   cluster's id among the signed headers (`x-k8s-aws-id`)
//!   (https://docs.aws.amazon.com/eks/latest/userguide/cluster-auth.html, aws-iam-authenticator's
//!   "API Authorization from Outside a Cluster"); the signing access key is the user. (The
//!   signature itself is STS's to check, and moto checks none.)
//! - Server-side apply: `PATCH` with `Content-Type: application/apply-patch+yaml` and a
//!   `fieldManager`; creates what is missing (201), otherwise merges (200). A field the same
//!   manager applied before and leaves out now is removed; fields other managers set stay
//!   (https://kubernetes.io/docs/reference/using-api/server-side-apply/). An apply without a
//!   field manager, or whose body lacks `apiVersion`/`kind` or names another object, is 400.
//! - Reads: `GET` of a missing object is 404 with a `Status` whose `details` name it
//!   (https://kubernetes.io/docs/reference/using-api/api-concepts/). Lists filter by equality
//!   `labelSelector`s, and their items carry no `kind` or `apiVersion`: only the list does
//!   (https://kubernetes.io/docs/reference/using-api/api-concepts/#collections). A namespaced
//!   kind is listed across all namespaces at `/api/v1/PLURAL` (`kubectl get -A`).
//! - Namespaced objects in a namespace that does not exist are refused 404 (`namespaces "x"
//!   not found`), and in one being deleted 403 Forbidden, "because it is being terminated"
//!   (the NamespaceLifecycle admission plugin,
//!   https://kubernetes.io/docs/reference/access-authn-authz/admission-controllers/#namespacelifecycle).
//! - Deleting a namespace is asynchronous: the `DELETE` answers 200 with the namespace in phase
//!   `Terminating` and a `deletionTimestamp`; the namespace controller deletes its content, and
//!   the namespace is gone only after that (here, after [`TERMINATING_READS`] further reads of
//!   it) (https://kubernetes.io/docs/concepts/overview/working-with-objects/namespaces/,
//!   https://kubernetes.io/docs/tasks/administer-cluster/namespaces/#deleting-a-namespace).
//!   `DeleteOptions.propagationPolicy` in the body is recorded for the tests.
//!
//! - Discovery: `GET /api/v1` and `/apis/GROUP/VERSION` list the resources a group version
//!   serves (`APIResourceList`), which a client needs to turn a manifest's `kind` into its path
//!   (https://kubernetes.io/docs/reference/using-api/api-concepts/#discovery-api).
//! - Controllers and defaulting: a Deployment reports `Available` only after its pods are up,
//!   and a `LoadBalancer` Service its `status.loadBalancer.ingress` only once the cloud's load
//!   balancer exists (here, after [`READY_READS`] reads of each)
//!   (https://kubernetes.io/docs/concepts/workloads/controllers/deployment/#deployment-status,
//!   https://kubernetes.io/docs/concepts/services-networking/service/#loadbalancer); the server
//!   fills in what was not given (a Service's `clusterIP`, a port's `protocol: TCP`, a
//!   Deployment's `revisionHistoryLimit` and `progressDeadlineSeconds`), so a client comparing
//!   whole objects would see drift that is not there. A Secret's `stringData` is write-only: it
//!   is merged into `data` (base64) and never returned
//!   (https://kubernetes.io/docs/reference/kubernetes-api/config-and-storage-resources/secret-v1/).
//!
//! Every applied body is kept, so that tests validate what stackform sent against the published
//! schemas (`kubernetes-validate`), even where this server was lenient.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use serde_json::{Value, json};

use crate::harness::http::{self, Incoming, Response};

/// Reads of a deleted namespace that still find it `Terminating`.
pub const TERMINATING_READS: u32 = 3;

/// Reads of a new Deployment or LoadBalancer Service before it reports ready.
pub const READY_READS: u32 = 2;

/// What this server serves: (group, version, plural, kind, namespaced).
const RESOURCES: &[(&str, &str, &str, &str, bool)] = &[
    ("", "v1", "namespaces", "Namespace", false),
    ("", "v1", "serviceaccounts", "ServiceAccount", true),
    ("", "v1", "secrets", "Secret", true),
    ("", "v1", "configmaps", "ConfigMap", true),
    ("", "v1", "services", "Service", true),
    ("", "v1", "pods", "Pod", true),
    ("apps", "v1", "deployments", "Deployment", true),
    ("networking.k8s.io", "v1", "ingresses", "Ingress", true),
    (
        "",
        "v1",
        "persistentvolumeclaims",
        "PersistentVolumeClaim",
        true,
    ),
];

/// What the cloud's controllers do for a cluster's objects, given by the cloud emulator's
/// harness: the service controller makes a load balancer for a `LoadBalancer` Service (its
/// hostname is the answer) and removes it when the Service is deleted, before the Service's
/// `service.kubernetes.io/load-balancer-cleanup` finalizer lets it go
/// (https://kubernetes.io/docs/concepts/services-networking/service/#loadbalancer).
pub enum CloudEvent<'a> {
    LoadBalancerWanted(Place<'a>),
    LoadBalancerGone(Place<'a>),
}

/// The Service a cloud event is for.
pub struct Place<'a> {
    pub cluster: &'a str,
    /// The region the caller's EKS token was signed for.
    pub region: &'a str,
    pub namespace: &'a str,
    pub name: &'a str,
}

pub type Controller = Arc<dyn Fn(&CloudEvent) -> Option<String> + Send + Sync>;

/// Whether a bearer token (the first argument) may use the cluster named by the second.
pub type TokenCheck = Arc<dyn Fn(&str, &str) -> bool + Send + Sync>;

/// The finalizer the service controller holds a `LoadBalancer` Service by.
const LOAD_BALANCER_CLEANUP: &str = "service.kubernetes.io/load-balancer-cleanup";

#[derive(Default)]
struct Cluster {
    /// Its name (empty for the plain server) and the region its callers sign for.
    name: String,
    region: String,
    controller: Option<Controller>,
    /// By (resource, namespace ("" for cluster-scoped), name).
    objects: BTreeMap<(String, String, String), Stored>,
    version: u64,
    /// Every apply body, as sent.
    applied: Vec<Value>,
    /// `METHOD path?query` of every request, and the propagation policy of every delete.
    log: Vec<String>,
    deletes: Vec<(String, Option<String>)>,
}

struct Stored {
    object: Value,
    /// Label and annotation keys each field manager applied, to remove them when it stops.
    owned: BTreeMap<String, (Vec<String>, Vec<String>)>,
    /// Reads left before a terminating namespace is gone.
    terminating: Option<u32>,
    /// Reads left before a Deployment or LoadBalancer Service reports ready.
    ready_in: Option<u32>,
}

pub struct KubeApi {
    pub url: String,
    pub token: String,
    cluster: Arc<Mutex<Cluster>>,
    /// The clusters served under `/clusters/NAME/`, one API server each, as every EKS cluster
    /// has its own endpoint.
    clusters: Arc<Mutex<BTreeMap<String, Arc<Mutex<Cluster>>>>>,
    controller: Option<Controller>,
}

/// Who may call: a static token, EKS tokens signed with one of these access keys, or Google
/// tokens of one of these identities (GKE).
#[derive(Clone)]
enum Known {
    Token(String),
    Eks(Vec<String>),
    Google(Vec<String>),
    /// Tokens a function takes for a cluster (AKS: Entra ID tokens for its server
    /// application, of a principal Azure RBAC lets in).
    Check(TokenCheck),
}

pub fn start() -> KubeApi {
    let token = format!("kube-token-{}", std::process::id());
    serve(token.clone(), Known::Token(token), None)
}

/// A server that is an EKS cluster's API: it takes EKS tokens signed with `access_keys` (any
/// caller's, if none are given).
pub fn start_eks(access_keys: &[&str]) -> KubeApi {
    start_eks_with(access_keys, None)
}

/// [`start_eks`], with the cloud's controllers acting on the clusters' objects.
pub fn start_eks_with(access_keys: &[&str], controller: Option<Controller>) -> KubeApi {
    serve(
        String::new(),
        Known::Eks(access_keys.iter().map(|k| (*k).to_owned()).collect()),
        controller,
    )
}

/// A server that is a GKE cluster's API: it takes Google tokens of the `identities` (service
/// account emails) only. GKE accepts a Google OAuth access token of any identity and leaves
/// the rest to IAM and RBAC
/// (https://cloud.google.com/kubernetes-engine/docs/how-to/api-server-authentication); a
/// service account key's token is a JWT it signs itself, whose `iss` is the account (the
/// signature is not checked here: the tests ask whose token was sent).
pub fn start_gke_with(identities: &[&str], controller: Option<Controller>) -> KubeApi {
    serve(
        String::new(),
        Known::Google(identities.iter().map(|k| (*k).to_owned()).collect()),
        controller,
    )
}

/// A server that is an AKS cluster's API with Entra ID integration: it takes the bearer tokens
/// `takes` accepts for the cluster (by name) (the tests' Entra ID issued them for AKS's server application,
/// `6dae42f8-4368-4678-94ff-3960e28e3630`, the audience every such cluster checks:
/// https://learn.microsoft.com/en-us/azure/aks/kubelogin-authentication).
pub fn start_aks_with(takes: TokenCheck, controller: Option<Controller>) -> KubeApi {
    serve(String::new(), Known::Check(takes), controller)
}

/// The `iss` claim of a JWT bearer token.
fn google_user(bearer: &str) -> Option<String> {
    use base64::Engine as _;
    let claims = bearer.split('.').nth(1)?;
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(claims.trim_end_matches('='))
        .ok()?;
    let claims: Value = serde_json::from_slice(&bytes).ok()?;
    claims["iss"].as_str().map(str::to_owned)
}

/// The world of cluster `name`, made on first use.
fn world(
    clusters: &Mutex<BTreeMap<String, Arc<Mutex<Cluster>>>>,
    name: &str,
    controller: Option<&Controller>,
) -> Arc<Mutex<Cluster>> {
    Arc::clone(
        clusters
            .lock()
            .unwrap()
            .entry(name.to_owned())
            .or_insert_with(|| {
                Arc::new(Mutex::new(Cluster {
                    name: name.to_owned(),
                    controller: controller.cloned(),
                    ..Cluster::default()
                }))
            }),
    )
}

fn serve(token: String, known: Known, controller: Option<Controller>) -> KubeApi {
    let cluster = Arc::new(Mutex::new(Cluster::default()));
    let clusters: Arc<Mutex<BTreeMap<String, Arc<Mutex<Cluster>>>>> = Arc::default();
    let served = Arc::clone(&cluster);
    let by_name = Arc::clone(&clusters);
    let serving = controller.clone();
    let listener = http::Listener::bind();
    let url = format!("http://127.0.0.1:{}", listener.port());
    listener.serve(move |req| {
        let segments = req.segments();
        match segments.as_slice() {
            [first, name, ..] if first == "clusters" => {
                let world = world(&by_name, name, serving.as_ref());
                Some(answer(&req, &world, &known, 2))
            }
            _ => Some(answer(&req, &served, &known, 0)),
        }
    });
    KubeApi {
        url,
        token,
        cluster,
        clusters,
        controller,
    }
}

/// The user an EKS token is signed by, and the region it was signed for, if it is one.
fn eks_user(bearer: &str, keys: &[String]) -> Option<(String, String)> {
    use base64::Engine as _;
    let encoded = bearer.strip_prefix("k8s-aws-v1.")?;
    let url = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(encoded)
        .ok()?;
    let url = String::from_utf8(url).ok()?;
    let (base, query) = url.split_once('?')?;
    if !(base.starts_with("https://sts.") && base.ends_with(".amazonaws.com/")) {
        return None;
    }
    let params: BTreeMap<String, String> = query
        .split('&')
        .filter_map(|p| p.split_once('='))
        .map(|(k, v)| (k.to_owned(), http::decode(v, false)))
        .collect();
    let signed = params.get("X-Amz-SignedHeaders")?;
    let ok = params.get("Action").map(String::as_str) == Some("GetCallerIdentity")
        && params.get("X-Amz-Algorithm").map(String::as_str) == Some("AWS4-HMAC-SHA256")
        && params.get("X-Amz-Expires").map(String::as_str) == Some("60")
        && params.contains_key("X-Amz-Signature")
        && signed.split(';').any(|h| h == "x-k8s-aws-id");
    let key = params
        .get("X-Amz-Credential")?
        .split('/')
        .next()?
        .to_owned();
    let region = base
        .trim_start_matches("https://sts.")
        .trim_end_matches(".amazonaws.com/")
        .to_owned();
    (ok && (keys.is_empty() || keys.contains(&key))).then_some((key, region))
}

impl KubeApi {
    /// The endpoint `STACKFORM_KUBERNETES_ENDPOINT` gives stackform: one API server per cluster
    /// name, as EKS gives every cluster its own.
    pub fn endpoint_per_cluster(&self) -> String {
        format!("{}/clusters/{{cluster}}", self.url)
    }

    /// The API server of the cluster named `name` (empty until something reaches it).
    pub fn cluster(&self, name: &str) -> KubeApi {
        KubeApi {
            url: format!("{}/clusters/{name}", self.url),
            token: self.token.clone(),
            cluster: world(&self.clusters, name, self.controller.as_ref()),
            clusters: Arc::clone(&self.clusters),
            controller: self.controller.clone(),
        }
    }

    /// A kubeconfig (JSON, which is YAML) for this server with its token.
    pub fn kubeconfig(&self) -> String {
        json!({
            "apiVersion": "v1",
            "kind": "Config",
            "clusters": [{"name": "contract", "cluster": {"server": self.url}}],
            "users": [{"name": "deployer", "user": {"token": self.token}}],
            "contexts": [{"name": "contract", "context": {"cluster": "contract", "user": "deployer"}}],
            "current-context": "contract",
        })
        .to_string()
    }

    /// The object, as the server holds it.
    pub fn object(&self, resource: &str, namespace: &str, name: &str) -> Option<Value> {
        let c = self.cluster.lock().unwrap();
        c.objects
            .get(&(resource.into(), namespace.into(), name.into()))
            .map(|s| s.object.clone())
    }

    /// Every object of a kind, by (namespace, name).
    pub fn names(&self, resource: &str) -> Vec<(String, String)> {
        let c = self.cluster.lock().unwrap();
        c.objects
            .keys()
            .filter(|(r, _, _)| r == resource)
            .map(|(_, ns, n)| (ns.clone(), n.clone()))
            .collect()
    }

    /// Changes an object as another client would (`kubectl label` / `annotate`): under another
    /// field manager, so the next apply does not count it as stackform's.
    pub fn edit(&self, resource: &str, namespace: &str, name: &str, f: impl FnOnce(&mut Value)) {
        let mut c = self.cluster.lock().unwrap();
        c.version += 1;
        let version = c.version;
        let stored = c
            .objects
            .get_mut(&(resource.into(), namespace.into(), name.into()))
            .expect("the object exists");
        f(&mut stored.object);
        stored.object["metadata"]["resourceVersion"] = json!(version.to_string());
    }

    /// Creates an object no stackform stack made (someone else's).
    pub fn put_foreign(&self, resource: &str, namespace: &str, object: Value) {
        let mut c = self.cluster.lock().unwrap();
        let name = object["metadata"]["name"].as_str().unwrap().to_owned();
        c.objects.insert(
            (resource.into(), namespace.into(), name),
            Stored {
                object,
                owned: BTreeMap::new(),
                terminating: None,
                ready_in: None,
            },
        );
    }

    /// A `LoadBalancer` Service made by someone else (`kubectl expose --type LoadBalancer`), its
    /// load balancer made by the cloud's controller at once: what a pipeline leaves behind.
    pub fn put_load_balancer(&self, namespace: &str, name: &str) -> Value {
        let mut c = self.cluster.lock().unwrap();
        c.version += 1;
        let hostname = cloud(&c, true, namespace, name);
        let mut object = json!({
            "apiVersion": "v1", "kind": "Service",
            "metadata": {"name": name, "namespace": namespace, "resourceVersion": c.version.to_string()},
            "spec": {"type": "LoadBalancer", "ports": [{"port": 80, "protocol": "TCP"}]},
        });
        defaults(&mut object, &c.version.to_string());
        become_ready(&mut object, name, hostname);
        c.objects.insert(
            key("services", namespace, name),
            Stored {
                object: object.clone(),
                owned: BTreeMap::new(),
                terminating: None,
                ready_in: None,
            },
        );
        object
    }

    /// Every body applied with server-side apply.
    pub fn applied(&self) -> Vec<Value> {
        self.cluster.lock().unwrap().applied.clone()
    }

    /// The path and propagation policy of every delete.
    pub fn deletes(&self) -> Vec<(String, Option<String>)> {
        self.cluster.lock().unwrap().deletes.clone()
    }

    pub fn log(&self) -> Vec<String> {
        self.cluster.lock().unwrap().log.clone()
    }
}

fn status(code: u16, reason: &str, message: &str, details: Value) -> Response {
    let body = json!({
        "kind": "Status", "apiVersion": "v1", "metadata": {},
        "status": "Failure", "message": message, "reason": reason,
        "details": details, "code": code,
    });
    respond(code, &body)
}

fn respond(code: u16, body: &Value) -> Response {
    Response::new(
        code,
        &[("Content-Type", "application/json")],
        body.to_string().as_bytes(),
    )
}

/// The kind of a resource of this server in `group/version`, and whether it is namespaced.
fn kind_of(group: &str, version: &str, resource: &str) -> Option<(&'static str, bool)> {
    RESOURCES
        .iter()
        .find(|(g, v, r, _, _)| *g == group && *v == version && *r == resource)
        .map(|(_, _, _, k, n)| (*k, *n))
}

/// `APIResourceList` of a group version.
fn discovery(group: &str, version: &str) -> Response {
    let gv = if group.is_empty() {
        version.to_owned()
    } else {
        format!("{group}/{version}")
    };
    let resources: Vec<Value> = RESOURCES
        .iter()
        .filter(|(g, v, _, _, _)| *g == group && *v == version)
        .map(|(_, _, plural, kind, namespaced)| {
            json!({
                "name": plural, "singularName": kind.to_ascii_lowercase(), "namespaced": namespaced,
                "kind": kind,
                "verbs": ["create", "delete", "get", "list", "patch", "update", "watch"],
            })
        })
        .collect();
    if resources.is_empty() {
        return status(
            404,
            "NotFound",
            "the server could not find the requested resource",
            json!({}),
        );
    }
    respond(
        200,
        &json!({"kind": "APIResourceList", "apiVersion": "v1", "groupVersion": gv, "resources": resources}),
    )
}

/// Answers `req` as `cluster`'s API server, whose paths start after `skip` segments.
fn answer(req: &Incoming, cluster: &Mutex<Cluster>, known: &Known, skip: usize) -> Response {
    let mut c = cluster.lock().unwrap();
    let method = req.method();
    let (path, query) = req.path_and_query();
    c.log.push(format!("{method} {path}?{query}"));
    let bearer = req
        .header("authorization")
        .and_then(|a| a.strip_prefix("Bearer ").map(str::to_owned))
        .unwrap_or_default();
    let authenticated = match known {
        Known::Token(t) => bearer == *t,
        Known::Eks(keys) => match eks_user(&bearer, keys) {
            Some((_, region)) => {
                c.region = region;
                true
            }
            None => false,
        },
        Known::Google(identities) => {
            google_user(&bearer).is_some_and(|who| identities.contains(&who))
        }
        Known::Check(takes) => takes(&bearer, &c.name),
    };
    if !authenticated {
        return status(401, "Unauthorized", "Unauthorized", json!({}));
    }
    let query: BTreeMap<String, String> = req.query().into_iter().collect();
    let segments = req.segments();
    let segs: Vec<&str> = segments.iter().skip(skip).map(String::as_str).collect();
    // /api/v1/... (the core group) and /apis/GROUP/VERSION/...
    let (group, version, rest) = match segs.as_slice() {
        ["api", v, rest @ ..] => ("", *v, rest),
        ["apis", g, v, rest @ ..] => (*g, *v, rest),
        _ => {
            return status(
                404,
                "NotFound",
                "the server could not find the requested resource",
                json!({}),
            );
        }
    };
    // Namespaces are /namespaces[/NAME]; the rest /namespaces/NS/PLURAL[/NAME].
    let (resource, namespace, name) = match rest {
        [] if method == "GET" => return discovery(group, version),
        ["namespaces"] => ("namespaces", "", None),
        // A namespaced kind listed across every namespace.
        [r] => (*r, "*", None),
        ["namespaces", n] => ("namespaces", "", Some(*n)),
        ["namespaces", ns, r] => (*r, *ns, None),
        ["namespaces", ns, r, n] => (*r, *ns, Some(*n)),
        _ => {
            return status(
                404,
                "NotFound",
                "the server could not find the requested resource",
                json!({}),
            );
        }
    };
    let Some((kind, namespaced)) = kind_of(group, version, resource) else {
        return status(
            404,
            "NotFound",
            "the server could not find the requested resource",
            json!({}),
        );
    };
    let api_version = if group.is_empty() {
        version.to_owned()
    } else {
        format!("{group}/{version}")
    };
    match (method.as_str(), name) {
        ("GET", None) => list(
            &mut c,
            resource,
            namespace,
            kind,
            query.get("labelSelector"),
        ),
        ("GET", Some(name)) => get(&mut c, resource, namespace, name),
        ("PATCH", Some(name)) => apply(
            &mut c,
            req,
            &query,
            (resource, namespace, name),
            (&api_version, kind, namespaced),
        ),
        ("DELETE", Some(name)) => delete(&mut c, req, resource, namespace, name),
        _ => status(
            405,
            "MethodNotAllowed",
            "the server does not allow this method on the requested resource",
            json!({}),
        ),
    }
}

fn not_found(resource: &str, name: &str) -> Response {
    status(
        404,
        "NotFound",
        &format!("{resource} \"{name}\" not found"),
        json!({"name": name, "kind": resource}),
    )
}

fn key(resource: &str, namespace: &str, name: &str) -> (String, String, String) {
    (resource.into(), namespace.into(), name.into())
}

/// A terminating object read once more: gone after its last read (a namespace with what it
/// held; a LoadBalancer Service once the service controller has removed its load balancer).
fn settle(c: &mut Cluster, resource: &str, namespace: &str, name: &str) {
    let k = key(resource, namespace, name);
    let Some(stored) = c.objects.get_mut(&k) else {
        return;
    };
    match stored.terminating {
        Some(0) => {
            c.objects.remove(&k);
            if resource == "namespaces" {
                c.objects.retain(|(_, ns, _), _| ns != name);
            } else if resource == "services" {
                cloud(c, false, namespace, name);
            }
        }
        Some(n) => stored.terminating = Some(n - 1),
        None => {}
    }
}

/// Tells the cloud's controllers that the Service `namespace/name` wants a load balancer, or is
/// gone.
fn cloud(c: &Cluster, wanted: bool, namespace: &str, name: &str) -> Option<String> {
    let controller = c.controller.as_ref()?;
    let place = Place {
        cluster: &c.name,
        region: &c.region,
        namespace,
        name,
    };
    controller(&if wanted {
        CloudEvent::LoadBalancerWanted(place)
    } else {
        CloudEvent::LoadBalancerGone(place)
    })
}

fn get(c: &mut Cluster, resource: &str, namespace: &str, name: &str) -> Response {
    settle(c, resource, namespace, name);
    let ready = match c.objects.get_mut(&key(resource, namespace, name)) {
        Some(stored) => match stored.ready_in {
            Some(0) => {
                stored.ready_in = None;
                true
            }
            Some(n) => {
                stored.ready_in = Some(n - 1);
                false
            }
            None => false,
        },
        None => false,
    };
    if ready {
        let hostname = (resource == "services")
            .then(|| cloud(c, true, namespace, name))
            .flatten();
        if let Some(stored) = c.objects.get_mut(&key(resource, namespace, name)) {
            become_ready(&mut stored.object, name, hostname);
        }
    }
    match c.objects.get(&key(resource, namespace, name)) {
        Some(s) => respond(200, &s.object),
        None => not_found(resource, name),
    }
}

fn list(
    c: &mut Cluster,
    resource: &str,
    namespace: &str,
    kind: &str,
    selector: Option<&String>,
) -> Response {
    // Objects being deleted are read by a list as by a get.
    let terminating: Vec<(String, String, String)> = c
        .objects
        .iter()
        .filter(|((r, _, _), s)| r == resource && s.terminating.is_some())
        .map(|(k, _)| k.clone())
        .collect();
    for (r, ns, n) in terminating {
        settle(c, &r, &ns, &n);
    }
    let wanted: Vec<(String, String)> = selector
        .map(|s| {
            s.split(',')
                .filter_map(|p| p.split_once('='))
                .map(|(k, v)| (k.trim_end_matches('=').to_owned(), v.to_owned()))
                .collect()
        })
        .unwrap_or_default();
    let items: Vec<Value> = c
        .objects
        .iter()
        .filter(|((r, ns, _), _)| {
            r == resource && (resource == "namespaces" || namespace == "*" || ns == namespace)
        })
        .filter(|(_, s)| {
            wanted
                .iter()
                .all(|(k, v)| s.object["metadata"]["labels"][k].as_str() == Some(v))
        })
        .map(|(_, s)| {
            // Items of a list carry no kind or apiVersion.
            let mut item = s.object.clone();
            if let Some(o) = item.as_object_mut() {
                o.remove("kind");
                o.remove("apiVersion");
            }
            item
        })
        .collect();
    respond(
        200,
        &json!({
            "kind": format!("{kind}List"), "apiVersion": "v1",
            "metadata": {"resourceVersion": c.version.to_string()},
            "items": items,
        }),
    )
}

fn string_keys(v: &Value) -> Vec<String> {
    v.as_object()
        .map(|o| o.keys().cloned().collect())
        .unwrap_or_default()
}

/// What a controller reports once the object is up: a Deployment's pods available, a
/// LoadBalancer Service's load balancer made.
fn become_ready(object: &mut Value, name: &str, hostname: Option<String>) {
    match object["kind"].as_str() {
        Some("Deployment") => {
            let replicas = object["spec"]["replicas"].as_i64().unwrap_or(1);
            object["status"] = json!({
                "observedGeneration": 1, "replicas": replicas, "readyReplicas": replicas,
                "availableReplicas": replicas, "updatedReplicas": replicas,
                "conditions": [{"type": "Available", "status": "True", "reason": "MinimumReplicasAvailable"}],
            });
        }
        Some("Service") => {
            let hostname = hostname.unwrap_or_else(|| format!("{name}.elb.contract.test"));
            // An AWS load balancer is reached by its DNS name, a Google one by its address.
            let ingress = if hostname.parse::<std::net::Ipv4Addr>().is_ok() {
                json!({"ip": hostname})
            } else {
                json!({"hostname": hostname})
            };
            object["status"] = json!({"loadBalancer": {"ingress": [ingress]}});
        }
        _ => {}
    }
}

/// What the API server fills in that the client did not give.
fn defaults(object: &mut Value, version: &str) {
    match object["kind"].as_str() {
        Some("Service") => {
            if object["spec"]["clusterIP"].is_null() {
                object["spec"]["clusterIP"] =
                    json!(format!("10.96.0.{}", version.len() * 7 % 250 + 2));
            }
            if object["spec"]["type"].is_null() {
                object["spec"]["type"] = json!("ClusterIP");
            }
            object["spec"]["sessionAffinity"] = json!("None");
            if let Some(ports) = object["spec"]["ports"].as_array_mut() {
                for p in ports {
                    if p["protocol"].is_null() {
                        p["protocol"] = json!("TCP");
                    }
                }
            }
            if object["status"].is_null() {
                object["status"] = json!({"loadBalancer": {}});
            }
        }
        Some("Deployment") => {
            object["spec"]["revisionHistoryLimit"] = json!(10);
            object["spec"]["progressDeadlineSeconds"] = json!(600);
            if object["spec"]["replicas"].is_null() {
                object["spec"]["replicas"] = json!(1);
            }
        }
        Some("Secret") => {
            if object["type"].is_null() {
                object["type"] = json!("Opaque");
            }
            // stringData is write-only: merged into data, base64.
            if let Some(plain) = object.as_object_mut().and_then(|o| o.remove("stringData")) {
                use base64::Engine as _;
                for (k, v) in plain.as_object().into_iter().flatten() {
                    let text = v.as_str().unwrap_or_default();
                    object["data"][k] =
                        json!(base64::engine::general_purpose::STANDARD.encode(text));
                }
            }
        }
        _ => {}
    }
}

fn apply(
    c: &mut Cluster,
    req: &Incoming,
    query: &BTreeMap<String, String>,
    (resource, namespace, name): (&str, &str, &str),
    (api_version, kind, namespaced): (&str, &str, bool),
) -> Response {
    let content_type = req.header("content-type").unwrap_or_default();
    if !content_type.starts_with("application/apply-patch+yaml") {
        return status(
            415,
            "UnsupportedMediaType",
            &format!(
                "the body of the request was in an unknown format - accepted media types include: application/json-patch+json, application/merge-patch+json, application/apply-patch+yaml; got {content_type}"
            ),
            json!({}),
        );
    }
    let Some(manager) = query.get("fieldManager").filter(|m| !m.is_empty()) else {
        return status(
            400,
            "BadRequest",
            "PatchOptions.meta.k8s.io \"\" is invalid: fieldManager: Required value: is required for apply patch",
            json!({}),
        );
    };
    let (body, not_json) = req.json_body();
    c.applied.push(body.clone());
    if not_json || body["apiVersion"] != api_version || body["kind"] != kind {
        return status(
            400,
            "BadRequest",
            &format!("error decoding patch: apiVersion and kind must be {api_version} and {kind}"),
            json!({}),
        );
    }
    if body["metadata"]["name"] != name {
        return status(
            400,
            "BadRequest",
            &format!(
                "the name of the object ({}) does not match the name on the URL ({name})",
                body["metadata"]["name"]
            ),
            json!({}),
        );
    }
    if namespaced {
        let ns = c.objects.get(&key("namespaces", "", namespace));
        match ns {
            None => return not_found("namespaces", namespace),
            Some(s) if s.terminating.is_some() => {
                return status(
                    403,
                    "Forbidden",
                    &format!(
                        "{resource} \"{name}\" is forbidden: unable to create new content in namespace {namespace} because it is being terminated"
                    ),
                    json!({"name": name, "kind": resource}),
                );
            }
            Some(_) => {}
        }
    }
    c.version += 1;
    let version = c.version.to_string();
    let k = key(resource, namespace, name);
    let labels = string_keys(&body["metadata"]["labels"]);
    let annotations = string_keys(&body["metadata"]["annotations"]);
    let created = !c.objects.contains_key(&k);
    let stored = c.objects.entry(k).or_insert_with(|| Stored {
        object: json!({
            "apiVersion": api_version, "kind": kind,
            "metadata": {
                "name": name,
                "uid": format!("{:08x}-0000-4000-8000-{:012x}", super::shared::fnv(name) as u32, version.parse::<u64>().unwrap_or(0)),
                "creationTimestamp": "2026-12-03T00:00:00Z",
            },
        }),
        owned: BTreeMap::new(),
        terminating: None,
        ready_in: match kind {
            "Deployment" => Some(READY_READS),
            "Service" if body["spec"]["type"] == "LoadBalancer" => Some(READY_READS),
            _ => None,
        },
    });
    if stored.terminating.is_some() {
        return status(
            409,
            "Conflict",
            &format!(
                "Operation cannot be fulfilled on {resource} \"{name}\": the object is being deleted"
            ),
            json!({}),
        );
    }
    let object = &mut stored.object;
    if namespaced {
        object["metadata"]["namespace"] = json!(namespace);
    }
    // What this manager applied before and leaves out now goes; the rest is set.
    let (old_labels, old_annotations) = stored.owned.remove(manager).unwrap_or_default();
    for (field, old, new) in [
        ("labels", old_labels, &labels),
        ("annotations", old_annotations, &annotations),
    ] {
        if let Some(map) = object["metadata"][field].as_object_mut() {
            for k in old.iter().filter(|k| !new.contains(k)) {
                map.remove(k);
            }
        }
        if let Some(given) = body["metadata"][field].as_object() {
            if !object["metadata"][field].is_object() {
                object["metadata"][field] = json!({});
            }
            for (k, v) in given {
                object["metadata"][field][k] = v.clone();
            }
        }
    }
    stored.owned.insert(manager.clone(), (labels, annotations));
    for (k, v) in body.as_object().into_iter().flatten() {
        if !matches!(k.as_str(), "metadata" | "apiVersion" | "kind" | "status") {
            object[k] = v.clone();
        }
    }
    if kind == "Namespace" {
        object["spec"] = json!({"finalizers": ["kubernetes"]});
        object["status"] = json!({"phase": "Active"});
    }
    defaults(object, &version);
    object["metadata"]["resourceVersion"] = json!(version);
    object["metadata"]["managedFields"] = json!(
        stored.owned.keys().map(|m| json!({"manager": m, "operation": "Apply", "apiVersion": api_version, "fieldsType": "FieldsV1"})).collect::<Vec<_>>()
    );
    let answer = stored.object.clone();
    respond(if created { 201 } else { 200 }, &answer)
}

fn delete(
    c: &mut Cluster,
    req: &Incoming,
    resource: &str,
    namespace: &str,
    name: &str,
) -> Response {
    let (options, _) = req.json_body();
    let policy = options["propagationPolicy"].as_str().map(str::to_owned);
    c.deletes
        .push((format!("{resource}/{namespace}/{name}"), policy));
    let k = key(resource, namespace, name);
    let Some(stored) = c.objects.get_mut(&k) else {
        return not_found(resource, name);
    };
    if resource == "namespaces" {
        if stored.terminating.is_none() {
            stored.terminating = Some(TERMINATING_READS);
            stored.object["metadata"]["deletionTimestamp"] = json!("2026-12-03T00:00:01Z");
            stored.object["status"] = json!({"phase": "Terminating"});
        }
        return respond(200, &stored.object);
    }
    // A LoadBalancer Service is held by the service controller's finalizer until its load
    // balancer is gone.
    if resource == "services" && stored.object["spec"]["type"] == "LoadBalancer" {
        if stored.terminating.is_none() {
            stored.terminating = Some(TERMINATING_READS);
            stored.object["metadata"]["deletionTimestamp"] = json!("2026-12-03T00:00:01Z");
            stored.object["metadata"]["finalizers"] = json!([LOAD_BALANCER_CLEANUP]);
        }
        return respond(200, &stored.object);
    }
    // A claim a pod uses is held by `kubernetes.io/pvc-protection` until no pod does
    // (https://kubernetes.io/docs/concepts/storage/persistent-volumes/#storage-object-in-use-protection).
    if resource == "persistentvolumeclaims" && claim_in_use(c, namespace, name) {
        let Some(stored) = c.objects.get_mut(&k) else {
            return not_found(resource, name);
        };
        stored.object["metadata"]["deletionTimestamp"] = json!("2026-12-03T00:00:01Z");
        stored.object["metadata"]["finalizers"] = json!(["kubernetes.io/pvc-protection"]);
        return respond(200, &stored.object);
    }
    let gone = c.objects.remove(&k).map(|s| s.object).unwrap_or_default();
    // The pod's claims being deleted that no other pod uses go now.
    if resource == "pods" {
        let released: Vec<(String, String, String)> = c
            .objects
            .iter()
            .filter(|((r, ns, _), s)| {
                r == "persistentvolumeclaims"
                    && ns == namespace
                    && !s.object["metadata"]["deletionTimestamp"].is_null()
            })
            .map(|(k, _)| k.clone())
            .collect();
        for k in released {
            if !claim_in_use(c, &k.1, &k.2) {
                c.objects.remove(&k);
            }
        }
    }
    respond(200, &gone)
}

/// Whether a pod of `namespace` mounts the claim `name`.
fn claim_in_use(c: &Cluster, namespace: &str, name: &str) -> bool {
    c.objects.iter().any(|((r, ns, _), s)| {
        r == "pods"
            && ns == namespace
            && s.object["spec"]["volumes"]
                .as_array()
                .into_iter()
                .flatten()
                .any(|v| v["persistentVolumeClaim"]["claimName"] == name)
    })
}
