//! `gcp.project.iam_member`: project roles granted to one member (a stack's service account);
//! `gcp.iam.service_account_iam_member`: roles on one service account granted to one member
//! (`roles/iam.workloadIdentityUser` to a Kubernetes service account, so that pods act as it).
//!
//! A project, like a service account, has one IAM policy that everyone edits, so each change
//! reads the policy, adds or removes just this member from just these roles, and writes it back
//! with the etag it read: a concurrent change elsewhere makes the write fail with ABORTED (409),
//! and the whole read-modify-write is retried. Bindings with conditions are left as they are.

use std::collections::BTreeSet;
use std::sync::Arc;

use google_cloud_iam_v1::model::{Binding, GetPolicyOptions, Policy};
use stackform_engine::base::value::Value;
use stackform_engine::lang::schema::{
    OutputSchema, Pricing, PropType, PropertySchema, ResourceSchema,
};
use stackform_engine::provider::{
    Applied, ErrorKind, OpContext, Outcome, Progress, Props, ProviderError, RecoveryKind,
    ResourceType,
};

use super::client::Gcp;
use super::client::api::Apis;
use super::client::{self, classify};
use crate::props::{required, strings};

/// Whose IAM policy a member is added to.
#[derive(Clone, Copy)]
enum Scope {
    /// `projects/P`, through Resource Manager v3.
    Project,
    /// `projects/-/serviceAccounts/EMAIL`, through IAM v1.
    ServiceAccount,
}

pub struct IamMember {
    schema: ResourceSchema,
    gcp: Arc<Gcp>,
    scope: Scope,
}

impl IamMember {
    /// `gcp.iam.service_account_iam_member`.
    pub fn on_service_account(gcp: Arc<Gcp>) -> IamMember {
        let schema = ResourceSchema::new(
            "gcp.iam.service_account_iam_member",
            "Roles on a service account granted to one member (added to and removed from the account's IAM policy): `roles/iam.workloadIdentityUser` to `serviceAccount:PROJECT.svc.id.goog[NAMESPACE/KSA]` lets that Kubernetes service account's pods act as it.",
        )
        .actions(&[
            "iam.serviceAccounts.getIamPolicy",
            "iam.serviceAccounts.setIamPolicy",
        ])
        .property(
            PropertySchema::new(
                "service_account",
                PropType::String,
                "The service account's email.",
            )
            .required()
            .force_new(),
        );
        IamMember {
            schema: with_member(
                schema,
                "`serviceAccount:PROJECT.svc.id.goog[NAMESPACE/KSA]` (a GKE workload identity), `serviceAccount:EMAIL`, `user:EMAIL`, `group:EMAIL`",
                "`roles/iam.workloadIdentityUser`",
            ),
            gcp,
            scope: Scope::ServiceAccount,
        }
    }

    /// `gcp.project.iam_member`.
    pub fn on_project(gcp: Arc<Gcp>) -> IamMember {
        let schema = ResourceSchema::new(
            "gcp.project.iam_member",
            "Project roles granted to one member (added to and removed from the project's IAM policy).",
        )
        .actions(&[
            "resourcemanager.projects.getIamPolicy",
            "resourcemanager.projects.setIamPolicy",
        ])
        .property(
            PropertySchema::new(
                "project",
                PropType::String,
                "The project (default: the provider's `project`, else GOOGLE_CLOUD_PROJECT).",
            )
            .force_new(),
        );
        IamMember {
            schema: with_member(
                schema,
                "`serviceAccount:EMAIL`, `user:EMAIL`, `group:EMAIL`",
                "`roles/storage.objectUser`",
            ),
            gcp,
            scope: Scope::Project,
        }
    }

    /// The resource whose policy `props` name: `projects/P` or `projects/-/serviceAccounts/E`.
    fn resource(&self, ctx: &OpContext, props: &Props) -> Result<String, ProviderError> {
        Ok(match self.scope {
            Scope::Project => format!("projects/{}", client::project(ctx, props)?),
            Scope::ServiceAccount => format!(
                "projects/-/serviceAccounts/{}",
                required(props, "service_account")?
            ),
        })
    }

    async fn policy(&self, apis: &Apis, resource: &str) -> Result<Policy, ProviderError> {
        let options = GetPolicyOptions::new().set_requested_policy_version(3);
        match self.scope {
            Scope::Project => apis
                .projects()
                .await?
                .get_iam_policy()
                .set_resource(resource)
                .set_options(options)
                .send()
                .await
                .map_err(|e| {
                    classify(
                        e,
                        &format!("resourcemanager.projects.getIamPolicy {resource}"),
                    )
                }),
            Scope::ServiceAccount => apis
                .iam()
                .await?
                .get_iam_policy()
                .set_resource(resource)
                .set_options(options)
                .send()
                .await
                .map_err(|e| classify(e, &format!("iam.serviceAccounts.getIamPolicy {resource}"))),
        }
    }

    async fn set_policy(
        &self,
        apis: &Apis,
        resource: &str,
        policy: Policy,
    ) -> Result<(), ProviderError> {
        let result = match self.scope {
            Scope::Project => apis
                .projects()
                .await?
                .set_iam_policy()
                .set_resource(resource)
                .set_policy(policy)
                .send()
                .await
                .map_err(|e| {
                    classify(
                        e,
                        &format!("resourcemanager.projects.setIamPolicy {resource}"),
                    )
                }),
            Scope::ServiceAccount => apis
                .iam()
                .await?
                .set_iam_policy()
                .set_resource(resource)
                .set_policy(policy)
                .send()
                .await
                .map_err(|e| classify(e, &format!("iam.serviceAccounts.setIamPolicy {resource}"))),
        };
        result.map(|_| ()).map_err(|err| {
            // ABORTED: someone changed the policy since it was read; read it again.
            if err.kind == ErrorKind::Conflict {
                return ProviderError::new(ErrorKind::Retryable, err.message);
            }
            err
        })
    }

    /// Grants `add` and revokes `remove` for `member`, under the policy's etag.
    async fn change(
        &self,
        apis: &Apis,
        resource: &str,
        member: &str,
        add: &BTreeSet<String>,
        remove: &BTreeSet<String>,
    ) -> Result<(), ProviderError> {
        let mut policy = self.policy(apis, resource).await?;
        let mut missing = add.clone();
        for b in policy.bindings.iter_mut().filter(|b| b.condition.is_none()) {
            if remove.contains(&b.role) && !add.contains(&b.role) {
                b.members.retain(|m| m != member);
            }
            if add.contains(&b.role) {
                missing.remove(&b.role);
                if !b.members.iter().any(|m| m == member) {
                    b.members.push(member.to_owned());
                }
            }
        }
        for role in missing {
            policy.bindings.push(
                Binding::new()
                    .set_role(role)
                    .set_members([member.to_owned()]),
            );
        }
        policy.bindings.retain(|b| !b.members.is_empty());
        self.set_policy(apis, resource, policy).await
    }

    async fn held(
        &self,
        apis: &Apis,
        resource: &str,
        member: &str,
        asked: &[String],
    ) -> Result<Vec<String>, ProviderError> {
        let policy = self.policy(apis, resource).await?;
        Ok(asked
            .iter()
            .filter(|role| {
                policy.bindings.iter().any(|b| {
                    b.condition.is_none()
                        && &b.role == *role
                        && b.members.iter().any(|m| m == member)
                })
            })
            .cloned()
            .collect())
    }

    fn applied(resource: &str, member: &str, props: &Props, held: Vec<String>) -> Applied {
        let mut properties = props.clone();
        properties.insert(
            "roles".into(),
            Value::List(held.iter().cloned().map(Value::String).collect()),
        );
        Applied {
            physical_id: format!("{resource}/members/{member}"),
            properties,
            outputs: Props::from([(
                "roles".into(),
                Value::List(held.into_iter().map(Value::String).collect()),
            )]),
        }
    }
}

/// What both scopes' members have: who, which roles, which of those are held.
fn with_member(schema: ResourceSchema, members: &str, role: &str) -> ResourceSchema {
    schema
        .pricing(Pricing::Free)
        .property(
            PropertySchema::new("member", PropType::String, &format!("Who: {members}."))
                .required()
                .force_new(),
        )
        .property(
            PropertySchema::new(
                "roles",
                PropType::list_of(PropType::String),
                &format!("The roles granted ({role}, ...)."),
            )
            .required(),
        )
        .output(OutputSchema::new(
            "roles",
            PropType::list_of(PropType::String),
            "The roles the member holds of those asked for.",
        ))
}

/// `RESOURCE/members/MEMBER` (`projects/P/members/M`, `projects/-/serviceAccounts/E/members/M`)
/// into its parts; a member may hold a `/` (`...svc.id.goog[ns/ksa]`), a resource never holds
/// `/members/`.
fn parse(id: &str) -> Result<(&str, &str), ProviderError> {
    id.split_once("/members/")
        .filter(|(resource, _)| resource.starts_with("projects/"))
        .ok_or_else(|| {
            ProviderError::new(
                ErrorKind::Invalid,
                format!("`{id}` is not an IAM member id (RESOURCE/members/MEMBER)"),
            )
        })
}

#[async_trait::async_trait]
impl ResourceType for IamMember {
    fn schema(&self) -> &ResourceSchema {
        &self.schema
    }

    /// Adding a member to a role twice is harmless: the binding is its own recovery key.
    fn recovery(&self) -> RecoveryKind {
        RecoveryKind::Name("member")
    }

    async fn create(&self, ctx: &OpContext, props: &Props) -> Result<Outcome, ProviderError> {
        let apis = self.gcp.apis(ctx).await?;
        let resource = self.resource(ctx, props)?;
        let member = required(props, "member")?;
        let roles = strings(props, "roles");
        self.change(
            &apis,
            &resource,
            &member,
            &roles.iter().cloned().collect(),
            &BTreeSet::new(),
        )
        .await?;
        let held = self.held(&apis, &resource, &member, &roles).await?;
        Ok(Progress::Done(Some(Self::applied(
            &resource, &member, props, held,
        ))))
    }

    async fn read(
        &self,
        ctx: &OpContext,
        id: &str,
        props: &Props,
    ) -> Result<Option<Applied>, ProviderError> {
        let apis = self.gcp.apis(ctx).await?;
        let (project, member) = parse(id)?;
        let held = self
            .held(&apis, project, member, &strings(props, "roles"))
            .await?;
        if held.is_empty() {
            return Ok(None);
        }
        Ok(Some(Self::applied(project, member, props, held)))
    }

    async fn update(
        &self,
        ctx: &OpContext,
        id: &str,
        old: &Props,
        new: &Props,
    ) -> Result<Outcome, ProviderError> {
        let apis = self.gcp.apis(ctx).await?;
        let (project, member) = parse(id)?;
        let wanted: BTreeSet<String> = strings(new, "roles").into_iter().collect();
        let before: BTreeSet<String> = strings(old, "roles").into_iter().collect();
        let gone: BTreeSet<String> = before.difference(&wanted).cloned().collect();
        self.change(&apis, project, member, &wanted, &gone).await?;
        let held = self
            .held(&apis, project, member, &strings(new, "roles"))
            .await?;
        Ok(Progress::Done(Some(Self::applied(
            project, member, new, held,
        ))))
    }

    async fn delete(
        &self,
        ctx: &OpContext,
        id: &str,
        props: &Props,
    ) -> Result<Outcome, ProviderError> {
        let apis = self.gcp.apis(ctx).await?;
        let (project, member) = parse(id)?;
        let roles: BTreeSet<String> = strings(props, "roles").into_iter().collect();
        self.change(&apis, project, member, &BTreeSet::new(), &roles)
            .await?;
        Ok(Progress::Done(None))
    }

    async fn find(&self, ctx: &OpContext, props: &Props) -> Result<Option<Applied>, ProviderError> {
        let apis = self.gcp.apis(ctx).await?;
        let resource = self.resource(ctx, props)?;
        let member = required(props, "member")?;
        let roles = strings(props, "roles");
        let held = self.held(&apis, &resource, &member, &roles).await?;
        if held.is_empty() {
            return Ok(None);
        }
        Ok(Some(Self::applied(&resource, &member, props, held)))
    }
}
