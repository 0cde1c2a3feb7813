//! `azure.managedidentity.user_assigned_identity`: an identity of its own for what runs in the
//! stack (the pipelines' pods, through a federated credential), instead of the kubelet identity
//! every pod on a node shares; and `azure.managedidentity.federated_credential`: which tokens
//! of an outside issuer (the AKS cluster's OIDC issuer, for one Kubernetes service account) may
//! be exchanged for that identity's, with no secret anywhere
//! (https://learn.microsoft.com/en-us/azure/aks/workload-identity-overview).

use super::prelude::*;

pub struct UserAssignedIdentity;

impl ArmKind for UserAssignedIdentity {
    fn schema(&self) -> ResourceSchema {
        ResourceSchema::new(
            "azure.managedidentity.user_assigned_identity",
            "A user-assigned managed identity: roles are given to it, and workloads act as it.",
        )
        .actions(&[
            "Microsoft.ManagedIdentity/userAssignedIdentities/write",
            "Microsoft.ManagedIdentity/userAssignedIdentities/read",
            "Microsoft.ManagedIdentity/userAssignedIdentities/delete",
        ])
        .pricing(Pricing::Free)
        .property(schema::name(
            "3 to 128 letters, digits, `-` and `_`, starting with a letter or digit.",
        ))
        .property(schema::group())
        .property(schema::location())
        .property(schema::subscription())
        .property(schema::tags())
        .output(schema::id())
        .output(OutputSchema::new("name", PropType::String, "The identity's name."))
        .output(OutputSchema::new(
            "principal_id",
            PropType::String,
            "Its service principal's object id: what role assignments name.",
        ))
        .output(OutputSchema::new(
            "client_id",
            PropType::String,
            "Its application (client) id: what a workload asks a token for (`azure.workload.identity/client-id`).",
        ))
        .output(OutputSchema::new("tenant_id", PropType::String, "Its Entra ID tenant."))
    }

    fn api_version(&self) -> &'static str {
        "2023-01-31"
    }

    fn id(&self, arm: &Arm, ctx: &OpContext, props: &Props) -> Result<String, ProviderError> {
        Ok(format!(
            "{}/providers/Microsoft.ManagedIdentity/userAssignedIdentities/{}",
            group_id(arm, ctx, props)?,
            required(props, "name")?
        ))
    }

    fn body(&self, _arm: &Arm, ctx: &OpContext, props: &Props) -> Result<Json, ProviderError> {
        Ok(json!({
            "location": location(ctx, props)?,
            "tags": tags(ctx, props),
        }))
    }

    fn read(
        &self,
        _id: &str,
        _name: &str,
        body: &Json,
        _properties: &mut Props,
        outputs: &mut Props,
    ) {
        let p = &body["properties"];
        for (ours, theirs) in [
            ("principal_id", "principalId"),
            ("client_id", "clientId"),
            ("tenant_id", "tenantId"),
        ] {
            outputs.insert(ours.into(), Value::String(text(&p[theirs])));
        }
    }
}

/// The audience Entra ID takes federated tokens for.
const AUDIENCE: &str = "api://AzureADTokenExchange";

pub struct FederatedCredential;

impl ArmKind for FederatedCredential {
    fn schema(&self) -> ResourceSchema {
        ResourceSchema::new(
            "azure.managedidentity.federated_credential",
            "Tokens of an outside issuer for one subject (a Kubernetes service account) that may act as a user-assigned identity.",
        )
        .actions(&[
            "Microsoft.ManagedIdentity/userAssignedIdentities/federatedIdentityCredentials/write",
            "Microsoft.ManagedIdentity/userAssignedIdentities/federatedIdentityCredentials/read",
            "Microsoft.ManagedIdentity/userAssignedIdentities/federatedIdentityCredentials/delete",
        ])
        .pricing(Pricing::Free)
        .property(schema::name(
            "3 to 120 letters, digits, `-` and `_`, starting with a letter or digit.",
        ))
        .property(
            PropertySchema::new("identity_id", PropType::String, "The user-assigned identity's ARM id.")
                .required()
                .force_new(),
        )
        .property(
            PropertySchema::new("issuer", PropType::String, "The issuer's URL (an AKS cluster's `oidc_issuer_url`).")
                .required(),
        )
        .property(
            PropertySchema::new(
                "subject",
                PropType::String,
                "Whose tokens: `system:serviceaccount:NAMESPACE:NAME` for a Kubernetes service account.",
            )
            .required(),
        )
        .output(schema::id())
        .output(OutputSchema::new("name", PropType::String, "The credential's name."))
    }

    fn api_version(&self) -> &'static str {
        "2023-01-31"
    }

    fn id(&self, _arm: &Arm, _ctx: &OpContext, props: &Props) -> Result<String, ProviderError> {
        Ok(format!(
            "{}/federatedIdentityCredentials/{}",
            required(props, "identity_id")?.trim_end_matches('/'),
            required(props, "name")?
        ))
    }

    fn body(&self, _arm: &Arm, _ctx: &OpContext, props: &Props) -> Result<Json, ProviderError> {
        Ok(json!({
            "properties": {
                "issuer": required(props, "issuer")?,
                "subject": required(props, "subject")?,
                "audiences": [AUDIENCE],
            },
        }))
    }

    fn read(
        &self,
        _id: &str,
        _name: &str,
        body: &Json,
        properties: &mut Props,
        _outputs: &mut Props,
    ) {
        let p = &body["properties"];
        for k in ["issuer", "subject"] {
            if let Some(v) = p[k].as_str() {
                properties.insert(k.into(), Value::String(v.to_owned()));
            }
        }
    }

    fn tagged(&self) -> bool {
        false
    }

    /// It carries no marks; it lives under an identity the stack owns, where only the stack
    /// names credentials.
    fn ours(&self, _ctx: &OpContext, _marks: &std::collections::BTreeMap<String, String>) -> bool {
        true
    }
}
