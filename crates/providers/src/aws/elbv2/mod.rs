//! ELBv2 objects the AWS Load Balancer Controller (or the in-tree service controller) made for a
//! cluster: `aws.elbv2.load_balancer`, `aws.elbv2.listener` and `aws.elbv2.target_group`, one
//! file each. stackform never declares them; destroy finds them by the cluster's tags and
//! deletes them, listeners before load balancers before target groups. Their ids are ARNs.

mod listener;
mod load_balancer;
mod target_group;

pub use listener::Listener;
pub use load_balancer::LoadBalancer;
pub use target_group::TargetGroup;

/// What every file of this module uses.
mod prelude {
    pub use super::super::Clients;
    pub use super::super::error::{classify, is_not_found};
    pub use super::super::found::Kind;
    pub use stackform_engine::lang::schema::{PropType, PropertySchema, ResourceSchema};
    pub use stackform_engine::provider::ProviderError;
}
