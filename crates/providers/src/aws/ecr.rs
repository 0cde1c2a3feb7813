//! `aws.ecr.repository`: an ECR repository, the AWS stack's container registry.
//!
//! The name is the recovery key (unique per account and region); tags are applied in the create
//! call. `force_delete` deletes a repository that still holds images.

use std::sync::Arc;

use aws_sdk_ecr::types::{ImageScanningConfiguration, ImageTagMutability, Tag};
use stackform_engine::base::value::Value;
use stackform_engine::lang::schema::{
    OutputSchema, Pricing, PropType, PropertySchema, ResourceSchema,
};
use stackform_engine::provider::{
    Applied, ErrorKind, OpContext, Outcome, Progress, Props, ProviderError, RecoveryKind,
    ResourceType,
};

use super::client::{adopt, classify, deleted, unless_missing};
use super::util::{boolean, required, s, tags, with_tags};
use super::{Aws, Clients};

pub struct Repository {
    schema: ResourceSchema,
    aws: Arc<Aws>,
}

impl Repository {
    pub fn new(aws: Arc<Aws>) -> Repository {
        let schema =
            ResourceSchema::new("aws.ecr.repository", "An ECR container image repository.")
                .actions(&[
                    "ecr:CreateRepository",
                    "ecr:DescribeRepositories",
                    "ecr:ListTagsForResource",
                    "ecr:TagResource",
                    "ecr:UntagResource",
                    "ecr:PutImageTagMutability",
                    "ecr:PutImageScanningConfiguration",
                    "ecr:DeleteRepository",
                ])
                .pricing(Pricing::Usage("image storage and transfer".into()))
                .property(
                    PropertySchema::new("name", PropType::String, "The repository's name.")
                        .required()
                        .force_new(),
                )
                .property(
                    PropertySchema::new(
                        "immutable_tags",
                        PropType::Boolean,
                        "Refuse to overwrite an image tag.",
                    )
                    .default(false),
                )
                .property(
                    PropertySchema::new(
                        "scan_on_push",
                        PropType::Boolean,
                        "Scan images for vulnerabilities when pushed.",
                    )
                    .default(true),
                )
                .property(
                    PropertySchema::new(
                        "force_delete",
                        PropType::Boolean,
                        "Delete the repository even if it holds images.",
                    )
                    .default(false),
                )
                .property(PropertySchema::new(
                    "tags",
                    PropType::map_of(PropType::String),
                    "Tags besides stackform's own.",
                ))
                .output(OutputSchema::new(
                    "arn",
                    PropType::String,
                    "The repository's ARN.",
                ))
                .output(OutputSchema::new(
                    "uri",
                    PropType::String,
                    "Where to push: `<account>.dkr.ecr.<region>.amazonaws.com/<name>`.",
                ))
                .stateful();
        Repository { schema, aws }
    }

    fn tag_list(ctx: &OpContext, props: &Props) -> Vec<Tag> {
        tags(ctx, props)
            .into_iter()
            .filter_map(|(k, v)| Tag::builder().key(k).value(v).build().ok())
            .collect()
    }

    async fn describe(
        &self,
        c: &Clients,
        name: &str,
        props: &Props,
    ) -> Result<Option<(Applied, std::collections::BTreeMap<String, String>)>, ProviderError> {
        let Some(out) = unless_missing(
            c.ecr
                .describe_repositories()
                .repository_names(name)
                .send()
                .await,
            "ecr:DescribeRepositories",
            c,
        )?
        else {
            return Ok(None);
        };
        let Some(repo) = out.repositories().first() else {
            return Ok(None);
        };
        let arn = repo.repository_arn().unwrap_or_default().to_owned();
        let all_tags: std::collections::BTreeMap<String, String> = c
            .ecr
            .list_tags_for_resource()
            .resource_arn(&arn)
            .send()
            .await
            .map_err(|e| classify(e, "ecr:ListTagsForResource", c))?
            .tags()
            .iter()
            .map(|t| (t.key().to_owned(), t.value().to_owned()))
            .collect();
        let mut properties = with_tags(props, all_tags.clone());
        properties.insert(
            "immutable_tags".into(),
            Value::Bool(repo.image_tag_mutability() == Some(&ImageTagMutability::Immutable)),
        );
        if let Some(scan) = repo.image_scanning_configuration() {
            properties.insert("scan_on_push".into(), Value::Bool(scan.scan_on_push()));
        }
        Ok(Some((
            Applied {
                physical_id: name.to_owned(),
                properties,
                outputs: Props::from([
                    ("arn".into(), s(arn)),
                    ("uri".into(), s(repo.repository_uri().unwrap_or_default())),
                ]),
            },
            all_tags,
        )))
    }

    async fn configure(
        &self,
        c: &Clients,
        ctx: &OpContext,
        name: &str,
        arn: &str,
        props: &Props,
    ) -> Result<(), ProviderError> {
        let mutability = if boolean(props, "immutable_tags").unwrap_or(false) {
            ImageTagMutability::Immutable
        } else {
            ImageTagMutability::Mutable
        };
        c.ecr
            .put_image_tag_mutability()
            .repository_name(name)
            .image_tag_mutability(mutability)
            .send()
            .await
            .map_err(|e| classify(e, "ecr:PutImageTagMutability", c))?;
        c.ecr
            .put_image_scanning_configuration()
            .repository_name(name)
            .image_scanning_configuration(
                ImageScanningConfiguration::builder()
                    .scan_on_push(boolean(props, "scan_on_push").unwrap_or(true))
                    .build(),
            )
            .send()
            .await
            .map_err(|e| classify(e, "ecr:PutImageScanningConfiguration", c))?;
        c.ecr
            .tag_resource()
            .resource_arn(arn)
            .set_tags(Some(Self::tag_list(ctx, props)))
            .send()
            .await
            .map_err(|e| classify(e, "ecr:TagResource", c))?;
        Ok(())
    }
}

#[async_trait::async_trait]
impl ResourceType for Repository {
    fn schema(&self) -> &ResourceSchema {
        &self.schema
    }

    fn recovery(&self) -> RecoveryKind {
        RecoveryKind::Name("name")
    }

    async fn create(&self, ctx: &OpContext, props: &Props) -> Result<Outcome, ProviderError> {
        let c = self.aws.clients(ctx).await?;
        let name = required(props, "name")?;
        let mutability = if boolean(props, "immutable_tags").unwrap_or(false) {
            ImageTagMutability::Immutable
        } else {
            ImageTagMutability::Mutable
        };
        let created = c
            .once
            .ecr
            .create_repository()
            .repository_name(&name)
            .image_tag_mutability(mutability)
            .image_scanning_configuration(
                ImageScanningConfiguration::builder()
                    .scan_on_push(boolean(props, "scan_on_push").unwrap_or(true))
                    .build(),
            )
            .set_tags(Some(Self::tag_list(ctx, props)))
            .send()
            .await;
        if let Err(e) = created {
            // Already there and ours (an earlier attempt whose answer was lost): adopt it.
            adopt(
                classify(e, "ecr:CreateRepository", &c),
                self.find(ctx, props),
            )
            .await?;
        }
        let (applied, _) = self.describe(&c, &name, props).await?.ok_or_else(|| {
            ProviderError::new(
                ErrorKind::OutcomeUnknown,
                format!("repository {name} vanished right after its creation"),
            )
        })?;
        Ok(Progress::Done(Some(applied)))
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
        _old: &Props,
        new: &Props,
    ) -> Result<Outcome, ProviderError> {
        let c = self.aws.clients(ctx).await?;
        let Some((current, _)) = self.describe(&c, id, new).await? else {
            return Err(ProviderError::new(
                ErrorKind::NotFound,
                format!("repository {id} does not exist"),
            ));
        };
        let arn = current
            .outputs
            .get("arn")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_owned();
        self.configure(&c, ctx, id, &arn, new).await?;
        Ok(Progress::Done(
            self.describe(&c, id, new).await?.map(|(a, _)| a),
        ))
    }

    async fn delete(
        &self,
        ctx: &OpContext,
        id: &str,
        props: &Props,
    ) -> Result<Outcome, ProviderError> {
        let c = self.aws.clients(ctx).await?;
        let sent = c
            .ecr
            .delete_repository()
            .repository_name(id)
            .force(boolean(props, "force_delete").unwrap_or(false))
            .send()
            .await;
        deleted(sent, "ecr:DeleteRepository", &c).map_err(|mut err| {
            if err.message.contains("RepositoryNotEmpty") {
                err.kind = ErrorKind::Invalid;
                err.message
                    .push_str("; set `force_delete: true` on it and deploy, or delete its images");
            }
            err
        })
    }

    async fn find(&self, ctx: &OpContext, props: &Props) -> Result<Option<Applied>, ProviderError> {
        let c = self.aws.clients(ctx).await?;
        let name = required(props, "name")?;
        let Some((applied, tags)) = self.describe(&c, &name, props).await? else {
            return Ok(None);
        };
        Ok(super::util::owned(ctx, &tags).then_some(applied))
    }
}
