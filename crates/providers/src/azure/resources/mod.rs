//! The ARM resource types of the Azure stack: `azure.resource_group`, `azure.storage.account`,
//! `azure.storage.blob_container`, `azure.containerregistry.registry`,
//! `azure.containerservice.managed_cluster` (AKS) and `azure.authorization.role_assignment`.
//!
//! ARM's verbs are the same for every resource (PUT creates or updates the whole resource,
//! GET reads it, DELETE deletes it, long-running ones answer 201/202 with an operation URL), so
//! one type holds them and each kind says its id, API version, body and outputs. ARM tags take
//! the engine's marks as they are (`stackform:stack-id`, ...); blob containers carry them as
//! metadata (`stackform_*`), role assignments not at all: their name is a UUID derived from the
//! stack's id and the address, so the same assignment is found again by its id.

use std::collections::BTreeMap;
use std::sync::Arc;

use azure_core::http::Method;
use serde_json::{Value as Json, json};
use stackform_engine::base::value::Value;
use stackform_engine::lang::schema::{
    OutputSchema, Pricing, PropType, PropertySchema, ResourceSchema,
};
use stackform_engine::provider::{
    Applied, ErrorKind, OpContext, Outcome, Progress, Props, ProviderError, RecoveryKind,
    ResourceType, TAG_ADDRESS, TAG_STACK_ID,
};

use super::arm::{Answer, Arm, Lro, Step, classify};
use super::reach::Azure;
use crate::marks;
use crate::props::{boolean, int, required, string, string_map};

/// The role definitions templates name (built-in roles, the same id in every tenant).
/// https://learn.microsoft.com/en-us/azure/role-based-access-control/built-in-roles
const ROLES: &[(&str, &str)] = &[
    (
        "Storage Blob Data Contributor",
        "ba92f5b4-2d11-453d-a403-e96b0029c9fe",
    ),
    (
        "Storage Blob Data Reader",
        "2a2b9908-6ea1-4ae2-8e65-a410df84e7d1",
    ),
    ("AcrPull", "7f951dda-4ed3-4680-a7ca-43fe172d538d"),
    ("AcrPush", "8311e382-0749-4cb8-b61a-304f252e45ec"),
    ("Contributor", "b24988ac-6180-42a0-ab88-20f7382dd24c"),
    ("Reader", "acdd72a7-3385-48ef-bd42-f606fba81ae7"),
];

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    ResourceGroup,
    StorageAccount,
    BlobContainer,
    Registry,
    ManagedCluster,
    RoleAssignment,
}

pub const KINDS: [Kind; 6] = [
    Kind::ResourceGroup,
    Kind::StorageAccount,
    Kind::BlobContainer,
    Kind::Registry,
    Kind::ManagedCluster,
    Kind::RoleAssignment,
];

impl Kind {
    fn api_version(self) -> &'static str {
        match self {
            Kind::ResourceGroup => "2021-04-01",
            Kind::StorageAccount | Kind::BlobContainer => "2023-05-01",
            Kind::Registry => "2023-07-01",
            Kind::ManagedCluster => "2024-09-01",
            Kind::RoleAssignment => "2022-04-01",
        }
    }

    fn tagged(self) -> bool {
        !matches!(self, Kind::BlobContainer | Kind::RoleAssignment)
    }

    fn schema(self) -> ResourceSchema {
        let name = |what: &str| {
            PropertySchema::new("name", PropType::String, what)
                .required()
                .force_new()
        };
        let group = PropertySchema::new(
            "resource_group",
            PropType::String,
            "The resource group it lives in.",
        )
        .required()
        .force_new();
        let location = PropertySchema::new(
            "location",
            PropType::String,
            "An Azure region such as `westeurope` (default: the provider's `location`).",
        )
        .force_new();
        let subscription = PropertySchema::new(
            "subscription_id",
            PropType::String,
            "The subscription (default: the provider's `subscription_id`, else AZURE_SUBSCRIPTION_ID).",
        )
        .force_new();
        let tags = PropertySchema::new(
            "tags",
            PropType::map_of(PropType::String),
            "Tags besides stackform's own.",
        );
        let id = OutputSchema::new("id", PropType::String, "The ARM resource id.");
        match self {
            Kind::ResourceGroup => ResourceSchema::new("azure.resource_group", "A resource group.")
                .actions(&[
                    "Microsoft.Resources/subscriptions/resourceGroups/write",
                    "Microsoft.Resources/subscriptions/resourceGroups/read",
                    "Microsoft.Resources/subscriptions/resourceGroups/delete",
                ])
                .pricing(Pricing::Free)
                .property(name("1 to 90 letters, digits, `-`, `_`, `.` and parentheses."))
                .property(location)
                .property(subscription)
                .property(tags)
                .output(id)
                .output(OutputSchema::new("name", PropType::String, "The group's name.")),
            Kind::StorageAccount => ResourceSchema::new(
                "azure.storage.account",
                "A StorageV2 account: TLS 1.2, HTTPS only, no public blob access.",
            )
            .actions(&[
                "Microsoft.Storage/storageAccounts/write",
                "Microsoft.Storage/storageAccounts/read",
                "Microsoft.Storage/storageAccounts/delete",
            ])
            .pricing(Pricing::Usage("storage, operations and egress".into()))
            .property(name("3 to 24 lowercase letters and digits, unique in Azure (build it with `${stack.compact_name}` and `${stack.suffix}`)."))
            .property(group)
            .property(location)
            .property(subscription)
            .property(
                PropertySchema::new("sku", PropType::String, "`Standard_LRS`, `Standard_ZRS`, `Standard_GRS`, ...")
                    .default("Standard_LRS"),
            )
            .property(tags)
            .output(id)
            .output(OutputSchema::new("name", PropType::String, "The account's name."))
            .output(OutputSchema::new("blob_endpoint", PropType::String, "`https://NAME.blob.core.windows.net/`."))
            .stateful(),
            Kind::BlobContainer => ResourceSchema::new(
                "azure.storage.blob_container",
                "A blob container in an account the stack manages, over ARM (never public).",
            )
            .actions(&[
                "Microsoft.Storage/storageAccounts/blobServices/containers/write",
                "Microsoft.Storage/storageAccounts/blobServices/containers/read",
                "Microsoft.Storage/storageAccounts/blobServices/containers/delete",
            ])
            .pricing(Pricing::Free)
            .property(
                PropertySchema::new("account_id", PropType::String, "The storage account's id.")
                    .required()
                    .force_new(),
            )
            .property(name("3 to 63 lowercase letters, digits and hyphens."))
            .property(PropertySchema::new(
                "metadata",
                PropType::map_of(PropType::String),
                "Metadata besides stackform's own.",
            ))
            .output(id)
            .output(OutputSchema::new("name", PropType::String, "The container's name."))
            .output(OutputSchema::new("uri", PropType::String, "`az://NAME`, as artifact stores name it."))
            .output(OutputSchema::new("url", PropType::String, "The container's blob URL."))
            .stateful(),
            Kind::Registry => ResourceSchema::new(
                "azure.containerregistry.registry",
                "An Azure Container Registry (admin user off: pulls go through Entra ID roles).",
            )
            .actions(&[
                "Microsoft.ContainerRegistry/registries/write",
                "Microsoft.ContainerRegistry/registries/read",
                "Microsoft.ContainerRegistry/registries/delete",
            ])
            .pricing(Pricing::Usage("the SKU's daily rate, storage and egress".into()))
            .property(name("5 to 50 letters and digits, unique in Azure."))
            .property(group)
            .property(location)
            .property(subscription)
            .property(
                PropertySchema::new("sku", PropType::String, "`Basic`, `Standard` or `Premium`.")
                    .default("Basic"),
            )
            .property(
                PropertySchema::new("admin_user", PropType::Boolean, "The registry's admin user (a shared password).")
                    .default(false),
            )
            .property(tags)
            .output(id)
            .output(OutputSchema::new("name", PropType::String, "The registry's name."))
            .output(OutputSchema::new("login_server", PropType::String, "`NAME.azurecr.io`, where images are pushed.")),
            Kind::ManagedCluster => ResourceSchema::new(
                "azure.containerservice.managed_cluster",
                "An AKS cluster with a system-assigned managed identity, OIDC issuer and workload identity.",
            )
            .actions(&[
                "Microsoft.ContainerService/managedClusters/write",
                "Microsoft.ContainerService/managedClusters/read",
                "Microsoft.ContainerService/managedClusters/delete",
            ])
            .pricing(Pricing::Usage("the nodes' VM size per hour, their disks, and the tier's cluster fee".into()))
            .property(name("1 to 63 letters, digits, `-` and `_`."))
            .property(group)
            .property(location)
            .property(subscription)
            .property(
                PropertySchema::new("dns_prefix", PropType::String, "The API server's DNS prefix (default: the name).")
                    .force_new(),
            )
            .property(PropertySchema::new(
                "kubernetes_version",
                PropType::String,
                "A supported AKS version (default: AKS's default).",
            ))
            .property(
                PropertySchema::new("node_count", PropType::Integer, "Nodes of the system pool.")
                    .default(2),
            )
            .property(
                PropertySchema::new("node_vm_size", PropType::String, "The nodes' VM size.")
                    .default("Standard_D4s_v5")
                    .force_new(),
            )
            .property(
                PropertySchema::new(
                    "workload_identity",
                    PropType::Boolean,
                    "OIDC issuer and workload identity: pods act as managed identities without secrets.",
                )
                .default(true),
            )
            .property(tags)
            .output(id)
            .output(OutputSchema::new("name", PropType::String, "The cluster's name."))
            .output(OutputSchema::new("fqdn", PropType::String, "The API server's host name."))
            .output(OutputSchema::new("node_resource_group", PropType::String, "The group AKS keeps the nodes, disks and load balancers in."))
            .output(OutputSchema::new("oidc_issuer_url", PropType::String, "The OIDC issuer, for federated credentials."))
            .output(OutputSchema::new("principal_id", PropType::String, "The cluster's managed identity."))
            .output(OutputSchema::new("kubelet_object_id", PropType::String, "The nodes' (kubelet's) identity, which pulls images."))
            .output(OutputSchema::new("kubelet_client_id", PropType::String, "The kubelet identity's client id."))
            .stateful(),
            Kind::RoleAssignment => ResourceSchema::new(
                "azure.authorization.role_assignment",
                "A role granted to a principal at a scope (a resource or group id).",
            )
            .actions(&[
                "Microsoft.Authorization/roleAssignments/write",
                "Microsoft.Authorization/roleAssignments/read",
                "Microsoft.Authorization/roleAssignments/delete",
            ])
            .pricing(Pricing::Free)
            .property(
                PropertySchema::new("scope", PropType::String, "The resource or group id the role applies to.")
                    .required()
                    .force_new(),
            )
            .property(
                PropertySchema::new(
                    "role",
                    PropType::String,
                    "A built-in role's name (`AcrPull`, `Storage Blob Data Contributor`, ...), its GUID, or a role definition id.",
                )
                .required()
                .force_new(),
            )
            .property(
                PropertySchema::new("principal_id", PropType::String, "The object id of the identity granted the role.")
                    .required()
                    .force_new(),
            )
            .property(
                PropertySchema::new("principal_type", PropType::String, "`ServicePrincipal`, `User` or `Group`.")
                    .default("ServicePrincipal")
                    .force_new(),
            )
            .output(id),
        }
    }
}

pub struct ArmResource {
    kind: Kind,
    schema: ResourceSchema,
    azure: Arc<Azure>,
}

fn invalid(message: String) -> ProviderError {
    ProviderError::new(ErrorKind::Invalid, message)
}

/// The subscription: the resource's, else the provider's, else the connector's, else
/// AZURE_SUBSCRIPTION_ID.
fn subscription(ctx: &OpContext, props: &Props, arm: &Arm) -> Result<String, ProviderError> {
    string(props, "subscription_id")
        .filter(|s| !s.is_empty())
        .or_else(|| string(&ctx.settings, "subscription_id"))
        .filter(|s| !s.is_empty())
        .or_else(|| arm.subscription.clone())
        .or_else(|| std::env::var("AZURE_SUBSCRIPTION_ID").ok().filter(|s| !s.is_empty()))
        .ok_or_else(|| {
            invalid("no Azure subscription: set `providers.azure.subscription_id` in the template, or AZURE_SUBSCRIPTION_ID".into())
        })
}

fn location(ctx: &OpContext, props: &Props) -> Result<String, ProviderError> {
    string(props, "location")
        .or_else(|| string(&ctx.settings, "location"))
        .ok_or_else(|| {
            invalid("no Azure location: set `location` on the resource or `providers.azure.location` in the template".into())
        })
}

/// The deterministic name of a role assignment: a UUID from the stack's id and the address.
fn assignment_name(ctx: &OpContext) -> String {
    use sha2::Digest;
    let digest = sha2::Sha256::digest(format!(
        "{}/{}",
        ctx.ownership.stack_id, ctx.ownership.address
    ));
    let mut bytes = [0u8; 16];
    bytes.copy_from_slice(&digest[..16]);
    uuid::Builder::from_custom_bytes(bytes)
        .into_uuid()
        .to_string()
}

fn role_definition(subscription: &str, role: &str) -> String {
    if role.starts_with('/') {
        return role.to_owned();
    }
    let guid = ROLES
        .iter()
        .find(|(name, _)| name.eq_ignore_ascii_case(role))
        .map(|(_, g)| *g)
        .unwrap_or(role);
    format!(
        "/subscriptions/{subscription}/providers/Microsoft.Authorization/roleDefinitions/{guid}"
    )
}

fn is_lower_alnum(s: &str) -> bool {
    s.chars()
        .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit())
}

impl ArmResource {
    pub fn new(kind: Kind, azure: Arc<Azure>) -> ArmResource {
        ArmResource {
            kind,
            schema: kind.schema(),
            azure,
        }
    }

    /// The resource's ARM id, from its properties.
    fn id(&self, arm: &Arm, ctx: &OpContext, props: &Props) -> Result<String, ProviderError> {
        let name = || required(props, "name");
        let group = || -> Result<String, ProviderError> {
            Ok(format!(
                "/subscriptions/{}/resourceGroups/{}",
                subscription(ctx, props, arm)?,
                required(props, "resource_group")?
            ))
        };
        Ok(match self.kind {
            Kind::ResourceGroup => format!(
                "/subscriptions/{}/resourcegroups/{}",
                subscription(ctx, props, arm)?,
                name()?
            ),
            Kind::StorageAccount => format!(
                "{}/providers/Microsoft.Storage/storageAccounts/{}",
                group()?,
                name()?
            ),
            Kind::BlobContainer => format!(
                "{}/blobServices/default/containers/{}",
                required(props, "account_id")?,
                name()?
            ),
            Kind::Registry => format!(
                "{}/providers/Microsoft.ContainerRegistry/registries/{}",
                group()?,
                name()?
            ),
            Kind::ManagedCluster => format!(
                "{}/providers/Microsoft.ContainerService/managedClusters/{}",
                group()?,
                name()?
            ),
            Kind::RoleAssignment => format!(
                "{}/providers/Microsoft.Authorization/roleAssignments/{}",
                required(props, "scope")?.trim_end_matches('/'),
                assignment_name(ctx)
            ),
        })
    }

    fn path(&self, id: &str) -> String {
        format!("{id}?api-version={}", self.kind.api_version())
    }

    fn tags(ctx: &OpContext, props: &Props) -> BTreeMap<String, String> {
        let mut tags = string_map(props, "tags");
        tags.extend(ctx.ownership.tags());
        tags
    }

    /// The PUT body.
    fn body(&self, arm: &Arm, ctx: &OpContext, props: &Props) -> Result<Json, ProviderError> {
        let name = required(props, "name").unwrap_or_default();
        Ok(match self.kind {
            Kind::ResourceGroup => json!({
                "location": location(ctx, props)?,
                "tags": Self::tags(ctx, props),
            }),
            Kind::StorageAccount => {
                if !(3..=24).contains(&name.len()) || !is_lower_alnum(&name) {
                    return Err(invalid(format!(
                        "storage account name `{name}` must be 3 to 24 lowercase letters and digits: build it from `${{stack.compact_name}}` and `${{stack.suffix}}`"
                    )));
                }
                json!({
                    "location": location(ctx, props)?,
                    "tags": Self::tags(ctx, props),
                    "sku": { "name": string(props, "sku").unwrap_or_else(|| "Standard_LRS".into()) },
                    "kind": "StorageV2",
                    "properties": {
                        "minimumTlsVersion": "TLS1_2",
                        "allowBlobPublicAccess": false,
                        "supportsHttpsTrafficOnly": true,
                    },
                })
            }
            Kind::BlobContainer => {
                let mut metadata = string_map(props, "metadata");
                metadata.extend(marks::azure_metadata(&ctx.ownership));
                json!({ "properties": { "publicAccess": "None", "metadata": metadata } })
            }
            Kind::Registry => {
                if !(5..=50).contains(&name.len())
                    || !name.chars().all(|c| c.is_ascii_alphanumeric())
                {
                    return Err(invalid(format!(
                        "registry name `{name}` must be 5 to 50 letters and digits: build it from `${{stack.compact_name}}` and `${{stack.suffix}}`"
                    )));
                }
                json!({
                    "location": location(ctx, props)?,
                    "tags": Self::tags(ctx, props),
                    "sku": { "name": string(props, "sku").unwrap_or_else(|| "Basic".into()) },
                    "properties": { "adminUserEnabled": boolean(props, "admin_user").unwrap_or(false) },
                })
            }
            Kind::ManagedCluster => {
                let wi = boolean(props, "workload_identity").unwrap_or(true);
                let mut properties = json!({
                    "dnsPrefix": string(props, "dns_prefix").unwrap_or_else(|| name.clone()),
                    "agentPoolProfiles": [{
                        "name": "system",
                        "mode": "System",
                        "count": int(props, "node_count").unwrap_or(2),
                        "vmSize": string(props, "node_vm_size").unwrap_or_else(|| "Standard_D4s_v5".into()),
                        "osType": "Linux",
                        "type": "VirtualMachineScaleSets",
                    }],
                    "oidcIssuerProfile": { "enabled": wi },
                    "securityProfile": { "workloadIdentity": { "enabled": wi } },
                });
                if let Some(v) = string(props, "kubernetes_version") {
                    properties["kubernetesVersion"] = json!(v);
                }
                json!({
                    "location": location(ctx, props)?,
                    "tags": Self::tags(ctx, props),
                    "identity": { "type": "SystemAssigned" },
                    "properties": properties,
                })
            }
            Kind::RoleAssignment => json!({
                "properties": {
                    "roleDefinitionId": role_definition(&subscription(ctx, props, arm)?, &required(props, "role")?),
                    "principalId": required(props, "principal_id")?,
                    "principalType": string(props, "principal_type").unwrap_or_else(|| "ServicePrincipal".into()),
                },
            }),
        })
    }

    /// The resource as ARM has it, with its marks, or `None`.
    async fn get(&self, arm: &Arm, id: &str) -> Result<Option<Json>, ProviderError> {
        let what = format!("GET {id}");
        let a = arm.call(&what, Method::Get, &self.path(id), None).await?;
        match a.status {
            200..=299 => Ok(Some(a.body)),
            404 => Ok(None),
            _ => Err(classify(&what, &a)),
        }
    }

    fn marks_of(&self, body: &Json) -> BTreeMap<String, String> {
        let field = if self.kind == Kind::BlobContainer {
            &body["properties"]["metadata"]
        } else {
            &body["tags"]
        };
        field
            .as_object()
            .map(|m| {
                m.iter()
                    .map(|(k, v)| (k.clone(), v.as_str().unwrap_or_default().to_owned()))
                    .collect()
            })
            .unwrap_or_default()
    }

    fn ours(&self, ctx: &OpContext, body: &Json) -> bool {
        let marks = self.marks_of(body);
        match self.kind {
            // The name is derived from the stack's id and the address.
            Kind::RoleAssignment => true,
            Kind::BlobContainer => marks::owned(ctx, &marks, |v| v.to_owned()),
            _ => {
                marks.get(TAG_STACK_ID) == Some(&ctx.ownership.stack_id.to_string())
                    && marks.get(TAG_ADDRESS) == Some(&ctx.ownership.address)
            }
        }
    }

    fn applied(&self, id: &str, body: &Json, props: &Props) -> Applied {
        let mut properties = props.clone();
        let s = |v: &Json| v.as_str().unwrap_or_default().to_owned();
        if self.kind.tagged() {
            let user: BTreeMap<String, String> = self
                .marks_of(body)
                .into_iter()
                .filter(|(k, _)| !k.starts_with("stackform:"))
                .collect();
            if !(user.is_empty() && matches!(props.get("tags"), None | Some(Value::Null))) {
                properties.insert(
                    "tags".into(),
                    Value::Map(
                        user.into_iter()
                            .map(|(k, v)| (k, Value::String(v)))
                            .collect(),
                    ),
                );
            }
        }
        let name = body["name"]
            .as_str()
            .map(str::to_owned)
            .unwrap_or_else(|| id.rsplit('/').next().unwrap_or_default().to_owned());
        let mut outputs = Props::from([("id".into(), Value::String(id.to_owned()))]);
        if self.kind != Kind::RoleAssignment {
            outputs.insert("name".into(), Value::String(name.clone()));
        }
        let p = &body["properties"];
        match self.kind {
            Kind::ResourceGroup => {}
            Kind::StorageAccount => {
                outputs.insert(
                    "blob_endpoint".into(),
                    Value::String(s(&p["primaryEndpoints"]["blob"])),
                );
                if let Some(sku) = body["sku"]["name"].as_str() {
                    properties.insert("sku".into(), Value::String(sku.to_owned()));
                }
            }
            Kind::BlobContainer => {
                let account = id
                    .split("/storageAccounts/")
                    .nth(1)
                    .and_then(|r| r.split('/').next())
                    .unwrap_or_default();
                outputs.insert("uri".into(), Value::String(format!("az://{name}")));
                outputs.insert(
                    "url".into(),
                    Value::String(format!("https://{account}.blob.core.windows.net/{name}")),
                );
                let user: BTreeMap<String, String> = marks::user_marks(&self.marks_of(body));
                properties = marks::with_user_marks(&properties, "metadata", &user);
            }
            Kind::Registry => {
                outputs.insert("login_server".into(), Value::String(s(&p["loginServer"])));
                if let Some(sku) = body["sku"]["name"].as_str() {
                    properties.insert("sku".into(), Value::String(sku.to_owned()));
                }
                if let Some(admin) = p["adminUserEnabled"].as_bool() {
                    properties.insert("admin_user".into(), Value::Bool(admin));
                }
            }
            Kind::ManagedCluster => {
                outputs.insert("fqdn".into(), Value::String(s(&p["fqdn"])));
                outputs.insert(
                    "node_resource_group".into(),
                    Value::String(s(&p["nodeResourceGroup"])),
                );
                outputs.insert(
                    "oidc_issuer_url".into(),
                    Value::String(s(&p["oidcIssuerProfile"]["issuerURL"])),
                );
                outputs.insert(
                    "principal_id".into(),
                    Value::String(s(&body["identity"]["principalId"])),
                );
                let kubelet = &p["identityProfile"]["kubeletidentity"];
                outputs.insert(
                    "kubelet_object_id".into(),
                    Value::String(s(&kubelet["objectId"])),
                );
                outputs.insert(
                    "kubelet_client_id".into(),
                    Value::String(s(&kubelet["clientId"])),
                );
                if let Some(count) = p["agentPoolProfiles"][0]["count"].as_i64() {
                    properties.insert("node_count".into(), Value::Int(count));
                }
                if let Some(wi) = p["securityProfile"]["workloadIdentity"]["enabled"].as_bool() {
                    properties.insert("workload_identity".into(), Value::Bool(wi));
                }
            }
            Kind::RoleAssignment => {}
        }
        Applied {
            physical_id: id.to_owned(),
            properties,
            outputs,
        }
    }

    /// PUT the whole resource (create and update alike), then follow what ARM started.
    async fn put(
        &self,
        ctx: &OpContext,
        id: &str,
        props: &Props,
        op: &str,
    ) -> Result<Outcome, ProviderError> {
        let arm = self.azure.arm(ctx).await?;
        let body = self.body(&arm, ctx, props)?;
        let what = format!("PUT {id}");
        let a = arm
            .call(&what, Method::Put, &self.path(id), Some(&body))
            .await?;
        if !(200..300).contains(&a.status) {
            return Err(classify(&what, &a));
        }
        self.after(&arm, id, &a, op, props).await
    }

    /// What an accepted PUT or DELETE answer leads to.
    async fn after(
        &self,
        arm: &Arm,
        id: &str,
        a: &Answer,
        op: &str,
        props: &Props,
    ) -> Result<Outcome, ProviderError> {
        if let Some(lro) = Lro::started(op, id, a) {
            return Ok(lro.pending(format!("{op} accepted")));
        }
        if op == "delete" {
            return Ok(Progress::Done(None));
        }
        // Done at once; some answers carry the resource, but a GET says it as it is stored.
        let body = if a.body.is_object() && a.status != 202 {
            a.body.clone()
        } else {
            self.get(arm, id).await?.ok_or_else(|| {
                ProviderError::new(
                    ErrorKind::OutcomeUnknown,
                    format!("{id} is missing right after its {op}"),
                )
            })?
        };
        Ok(Progress::Done(Some(self.applied(id, &body, props))))
    }
}

#[async_trait::async_trait]
impl ResourceType for ArmResource {
    fn schema(&self) -> &ResourceSchema {
        &self.schema
    }

    fn recovery(&self) -> RecoveryKind {
        match self.kind {
            Kind::RoleAssignment => RecoveryKind::Name("principal_id"),
            _ => RecoveryKind::Name("name"),
        }
    }

    async fn create(&self, ctx: &OpContext, props: &Props) -> Result<Outcome, ProviderError> {
        let arm = self.azure.arm(ctx).await?;
        let id = self.id(&arm, ctx, props)?;
        // A name already taken: ours (an earlier attempt's) is just updated by the PUT; a
        // stranger's would be taken over, so it is refused instead.
        if let Some(existing) = self.get(&arm, &id).await?
            && !self.ours(ctx, &existing)
        {
            return Err(ProviderError::new(
                ErrorKind::Conflict,
                format!(
                    "{id} exists and is not this stack's: choose another name, or `stackform import` it"
                ),
            ));
        }
        match self.put(ctx, &id, props, "create").await {
            Err(e)
                if e.kind == ErrorKind::Conflict
                    && matches!(self.kind, Kind::StorageAccount | Kind::Registry) =>
            {
                Err(ProviderError::new(
                    ErrorKind::Conflict,
                    format!(
                        "{}; the name is taken elsewhere in Azure (names are global): choose another, e.g. with `${{stack.suffix}}` in it",
                        e.message
                    ),
                ))
            }
            other => other,
        }
    }

    async fn poll(&self, ctx: &OpContext, token: &str) -> Result<Outcome, ProviderError> {
        let arm = self.azure.arm(ctx).await?;
        let lro = Lro::parse(token)?;
        match arm.step(&lro).await {
            Ok(Step::Running) => return Ok(lro.pending(format!("{} running", lro.op))),
            Ok(Step::Done) => {}
            Err(e) if e.kind == ErrorKind::Retryable => return Ok(lro.pending(e.message)),
            Err(e) => return Err(e),
        }
        if lro.op == "delete" {
            if let Some(group) = &lro.wait_group {
                // AKS deletes its node resource group after the cluster: wait until it is gone.
                let what = format!("GET {group}");
                let a = arm
                    .call(
                        &what,
                        Method::Get,
                        &format!("{group}?api-version=2021-04-01"),
                        None,
                    )
                    .await?;
                if a.status != 404 {
                    let mut waiting = lro.clone();
                    waiting.url = format!("{}{group}?api-version=2021-04-01", arm.endpoint);
                    waiting.status_document = false;
                    waiting.wait_group = Some(group.clone());
                    return Ok(waiting.pending(format!(
                        "waiting for node resource group {group} to be deleted"
                    )));
                }
            }
            return Ok(Progress::Done(None));
        }
        let body = self.get(&arm, &lro.id).await?.ok_or_else(|| {
            ProviderError::new(
                ErrorKind::Other,
                format!("{} is missing after its {} finished", lro.id, lro.op),
            )
        })?;
        Ok(Progress::Done(Some(self.applied(
            &lro.id,
            &body,
            &Props::new(),
        ))))
    }

    async fn read(
        &self,
        ctx: &OpContext,
        id: &str,
        props: &Props,
    ) -> Result<Option<Applied>, ProviderError> {
        let arm = self.azure.arm(ctx).await?;
        Ok(self
            .get(&arm, id)
            .await?
            .map(|b| self.applied(id, &b, props)))
    }

    async fn update(
        &self,
        ctx: &OpContext,
        id: &str,
        _old: &Props,
        new: &Props,
    ) -> Result<Outcome, ProviderError> {
        self.put(ctx, id, new, "update").await
    }

    async fn delete(
        &self,
        ctx: &OpContext,
        id: &str,
        _props: &Props,
    ) -> Result<Outcome, ProviderError> {
        let arm = self.azure.arm(ctx).await?;
        // AKS's node resource group goes after the cluster; learn its name first.
        let wait_group = if self.kind == Kind::ManagedCluster {
            match self.get(&arm, id).await? {
                None => return Ok(Progress::Done(None)),
                Some(b) => b["properties"]["nodeResourceGroup"].as_str().map(|g| {
                    let subscription = id.split('/').nth(2).unwrap_or_default();
                    format!("/subscriptions/{subscription}/resourcegroups/{g}")
                }),
            }
        } else {
            None
        };
        let what = format!("DELETE {id}");
        let a = arm
            .call(&what, Method::Delete, &self.path(id), None)
            .await?;
        match a.status {
            404 => return Ok(Progress::Done(None)),
            200..=299 => {}
            _ => return Err(classify(&what, &a)),
        }
        if let Some(mut lro) = Lro::started("delete", id, &a) {
            lro.wait_group = wait_group;
            return Ok(lro.pending("delete accepted".into()));
        }
        if let Some(group) = wait_group {
            let lro = Lro {
                op: "delete".into(),
                id: id.to_owned(),
                n: 0,
                url: format!("{}{group}?api-version=2021-04-01", arm.endpoint),
                status_document: false,
                wait_group: Some(group),
            };
            return Ok(lro.pending("waiting for the node resource group".into()));
        }
        Ok(Progress::Done(None))
    }

    async fn find(&self, ctx: &OpContext, props: &Props) -> Result<Option<Applied>, ProviderError> {
        let arm = self.azure.arm(ctx).await?;
        let id = self.id(&arm, ctx, props)?;
        // One whose provisioning failed is not adopted: create PUTs it again, which makes ARM
        // provision it again.
        let Some(body) = self
            .get(&arm, &id)
            .await?
            .filter(|b| b["properties"]["provisioningState"] != "Failed")
        else {
            return Ok(None);
        };
        Ok(self
            .ours(ctx, &body)
            .then(|| self.applied(&id, &body, props)))
    }
}
