//! Resource types that stackform only ever finds (what Kubernetes made inside a cluster) and
//! deletes: never declared in a template, never created or updated. Each kind (one file each)
//! says how to tell whether one still exists and how to delete it; [`FoundOnly`] makes it a
//! resource type. `leftovers.rs` finds them for a cluster by its tags.
//!
//! The kinds: ELBv2 load balancers, listeners and target groups (their ids are ARNs; listeners
//! go before their load balancers, load balancers before their target groups), classic load
//! balancers (by name), network interfaces left `available` in the stack's subnets, and EBS
//! volumes a cluster's storage driver made (data: kept by `destroy --retain-volumes`).

mod classic_load_balancer;
pub mod leftovers;
mod listener;
mod load_balancer;
mod network_interface;
mod target_group;
mod volume;

pub use classic_load_balancer::ClassicLoadBalancer;
pub use listener::Listener;
pub use load_balancer::LoadBalancer;
pub use network_interface::NetworkInterface;
pub use target_group::TargetGroup;
pub use volume::Volume;

use std::future::Future;
use std::marker::PhantomData;
use std::sync::Arc;

use stackform_engine::lang::schema::ResourceSchema;
use stackform_engine::provider::{
    Applied, ErrorKind, OpContext, Outcome, Progress, Props, ProviderError, ResourceType,
};

use super::{Aws, Clients};

/// What every kind's file uses.
mod prelude {
    pub use super::super::Clients;
    pub use super::super::client::{gone_is_fine, unless_missing};
    pub use super::Kind;
    pub use stackform_engine::lang::schema::{Pricing, PropType, PropertySchema, ResourceSchema};
    pub use stackform_engine::provider::ProviderError;
}

/// One kind of found resource.
pub trait Kind: Send + Sync + 'static {
    fn schema() -> ResourceSchema;
    /// Whether it still exists.
    fn exists(c: &Clients, id: &str) -> impl Future<Output = Result<bool, ProviderError>> + Send;
    /// Deletes it; one already gone is deleted.
    fn remove(c: &Clients, id: &str) -> impl Future<Output = Result<(), ProviderError>> + Send;
}

/// The error for creating or updating a type that is only ever found (a cluster's leftovers).
fn found_only(type_name: &str) -> ProviderError {
    ProviderError::new(
        ErrorKind::Invalid,
        format!(
            "{type_name} is never created by stackform: it is found by its cluster's tags and deleted"
        ),
    )
}

pub struct FoundOnly<K> {
    schema: ResourceSchema,
    aws: Arc<Aws>,
    kind: PhantomData<K>,
}

impl<K: Kind> FoundOnly<K> {
    pub fn new(aws: Arc<Aws>) -> FoundOnly<K> {
        FoundOnly {
            schema: K::schema().found_only(),
            aws,
            kind: PhantomData,
        }
    }
}

#[async_trait::async_trait]
impl<K: Kind> ResourceType for FoundOnly<K> {
    fn schema(&self) -> &ResourceSchema {
        &self.schema
    }

    async fn create(&self, _ctx: &OpContext, _props: &Props) -> Result<Outcome, ProviderError> {
        Err(found_only(&self.schema.type_name))
    }

    async fn read(
        &self,
        ctx: &OpContext,
        id: &str,
        props: &Props,
    ) -> Result<Option<Applied>, ProviderError> {
        let c = self.aws.clients(ctx).await?;
        Ok(K::exists(&c, id).await?.then(|| Applied {
            physical_id: id.to_owned(),
            properties: props.clone(),
            outputs: Props::new(),
        }))
    }

    async fn update(
        &self,
        _ctx: &OpContext,
        _id: &str,
        _old: &Props,
        _new: &Props,
    ) -> Result<Outcome, ProviderError> {
        Err(found_only(&self.schema.type_name))
    }

    async fn delete(
        &self,
        ctx: &OpContext,
        id: &str,
        _props: &Props,
    ) -> Result<Outcome, ProviderError> {
        let c = self.aws.clients(ctx).await?;
        K::remove(&c, id).await?;
        Ok(Progress::Done(None))
    }

    async fn find(
        &self,
        _ctx: &OpContext,
        _props: &Props,
    ) -> Result<Option<Applied>, ProviderError> {
        Ok(None)
    }
}
