//! `aws.s3.bucket`: an S3 bucket, the AWS stack's artifact store.
//!
//! The bucket's name is its recovery key (bucket names are global, and templates put the stack's
//! suffix in them); a bucket found under that name is adopted only if its tags name this stack.
//! Public access is blocked and default encryption is on unless the template says otherwise.
//! Deleting a bucket that still holds objects fails with the count, unless `force_destroy`,
//! which first removes every object version and delete marker.

use std::collections::BTreeMap;
use std::sync::Arc;

use aws_sdk_s3::types::{
    BucketLocationConstraint, BucketVersioningStatus, CreateBucketConfiguration, Delete,
    ObjectIdentifier, PublicAccessBlockConfiguration, ServerSideEncryption,
    ServerSideEncryptionByDefault, ServerSideEncryptionConfiguration, ServerSideEncryptionRule,
    Tag, Tagging, VersioningConfiguration,
};
use stackform_engine::base::value::Value;
use stackform_engine::lang::schema::{
    OutputSchema, Pricing, PropType, PropertySchema, ResourceSchema,
};
use stackform_engine::provider::{
    Applied, ErrorKind, OpContext, Outcome, Progress, Props, ProviderError, RecoveryKind,
    ResourceType,
};

use super::client::{adopt_when, classify, deleted, unless_missing};
use super::util::{boolean, required, s, string, tags, with_tags};
use super::{Aws, Clients};

pub struct Bucket {
    schema: ResourceSchema,
    aws: Arc<Aws>,
}

impl Bucket {
    pub fn new(aws: Arc<Aws>) -> Bucket {
        let schema = ResourceSchema::new("aws.s3.bucket", "An S3 bucket.")
            .actions(&[
                "s3:CreateBucket",
                "s3:ListBucket",
                "s3:GetBucketTagging",
                "s3:PutBucketTagging",
                "s3:GetBucketVersioning",
                "s3:PutBucketVersioning",
                "s3:GetEncryptionConfiguration",
                "s3:PutEncryptionConfiguration",
                "s3:GetBucketPublicAccessBlock",
                "s3:PutBucketPublicAccessBlock",
                "s3:ListBucketVersions",
                "s3:DeleteObject",
                "s3:DeleteObjectVersion",
                "s3:DeleteBucket",
            ])
            .pricing(Pricing::Usage("storage, requests and transfer".into()))
            .property(
                PropertySchema::new(
                    "name",
                    PropType::String,
                    "The bucket's globally unique name.",
                )
                .required()
                .force_new(),
            )
            .property(
                PropertySchema::new(
                    "region",
                    PropType::String,
                    "Where the bucket lives (default: the provider's region).",
                )
                .force_new(),
            )
            .property(
                PropertySchema::new(
                    "versioning",
                    PropType::Boolean,
                    "Keep every version of every object.",
                )
                .default(false),
            )
            .property(
                PropertySchema::new(
                    "encryption",
                    PropType::String,
                    "Default encryption: `AES256` (SSE-S3) or `aws:kms`.",
                )
                .default("AES256"),
            )
            .property(PropertySchema::new(
                "kms_key_id",
                PropType::String,
                "The KMS key for `aws:kms` encryption.",
            ))
            .property(
                PropertySchema::new(
                    "block_public_access",
                    PropType::Boolean,
                    "Block every form of public access.",
                )
                .default(true),
            )
            .property(
                PropertySchema::new(
                    "force_destroy",
                    PropType::Boolean,
                    "Delete every object (and version) when the bucket is deleted.",
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
                "The bucket's ARN.",
            ))
            .output(OutputSchema::new(
                "region",
                PropType::String,
                "The bucket's region.",
            ))
            .output(OutputSchema::new("uri", PropType::String, "`s3://<name>`."))
            .stateful();
        Bucket { schema, aws }
    }

    async fn configure(
        &self,
        c: &Clients,
        ctx: &OpContext,
        name: &str,
        props: &Props,
    ) -> Result<(), ProviderError> {
        let tag_set: Vec<Tag> = tags(ctx, props)
            .into_iter()
            .filter_map(|(k, v)| Tag::builder().key(k).value(v).build().ok())
            .collect();
        let tagging = Tagging::builder()
            .set_tag_set(Some(tag_set))
            .build()
            .map_err(|e| ProviderError::new(ErrorKind::Invalid, e.to_string()))?;
        c.s3.put_bucket_tagging()
            .bucket(name)
            .tagging(tagging)
            .send()
            .await
            .map_err(|e| classify(e, "s3:PutBucketTagging", c))?;
        let block = boolean(props, "block_public_access").unwrap_or(true);
        c.s3.put_public_access_block()
            .bucket(name)
            .public_access_block_configuration(
                PublicAccessBlockConfiguration::builder()
                    .block_public_acls(block)
                    .ignore_public_acls(block)
                    .block_public_policy(block)
                    .restrict_public_buckets(block)
                    .build(),
            )
            .send()
            .await
            .map_err(|e| classify(e, "s3:PutPublicAccessBlock", c))?;
        let algorithm = string(props, "encryption").unwrap_or_else(|| "AES256".into());
        let mut default = ServerSideEncryptionByDefault::builder()
            .sse_algorithm(ServerSideEncryption::from(algorithm.as_str()));
        if let Some(key) = string(props, "kms_key_id") {
            default = default.kms_master_key_id(key);
        }
        let rule = ServerSideEncryptionRule::builder()
            .apply_server_side_encryption_by_default(
                default
                    .build()
                    .map_err(|e| ProviderError::new(ErrorKind::Invalid, e.to_string()))?,
            )
            .build();
        c.s3.put_bucket_encryption()
            .bucket(name)
            .server_side_encryption_configuration(
                ServerSideEncryptionConfiguration::builder()
                    .rules(rule)
                    .build()
                    .map_err(|e| ProviderError::new(ErrorKind::Invalid, e.to_string()))?,
            )
            .send()
            .await
            .map_err(|e| classify(e, "s3:PutBucketEncryption", c))?;
        if boolean(props, "versioning").unwrap_or(false) || self.versioned(c, name).await? {
            let status = if boolean(props, "versioning").unwrap_or(false) {
                BucketVersioningStatus::Enabled
            } else {
                BucketVersioningStatus::Suspended
            };
            c.s3.put_bucket_versioning()
                .bucket(name)
                .versioning_configuration(VersioningConfiguration::builder().status(status).build())
                .send()
                .await
                .map_err(|e| classify(e, "s3:PutBucketVersioning", c))?;
        }
        Ok(())
    }

    async fn versioned(&self, c: &Clients, name: &str) -> Result<bool, ProviderError> {
        let out =
            c.s3.get_bucket_versioning()
                .bucket(name)
                .send()
                .await
                .map_err(|e| classify(e, "s3:GetBucketVersioning", c))?;
        Ok(out.status() == Some(&BucketVersioningStatus::Enabled))
    }

    async fn tags_of(
        &self,
        c: &Clients,
        name: &str,
    ) -> Result<BTreeMap<String, String>, ProviderError> {
        match c.s3.get_bucket_tagging().bucket(name).send().await {
            Ok(out) => Ok(out
                .tag_set()
                .iter()
                .map(|t| (t.key().to_owned(), t.value().to_owned()))
                .collect()),
            // A bucket without tags answers NoSuchTagSet.
            Err(e)
                if e.as_service_error()
                    .and_then(|s| aws_sdk_s3::error::ProvideErrorMetadata::code(s))
                    == Some("NoSuchTagSet") =>
            {
                Ok(BTreeMap::new())
            }
            Err(e) => Err(classify(e, "s3:GetBucketTagging", c)),
        }
    }

    /// The bucket as it is, or `None` if there is none by that name.
    async fn describe(
        &self,
        c: &Clients,
        name: &str,
        props: &Props,
    ) -> Result<Option<(Applied, BTreeMap<String, String>)>, ProviderError> {
        if unless_missing(
            c.s3.head_bucket().bucket(name).send().await,
            "s3:HeadBucket",
            c,
        )?
        .is_none()
        {
            return Ok(None);
        }
        let all_tags = self.tags_of(c, name).await?;
        let mut properties = with_tags(props, all_tags.clone());
        properties.insert(
            "versioning".into(),
            Value::Bool(self.versioned(c, name).await?),
        );
        let region = string(props, "region").unwrap_or_else(|| c.region.clone());
        Ok(Some((
            Applied {
                physical_id: name.to_owned(),
                properties,
                outputs: Props::from([
                    ("arn".into(), s(format!("arn:aws:s3:::{name}"))),
                    ("region".into(), s(region)),
                    ("uri".into(), s(format!("s3://{name}"))),
                ]),
            },
            all_tags,
        )))
    }

    async fn empty(&self, c: &Clients, name: &str) -> Result<(), ProviderError> {
        let mut key_marker = None;
        let mut version_marker = None;
        loop {
            let out =
                c.s3.list_object_versions()
                    .bucket(name)
                    .set_key_marker(key_marker.clone())
                    .set_version_id_marker(version_marker.clone())
                    .send()
                    .await
                    .map_err(|e| classify(e, "s3:ListObjectVersions", c))?;
            let mut ids: Vec<ObjectIdentifier> = Vec::new();
            for v in out.versions() {
                if let Some(k) = v.key() {
                    ids.extend(
                        ObjectIdentifier::builder()
                            .key(k)
                            .set_version_id(v.version_id().map(str::to_owned))
                            .build()
                            .ok(),
                    );
                }
            }
            for m in out.delete_markers() {
                if let Some(k) = m.key() {
                    ids.extend(
                        ObjectIdentifier::builder()
                            .key(k)
                            .set_version_id(m.version_id().map(str::to_owned))
                            .build()
                            .ok(),
                    );
                }
            }
            for chunk in ids.chunks(1000) {
                let delete = Delete::builder()
                    .set_objects(Some(chunk.to_vec()))
                    .quiet(true)
                    .build()
                    .map_err(|e| ProviderError::new(ErrorKind::Invalid, e.to_string()))?;
                c.s3.delete_objects()
                    .bucket(name)
                    .delete(delete)
                    .send()
                    .await
                    .map_err(|e| classify(e, "s3:DeleteObjects", c))?;
            }
            if out.is_truncated() == Some(true) {
                key_marker = out.next_key_marker().map(str::to_owned);
                version_marker = out.next_version_id_marker().map(str::to_owned);
            } else {
                return Ok(());
            }
        }
    }
}

#[async_trait::async_trait]
impl ResourceType for Bucket {
    fn schema(&self) -> &ResourceSchema {
        &self.schema
    }

    fn recovery(&self) -> RecoveryKind {
        RecoveryKind::Name("name")
    }

    async fn create(&self, ctx: &OpContext, props: &Props) -> Result<Outcome, ProviderError> {
        let c = self.aws.clients(ctx).await?;
        let name = required(props, "name")?;
        let region = string(props, "region").unwrap_or_else(|| c.region.clone());
        let mut req = c.once.s3.create_bucket().bucket(&name);
        // us-east-1 is the one region that takes no location constraint.
        if region != "us-east-1" {
            req = req.create_bucket_configuration(
                CreateBucketConfiguration::builder()
                    .location_constraint(BucketLocationConstraint::from(region.as_str()))
                    .build(),
            );
        }
        match req.send().await {
            Ok(_) => {}
            Err(e) => {
                let err = classify(e, "s3:CreateBucket", &c);
                // Ours already: an earlier attempt went through (tagged, or not yet tagged
                // but named with this stack's suffix). Carry on configuring it.
                let taken = err.kind == ErrorKind::Conflict
                    && err.message.contains("BucketAlreadyOwnedByYou");
                adopt_when(taken, err, self.find(ctx, props)).await?;
            }
        }
        self.configure(&c, ctx, &name, props).await?;
        let (applied, _) = self.describe(&c, &name, props).await?.ok_or_else(|| {
            ProviderError::new(
                ErrorKind::OutcomeUnknown,
                format!("bucket {name} vanished right after its creation"),
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
        self.configure(&c, ctx, id, new).await?;
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
        if unless_missing(
            c.s3.head_bucket().bucket(id).send().await,
            "s3:HeadBucket",
            &c,
        )?
        .is_none()
        {
            return Ok(Progress::Done(None));
        }
        if boolean(props, "force_destroy").unwrap_or(false) {
            self.empty(&c, id).await?;
        } else {
            let listed =
                c.s3.list_object_versions()
                    .bucket(id)
                    .max_keys(1000)
                    .send()
                    .await
                    .map_err(|e| classify(e, "s3:ListObjectVersions", &c))?;
            let count = listed.versions().len() + listed.delete_markers().len();
            if count > 0 {
                let more = if listed.is_truncated() == Some(true) {
                    " or more"
                } else {
                    ""
                };
                return Err(ProviderError::new(
                    ErrorKind::Invalid,
                    format!(
                        "bucket {id} still holds {count}{more} object versions; empty it, or set `force_destroy: true` on it and deploy before destroying"
                    ),
                ));
            }
        }
        deleted(
            c.s3.delete_bucket().bucket(id).send().await,
            "s3:DeleteBucket",
            &c,
        )
    }

    async fn find(&self, ctx: &OpContext, props: &Props) -> Result<Option<Applied>, ProviderError> {
        let c = self.aws.clients(ctx).await?;
        let name = required(props, "name")?;
        let Some((applied, tags)) = self.describe(&c, &name, props).await? else {
            return Ok(None);
        };
        // Created but not yet tagged (a crash in between): the stack's suffix in the name is
        // the mark left.
        let untagged_ours = tags.is_empty()
            && !ctx.ownership.suffix.is_empty()
            && name.contains(&ctx.ownership.suffix);
        Ok((super::util::owned(ctx, &tags) || untagged_ours).then_some(applied))
    }
}
