//! `aws.iam.policy`: a customer-managed policy, detached everywhere and its versions removed before deletion.

use super::prelude::*;
use stackform_engine::lang::schema::Pricing;

pub struct Policy {
    schema: ResourceSchema,
    aws: Arc<Aws>,
}

impl Policy {
    pub fn new(aws: Arc<Aws>) -> Policy {
        let schema = ResourceSchema::new("aws.iam.policy", "A customer-managed IAM policy.")
            .actions(&[
                "iam:CreatePolicy",
                "iam:GetPolicy",
                "iam:GetPolicyVersion",
                "iam:CreatePolicyVersion",
                "iam:ListPolicyVersions",
                "iam:DeletePolicyVersion",
                "iam:ListEntitiesForPolicy",
                "iam:DeletePolicy",
                "iam:TagPolicy",
                "iam:ListPolicyTags",
            ])
            .pricing(Pricing::Free)
            .property(
                PropertySchema::new("name", PropType::String, "The policy's name.")
                    .required()
                    .force_new(),
            )
            .property(
                PropertySchema::new(
                    "document",
                    PropType::Any,
                    "The policy document (map or JSON text).",
                )
                .required(),
            )
            .property(PropertySchema::new(
                "tags",
                PropType::map_of(PropType::String),
                "Tags besides stackform's own.",
            ))
            .output(OutputSchema::new(
                "arn",
                PropType::String,
                "The policy's ARN.",
            ));
        Policy { schema, aws }
    }

    async fn describe(
        &self,
        c: &Clients,
        arn: &str,
        props: &Props,
    ) -> Result<Option<(Applied, BTreeMap<String, String>)>, ProviderError> {
        if unless_missing(
            c.iam.get_policy().policy_arn(arn).send().await,
            "iam:GetPolicy",
            c,
        )?
        .is_none()
        {
            return Ok(None);
        }
        let all_tags: BTreeMap<String, String> = c
            .iam
            .list_policy_tags()
            .policy_arn(arn)
            .send()
            .await
            .map_err(|e| classify(e, "iam:ListPolicyTags", c))?
            .tags()
            .iter()
            .map(|t| (t.key().to_owned(), t.value().to_owned()))
            .collect();
        Ok(Some((
            Applied {
                physical_id: arn.to_owned(),
                properties: with_tags(props, all_tags.clone()),
                outputs: Props::from([("arn".into(), s(arn))]),
            },
            all_tags,
        )))
    }
}

#[async_trait::async_trait]
impl ResourceType for Policy {
    fn schema(&self) -> &ResourceSchema {
        &self.schema
    }

    fn recovery(&self) -> RecoveryKind {
        RecoveryKind::Name("name")
    }

    async fn create(&self, ctx: &OpContext, props: &Props) -> Result<Outcome, ProviderError> {
        let c = self.aws.clients(ctx).await?;
        let name = required(props, "name")?;
        let out = c
            .once
            .iam
            .create_policy()
            .policy_name(&name)
            .policy_document(document(props, "document").unwrap_or_default())
            .set_tags(Some(tag_list(ctx, props)))
            .send()
            .await;
        let arn = match out {
            Ok(out) => out.policy.and_then(|p| p.arn).unwrap_or_default(),
            Err(e) => {
                adopt(classify(e, "iam:CreatePolicy", &c), self.find(ctx, props))
                    .await?
                    .physical_id
            }
        };
        Ok(Progress::Done(
            self.describe(&c, &arn, props).await?.map(|(a, _)| a),
        ))
    }

    async fn read(
        &self,
        ctx: &OpContext,
        id: &str,
        props: &Props,
    ) -> Result<Option<Applied>, ProviderError> {
        let c = self.aws.clients(ctx).await?;
        Ok(self.describe(&c, id, props).await?.map(|(a, _)| a))
    }

    async fn update(
        &self,
        ctx: &OpContext,
        id: &str,
        old: &Props,
        new: &Props,
    ) -> Result<Outcome, ProviderError> {
        let c = self.aws.clients(ctx).await?;
        if document(old, "document") != document(new, "document") {
            // IAM keeps at most five versions: make room by deleting the oldest non-default one.
            let versions = c
                .iam
                .list_policy_versions()
                .policy_arn(id)
                .send()
                .await
                .map_err(|e| classify(e, "iam:ListPolicyVersions", &c))?;
            let mut old_versions: Vec<_> = versions
                .versions()
                .iter()
                .filter(|v| !v.is_default_version())
                .collect();
            old_versions.sort_by_key(|v| v.create_date().map(|d| d.secs()).unwrap_or_default());
            if versions.versions().len() >= 5
                && let Some(oldest) = old_versions.first().and_then(|v| v.version_id())
            {
                gone_is_fine(
                    c.iam
                        .delete_policy_version()
                        .policy_arn(id)
                        .version_id(oldest)
                        .send()
                        .await,
                    "iam:DeletePolicyVersion",
                    &c,
                )?;
            }
            c.iam
                .create_policy_version()
                .policy_arn(id)
                .policy_document(document(new, "document").unwrap_or_default())
                .set_as_default(true)
                .send()
                .await
                .map_err(|e| classify(e, "iam:CreatePolicyVersion", &c))?;
        }
        c.iam
            .tag_policy()
            .policy_arn(id)
            .set_tags(Some(tag_list(ctx, new)))
            .send()
            .await
            .map_err(|e| classify(e, "iam:TagPolicy", &c))?;
        Ok(Progress::Done(
            self.describe(&c, id, new).await?.map(|(a, _)| a),
        ))
    }

    async fn delete(
        &self,
        ctx: &OpContext,
        id: &str,
        _props: &Props,
    ) -> Result<Outcome, ProviderError> {
        let c = self.aws.clients(ctx).await?;
        let Some(entities) = unless_missing(
            c.iam.list_entities_for_policy().policy_arn(id).send().await,
            "iam:ListEntitiesForPolicy",
            &c,
        )?
        else {
            return Ok(Progress::Done(None));
        };
        for r in entities.policy_roles() {
            if let Some(role) = r.role_name() {
                gone_is_fine(
                    c.iam
                        .detach_role_policy()
                        .role_name(role)
                        .policy_arn(id)
                        .send()
                        .await,
                    "iam:DetachRolePolicy",
                    &c,
                )?;
            }
        }
        for u in entities.policy_users() {
            if let Some(user) = u.user_name() {
                gone_is_fine(
                    c.iam
                        .detach_user_policy()
                        .user_name(user)
                        .policy_arn(id)
                        .send()
                        .await,
                    "iam:DetachUserPolicy",
                    &c,
                )?;
            }
        }
        for g in entities.policy_groups() {
            if let Some(group) = g.group_name() {
                gone_is_fine(
                    c.iam
                        .detach_group_policy()
                        .group_name(group)
                        .policy_arn(id)
                        .send()
                        .await,
                    "iam:DetachGroupPolicy",
                    &c,
                )?;
            }
        }
        let versions = c
            .iam
            .list_policy_versions()
            .policy_arn(id)
            .send()
            .await
            .map_err(|e| classify(e, "iam:ListPolicyVersions", &c))?;
        for v in versions
            .versions()
            .iter()
            .filter(|v| !v.is_default_version())
        {
            if let Some(version) = v.version_id() {
                gone_is_fine(
                    c.iam
                        .delete_policy_version()
                        .policy_arn(id)
                        .version_id(version)
                        .send()
                        .await,
                    "iam:DeletePolicyVersion",
                    &c,
                )?;
            }
        }
        deleted(
            c.iam.delete_policy().policy_arn(id).send().await,
            "iam:DeletePolicy",
            &c,
        )
    }

    async fn find(&self, ctx: &OpContext, props: &Props) -> Result<Option<Applied>, ProviderError> {
        let c = self.aws.clients(ctx).await?;
        let name = required(props, "name")?;
        let arn = format!("arn:aws:iam::{}:policy/{name}", c.account().await?);
        let Some((applied, tags)) = self.describe(&c, &arn, props).await? else {
            return Ok(None);
        };
        Ok(owned(ctx, &tags).then_some(applied))
    }
}
