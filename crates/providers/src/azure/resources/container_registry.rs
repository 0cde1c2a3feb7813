//! `azure.containerregistry.registry`: an Azure Container Registry, its admin user off by
//! default (pulls go through Entra ID roles). Its name is unique in all of Azure.

use super::prelude::*;

pub struct ContainerRegistry;

impl ArmKind for ContainerRegistry {
    fn schema(&self) -> ResourceSchema {
        ResourceSchema::new(
            "azure.containerregistry.registry",
            "An Azure Container Registry (admin user off: pulls go through Entra ID roles).",
        )
        .actions(&[
            "Microsoft.ContainerRegistry/registries/write",
            "Microsoft.ContainerRegistry/registries/read",
            "Microsoft.ContainerRegistry/registries/delete",
        ])
        .pricing(Pricing::Usage(
            "the SKU's daily rate, storage and egress".into(),
        ))
        .property(schema::name("5 to 50 letters and digits, unique in Azure."))
        .property(schema::group())
        .property(schema::location())
        .property(schema::subscription())
        .property(
            PropertySchema::new("sku", PropType::String, "`Basic`, `Standard` or `Premium`.")
                .default("Basic"),
        )
        .property(
            PropertySchema::new(
                "admin_user",
                PropType::Boolean,
                "The registry's admin user (a shared password).",
            )
            .default(false),
        )
        .property(schema::tags())
        .output(schema::id())
        .output(OutputSchema::new(
            "name",
            PropType::String,
            "The registry's name.",
        ))
        .output(OutputSchema::new(
            "login_server",
            PropType::String,
            "`NAME.azurecr.io`, where images are pushed.",
        ))
    }

    fn api_version(&self) -> &'static str {
        "2023-07-01"
    }

    fn id(&self, arm: &Arm, ctx: &OpContext, props: &Props) -> Result<String, ProviderError> {
        Ok(format!(
            "{}/providers/Microsoft.ContainerRegistry/registries/{}",
            group_id(arm, ctx, props)?,
            required(props, "name")?
        ))
    }

    fn body(&self, _arm: &Arm, ctx: &OpContext, props: &Props) -> Result<Json, ProviderError> {
        let name = required(props, "name").unwrap_or_default();
        if !(5..=50).contains(&name.len()) || !name.chars().all(|c| c.is_ascii_alphanumeric()) {
            return Err(invalid(format!(
                "registry name `{name}` must be 5 to 50 letters and digits: build it from `${{stack.compact_name}}` and `${{stack.suffix}}`"
            )));
        }
        Ok(json!({
            "location": location(ctx, props)?,
            "tags": tags(ctx, props),
            "sku": { "name": string(props, "sku").unwrap_or_else(|| "Basic".into()) },
            "properties": { "adminUserEnabled": boolean(props, "admin_user").unwrap_or(false) },
        }))
    }

    fn read(
        &self,
        _id: &str,
        _name: &str,
        body: &Json,
        properties: &mut Props,
        outputs: &mut Props,
    ) {
        let p = &body["properties"];
        outputs.insert(
            "login_server".into(),
            Value::String(text(&p["loginServer"])),
        );
        if let Some(sku) = body["sku"]["name"].as_str() {
            properties.insert("sku".into(), Value::String(sku.to_owned()));
        }
        if let Some(admin) = p["adminUserEnabled"].as_bool() {
            properties.insert("admin_user".into(), Value::Bool(admin));
        }
    }

    fn globally_named(&self) -> bool {
        true
    }
}
