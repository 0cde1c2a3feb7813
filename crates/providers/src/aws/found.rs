//! Resource types that stackform only ever finds (what Kubernetes made inside a cluster) and
//! deletes: never declared in a template, never created or updated. Each kind says how to tell
//! whether one still exists and how to delete it; [`FoundOnly`] makes it a resource type.

use std::future::Future;
use std::marker::PhantomData;
use std::sync::Arc;

use stackform_engine::lang::schema::ResourceSchema;
use stackform_engine::provider::{
    Applied, OpContext, Outcome, Progress, Props, ProviderError, ResourceType,
};

use super::util::found_only;
use super::{Aws, Clients};

/// One kind of found resource.
pub trait Kind: Send + Sync + 'static {
    fn schema() -> ResourceSchema;
    /// Whether it still exists.
    fn exists(c: &Clients, id: &str) -> impl Future<Output = Result<bool, ProviderError>> + Send;
    /// Deletes it; one already gone is deleted.
    fn remove(c: &Clients, id: &str) -> impl Future<Output = Result<(), ProviderError>> + Send;
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
