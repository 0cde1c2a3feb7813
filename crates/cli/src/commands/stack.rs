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
/// cloud: `s3://`, an ECR repository and an EKS cluster through an aws connector; `gs://`, an
/// Artifact Registry repository and a GKE cluster through a gcp one; `az://` through an azure
/// one.
fn existing(
    connector: &stackform_engine::ext::connectors::Connector,
    artifact_store: &Option<String>,
    container_registry: &Option<String>,
    orchestrator: &Option<String>,
) -> Result<Vec<stackform_engine::ops::register::Existing>, CliError> {
    use stackform_engine::ops::register::Existing;
    let kind = connector.kind.as_str();
    let mut out = Vec::new();
    if let Some(uri) = artifact_store {
        let (scheme, type_name, example) = match kind {
            "aws" => ("s3://", "aws.s3.bucket", "s3://ml-artifacts"),
            "gcp" => ("gs://", "gcp.storage.bucket", "gs://ml-artifacts"),
            "azure" => ("az://", "azure.storage.container", "az://ml-artifacts"),
            other => return Err(not_for(connector, other, "an artifact store")),
        };
        let bucket = uri
            .strip_prefix(scheme)
            .map(|b| b.split('/').next().unwrap_or_default())
            .filter(|b| !b.is_empty())
            .ok_or_else(|| {
                CliError::usage(
                    "register::artifact_store",
                    format!(
                        "--artifact-store `{uri}` is not a {scheme} URI, which a {kind} connector reaches"
                    ),
                    format!("e.g. --artifact-store {example}"),
                )
            })?;
        out.push(Existing {
            component: "artifact_store".into(),
            type_name: type_name.into(),
            physical_id: bucket.to_owned(),
            given: uri.clone(),
        });
    }
    if let Some(uri) = container_registry {
        let (type_name, physical_id) = match kind {
            "aws" => (
                "aws.ecr.repository",
                uri.split_once('/')
                    .map_or(uri.as_str(), |(_, r)| r)
                    .to_owned(),
            ),
            "gcp" => ("gcp.artifactregistry.repository", gcp_repository(uri)?),
            other => return Err(not_for(connector, other, "a container registry")),
        };
        out.push(Existing {
            component: "container_registry".into(),
            type_name: type_name.into(),
            physical_id,
            given: uri.clone(),
        });
    }
    if let Some(spec) = orchestrator {
        let cluster = cluster_of(spec)?;
        let (type_name, physical_id) = match kind {
            "aws" => ("aws.eks.cluster", cluster.to_owned()),
            "gcp" => ("gcp.container.cluster", gke_cluster(connector, cluster)?),
            other => return Err(not_for(connector, other, "an orchestrator")),
        };
        out.push(Existing {
            component: "orchestrator".into(),
            type_name: type_name.into(),
            physical_id,
            given: spec.clone(),
        });
    }
    if out.is_empty() {
        return Err(CliError::usage(
            "register::empty",
            "a registered stack needs at least one component",
            "pass --artifact-store, --container-registry or --orchestrator (see `stackform connector list-resources`)",
        ));
    }
    Ok(out)
}

/// The ARM resources `stack register` names through an Entra ID azure connector, looked up in
/// its subscription: an `az://` container in its storage account, a registry by login server,
/// an AKS cluster by name.
async fn arm_existing(
    resolved: &stackform_engine::ext::connectors::Resolved,
    artifact_store: &Option<String>,
    container_registry: &Option<String>,
    orchestrator: &Option<String>,
) -> Result<Vec<stackform_engine::ops::register::Existing>, CliError> {
    use stackform_engine::ops::register::Existing;
    let name = &resolved.connector.name;
    let mut wanted = Vec::new();
    if let Some(uri) = artifact_store {
        let container = uri
            .strip_prefix("az://")
            .map(|c| c.split('/').next().unwrap_or_default())
            .filter(|c| !c.is_empty())
            .ok_or_else(|| {
                CliError::usage(
                    "register::artifact_store",
                    format!(
                        "--artifact-store `{uri}` is not an az:// URI, which an azure connector reaches"
                    ),
                    "e.g. --artifact-store az://ml-artifacts",
                )
            })?;
        wanted.push((
            "artifact_store",
            "azure.storage.blob_container",
            container.to_owned(),
            uri,
        ));
    }
    if let Some(uri) = container_registry {
        wanted.push((
            "container_registry",
            "azure.containerregistry.registry",
            uri.clone(),
            uri,
        ));
    }
    if let Some(spec) = orchestrator {
        let cluster = cluster_of(spec)?;
        wanted.push((
            "orchestrator",
            "azure.containerservice.managed_cluster",
            cluster.to_owned(),
            spec,
        ));
    }
    if wanted.is_empty() {
        return Err(CliError::usage(
            "register::empty",
            "a registered stack needs at least one component",
            "pass --artifact-store, --container-registry or --orchestrator (see `stackform connector list-resources`)",
        ));
    }
    let mut out = Vec::new();
    for (component, type_name, key, given) in wanted {
        let id = stackform_providers::azure::connector::find_arm(resolved, component, &key)
            .await
            .map_err(|e| refused_lookup(name, e))?
            .ok_or_else(|| {
                CliError::usage(
                    "stack::register_not_found",
                    format!("{given} ({component}) does not exist where connector `{name}` looks"),
                    format!("`stackform connector list-resources {name}` shows what it can reach"),
                )
            })?;
        out.push(Existing {
            component: component.into(),
            type_name: type_name.into(),
            physical_id: id,
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

/// A component this stackform cannot register through a connector of `kind`.
fn not_for(
    connector: &stackform_engine::ext::connectors::Connector,
    kind: &str,
    what: &str,
) -> CliError {
    let reaches = match kind {
        "azure" => {
            "a storage-shared-key azure connector registers an artifact store (az://CONTAINER) only; a service-principal or implicit one registers ACR registries and AKS clusters too"
        }
        _ => "register through an aws, gcp or azure connector",
    };
    CliError::usage(
        "register::unsupported",
        format!(
            "connector `{}` is a {kind} connector, through which this stackform cannot register {what}",
            connector.name
        ),
        reaches,
    )
}

/// `LOCATION-docker.pkg.dev/PROJECT/REPOSITORY` (as `list-resources` prints it) as the
/// repository's resource name.
fn gcp_repository(uri: &str) -> Result<String, CliError> {
    let parts: Vec<&str> = uri.trim_end_matches('/').split('/').collect();
    match parts.as_slice() {
        [host, project, repo]
            if host.ends_with("-docker.pkg.dev") && !project.is_empty() && !repo.is_empty() =>
        {
            let location = host.trim_end_matches("-docker.pkg.dev");
            Ok(format!(
                "projects/{project}/locations/{location}/repositories/{repo}"
            ))
        }
        _ => Err(CliError::usage(
            "register::container_registry",
            format!(
                "--container-registry `{uri}` is not an Artifact Registry repository (LOCATION-docker.pkg.dev/PROJECT/REPOSITORY)"
            ),
            "e.g. --container-registry europe-west1-docker.pkg.dev/my-project/images",
        )),
    }
}

/// A GKE cluster, `NAME` (in the connector's `region`) or `LOCATION/NAME`, as its resource name
/// in the connector's project.
fn gke_cluster(
    connector: &stackform_engine::ext::connectors::Connector,
    cluster: &str,
) -> Result<String, CliError> {
    let project = stackform_providers::gcp::connector::project(connector).map_err(|e| {
        CliError::usage(
            "register::orchestrator",
            e.message,
            format!(
                "register the connector again with `--setting project=ID` (`stackform connector delete {}` first)",
                connector.name
            ),
        )
    })?;
    let (location, name) = match cluster.split_once('/') {
        Some((l, n)) => (l.to_owned(), n.to_owned()),
        None => {
            let region = connector.settings.get("region").ok_or_else(|| {
                CliError::usage(
                    "register::orchestrator",
                    format!(
                        "`kubernetes:{cluster}` does not say where the cluster is, and gcp connector `{}` has no region",
                        connector.name
                    ),
                    format!("name its location: --orchestrator kubernetes:LOCATION/{cluster}"),
                )
            })?;
            (region.clone(), cluster.to_owned())
        }
    };
    Ok(format!(
        "projects/{project}/locations/{location}/clusters/{name}"
    ))
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

/// Every stack with a state in STACKFORM_HOME, by name; a damaged local state is an error (for
/// callers that must not miss a stack: is a connector or an integration still in use?).
pub fn local_stacks() -> Result<Vec<State>, CliError> {
    let (stacks, damaged) = readable_stacks()?;
    match damaged.into_iter().next() {
        Some((_, e)) => Err(e),
        None => Ok(stacks),
    }
}

/// A local stack whose state cannot be read, and why.
pub type Damaged = (String, CliError);

/// Every stack with a state in STACKFORM_HOME, by name, and apart the local stacks whose state
/// cannot be read, with why: one damaged stack must not stop `reap` from reaping the others.
pub fn readable_stacks() -> Result<(Vec<State>, Vec<Damaged>), CliError> {
    let mut stacks: Vec<State> = Vec::new();
    let mut damaged = Vec::new();
    if let Ok(entries) = std::fs::read_dir(home::stacks_dir()?) {
        for e in entries.flatten() {
            let name = e.file_name().to_string_lossy().into_owned();
            // Only stacks: not the list's index, nor anything else a user left there.
            if !e.file_type().is_ok_and(|t| t.is_dir())
                || stackform_engine::state::stack::validate_name(&name).is_err()
            {
                continue;
            }
            // Each by its own backend: a remote stack's directory holds its working copy. One
            // that cannot be reached is reported and left out, not a reason to list nothing.
            let files = home::stack_files(&name)?;
            match store::load(&files) {
                Ok(Some(state)) => stacks.push(state),
                Ok(None) => {}
                Err(e) if files.remote.is_some() => {
                    tracing::warn!("stack `{name}` left out: {e}; {}", e.help());
                }
                Err(e) => damaged.push((name, e.into())),
            }
        }
    }
    stacks.sort_by(|a, b| a.stack.name.cmp(&b.stack.name));
    damaged.sort_by(|a, b| a.0.cmp(&b.0));
    Ok((stacks, damaged))
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
            if *discover {
                let rt = crate::run::runtime()?;
                let secrets = home::secrets()?;
                let resolved =
                    rt.block_on(connectors.resolve(&connector.name, secrets.as_ref()))?;
                let found =
                    rt.block_on(crate::commands::connector::list_resources(&resolved, None))?;
                let only = |kind: &str| -> Result<Option<String>, CliError> {
                    let ids: Vec<&String> = found
                        .iter()
                        .filter(|(t, _)| t == kind)
                        .map(|(_, id)| id)
                        .collect();
                    match ids.as_slice() {
                        [] => Ok(None),
                        [one] => Ok(Some((*one).clone())),
                        many => Err(CliError::usage(
                            "register::ambiguous",
                            format!(
                                "connector `{}` reaches {} of kind {kind}: {}",
                                connector.name,
                                many.len(),
                                many.iter()
                                    .map(|s| s.as_str())
                                    .collect::<Vec<_>>()
                                    .join(", ")
                            ),
                            "name the one to register (--artifact-store, --container-registry or --orchestrator)",
                        )),
                    }
                };
                if artifact_store.is_none() {
                    artifact_store = match only("s3-bucket")? {
                        Some(b) => Some(b),
                        None => match only("gcs-bucket")? {
                            Some(b) => Some(b),
                            None => only("blob-container")?,
                        },
                    };
                }
                if container_registry.is_none() {
                    container_registry = only("docker-registry")?;
                }
                if orchestrator.is_none() {
                    orchestrator = only("kubernetes-cluster")?.map(|c| format!("kubernetes:{c}"));
                }
            }
            let resources =
                if connector.kind == "azure" && connector.auth_method != "storage-shared-key" {
                    let rt = crate::run::runtime()?;
                    let secrets = home::secrets()?;
                    let resolved =
                        rt.block_on(connectors.resolve(&connector.name, secrets.as_ref()))?;
                    rt.block_on(arm_existing(
                        &resolved,
                        &artifact_store,
                        &container_registry,
                        &orchestrator,
                    ))?
                } else {
                    existing(
                        &connector,
                        &artifact_store,
                        &container_registry,
                        &orchestrator,
                    )?
                };
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
            let state = crate::run::runtime()?
                .block_on(stackform_engine::ops::register::register(request))?;
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
