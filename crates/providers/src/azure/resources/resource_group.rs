//! `azure.resource_group`: a resource group, in the provider's subscription unless it names
//! its own.

use super::prelude::*;

pub struct ResourceGroup;

impl ArmKind for ResourceGroup {
    fn schema(&self) -> ResourceSchema {
        ResourceSchema::new("azure.resource_group", "A resource group.")
            .actions(&[
                "Microsoft.Resources/subscriptions/resourceGroups/write",
                "Microsoft.Resources/subscriptions/resourceGroups/read",
                "Microsoft.Resources/subscriptions/resourceGroups/delete",
            ])
            .pricing(Pricing::Free)
            .property(schema::name(
                "1 to 90 letters, digits, `-`, `_`, `.` and parentheses.",
            ))
            .property(schema::location())
            .property(schema::subscription())
            .property(schema::tags())
            .output(schema::id())
            .output(OutputSchema::new(
                "name",
                PropType::String,
                "The group's name.",
            ))
    }

    fn api_version(&self) -> &'static str {
        "2021-04-01"
    }

    fn id(&self, arm: &Arm, ctx: &OpContext, props: &Props) -> Result<String, ProviderError> {
        Ok(format!(
            "/subscriptions/{}/resourcegroups/{}",
            subscription(ctx, props, arm)?,
            required(props, "name")?
        ))
    }

    fn body(&self, _arm: &Arm, ctx: &OpContext, props: &Props) -> Result<Json, ProviderError> {
        Ok(json!({
            "location": location(ctx, props)?,
            "tags": tags(ctx, props),
        }))
    }
}
