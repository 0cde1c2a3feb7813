//! `azure.authorization.role_assignment`: a role granted to a principal at a scope. It carries
//! no marks: its name is a UUID derived from the stack's id and the address, so the same
//! assignment is found again by its id (and one found there is ours).

use stackform_engine::provider::RecoveryKind;

use super::prelude::*;

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
    (
        "Azure Kubernetes Service RBAC Cluster Admin",
        "b1ff04bb-8a4e-4dc4-8eb5-8693973ce19b",
    ),
];

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

pub struct RoleAssignment;

impl ArmKind for RoleAssignment {
    fn schema(&self) -> ResourceSchema {
        ResourceSchema::new(
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
        .output(schema::id())
    }

    fn api_version(&self) -> &'static str {
        "2022-04-01"
    }

    fn recovery(&self) -> RecoveryKind {
        RecoveryKind::Name("principal_id")
    }

    fn id(&self, _arm: &Arm, ctx: &OpContext, props: &Props) -> Result<String, ProviderError> {
        Ok(format!(
            "{}/providers/Microsoft.Authorization/roleAssignments/{}",
            required(props, "scope")?.trim_end_matches('/'),
            assignment_name(ctx)
        ))
    }

    fn body(&self, arm: &Arm, ctx: &OpContext, props: &Props) -> Result<Json, ProviderError> {
        Ok(json!({
            "properties": {
                "roleDefinitionId": role_definition(&subscription(ctx, props, arm)?, &required(props, "role")?),
                "principalId": required(props, "principal_id")?,
                "principalType": string(props, "principal_type").unwrap_or_else(|| "ServicePrincipal".into()),
            },
        }))
    }

    fn tagged(&self) -> bool {
        false
    }

    fn named(&self) -> bool {
        false
    }

    /// The name is derived from the stack's id and the address.
    fn ours(&self, _ctx: &OpContext, _marks: &std::collections::BTreeMap<String, String>) -> bool {
        true
    }
}
