//! `stackform stack list|describe`.

use std::process::ExitCode;

use stackform_engine::base::fsio::MAX_DATA_BYTES;
use stackform_engine::ops::OpError;
use stackform_engine::ops::protect;
use stackform_engine::state::State;
use stackform_engine::state::store;

use crate::args::StackCommand;
use crate::error::CliError;
use crate::home;
use crate::printer::Printer;

/// The existing resources `stack register` was given, as types and ids of the connector's
/// cloud: its kind says what each names (`s3://` and an ECR repository through an aws
/// connector, `gs://` through a gcp one, ...), and, for kinds that look them up (an Entra ID
/// azure connector: registries by login server, AKS clusters by name), finds their ids.
fn existing(
    rt: &tokio::runtime::Runtime,
    connectors: &stackform_engine::ext::connectors::Connectors,
    connector: &stackform_engine::ext::connectors::Connector,
    given: [(&str, &Option<String>); 3],
) -> Result<Vec<stackform_engine::ops::register::Existing>, CliError> {
    use crate::connector_kinds::{able, failure, use_one};
    use stackform_engine::provider::Ability;
    let registry = crate::connector_kinds::registry()?;
    let kind =
        crate::connector_kinds::kind_of(&registry, connector).filter(|k| k.can(Ability::Register));
    let name = &connector.name;
    let mut claims = Vec::new();
    for (component, value) in given {
        let Some(value) = value else { continue };
        let key = match component {
            "orchestrator" => cluster_of(value)?,
            _ => value.as_str(),
        };
        let what = match component {
            "artifact_store" => "an artifact store",
            "container_registry" => "a container registry",
            _ => "an orchestrator",
        };
        let not_for = |help: Option<String>| {
            CliError::usage(
                "register::unsupported",
                format!(
                    "connector `{name}` is a {} connector, through which this stackform cannot register {what}",
                    connector.kind
                ),
                help.unwrap_or_else(|| {
                    format!(
                        "register through {}",
                        use_one(&registry, able(Ability::Register))
                    )
                }),
            )
        };
        let Some(kind) = kind else {
            return Err(not_for(None));
        };
        let claim = kind
            .claim(connector, component, key)
            .map_err(|f| failure(f, |e| refused_lookup(name, e), not_for))?;
        claims.push((component, claim, value));
    }
    if claims.is_empty() {
        return Err(CliError::usage(
            "register::empty",
            "a registered stack needs at least one component",
            "pass --artifact-store, --container-registry or --orchestrator (see `stackform connector list-resources`)",
        ));
    }
    let kind = kind.expect("claims were made by a kind");
    let resolved = if kind.looks_up(connector) {
        let secrets = home::secrets()?;
        Some(rt.block_on(connectors.resolve(name, secrets.as_ref()))?)
    } else {
        None
    };
    let mut out = Vec::new();
    for (component, claim, given) in claims {
        let physical_id = match &resolved {
            None => claim.key.clone(),
            Some(resolved) => rt
                .block_on(kind.find(resolved, component, &claim))
                .map_err(|f| {
                    failure(f, |e| refused_lookup(name, e), |_| {
                        CliError::usage(
                            "connector::unsupported",
                            format!("connector `{name}` cannot look {given} up"),
                            format!("`stackform connector list-resources {name}` shows what it can reach"),
                        )
                    })
                })?
                .ok_or_else(|| {
                    CliError::usage(
                        "stack::register_not_found",
                        format!("{given} ({component}) does not exist where connector `{name}` looks"),
                        format!("`stackform connector list-resources {name}` shows what it can reach"),
                    )
                })?,
        };
        out.push(stackform_engine::ops::register::Existing {
            component: component.into(),
            type_name: claim.type_name,
            physical_id,
            given: given.clone(),
        });
    }
    Ok(out)
}

/// A lookup the connector could not make: its settings are a usage error, a refusal a failure.
fn refused_lookup(name: &str, e: stackform_engine::provider::ProviderError) -> CliError {
    if e.kind == stackform_engine::provider::ErrorKind::Invalid {
        return CliError::usage(
            "connector::invalid",
            e.message,
            format!("`stackform connector describe {name}` shows its settings"),
        );
    }
    CliError::failed(
        "connector::refused",
        e.message,
        format!("check the credentials of connector `{name}`"),
    )
}

/// The cluster of `--orchestrator kubernetes:CLUSTER`.
fn cluster_of(spec: &str) -> Result<&str, CliError> {
    spec.strip_prefix("kubernetes:")
        .filter(|c| !c.is_empty())
        .ok_or_else(|| {
            CliError::usage(
                "register::orchestrator",
                format!("--orchestrator `{spec}` is not kubernetes:CLUSTER"),
                "e.g. --orchestrator kubernetes:ml-prod",
            )
        })
}

/// The components a Terraform state file holds, with `maps` (`COMPONENT=OUTPUT`) first.
fn terraform_components(
    path: &std::path::Path,
    maps: &[String],
) -> Result<Vec<stackform_engine::ext::terraform::Mapped>, CliError> {
    let text = crate::inputs::read(path, "Terraform state", MAX_DATA_BYTES, |e| {
        CliError::usage(
            "register::terraform_state",
            format!("cannot read {}: {e}", path.display()),
            "give the path of a terraform.tfstate (`terraform state pull > state.json` for a remote one)",
        )
    })?;
    let state = stackform_engine::ext::terraform::read_state(&text).map_err(|why| {
        CliError::usage(
            "register::terraform_state",
            format!("{}: {why}", path.display()),
            "give a Terraform state file (`terraform state pull > state.json`)",
        )
    })?;
    let mut pairs = Vec::new();
    for m in maps {
        let (c, o) = m.split_once('=').ok_or_else(|| {
            CliError::usage(
                "register::map",
                format!("--map `{m}` is not COMPONENT=OUTPUT"),
                "e.g. --map artifact_store=bucket_name",
            )
        })?;
        pairs.push((c.trim().to_owned(), o.trim().to_owned()));
    }
    let found = stackform_engine::ext::terraform::components(&state, &pairs).map_err(|why| {
        CliError::usage(
            "register::map",
            format!("{}: {why}", path.display()),
            "see `terraform output` for the state's outputs",
        )
    })?;
    if found.is_empty() {
        return Err(CliError::usage(
            "register::terraform_empty",
            format!(
                "{} holds no stack component stackform recognises",
                path.display()
            ),
            "name them with --map COMPONENT=OUTPUT (components: artifact_store, container_registry, orchestrator)",
        ));
    }
    Ok(found)
}

/// `stack export --format terraform --out DIR`: `imports.tf.json` in DIR.
fn terraform_export(
    name: &str,
    state: &State,
    out: Option<&std::path::Path>,
    printer: &Printer,
) -> Result<ExitCode, CliError> {
    let Some(dir) = out else {
        return Err(CliError::usage(
            "export::terraform_out",
            "--format terraform writes a directory",
            "add --out DIR",
        ));
    };
    let (doc, skipped) = stackform_engine::ext::terraform::imports(state);
    let path = dir.join("imports.tf.json");
    let mut text = serde_json::to_string_pretty(&doc).expect("serializes");
    text.push('\n');
    std::fs::create_dir_all(dir)
        .and_then(|()| stackform_engine::base::fsio::write_atomic(&path, text.as_bytes()))
        .map_err(|e| {
            CliError::failed(
                "export::write",
                format!("cannot write {}: {e}", path.display()),
                "check that the directory is writable",
            )
        })?;
    let count = doc["import"].as_array().map_or(0, Vec::len);
    let mut note = format!(
        "Wrote {count} import blocks for stack `{name}` to {}. Next: in that directory, with the providers configured, run `terraform plan -generate-config-out=generated.tf` and review what it generates; nothing is imported until `terraform apply`.",
        path.display()
    );
    if !skipped.is_empty() {
        note.push_str(&format!(" Left out: {}.", skipped.join(", ")));
    }
    printer.note(&note);
    Ok(ExitCode::SUCCESS)
}

pub fn exec(cmd: &StackCommand, printer: &Printer) -> Result<ExitCode, CliError> {
    match cmd {
        StackCommand::List => {
            // The registry (for prices) is built only if some stack must be read again.
            let mut registry = None;
            let home_dir = home::home()?;
            let rows =
                stackform_engine::ops::list::list(stackform_engine::ops::list::ListRequest {
                    stacks_dir: home::stacks_dir()?,
                    open_remote: &mut |name| {
                        home::stack_files(name).map_err(|e| {
                            stackform_engine::state::StateError::Corrupt {
                                path: home_dir.join("stacks").join(name),
                                detail: format!("its backend cannot be opened: {e}"),
                            }
                        })
                    },
                    price: &mut |state| {
                        let registry = registry.get_or_insert_with(|| {
                            stackform_providers::registry(&stackform_providers::Config::for_home(
                                &home_dir,
                            ))
                        });
                        stackform_engine::plan::cost::of_state(state, &registry.catalog(), registry)
                    },
                });
            printer.stack_list(&rows, crate::clock::now()?);
        }
        StackCommand::Register {
            name,
            connector,
            artifact_store,
            container_registry,
            orchestrator,
            discover,
            from_terraform_state,
            maps,
            environment,
        } => {
            stackform_engine::state::stack::validate_name(name)?;
            let home_dir = home::home()?;
            let connectors = stackform_engine::ext::connectors::Connectors::new(&home_dir);
            let connector = connectors.get(connector)?;
            let (mut artifact_store, mut container_registry, mut orchestrator) = (
                artifact_store.clone(),
                container_registry.clone(),
                orchestrator.clone(),
            );
            if let Some(path) = from_terraform_state {
                for m in terraform_components(path, maps)? {
                    let slot = match m.component.as_str() {
                        "artifact_store" => &mut artifact_store,
                        "container_registry" => &mut container_registry,
                        _ => &mut orchestrator,
                    };
                    // What the command line names wins over the state file.
                    if slot.is_none() {
                        tracing::info!("{} from {}: {}", m.component, m.from, m.uri);
                        *slot = Some(m.uri);
                    }
                }
            } else if !maps.is_empty() {
                return Err(CliError::usage(
                    "register::map_without_state",
                    "--map reads outputs of a Terraform state",
                    "give the state file with --from-terraform-state PATH",
                ));
            }
            let rt = crate::run::runtime()?;
            if *discover {
                let secrets = home::secrets()?;
                let resolved =
                    rt.block_on(connectors.resolve(&connector.name, secrets.as_ref()))?;
                let kinds = crate::connector_kinds::registry()?;
                let found = rt.block_on(crate::connector_kinds::list_resources(
                    &kinds, &resolved, None,
                ))?;
                // The one resource the connector reaches that can be `component`.
                let only = |component: &str| -> Result<Option<String>, CliError> {
                    let hits: Vec<&stackform_engine::provider::Reached> = found
                        .iter()
                        .filter(|r| r.component == Some(component))
                        .collect();
                    match hits.as_slice() {
                        [] => Ok(None),
                        [one] => Ok(Some(one.id.clone())),
                        many => Err(CliError::usage(
                            "register::ambiguous",
                            format!(
                                "connector `{}` reaches {} of kind {}: {}",
                                connector.name,
                                many.len(),
                                many[0].resource_type,
                                many.iter()
                                    .map(|r| r.id.as_str())
                                    .collect::<Vec<_>>()
                                    .join(", ")
                            ),
                            "name the one to register (--artifact-store, --container-registry or --orchestrator)",
                        )),
                    }
                };
                if artifact_store.is_none() {
                    artifact_store = only("artifact_store")?;
                }
                if container_registry.is_none() {
                    container_registry = only("container_registry")?;
                }
                if orchestrator.is_none() {
                    orchestrator = only("orchestrator")?.map(|c| format!("kubernetes:{c}"));
                }
            }
            let resources = existing(
                &rt,
                &connectors,
                &connector,
                [
                    ("artifact_store", &artifact_store),
                    ("container_registry", &container_registry),
                    ("orchestrator", &orchestrator),
                ],
            )?;
            let registry =
                stackform_providers::registry(&stackform_providers::Config::for_home(&home_dir));
            let files = home::stack_files(name)?;
            let dir = files.dir.clone();
            let request = stackform_engine::ops::register::RegisterRequest {
                files,
                name,
                connector,
                resources,
                environment: environment.map(|e| e.as_str().to_owned()),
                registry: &registry,
                stack_dir: dir.clone(),
                lock_wait: std::time::Duration::ZERO,
                command: "stack register",
            };
            let state = rt.block_on(stackform_engine::ops::register::register(request))?;
            printer.stack_describe(&state);
        }
        StackCommand::Export { name, format, out } => {
            let state = store::load(&home::stack_files(name)?)?
                .ok_or_else(|| OpError::NoSuchStack(name.clone()))?;
            let text = match format {
                crate::args::ExportFormat::Stackform => {
                    let mut t = serde_json::to_string_pretty(
                        &stackform_engine::ops::export::export(&state),
                    )
                    .expect("serializes");
                    t.push('\n');
                    t
                }
                crate::args::ExportFormat::Zenml => {
                    stackform_engine::ops::export::zenml_yaml(&state)
                }
                crate::args::ExportFormat::Terraform => {
                    return terraform_export(name, &state, out.as_deref(), printer);
                }
            };
            match out {
                Some(path) => {
                    stackform_engine::base::fsio::write_atomic(path, text.as_bytes()).map_err(
                        |e| {
                            CliError::failed(
                                "export::write",
                                format!("cannot write {}: {e}", path.display()),
                                "check that the directory exists and is writable",
                            )
                        },
                    )?;
                    printer.note(&format!("Stack `{name}` exported to {}.", path.display()));
                }
                None => printer.document(&text),
            }
        }
        StackCommand::Import {
            file,
            name,
            environment,
            connector,
        } => {
            let text = crate::inputs::read(file, "stack export", MAX_DATA_BYTES, |e| {
                CliError::usage(
                    "import::unreadable",
                    format!("cannot read {}: {e}", file.display()),
                    "check the path",
                )
            })?;
            let export = stackform_engine::ops::export::read(&text).map_err(|why| {
                CliError::usage(
                    "import::invalid",
                    format!("{} cannot be imported: {why}", file.display()),
                    "make one with `stackform stack export NAME --format stackform`",
                )
            })?;
            let name = name.clone().unwrap_or_else(|| export.name.clone());
            stackform_engine::state::stack::validate_name(&name)?;
            let connector = connector
                .as_deref()
                .map(|c| {
                    stackform_engine::ext::connectors::Connectors::new(&home::home()?)
                        .get(c)
                        .map_err(CliError::from)
                })
                .transpose()?;
            let missing = export.sensitive_inputs.clone();
            let state = stackform_engine::ops::export::import(
                stackform_engine::ops::export::ImportRequest {
                    files: home::stack_files(&name)?,
                    export,
                    name: &name,
                    environment: environment.map(|e| e.as_str().to_owned()),
                    connector,
                    lock_wait: std::time::Duration::ZERO,
                },
            )?;
            let mut note = format!(
                "Stack `{name}` imported from template `{}`; deploy it with `stackform deploy --name {name}`",
                state.template.name
            );
            if !missing.is_empty() {
                note.push_str(&format!(
                    " and `--var` for its sensitive inputs {}",
                    missing.join(", ")
                ));
            }
            note.push('.');
            printer.note(&note);
        }
        StackCommand::Protect { name, resource } | StackCommand::Unprotect { name, resource } => {
            let on = matches!(cmd, StackCommand::Protect { .. });
            stackform_engine::state::stack::validate_name(name)?;
            let request = protect::ProtectRequest {
                files: home::stack_files(name)?,
                name,
                address: resource.as_deref(),
                protect: on,
                lock_wait: std::time::Duration::ZERO,
                command: if on {
                    "stack protect"
                } else {
                    "stack unprotect"
                },
            };
            let changed = crate::run::runtime()?.block_on(protect::protect(request))?;
            printer.protected(name, on, &changed);
        }
        StackCommand::Describe { name } => {
            let files = home::stack_files(name)?;
            let state = store::load(&files)?.ok_or_else(|| OpError::NoSuchStack(name.clone()))?;
            printer.stack_describe(&state);
        }
    }
    Ok(ExitCode::SUCCESS)
}
