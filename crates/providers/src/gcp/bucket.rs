//! `gcp.storage.bucket`: a Cloud Storage bucket, the GCP stack's artifact store.
//!
//! The name is the recovery key (bucket names are global); a bucket found under it is adopted only
//! if its labels name this stack and address, or, with no labels at all, if its name carries the
//! stack's suffix. Public access prevention is enforced. Deleting a bucket that still holds
//! objects fails with a clear error unless `force_destroy`, which first deletes every object
//! (every generation).
//!
//! fake-gcs-server, the emulator the tests use, drops bucket labels: a bucket answered without a
//! `labels` field reports the labels it was asked for, so a plan after deploy stays empty there;
//! real GCS always answers with them (the ownership labels are never absent).

use std::collections::BTreeMap;
use std::sync::Arc;

use reqwest::Method;
use serde_json::{Value as Json, json};
use stackform_engine::base::value::Value;
use stackform_engine::lang::schema::{
    OutputSchema, Pricing, PropType, PropertySchema, ResourceSchema,
};
use stackform_engine::provider::{
    Applied, ErrorKind, OpContext, Outcome, Progress, Props, ProviderError, RecoveryKind,
    ResourceType,
};

use super::client::Gcp;
use super::client::error;
use super::client::json::{Body, Gcs, segment};
use crate::marks;
use crate::props::{boolean, required, string, string_map};

pub struct Bucket {
    schema: ResourceSchema,
    gcp: Arc<Gcp>,
}

impl Bucket {
    pub fn new(gcp: Arc<Gcp>) -> Bucket {
        let schema = ResourceSchema::new("gcp.storage.bucket", "A Cloud Storage bucket.")
            .actions(&[
                "storage.buckets.create",
                "storage.buckets.get",
                "storage.buckets.update",
                "storage.buckets.delete",
                "storage.objects.list",
                "storage.objects.delete",
            ])
            .pricing(Pricing::Usage("storage, operations and egress".into()))
            .property(
                PropertySchema::new("name", PropType::String, "The bucket's globally unique name.")
                    .required()
                    .force_new(),
            )
            .property(
                PropertySchema::new(
                    "project",
                    PropType::String,
                    "The project that owns it (default: the provider's `project`, else GOOGLE_CLOUD_PROJECT).",
                )
                .force_new(),
            )
            .property(
                PropertySchema::new(
                    "location",
                    PropType::String,
                    "A region, dual-region or multi-region (`US`, `EU`, `europe-west4`).",
                )
                .default("US")
                .force_new(),
            )
            .property(
                PropertySchema::new(
                    "storage_class",
                    PropType::String,
                    "`STANDARD`, `NEARLINE`, `COLDLINE` or `ARCHIVE`.",
                )
                .default("STANDARD"),
            )
            .property(
                PropertySchema::new(
                    "uniform_access",
                    PropType::Boolean,
                    "Uniform bucket-level access (IAM only, no object ACLs).",
                )
                .default(true),
            )
            .property(
                PropertySchema::new(
                    "versioning",
                    PropType::Boolean,
                    "Keep every generation of every object.",
                )
                .default(false),
            )
            .property(PropertySchema::new(
                "labels",
                PropType::map_of(PropType::String),
                "Labels besides stackform's own (lowercase letters, digits, `_` and `-`).",
            ))
            .property(
                PropertySchema::new(
                    "force_destroy",
                    PropType::Boolean,
                    "Delete every object (every generation) when the bucket is deleted.",
                )
                .default(false),
            )
            .output(OutputSchema::new("url", PropType::String, "`gs://<name>`."))
            .output(OutputSchema::new(
                "self_link",
                PropType::String,
                "The bucket's JSON API URL.",
            ))
            .stateful();
        Bucket { schema, gcp }
    }

    fn project(ctx: &OpContext, props: &Props) -> Result<String, ProviderError> {
        string(props, "project")
            .or_else(|| string(&ctx.settings, "project"))
            .or_else(|| std::env::var("GOOGLE_CLOUD_PROJECT").ok().filter(|p| !p.is_empty()))
            .ok_or_else(|| {
                ProviderError::new(
                    ErrorKind::Invalid,
                    "no GCP project: set `providers.gcp.project` in the template, `project` on the bucket, or GOOGLE_CLOUD_PROJECT",
                )
            })
    }

    /// Every label the bucket should carry: the user's, then stackform's (which win).
    fn labels(ctx: &OpContext, props: &Props) -> BTreeMap<String, String> {
        let mut labels = string_map(props, "labels");
        labels.extend(marks::gcp_labels(&ctx.ownership));
        labels
    }

    fn body(ctx: &OpContext, props: &Props) -> Json {
        json!({
            "storageClass": string(props, "storage_class").unwrap_or_else(|| "STANDARD".into()),
            "labels": Self::labels(ctx, props),
            "versioning": { "enabled": boolean(props, "versioning").unwrap_or(false) },
            "iamConfiguration": {
                "uniformBucketLevelAccess": { "enabled": boolean(props, "uniform_access").unwrap_or(true) },
                "publicAccessPrevention": "enforced",
            },
        })
    }

    /// The bucket as GCS has it (with its labels, if GCS reports any), or `None`.
    async fn describe(
        &self,
        gcs: &Gcs,
        name: &str,
        props: &Props,
    ) -> Result<Option<(Applied, Option<BTreeMap<String, String>>)>, ProviderError> {
        let what = format!("storage.buckets.get {name}");
        let a = gcs
            .call(
                &what,
                Method::GET,
                &format!("/storage/v1/b/{}", segment(name)),
                Body::None,
            )
            .await?;
        if a.status.as_u16() == 404 {
            return Ok(None);
        }
        if !a.status.is_success() {
            return Err(error(&what, &a));
        }
        let b = &a.body;
        let mut properties = props.clone();
        if let Some(location) = b["location"].as_str() {
            // GCS answers in capitals whatever was asked: keep the template's spelling if equal.
            let asked = string(props, "location").unwrap_or_default();
            if !asked.eq_ignore_ascii_case(location) {
                properties.insert("location".into(), Value::String(location.to_owned()));
            }
        }
        if let Some(class) = b["storageClass"].as_str() {
            properties.insert("storage_class".into(), Value::String(class.to_owned()));
        }
        properties.insert(
            "versioning".into(),
            Value::Bool(b["versioning"]["enabled"].as_bool().unwrap_or(false)),
        );
        if let Some(uniform) =
            b["iamConfiguration"]["uniformBucketLevelAccess"]["enabled"].as_bool()
        {
            properties.insert("uniform_access".into(), Value::Bool(uniform));
        }
        let labels: Option<BTreeMap<String, String>> = b["labels"].as_object().map(|m| {
            m.iter()
                .map(|(k, v)| (k.clone(), v.as_str().unwrap_or_default().to_owned()))
                .collect()
        });
        if let Some(all) = &labels {
            properties = marks::with_user_marks(&properties, "labels", all);
        }
        let applied = Applied {
            physical_id: name.to_owned(),
            properties,
            outputs: Props::from([
                ("url".into(), Value::String(format!("gs://{name}"))),
                (
                    "self_link".into(),
                    Value::String(format!("{}/storage/v1/b/{name}", gcs.endpoint)),
                ),
            ]),
        };
        Ok(Some((applied, labels)))
    }

    /// Every object name and generation in the bucket.
    async fn objects(
        &self,
        gcs: &Gcs,
        name: &str,
        all_generations: bool,
    ) -> Result<Vec<(String, String)>, ProviderError> {
        let what = format!("storage.objects.list {name}");
        let mut out = Vec::new();
        let mut token: Option<String> = None;
        loop {
            let mut path = format!(
                "/storage/v1/b/{}/o?versions={all_generations}",
                segment(name)
            );
            if let Some(t) = &token {
                path.push_str(&format!("&pageToken={}", segment(t)));
            }
            let a = gcs.call(&what, Method::GET, &path, Body::None).await?;
            if !a.status.is_success() {
                return Err(error(&what, &a));
            }
            for item in a.body["items"].as_array().into_iter().flatten() {
                if let Some(n) = item["name"].as_str() {
                    out.push((
                        n.to_owned(),
                        item["generation"].as_str().unwrap_or_default().to_owned(),
                    ));
                }
            }
            match a.body["nextPageToken"].as_str() {
                Some(t) if !t.is_empty() => token = Some(t.to_owned()),
                _ => return Ok(out),
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
        let gcs = self.gcp.gcs_for(&ctx.settings).await?;
        let name = required(props, "name")?;
        let project = Self::project(ctx, props)?;
        let mut body = Self::body(ctx, props);
        body["name"] = json!(name);
        body["location"] = json!(string(props, "location").unwrap_or_else(|| "US".into()));
        let what = format!("storage.buckets.insert {name}");
        let a = gcs
            .call(
                &what,
                Method::POST,
                &format!("/storage/v1/b?project={}", segment(&project)),
                Body::Json(body),
            )
            .await?;
        if !a.status.is_success() {
            let err = error(&what, &a);
            // Ours already (an earlier attempt went through): configure it as asked.
            if err.kind == ErrorKind::Conflict && self.find(ctx, props).await?.is_some() {
                return self.update(ctx, &name, props, props).await;
            }
            if err.kind == ErrorKind::Conflict {
                return Err(ProviderError::new(
                    ErrorKind::Conflict,
                    format!(
                        "bucket name `{name}` is taken (bucket names are global): choose another, e.g. with `${{stack.suffix}}` in it"
                    ),
                ));
            }
            return Err(err);
        }
        let (applied, _) = self.describe(&gcs, &name, props).await?.ok_or_else(|| {
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
        let gcs = self.gcp.gcs_for(&ctx.settings).await?;
        Ok(self.describe(&gcs, id, props).await?.map(|(a, _)| a))
    }

    async fn update(
        &self,
        ctx: &OpContext,
        id: &str,
        old: &Props,
        new: &Props,
    ) -> Result<Outcome, ProviderError> {
        let gcs = self.gcp.gcs_for(&ctx.settings).await?;
        let mut body = Self::body(ctx, new);
        // A PATCH merges labels: the ones no longer wanted are removed by naming them null.
        for k in string_map(old, "labels").keys() {
            if !string_map(new, "labels").contains_key(k) {
                body["labels"][k] = Json::Null;
            }
        }
        let what = format!("storage.buckets.patch {id}");
        let a = gcs
            .call(
                &what,
                Method::PATCH,
                &format!("/storage/v1/b/{}", segment(id)),
                Body::Json(body),
            )
            .await?;
        if !a.status.is_success() {
            return Err(error(&what, &a));
        }
        Ok(Progress::Done(
            self.describe(&gcs, id, new).await?.map(|(a, _)| a),
        ))
    }

    async fn delete(
        &self,
        ctx: &OpContext,
        id: &str,
        props: &Props,
    ) -> Result<Outcome, ProviderError> {
        let gcs = self.gcp.gcs_for(&ctx.settings).await?;
        if self.describe(&gcs, id, props).await?.is_none() {
            return Ok(Progress::Done(None));
        }
        let objects = self.objects(&gcs, id, true).await?;
        if !objects.is_empty() {
            if !boolean(props, "force_destroy").unwrap_or(false) {
                return Err(ProviderError::new(
                    ErrorKind::Invalid,
                    format!(
                        "bucket {id} still holds {} objects; empty it, or set `force_destroy: true` on it and deploy before destroying",
                        objects.len()
                    ),
                ));
            }
            for (object, generation) in objects {
                let what = format!("storage.objects.delete gs://{id}/{object}");
                let mut path = format!("/storage/v1/b/{}/o/{}", segment(id), segment(&object));
                if !generation.is_empty() {
                    path.push_str(&format!("?generation={generation}"));
                }
                let a = gcs.call(&what, Method::DELETE, &path, Body::None).await?;
                if !a.status.is_success() && a.status.as_u16() != 404 {
                    return Err(error(&what, &a));
                }
            }
        }
        let what = format!("storage.buckets.delete {id}");
        let a = gcs
            .call(
                &what,
                Method::DELETE,
                &format!("/storage/v1/b/{}", segment(id)),
                Body::None,
            )
            .await?;
        match a.status.as_u16() {
            200..=299 | 404 => Ok(Progress::Done(None)),
            // Objects written since they were listed (GCS answers 409, the emulator 412).
            409 | 412 => Err(ProviderError::new(
                ErrorKind::Retryable,
                format!(
                    "bucket {id} is not empty yet: objects were written while it was being emptied"
                ),
            )),
            _ => Err(error(&what, &a)),
        }
    }

    async fn find(&self, ctx: &OpContext, props: &Props) -> Result<Option<Applied>, ProviderError> {
        let gcs = self.gcp.gcs_for(&ctx.settings).await?;
        let name = required(props, "name")?;
        let Some((applied, labels)) = self.describe(&gcs, &name, props).await? else {
            return Ok(None);
        };
        let ours = match &labels {
            Some(l) if !l.is_empty() => marks::owned(ctx, l, marks::gcp_value),
            // No labels to read: the stack's suffix in the name is the mark left.
            _ => !ctx.ownership.suffix.is_empty() && name.contains(&ctx.ownership.suffix),
        };
        Ok(ours.then_some(applied))
    }
}
