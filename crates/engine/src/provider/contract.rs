//! The provider contract: what a resource type must do for the executor, in engine-owned types,
//! and the `Registry` of a build's types, data sources, inventories and connector kinds.
//!
//! A resource type creates, reads, updates and deletes one kind of cloud object. Two rules make
//! crash safety possible. First, every type declares a *recovery key* (a name it chooses, a
//! client token, or ownership tags applied inside the create call), recorded in the state before
//! the create starts, so a create interrupted by a crash or a lost connection can be resolved by
//! looking the resource up, never by creating it twice. Second, errors are classified, so the
//! executor knows what to retry, what is already done and what needs a lookup first.
//! Long operations answer [`Progress::Pending`] and are polled later without holding an executor
//! slot.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::base::value::Value;
use crate::lang::schema::{Catalog, ResourceSchema};

/// Properties or outputs by name.
pub type Props = BTreeMap<String, Value>;

/// Tag keys every resource stackform creates carries (each cloud encodes them its own way).
pub const TAG_STACK: &str = "stackform:stack";
pub const TAG_STACK_ID: &str = "stackform:stack-id";
pub const TAG_ADDRESS: &str = "stackform:address";
/// When a stack with a TTL may be reaped (RFC 3339, UTC).
pub const TAG_EXPIRES_AT: &str = "stackform:expires-at";

/// Who owns a resource: the marks applied to it at creation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Ownership {
    pub stack: String,
    pub stack_id: Uuid,
    pub address: String,
    /// The stack's random suffix: not a tag, but the mark left in names the template builds with
    /// `${stack.suffix}`, for resources found before they could be tagged.
    #[serde(default)]
    pub suffix: String,
    /// The stack's expiry (`deploy --ttl`), RFC 3339.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expires_at: Option<String>,
}

impl Ownership {
    pub fn tags(&self) -> BTreeMap<String, String> {
        let mut tags = BTreeMap::from([
            (TAG_STACK.to_owned(), self.stack.clone()),
            (TAG_STACK_ID.to_owned(), self.stack_id.to_string()),
            (TAG_ADDRESS.to_owned(), self.address.clone()),
        ]);
        if let Some(at) = &self.expires_at {
            tags.insert(TAG_EXPIRES_AT.to_owned(), at.clone());
        }
        tags
    }
}

/// How a type finds a resource again after an interrupted create.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RecoveryKind {
    /// The value of this property names the resource uniquely.
    Name(&'static str),
    /// The create call takes an idempotency token.
    Token,
    /// Ownership tags are applied inside the create call.
    Tags,
}

/// The concrete key recorded with a create intent.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum RecoveryKey {
    Name { name: String },
    Token { token: String },
    Tags,
}

/// What an operation knows about where and for whom it runs.
#[derive(Debug, Clone)]
pub struct OpContext {
    pub ownership: Ownership,
    pub recovery: RecoveryKey,
    /// The stack's own directory, for providers that keep local files.
    pub stack_dir: PathBuf,
    /// The template's `providers.<provider>` settings (region, connector, ...), evaluated.
    pub settings: Props,
    /// Physical ids of what this run deletes for good (not to make it again): a node pool's
    /// delete drains its cluster through the Kubernetes API only when the cluster goes too,
    /// never when the pool alone is replaced under a cluster that keeps running.
    pub deleting: std::sync::Arc<std::collections::BTreeSet<String>>,
}

/// A resource as the cloud reports it.
#[derive(Debug, Clone, PartialEq)]
pub struct Applied {
    pub physical_id: String,
    pub properties: Props,
    pub outputs: Props,
}

/// Finished, or still running in the cloud: poll again after `after` with `token`.
#[derive(Debug, Clone, PartialEq)]
pub enum Progress<T> {
    Done(T),
    Pending {
        token: String,
        after: Duration,
        note: String,
    },
}

/// The result of create and update (`Some`) and delete (`None`).
pub type Outcome = Progress<Option<Applied>>;

/// How an error must be handled.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorKind {
    /// Throttling, 5xx, eventual consistency: try again after a backoff.
    Retryable,
    NotFound,
    /// Already exists, or in use by something else.
    Conflict,
    /// The credentials may not do this.
    Permission,
    /// The request is wrong; retrying will not help.
    Invalid,
    /// The request may or may not have been applied (connection lost after sending).
    OutcomeUnknown,
    Other,
}

#[derive(Debug, Clone, thiserror::Error, PartialEq)]
#[error("{message}")]
pub struct ProviderError {
    pub kind: ErrorKind,
    pub message: String,
    /// The cloud's request id, for support tickets and logs.
    pub request_id: Option<String>,
}

impl ProviderError {
    pub fn new(kind: ErrorKind, message: impl Into<String>) -> ProviderError {
        ProviderError {
            kind,
            message: message.into(),
            request_id: None,
        }
    }

    pub fn with_request_id(mut self, id: impl Into<String>) -> Self {
        self.request_id = Some(id.into());
        self
    }
}

/// One kind of resource.
#[async_trait::async_trait]
pub trait ResourceType: Send + Sync {
    fn schema(&self) -> &ResourceSchema;

    fn recovery(&self) -> RecoveryKind {
        RecoveryKind::Tags
    }

    /// How long one operation on a resource with `props` usually takes, for the executor's
    /// schedule (the longest chain of expected durations starts first). The default is the
    /// schema's `expected_duration`; a type whose duration depends on the resource says so here.
    fn expected_duration(&self, _props: &Props) -> Option<std::time::Duration> {
        self.schema().expected_duration
    }

    async fn create(&self, ctx: &OpContext, props: &Props) -> Result<Outcome, ProviderError>;

    /// The resource as it is now; `None` when it is gone.
    async fn read(
        &self,
        ctx: &OpContext,
        physical_id: &str,
        props: &Props,
    ) -> Result<Option<Applied>, ProviderError>;

    async fn update(
        &self,
        ctx: &OpContext,
        physical_id: &str,
        old: &Props,
        new: &Props,
    ) -> Result<Outcome, ProviderError>;

    /// Deleting something already gone succeeds.
    async fn delete(
        &self,
        ctx: &OpContext,
        physical_id: &str,
        props: &Props,
    ) -> Result<Outcome, ProviderError>;

    /// Continues a pending operation.
    async fn poll(&self, _ctx: &OpContext, token: &str) -> Result<Outcome, ProviderError> {
        Err(ProviderError::new(
            ErrorKind::Invalid,
            format!(
                "{} does not run long operations (token {token})",
                self.schema().type_name
            ),
        ))
    }

    /// Looks a resource up by the recovery key in `ctx` (and its ownership tags).
    async fn find(&self, ctx: &OpContext, props: &Props) -> Result<Option<Applied>, ProviderError>;

    /// Whether `read_many` reads many resources in fewer requests than one each (a list or
    /// describe call that takes many ids): refresh then reads this type in bulk.
    fn reads_in_bulk(&self) -> bool {
        false
    }

    /// Reads many resources of this type (by physical id, with their recorded properties), in
    /// the order given. The default reads one at a time.
    async fn read_many(
        &self,
        ctx: &OpContext,
        items: &[(String, Props)],
    ) -> Result<Vec<Option<Applied>>, ProviderError> {
        let mut out = Vec::with_capacity(items.len());
        for (id, props) in items {
            out.push(self.read(ctx, id, props).await?);
        }
        Ok(out)
    }

    /// What the cloud made for this resource behind stackform's back and no state records (the
    /// load balancers, security groups, interfaces and volumes Kubernetes makes inside a cluster):
    /// deleted after this resource, so nothing recreates them, and before what it depends on,
    /// which they would otherwise block. Found by the resource's own marks (its cluster's tags),
    /// never by guessing: anything without them is never returned for deletion.
    async fn leftovers(
        &self,
        _ctx: &OpContext,
        _resource: Recorded<'_>,
    ) -> Result<Vec<Leftover>, ProviderError> {
        Ok(Vec::new())
    }
}

/// What a provider is shown of a resource's record: the identifier and the values last written.
/// A borrowed view rather than the state file's own type, so that the contract does not depend
/// on how the state is stored.
#[derive(Debug, Clone, Copy)]
pub struct Recorded<'a> {
    pub physical_id: &'a str,
    pub properties: &'a Props,
    pub outputs: &'a Props,
}

/// Something a resource left in the cloud that no state records, found by its marks.
#[derive(Debug, Clone, PartialEq)]
pub struct Leftover {
    /// Unique among one owner's leftovers, e.g. `load_balancer/k8s-web-1a2b`.
    pub key: String,
    /// A registered type that can delete it (`aws.elbv2.load_balancer`, ...).
    pub type_name: String,
    pub physical_id: String,
    /// What delete needs and a plan shows.
    pub properties: Props,
    /// How it was found, for plans: `tag kubernetes.io/cluster/NAME`.
    pub found_by: String,
    /// Keys of the same owner's leftovers that can go only once this one is gone (a load
    /// balancer before its target groups and security groups).
    pub before: Vec<String>,
    /// It sits in the owner's network (subnets, security groups), which can go only after it.
    pub in_network: bool,
    /// Its place in deletion order when there is no state to go by (see [`Found::rank`]).
    pub rank: u32,
    pub disposition: Disposition,
}

/// What destroy does with a leftover.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Disposition {
    Delete,
    /// Data (a volume): deleted unless the caller asked to retain data.
    Data,
    /// Possibly the owner's, but not marked as such: reported, never deleted.
    Report(String),
}

/// Which stack's marks to look for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Marks {
    StackId(Uuid),
    StackName(String),
    /// Every stack with a TTL: resources tagged `stackform:expires-at`, whatever the value.
    Expiring,
}

impl Marks {
    /// The tag that carries these marks, and the value it must have (any, if `None`).
    pub fn tag(&self) -> (&'static str, Option<String>) {
        match self {
            Marks::StackId(id) => (TAG_STACK_ID, Some(id.to_string())),
            Marks::StackName(name) => (TAG_STACK, Some(name.clone())),
            Marks::Expiring => (TAG_EXPIRES_AT, None),
        }
    }

    /// Whether a resource's tags carry these marks.
    pub fn matches(&self, tags: &BTreeMap<String, String>) -> bool {
        let (key, value) = self.tag();
        match (tags.get(key), value) {
            (Some(v), Some(want)) => *v == want,
            (Some(_), None) => true,
            (None, _) => false,
        }
    }
}

/// A resource found in the cloud by its ownership tags, confirmed by its own service.
#[derive(Debug, Clone, PartialEq)]
pub struct Found {
    pub type_name: String,
    pub physical_id: String,
    /// What a person recognises it by (an ARN where there is one).
    pub label: String,
    /// The resource's own tags: `stackform:stack`, `stackform:stack-id`, `stackform:address`.
    pub tags: BTreeMap<String, String>,
    /// What delete needs (`force_destroy` for a bucket found with no state to say so).
    pub properties: Props,
    pub outputs: Props,
    /// Deletion order when no state records dependencies: lower ranks go first (node groups
    /// before clusters, clusters before subnets, subnets before the VPC).
    pub rank: u32,
}

/// A provider's view of everything that carries a stack's marks: for the census after destroy
/// and for `sweep` when the state is lost.
#[async_trait::async_trait]
pub trait Inventory: Send + Sync {
    /// Every resource carrying `marks` where `settings` point (a region) and in the global
    /// services, each confirmed by its own service: listing APIs can show a resource for a
    /// while after it is deleted. With `kinds`, services that hold none of those types need
    /// not be listed (a census knows what the stack had; a sweep does not).
    async fn owned(
        &self,
        settings: &Props,
        marks: &Marks,
        kinds: Option<&std::collections::BTreeSet<String>>,
    ) -> Result<Vec<Found>, ProviderError>;
}

/// A read-only lookup.
#[async_trait::async_trait]
pub trait DataSource: Send + Sync {
    fn schema(&self) -> &ResourceSchema;
    /// Reads with the provider's `settings` (region, ...) and the data source's properties.
    async fn read(&self, settings: &Props, props: &Props) -> Result<Props, ProviderError>;
}

/// Every resource type and data source of this build, and how many operations each provider
/// may run at once.
#[derive(Clone, Default)]
pub struct Registry {
    types: BTreeMap<String, Arc<dyn ResourceType>>,
    data: BTreeMap<String, Arc<dyn DataSource>>,
    limits: BTreeMap<String, usize>,
    durations: BTreeMap<String, std::time::Duration>,
    inventories: BTreeMap<String, Arc<dyn Inventory>>,
    prices: BTreeMap<String, crate::provider::PriceTable>,
    flavors: Vec<crate::lang::schema::FlavorSchema>,
    /// In the order they were added (which is the order messages list them in).
    connector_kinds: Vec<Arc<dyn crate::provider::ConnectorKind>>,
}

impl Registry {
    pub fn new() -> Registry {
        Registry::default()
    }

    pub fn add(&mut self, t: Arc<dyn ResourceType>) {
        self.types.insert(t.schema().type_name.clone(), t);
    }

    pub fn add_data(&mut self, d: Arc<dyn DataSource>) {
        self.data.insert(d.schema().type_name.clone(), d);
    }

    /// A component flavor whose configuration is checked at plan time (from an integration).
    pub fn add_flavor(&mut self, f: crate::lang::schema::FlavorSchema) {
        self.flavors.push(f);
    }

    /// At most `limit` operations of `provider` in flight at once (cloud API rate limits).
    pub fn set_limit(&mut self, provider: &str, limit: usize) {
        self.limits.insert(provider.to_owned(), limit.max(1));
    }

    pub fn limit(&self, provider: &str) -> Option<usize> {
        self.limits.get(provider).copied()
    }

    /// One operation of `type_name` usually takes about `d`, when the type itself does not say
    /// (see [`ResourceType::expected_duration`]).
    pub fn set_expected_duration(&mut self, type_name: &str, d: std::time::Duration) {
        self.durations.insert(type_name.to_owned(), d);
    }

    /// How long one operation on a resource of `type_name` with `props` usually takes: what the
    /// type says, else what was set for it here; `None` when nobody knows.
    pub fn expected_duration(&self, type_name: &str, props: &Props) -> Option<std::time::Duration> {
        self.types
            .get(type_name)
            .and_then(|t| t.expected_duration(props))
            .or_else(|| self.durations.get(type_name).copied())
    }

    /// `provider`'s list prices, for cost estimates.
    pub fn set_prices(&mut self, provider: &str, table: crate::provider::PriceTable) {
        self.prices.insert(provider.to_owned(), table);
    }

    pub fn prices(&self, provider: &str) -> Option<&crate::provider::PriceTable> {
        self.prices.get(provider)
    }

    /// The census of `provider`'s resources by ownership tags.
    pub fn add_inventory(&mut self, provider: &str, inventory: Arc<dyn Inventory>) {
        self.inventories.insert(provider.to_owned(), inventory);
    }

    pub fn inventories(&self) -> impl Iterator<Item = (&str, &Arc<dyn Inventory>)> {
        self.inventories.iter().map(|(p, i)| (p.as_str(), i))
    }

    /// A kind of service connector; one named like a kind added before replaces it.
    pub fn add_connector_kind(&mut self, kind: Arc<dyn crate::provider::ConnectorKind>) {
        match self
            .connector_kinds
            .iter_mut()
            .find(|k| k.name() == kind.name())
        {
            Some(slot) => *slot = kind,
            None => self.connector_kinds.push(kind),
        }
    }

    /// The connector kind named `name` (a connector's type).
    pub fn connector_kind(&self, name: &str) -> Option<&Arc<dyn crate::provider::ConnectorKind>> {
        self.connector_kinds.iter().find(|k| k.name() == name)
    }

    /// Every connector kind, in the order they were added.
    pub fn connector_kinds(
        &self,
    ) -> impl Iterator<Item = &Arc<dyn crate::provider::ConnectorKind>> {
        self.connector_kinds.iter()
    }

    pub fn resource(&self, type_name: &str) -> Option<&Arc<dyn ResourceType>> {
        self.types.get(type_name)
    }

    pub fn data_source(&self, type_name: &str) -> Option<&Arc<dyn DataSource>> {
        self.data.get(type_name)
    }

    pub fn catalog(&self) -> Catalog {
        let mut c = Catalog::new();
        for t in self.types.values() {
            c.add_resource(t.schema().clone());
        }
        for d in self.data.values() {
            c.add_data(d.schema().clone());
        }
        for f in &self.flavors {
            c.add_flavor(f.clone());
        }
        c
    }
}

/// The provider part of a type name (`aws` in `aws.s3.bucket`).
pub fn provider_of(type_name: &str) -> &str {
    type_name.split('.').next().unwrap_or(type_name)
}
