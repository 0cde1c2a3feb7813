//! The ARM resource types of the Azure stack, one file each: `azure.resource_group`,
//! `azure.storage.account`, `azure.storage.blob_container`, `azure.containerregistry.registry`,
//! `azure.containerservice.managed_cluster` (AKS), `azure.authorization.role_assignment`, and
//! `azure.managedidentity.user_assigned_identity` with its `federated_credential`
//! (`managed_identity.rs`).
//!
//! ARM's verbs are the same for every resource (PUT creates or updates the whole resource,
//! GET reads it, DELETE deletes it, long-running ones answer 201/202 with an operation URL), so
//! [`ArmResource`] holds them once and each kind ([`ArmKind`]) says its id, API version, body
//! and outputs. ARM tags take the engine's marks as they are (`stackform:stack-id`, ...); blob
//! containers carry them as metadata (`stackform_*`), role assignments not at all: their name is
//! a UUID derived from the stack's id and the address, so the same assignment is found again by
//! its id.

mod blob_container;
mod container_registry;
mod drain;
mod managed_cluster;
mod managed_identity;
mod resource_group;
mod role_assignment;
mod storage_account;

use std::collections::BTreeMap;
use std::sync::Arc;

use azure_core::http::Method;
use serde_json::Value as Json;
use stackform_engine::base::value::Value;
use stackform_engine::lang::schema::{OutputSchema, PropType, PropertySchema, ResourceSchema};
use stackform_engine::provider::{
    Applied, ErrorKind, OpContext, Outcome, Progress, Props, ProviderError, RecoveryKind, Registry,
    ResourceType, TAG_ADDRESS, TAG_STACK_ID,
};

use super::client::arm::{Answer, Arm, Lro, Step};
use super::client::{Azure, classify};
use crate::props::{required, string, string_map};

/// Registers the ARM types.
pub fn register(registry: &mut Registry, azure: &Arc<Azure>) {
    registry.add(ArmResource::new(resource_group::ResourceGroup, azure));
    registry.add(ArmResource::new(storage_account::StorageAccount, azure));
    registry.add(ArmResource::new(blob_container::BlobContainer, azure));
    registry.add(ArmResource::new(
        container_registry::ContainerRegistry,
        azure,
    ));
    registry.add(ArmResource::new(managed_cluster::ManagedCluster, azure));
    registry.add(ArmResource::new(role_assignment::RoleAssignment, azure));
    registry.add(ArmResource::new(
        managed_identity::UserAssignedIdentity,
        azure,
    ));
    registry.add(ArmResource::new(
        managed_identity::FederatedCredential,
        azure,
    ));
}

/// What one kind of ARM resource says; ARM's verbs are [`ArmResource`]'s.
pub trait ArmKind: Send + Sync + 'static {
    fn schema(&self) -> ResourceSchema;

    /// The `api-version` its calls carry.
    fn api_version(&self) -> &'static str;

    /// The property that names it uniquely.
    fn recovery(&self) -> RecoveryKind {
        RecoveryKind::Name("name")
    }

    /// Its ARM id, from its properties.
    fn id(&self, arm: &Arm, ctx: &OpContext, props: &Props) -> Result<String, ProviderError>;

    /// The PUT body (create and update alike).
    fn body(&self, arm: &Arm, ctx: &OpContext, props: &Props) -> Result<Json, ProviderError>;

    /// Whether it carries ARM tags, which its `tags` property reads back (the user's only).
    fn tagged(&self) -> bool {
        true
    }

    /// Whether its outputs hold its `name`.
    fn named(&self) -> bool {
        true
    }

    /// The marks ARM's answer carries: its tags.
    fn marks_of(&self, body: &Json) -> BTreeMap<String, String> {
        string_fields(&body["tags"])
    }

    /// Whether `marks` make it this stack's resource at this address.
    fn ours(&self, ctx: &OpContext, marks: &BTreeMap<String, String>) -> bool {
        marks.get(TAG_STACK_ID) == Some(&ctx.ownership.stack_id.to_string())
            && marks.get(TAG_ADDRESS) == Some(&ctx.ownership.address)
    }

    /// What ARM's answer adds to the properties and outputs (beyond id, name and tags).
    fn read(
        &self,
        _id: &str,
        _name: &str,
        _body: &Json,
        _properties: &mut Props,
        _outputs: &mut Props,
    ) {
    }

    /// Whether its name must be unique in all of Azure (a conflict then says so).
    fn globally_named(&self) -> bool {
        false
    }

    /// Whether a delete reads it first, for [`ArmKind::deleted_after`].
    fn reads_before_delete(&self) -> bool {
        false
    }

    /// Whether it is a cluster drained through its Kubernetes API before its delete.
    fn drains(&self) -> bool {
        false
    }

    /// A resource group that Azure deletes after this resource, which its delete waits for
    /// (AKS's node resource group).
    fn deleted_after(&self, _id: &str, _body: &Json) -> Option<String> {
        None
    }
}

/// A JSON object's string fields.
pub(super) fn string_fields(v: &Json) -> BTreeMap<String, String> {
    v.as_object()
        .map(|m| {
            m.iter()
                .map(|(k, v)| (k.clone(), v.as_str().unwrap_or_default().to_owned()))
                .collect()
        })
        .unwrap_or_default()
}

pub(super) fn invalid(message: String) -> ProviderError {
    ProviderError::new(ErrorKind::Invalid, message)
}

/// A JSON string's text, empty for anything else.
pub(super) fn text(v: &Json) -> String {
    v.as_str().unwrap_or_default().to_owned()
}

/// The subscription: the resource's, else the provider's, else the connector's, else
/// AZURE_SUBSCRIPTION_ID.
pub(super) fn subscription(
    ctx: &OpContext,
    props: &Props,
    arm: &Arm,
) -> Result<String, ProviderError> {
    string(props, "subscription_id")
        .filter(|s| !s.is_empty())
        .or_else(|| string(&ctx.settings, "subscription_id"))
        .filter(|s| !s.is_empty())
        .or_else(|| arm.subscription.clone())
        .or_else(|| std::env::var("AZURE_SUBSCRIPTION_ID").ok().filter(|s| !s.is_empty()))
        .ok_or_else(|| {
            invalid("no Azure subscription: set `providers.azure.subscription_id` in the template, or AZURE_SUBSCRIPTION_ID".into())
        })
}

pub(super) fn location(ctx: &OpContext, props: &Props) -> Result<String, ProviderError> {
    string(props, "location")
        .or_else(|| string(&ctx.settings, "location"))
        .ok_or_else(|| {
            invalid("no Azure location: set `location` on the resource or `providers.azure.location` in the template".into())
        })
}

/// The id of the resource group a resource names: `/subscriptions/S/resourceGroups/G`.
pub(super) fn group_id(arm: &Arm, ctx: &OpContext, props: &Props) -> Result<String, ProviderError> {
    Ok(format!(
        "/subscriptions/{}/resourceGroups/{}",
        subscription(ctx, props, arm)?,
        required(props, "resource_group")?
    ))
}

/// The user's tags and the engine's marks, as ARM tags.
pub(super) fn tags(ctx: &OpContext, props: &Props) -> BTreeMap<String, String> {
    let mut tags = string_map(props, "tags");
    tags.extend(ctx.ownership.tags());
    tags
}

/// The schema pieces most kinds share.
pub(super) mod schema {
    use super::*;

    pub fn name(what: &str) -> PropertySchema {
        PropertySchema::new("name", PropType::String, what)
            .required()
            .force_new()
    }

    pub fn group() -> PropertySchema {
        PropertySchema::new(
            "resource_group",
            PropType::String,
            "The resource group it lives in.",
        )
        .required()
        .force_new()
    }

    pub fn location() -> PropertySchema {
        PropertySchema::new(
            "location",
            PropType::String,
            "An Azure region such as `westeurope` (default: the provider's `location`).",
        )
        .force_new()
    }

    pub fn subscription() -> PropertySchema {
        PropertySchema::new(
            "subscription_id",
            PropType::String,
            "The subscription (default: the provider's `subscription_id`, else AZURE_SUBSCRIPTION_ID).",
        )
        .force_new()
    }

    pub fn tags() -> PropertySchema {
        PropertySchema::new(
            "tags",
            PropType::map_of(PropType::String),
            "Tags besides stackform's own.",
        )
    }

    pub fn id() -> OutputSchema {
        OutputSchema::new("id", PropType::String, "The ARM resource id.")
    }
}

/// What every kind's file uses.
mod prelude {
    pub use super::ArmKind;
    pub(super) use super::schema;
    pub(super) use super::{group_id, invalid, location, string_fields, subscription, tags, text};
    pub use crate::azure::client::arm::Arm;
    pub use crate::props::{boolean, int, required, string, string_map};
    pub use serde_json::{Value as Json, json};
    pub use stackform_engine::base::value::Value;
    pub use stackform_engine::lang::schema::{
        OutputSchema, Pricing, PropType, PropertySchema, ResourceSchema,
    };
    pub use stackform_engine::provider::{OpContext, Props, ProviderError};
}

/// An ARM resource type: the verbs every kind shares, with what `K` says.
pub struct ArmResource<K> {
    kind: K,
    schema: ResourceSchema,
    azure: Arc<Azure>,
}

impl<K: ArmKind> ArmResource<K> {
    pub fn new(kind: K, azure: &Arc<Azure>) -> Arc<ArmResource<K>> {
        Arc::new(ArmResource {
            schema: kind.schema(),
            kind,
            azure: Arc::clone(azure),
        })
    }

    fn id(&self, arm: &Arm, ctx: &OpContext, props: &Props) -> Result<String, ProviderError> {
        self.kind.id(arm, ctx, props)
    }

    fn path(&self, id: &str) -> String {
        format!("{id}?api-version={}", self.kind.api_version())
    }

    fn body(&self, arm: &Arm, ctx: &OpContext, props: &Props) -> Result<Json, ProviderError> {
        self.kind.body(arm, ctx, props)
    }

    /// The resource as ARM has it, with its marks, or `None`.
    async fn get(&self, arm: &Arm, id: &str) -> Result<Option<Json>, ProviderError> {
        let what = format!("GET {id}");
        let a = arm.call(&what, Method::Get, &self.path(id), None).await?;
        match a.status {
            200..=299 => Ok(Some(a.body)),
            404 => Ok(None),
            _ => Err(classify(&what, &a)),
        }
    }

    fn ours(&self, ctx: &OpContext, body: &Json) -> bool {
        self.kind.ours(ctx, &self.kind.marks_of(body))
    }

    fn applied(&self, id: &str, body: &Json, props: &Props) -> Applied {
        let mut properties = props.clone();
        if self.kind.tagged() {
            let user: BTreeMap<String, String> = self
                .kind
                .marks_of(body)
                .into_iter()
                .filter(|(k, _)| !k.starts_with("stackform:"))
                .collect();
            if !(user.is_empty() && matches!(props.get("tags"), None | Some(Value::Null))) {
                properties.insert(
                    "tags".into(),
                    Value::Map(
                        user.into_iter()
                            .map(|(k, v)| (k, Value::String(v)))
                            .collect(),
                    ),
                );
            }
        }
        let name = body["name"]
            .as_str()
            .map(str::to_owned)
            .unwrap_or_else(|| id.rsplit('/').next().unwrap_or_default().to_owned());
        let mut outputs = Props::from([("id".into(), Value::String(id.to_owned()))]);
        if self.kind.named() {
            outputs.insert("name".into(), Value::String(name.clone()));
        }
        self.kind
            .read(id, &name, body, &mut properties, &mut outputs);
        Applied {
            physical_id: id.to_owned(),
            properties,
            outputs,
        }
    }

    /// PUT the whole resource (create and update alike), then follow what ARM started.
    async fn put(
        &self,
        ctx: &OpContext,
        id: &str,
        props: &Props,
        op: &str,
    ) -> Result<Outcome, ProviderError> {
        let arm = self.azure.arm(ctx).await?;
        let body = self.body(&arm, ctx, props)?;
        let what = format!("PUT {id}");
        let a = arm
            .call(&what, Method::Put, &self.path(id), Some(&body))
            .await?;
        if !(200..300).contains(&a.status) {
            return Err(classify(&what, &a));
        }
        self.after(&arm, id, &a, op, props).await
    }

    /// The cluster's drain (its `n`th pass), then its delete.
    async fn drain_then_delete(
        &self,
        ctx: &OpContext,
        id: &str,
        n: u32,
    ) -> Result<Outcome, ProviderError> {
        drain::then_delete(&self.azure, ctx, id, n, || self.delete_now(ctx, id)).await
    }

    async fn delete_now(&self, ctx: &OpContext, id: &str) -> Result<Outcome, ProviderError> {
        let arm = self.azure.arm(ctx).await?;
        // AKS's node resource group goes after the cluster; learn its name first.
        let wait_group = if self.kind.reads_before_delete() {
            match self.get(&arm, id).await? {
                None => return Ok(Progress::Done(None)),
                Some(b) => self.kind.deleted_after(id, &b),
            }
        } else {
            None
        };
        let what = format!("DELETE {id}");
        let a = arm
            .call(&what, Method::Delete, &self.path(id), None)
            .await?;
        match a.status {
            404 => return Ok(Progress::Done(None)),
            200..=299 => {}
            _ => return Err(classify(&what, &a)),
        }
        if let Some(mut lro) = Lro::started("delete", id, &a) {
            lro.wait_group = wait_group;
            return Ok(lro.pending("delete accepted".into()));
        }
        if let Some(group) = wait_group {
            let lro = Lro {
                op: "delete".into(),
                id: id.to_owned(),
                n: 0,
                url: format!("{}{group}?api-version=2021-04-01", arm.endpoint),
                status_document: false,
                wait_group: Some(group),
            };
            return Ok(lro.pending("waiting for the node resource group".into()));
        }
        Ok(Progress::Done(None))
    }

    /// What an accepted PUT or DELETE answer leads to.
    async fn after(
        &self,
        arm: &Arm,
        id: &str,
        a: &Answer,
        op: &str,
        props: &Props,
    ) -> Result<Outcome, ProviderError> {
        if let Some(lro) = Lro::started(op, id, a) {
            return Ok(lro.pending(format!("{op} accepted")));
        }
        if op == "delete" {
            return Ok(Progress::Done(None));
        }
        // Done at once; some answers carry the resource, but a GET says it as it is stored.
        let body = if a.body.is_object() && a.status != 202 {
            a.body.clone()
        } else {
            self.get(arm, id).await?.ok_or_else(|| {
                ProviderError::new(
                    ErrorKind::OutcomeUnknown,
                    format!("{id} is missing right after its {op}"),
                )
            })?
        };
        Ok(Progress::Done(Some(self.applied(id, &body, props))))
    }
}

#[async_trait::async_trait]
impl<K: ArmKind> ResourceType for ArmResource<K> {
    fn schema(&self) -> &ResourceSchema {
        &self.schema
    }

    fn recovery(&self) -> RecoveryKind {
        self.kind.recovery()
    }

    async fn create(&self, ctx: &OpContext, props: &Props) -> Result<Outcome, ProviderError> {
        let arm = self.azure.arm(ctx).await?;
        let id = self.id(&arm, ctx, props)?;
        // A name already taken: ours (an earlier attempt's) is just updated by the PUT; a
        // stranger's would be taken over, so it is refused instead.
        if let Some(existing) = self.get(&arm, &id).await?
            && !self.ours(ctx, &existing)
        {
            return Err(ProviderError::new(
                ErrorKind::Conflict,
                format!(
                    "{id} exists and is not this stack's: choose another name, or `stackform import` it"
                ),
            ));
        }
        match self.put(ctx, &id, props, "create").await {
            Err(e) if e.kind == ErrorKind::Conflict && self.kind.globally_named() => {
                Err(ProviderError::new(
                    ErrorKind::Conflict,
                    format!(
                        "{}; the name is taken elsewhere in Azure (names are global): choose another, e.g. with `${{stack.suffix}}` in it",
                        e.message
                    ),
                ))
            }
            other => other,
        }
    }

    async fn poll(&self, ctx: &OpContext, token: &str) -> Result<Outcome, ProviderError> {
        match drain::parse(token) {
            Some(drain::Token::Pass(id, n)) => return self.drain_then_delete(ctx, id, n).await,
            Some(drain::Token::Undrained(id)) => return self.delete_now(ctx, id).await,
            None => {}
        }
        let arm = self.azure.arm(ctx).await?;
        let lro = Lro::parse(token)?;
        match arm.step(&lro).await {
            Ok(Step::Running) => return Ok(lro.pending(format!("{} running", lro.op))),
            Ok(Step::Done) => {}
            Err(e) if e.kind == ErrorKind::Retryable => return Ok(lro.pending(e.message)),
            Err(e) => return Err(e),
        }
        if lro.op == "delete" {
            if let Some(group) = &lro.wait_group {
                // AKS deletes its node resource group after the cluster: wait until it is gone.
                let what = format!("GET {group}");
                let a = arm
                    .call(
                        &what,
                        Method::Get,
                        &format!("{group}?api-version=2021-04-01"),
                        None,
                    )
                    .await?;
                if a.status != 404 {
                    let mut waiting = lro.clone();
                    waiting.url = format!("{}{group}?api-version=2021-04-01", arm.endpoint);
                    waiting.status_document = false;
                    waiting.wait_group = Some(group.clone());
                    return Ok(waiting.pending(format!(
                        "waiting for node resource group {group} to be deleted"
                    )));
                }
            }
            return Ok(Progress::Done(None));
        }
        let body = self.get(&arm, &lro.id).await?.ok_or_else(|| {
            ProviderError::new(
                ErrorKind::Other,
                format!("{} is missing after its {} finished", lro.id, lro.op),
            )
        })?;
        Ok(Progress::Done(Some(self.applied(
            &lro.id,
            &body,
            &Props::new(),
        ))))
    }

    async fn read(
        &self,
        ctx: &OpContext,
        id: &str,
        props: &Props,
    ) -> Result<Option<Applied>, ProviderError> {
        let arm = self.azure.arm(ctx).await?;
        Ok(self
            .get(&arm, id)
            .await?
            .map(|b| self.applied(id, &b, props)))
    }

    async fn update(
        &self,
        ctx: &OpContext,
        id: &str,
        _old: &Props,
        new: &Props,
    ) -> Result<Outcome, ProviderError> {
        self.put(ctx, id, new, "update").await
    }

    async fn delete(
        &self,
        ctx: &OpContext,
        id: &str,
        _props: &Props,
    ) -> Result<Outcome, ProviderError> {
        if self.kind.drains() {
            return self.drain_then_delete(ctx, id, 0).await;
        }
        self.delete_now(ctx, id).await
    }

    async fn find(&self, ctx: &OpContext, props: &Props) -> Result<Option<Applied>, ProviderError> {
        let arm = self.azure.arm(ctx).await?;
        let id = self.id(&arm, ctx, props)?;
        // One whose provisioning failed is not adopted: create PUTs it again, which makes ARM
        // provision it again.
        let Some(body) = self
            .get(&arm, &id)
            .await?
            .filter(|b| b["properties"]["provisioningState"] != "Failed")
        else {
            return Ok(None);
        };
        Ok(self
            .ours(ctx, &body)
            .then(|| self.applied(&id, &body, props)))
    }
}
