//! `aws.iam.openid_connect_provider`: trusts an EKS cluster's OIDC issuer, so that pods get IAM
//! roles through their service accounts (IRSA).
//!
//! The ARN follows from the account and the issuer URL, which makes the URL the recovery key;
//! a provider found there is adopted only if its tags name this stack.

use std::collections::BTreeMap;
use std::sync::Arc;

use aws_sdk_iam::types::Tag;
use stackform_engine::lang::schema::{
    OutputSchema, Pricing, PropType, PropertySchema, ResourceSchema,
};
use stackform_engine::provider::{
    Applied, OpContext, Outcome, Progress, Props, ProviderError, RecoveryKind, ResourceType,
};

use crate::aws::client::{adopt, classify, deleted, unless_missing};
use crate::aws::util::{owned, required, s, strings, tags, with_tags};
use crate::aws::{Aws, Clients};

/// The thumbprint of the root CA that signs every EKS OIDC endpoint (IAM ignores it for EKS
/// issuers today, but the API still requires one).
const EKS_ROOT_CA_THUMBPRINT: &str = "9e99a48a9960b14926bb7f3b02e22da2b0ab7280";

pub struct OpenIdConnectProvider {
    schema: ResourceSchema,
    aws: Arc<Aws>,
}

fn host_path(url: &str) -> &str {
    url.trim_start_matches("https://")
}

impl OpenIdConnectProvider {
    pub fn new(aws: Arc<Aws>) -> OpenIdConnectProvider {
        let schema = ResourceSchema::new(
            "aws.iam.openid_connect_provider",
            "An IAM OIDC identity provider (e.g. an EKS cluster's issuer).",
        )
        .actions(&[
            "iam:CreateOpenIDConnectProvider",
            "iam:GetOpenIDConnectProvider",
            "iam:ListOpenIDConnectProviders",
            "iam:ListOpenIDConnectProviderTags",
            "iam:TagOpenIDConnectProvider",
            "iam:DeleteOpenIDConnectProvider",
        ])
        .pricing(Pricing::Free)
        .property(
            PropertySchema::new("url", PropType::String, "The issuer URL (`https://...`).")
                .required()
                .force_new(),
        )
        .property(PropertySchema::new(
            "client_ids",
            PropType::list_of(PropType::String),
            "Audiences (default: sts.amazonaws.com).",
        ))
        .property(PropertySchema::new(
            "thumbprints",
            PropType::list_of(PropType::String),
            "Server certificate thumbprints (default: the EKS root CA's).",
        ))
        .property(PropertySchema::new(
            "tags",
            PropType::map_of(PropType::String),
            "Tags besides stackform's own.",
        ))
        .output(OutputSchema::new(
            "arn",
            PropType::String,
            "The provider's ARN, the `Federated` principal of IRSA trust policies.",
        ))
        .output(OutputSchema::new(
            "issuer_host_path",
            PropType::String,
            "The issuer without `https://`, the prefix of IRSA condition keys.",
        ));
        OpenIdConnectProvider { schema, aws }
    }

    async fn describe(
        &self,
        c: &Clients,
        arn: &str,
        props: &Props,
    ) -> Result<Option<(Applied, BTreeMap<String, String>)>, ProviderError> {
        let Some(out) = unless_missing(
            c.iam
                .get_open_id_connect_provider()
                .open_id_connect_provider_arn(arn)
                .send()
                .await,
            "iam:GetOpenIDConnectProvider",
            c,
        )?
        else {
            return Ok(None);
        };
        let all_tags: BTreeMap<String, String> = out
            .tags()
            .iter()
            .map(|t| (t.key().to_owned(), t.value().to_owned()))
            .collect();
        let url = required(props, "url")
            .unwrap_or_else(|_| format!("https://{}", out.url().unwrap_or_default()));
        Ok(Some((
            Applied {
                physical_id: arn.to_owned(),
                properties: with_tags(props, all_tags.clone()),
                outputs: Props::from([
                    ("arn".into(), s(arn)),
                    ("issuer_host_path".into(), s(host_path(&url))),
                ]),
            },
            all_tags,
        )))
    }

    fn client_ids(props: &Props) -> Vec<String> {
        let ids = strings(props, "client_ids");
        if ids.is_empty() {
            vec!["sts.amazonaws.com".into()]
        } else {
            ids
        }
    }

    fn thumbprints(props: &Props) -> Vec<String> {
        let t = strings(props, "thumbprints");
        if t.is_empty() {
            vec![EKS_ROOT_CA_THUMBPRINT.into()]
        } else {
            t
        }
    }
}

#[async_trait::async_trait]
impl ResourceType for OpenIdConnectProvider {
    fn schema(&self) -> &ResourceSchema {
        &self.schema
    }

    fn recovery(&self) -> RecoveryKind {
        RecoveryKind::Name("url")
    }

    async fn create(&self, ctx: &OpContext, props: &Props) -> Result<Outcome, ProviderError> {
        let c = self.aws.clients(ctx).await?;
        let tag_list: Vec<Tag> = tags(ctx, props)
            .into_iter()
            .filter_map(|(k, v)| Tag::builder().key(k).value(v).build().ok())
            .collect();
        let created = c
            .once
            .iam
            .create_open_id_connect_provider()
            .url(required(props, "url")?)
            .set_client_id_list(Some(Self::client_ids(props)))
            .set_thumbprint_list(Some(Self::thumbprints(props)))
            .set_tags(Some(tag_list))
            .send()
            .await;
        let arn = match created {
            Ok(out) => out
                .open_id_connect_provider_arn()
                .unwrap_or_default()
                .to_owned(),
            Err(e) => {
                adopt(
                    classify(e, "iam:CreateOpenIDConnectProvider", &c),
                    self.find(ctx, props),
                )
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
        _old: &Props,
        new: &Props,
    ) -> Result<Outcome, ProviderError> {
        let c = self.aws.clients(ctx).await?;
        c.iam
            .update_open_id_connect_provider_thumbprint()
            .open_id_connect_provider_arn(id)
            .set_thumbprint_list(Some(Self::thumbprints(new)))
            .send()
            .await
            .map_err(|e| classify(e, "iam:UpdateOpenIDConnectProviderThumbprint", &c))?;
        let tag_list: Vec<Tag> = tags(ctx, new)
            .into_iter()
            .filter_map(|(k, v)| Tag::builder().key(k).value(v).build().ok())
            .collect();
        c.iam
            .tag_open_id_connect_provider()
            .open_id_connect_provider_arn(id)
            .set_tags(Some(tag_list))
            .send()
            .await
            .map_err(|e| classify(e, "iam:TagOpenIDConnectProvider", &c))?;
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
        deleted(
            c.iam
                .delete_open_id_connect_provider()
                .open_id_connect_provider_arn(id)
                .send()
                .await,
            "iam:DeleteOpenIDConnectProvider",
            &c,
        )
    }

    async fn find(&self, ctx: &OpContext, props: &Props) -> Result<Option<Applied>, ProviderError> {
        let c = self.aws.clients(ctx).await?;
        let url = required(props, "url")?;
        let arn = format!(
            "arn:aws:iam::{}:oidc-provider/{}",
            c.account().await?,
            host_path(&url)
        );
        let Some((applied, tags)) = self.describe(&c, &arn, props).await? else {
            return Ok(None);
        };
        Ok(owned(ctx, &tags).then_some(applied))
    }
}
