//! `aws.iam.role`: trust policy, managed and inline policies, deleted in the order IAM demands.

use super::prelude::*;
use stackform_engine::lang::schema::Pricing;

pub struct Role {
    schema: ResourceSchema,
    aws: Arc<Aws>,
}

impl Role {
    pub fn new(aws: Arc<Aws>) -> Role {
        let schema = ResourceSchema::new("aws.iam.role", "An IAM role.")
            .actions(&[
                "iam:CreateRole",
                "iam:GetRole",
                "iam:ListRoleTags",
                "iam:TagRole",
                "iam:UntagRole",
                "iam:UpdateAssumeRolePolicy",
                "iam:AttachRolePolicy",
                "iam:DetachRolePolicy",
                "iam:ListAttachedRolePolicies",
                "iam:PutRolePolicy",
                "iam:GetRolePolicy",
                "iam:DeleteRolePolicy",
                "iam:ListRolePolicies",
                "iam:ListInstanceProfilesForRole",
                "iam:RemoveRoleFromInstanceProfile",
                "iam:DeleteRole",
                "iam:PassRole",
            ])
            .pricing(Pricing::Free)
            .property(
                PropertySchema::new("name", PropType::String, "The role's name.")
                    .required()
                    .force_new(),
            )
            .property(
                PropertySchema::new(
                    "assume_role_policy",
                    PropType::Any,
                    "Who may assume the role: a policy document (map or JSON text).",
                )
                .required(),
            )
            .property(PropertySchema::new(
                "managed_policy_arns",
                PropType::list_of(PropType::String),
                "Managed policies attached to the role.",
            ))
            .property(PropertySchema::new(
                "inline_policies",
                PropType::map_of(PropType::Any),
                "Inline policies by name (map or JSON text).",
            ))
            .property(PropertySchema::new(
                "tags",
                PropType::map_of(PropType::String),
                "Tags besides stackform's own.",
            ))
            .output(OutputSchema::new(
                "arn",
                PropType::String,
                "The role's ARN.",
            ))
            .output(OutputSchema::new(
                "role_id",
                PropType::String,
                "The role's unique id.",
            ));
        Role { schema, aws }
    }

    async fn attached(&self, c: &Clients, name: &str) -> Result<Vec<String>, ProviderError> {
        let out = c
            .iam
            .list_attached_role_policies()
            .role_name(name)
            .send()
            .await
            .map_err(|e| classify(e, "iam:ListAttachedRolePolicies", c))?;
        Ok(out
            .attached_policies()
            .iter()
            .filter_map(|p| p.policy_arn().map(str::to_owned))
            .collect())
    }

    async fn inline_names(&self, c: &Clients, name: &str) -> Result<Vec<String>, ProviderError> {
        let out = c
            .iam
            .list_role_policies()
            .role_name(name)
            .send()
            .await
            .map_err(|e| classify(e, "iam:ListRolePolicies", c))?;
        Ok(out.policy_names().to_vec())
    }

    async fn describe(
        &self,
        c: &Clients,
        name: &str,
        props: &Props,
    ) -> Result<Option<(Applied, BTreeMap<String, String>)>, ProviderError> {
        let Some(role) = unless_missing(
            c.iam.get_role().role_name(name).send().await,
            "iam:GetRole",
            c,
        )?
        .and_then(|out| out.role) else {
            return Ok(None);
        };
        let all_tags: BTreeMap<String, String> = c
            .iam
            .list_role_tags()
            .role_name(name)
            .send()
            .await
            .map_err(|e| classify(e, "iam:ListRoleTags", c))?
            .tags()
            .iter()
            .map(|t| (t.key().to_owned(), t.value().to_owned()))
            .collect();
        let mut properties = with_tags(props, all_tags.clone());
        let mut attached = self.attached(c, name).await?;
        let wanted = strings(props, "managed_policy_arns");
        attached.sort();
        let mut sorted_wanted = wanted.clone();
        sorted_wanted.sort();
        // Report the template's order when the sets agree, so order alone is never a change.
        let reported = if attached == sorted_wanted {
            wanted
        } else {
            attached
        };
        if props.contains_key("managed_policy_arns")
            && !matches!(props.get("managed_policy_arns"), Some(Value::Null))
            || !reported.is_empty()
        {
            properties.insert(
                "managed_policy_arns".into(),
                Value::List(reported.into_iter().map(Value::String).collect()),
            );
        }
        let mut names = self.inline_names(c, name).await?;
        names.sort();
        let wanted_inline: Vec<String> = inline_policies(props).into_keys().collect();
        if names != wanted_inline {
            properties.insert(
                "inline_policies".into(),
                Value::Map(
                    names
                        .into_iter()
                        .map(|n| (n, Value::String("(changed outside stackform)".into())))
                        .collect(),
                ),
            );
        }
        Ok(Some((
            Applied {
                physical_id: name.to_owned(),
                properties,
                outputs: Props::from([
                    ("arn".into(), s(role.arn())),
                    ("role_id".into(), s(role.role_id())),
                ]),
            },
            all_tags,
        )))
    }

    async fn converge(
        &self,
        c: &Clients,
        ctx: &OpContext,
        name: &str,
        props: &Props,
    ) -> Result<(), ProviderError> {
        let wanted = strings(props, "managed_policy_arns");
        let current = self.attached(c, name).await?;
        for arn in wanted.iter().filter(|a| !current.contains(a)) {
            c.iam
                .attach_role_policy()
                .role_name(name)
                .policy_arn(arn)
                .send()
                .await
                .map_err(|e| classify(e, "iam:AttachRolePolicy", c))?;
        }
        for arn in current.iter().filter(|a| !wanted.contains(a)) {
            c.iam
                .detach_role_policy()
                .role_name(name)
                .policy_arn(arn)
                .send()
                .await
                .map_err(|e| classify(e, "iam:DetachRolePolicy", c))?;
        }
        let inline = inline_policies(props);
        for (policy, doc) in &inline {
            c.iam
                .put_role_policy()
                .role_name(name)
                .policy_name(policy)
                .policy_document(doc)
                .send()
                .await
                .map_err(|e| classify(e, "iam:PutRolePolicy", c))?;
        }
        for policy in self
            .inline_names(c, name)
            .await?
            .iter()
            .filter(|p| !inline.contains_key(*p))
        {
            c.iam
                .delete_role_policy()
                .role_name(name)
                .policy_name(policy)
                .send()
                .await
                .map_err(|e| classify(e, "iam:DeleteRolePolicy", c))?;
        }
        c.iam
            .tag_role()
            .role_name(name)
            .set_tags(Some(tag_list(ctx, props)))
            .send()
            .await
            .map_err(|e| classify(e, "iam:TagRole", c))?;
        Ok(())
    }
}

#[async_trait::async_trait]
impl ResourceType for Role {
    fn schema(&self) -> &ResourceSchema {
        &self.schema
    }

    fn recovery(&self) -> RecoveryKind {
        RecoveryKind::Name("name")
    }

    async fn create(&self, ctx: &OpContext, props: &Props) -> Result<Outcome, ProviderError> {
        let c = self.aws.clients(ctx).await?;
        let name = required(props, "name")?;
        let doc = document(props, "assume_role_policy").unwrap_or_default();
        let created = c
            .once
            .iam
            .create_role()
            .role_name(&name)
            .assume_role_policy_document(doc)
            .set_tags(Some(tag_list(ctx, props)))
            .send()
            .await;
        if let Err(e) = created {
            adopt(classify(e, "iam:CreateRole", &c), self.find(ctx, props)).await?;
        }
        self.converge(&c, ctx, &name, props).await?;
        Ok(Progress::Done(
            self.describe(&c, &name, props).await?.map(|(a, _)| a),
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
        if document(old, "assume_role_policy") != document(new, "assume_role_policy") {
            c.iam
                .update_assume_role_policy()
                .role_name(id)
                .policy_document(document(new, "assume_role_policy").unwrap_or_default())
                .send()
                .await
                .map_err(|e| classify(e, "iam:UpdateAssumeRolePolicy", &c))?;
        }
        self.converge(&c, ctx, id, new).await?;
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
        if unless_missing(
            c.iam.get_role().role_name(id).send().await,
            "iam:GetRole",
            &c,
        )?
        .is_none()
        {
            return Ok(Progress::Done(None));
        }
        for arn in self.attached(&c, id).await? {
            gone_is_fine(
                c.iam
                    .detach_role_policy()
                    .role_name(id)
                    .policy_arn(arn)
                    .send()
                    .await,
                "iam:DetachRolePolicy",
                &c,
            )?;
        }
        for policy in self.inline_names(&c, id).await? {
            gone_is_fine(
                c.iam
                    .delete_role_policy()
                    .role_name(id)
                    .policy_name(policy)
                    .send()
                    .await,
                "iam:DeleteRolePolicy",
                &c,
            )?;
        }
        let profiles = c
            .iam
            .list_instance_profiles_for_role()
            .role_name(id)
            .send()
            .await
            .map_err(|e| classify(e, "iam:ListInstanceProfilesForRole", &c))?;
        for p in profiles.instance_profiles() {
            gone_is_fine(
                c.iam
                    .remove_role_from_instance_profile()
                    .instance_profile_name(p.instance_profile_name())
                    .role_name(id)
                    .send()
                    .await,
                "iam:RemoveRoleFromInstanceProfile",
                &c,
            )?;
        }
        deleted(
            c.iam.delete_role().role_name(id).send().await,
            "iam:DeleteRole",
            &c,
        )
    }

    async fn find(&self, ctx: &OpContext, props: &Props) -> Result<Option<Applied>, ProviderError> {
        let c = self.aws.clients(ctx).await?;
        let name = required(props, "name")?;
        let Some((applied, tags)) = self.describe(&c, &name, props).await? else {
            return Ok(None);
        };
        Ok(owned(ctx, &tags).then_some(applied))
    }
}
