//! The command line: every subcommand and flag, as clap definitions.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

#[derive(Debug, Parser)]
#[command(
    name = "stackform",
    version,
    about = "Deploy, track and tear down ML infrastructure stacks",
    long_about = "stackform plans a stack template as a dependency graph, applies it concurrently, \
                  records every resource it creates, and removes everything on destroy."
)]
pub struct Cli {
    /// How to print results: `human` for people, `json` for machines (errors too).
    #[arg(long, global = true, value_enum, default_value_t = OutputFormat::Human)]
    pub output: OutputFormat,

    /// More log output on stderr (-v info, -vv debug).
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    pub verbose: u8,

    /// Where a new stack keeps its state: `local` (default), `file://PATH`,
    /// `s3://BUCKET/PREFIX`, `gs://BUCKET/PREFIX` or `azblob://ACCOUNT/CONTAINER/PREFIX`. A
    /// stack remembers its backend; `state migrate` moves it. Default from `state_backend:` in
    /// `$STACKFORM_HOME/config.yaml`.
    #[arg(
        long,
        global = true,
        env = "STACKFORM_STATE_BACKEND",
        value_name = "URL"
    )]
    pub state_backend: Option<String>,

    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum OutputFormat {
    Human,
    Json,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// List, show and validate templates.
    #[command(subcommand)]
    Template(TemplateCommand),
    /// Show what deploying TEMPLATE as stack NAME would change.
    Plan(PlanArgs),
    /// Create or update stack NAME from TEMPLATE.
    Deploy(DeployArgs),
    /// Delete every resource of stack NAME (protected ones and what they need are kept).
    Destroy(DestroyArgs),
    /// Find a stack's resources by their ownership tags alone and delete them (when its state is lost).
    Sweep(SweepArgs),
    /// Adopt an existing cloud resource into a stack at ADDRESS (declared in its template); nothing in the cloud changes.
    Import(ImportArgs),
    /// Destroy every stack whose TTL has passed, from local state or found by tags (dry run without --yes).
    Reap(ReapArgs),
    /// List and describe stacks.
    #[command(subcommand)]
    Stack(StackCommand),
    /// Create, list, show, update and delete secrets that stack configuration refers to as `{{ name.key }}`.
    #[command(subcommand)]
    Secret(SecretCommand),
    /// Service connectors: credentials to a cloud that stacks use by name.
    #[command(subcommand)]
    Connector(ConnectorCommand),
    /// Inspect and repair state.
    #[command(subcommand)]
    State(StateCommand),
    /// Add, list and remove integrations: component flavors, provider plugins and templates
    /// from a directory with a `stackform-integration.yaml`.
    #[command(subcommand)]
    Integration(IntegrationCommand),
}

#[derive(Debug, Subcommand)]
pub enum IntegrationCommand {
    /// List the installed integrations and what each adds.
    List,
    /// Check the integration in directory PATH (its manifest, plugins and templates) and install a copy of it.
    Add {
        /// The directory holding `stackform-integration.yaml`, or the manifest itself.
        path: PathBuf,
        /// Install over an installed integration of the same name (an upgrade).
        #[arg(long)]
        replace: bool,
    },
    /// Remove integration NAME and everything it added (refused while a stack uses it).
    Remove { name: String },
}

#[derive(Debug, Args)]
pub struct RunArgs {
    /// Apply without asking (required when not on a terminal).
    #[arg(long, short = 'y')]
    pub yes: bool,
    /// Operations in flight at once, over all providers.
    #[arg(long, default_value_t = 10, value_parser = clap::value_parser!(u32).range(1..=1000))]
    pub parallelism: u32,
    /// Wait this long for another command holding the stack's lock (e.g. `30s`, `2m`).
    #[arg(long, value_name = "DURATION", value_parser = humantime::parse_duration, default_value = "0s")]
    pub lock_timeout: std::time::Duration,
}

#[derive(Debug, Args)]
pub struct DeployArgs {
    /// A built-in template's name or a template file (optional with --plan, and for a stack
    /// that has one recorded: an imported or deployed stack is deployed from its own).
    pub template: Option<String>,
    /// The stack's name: 2-21 characters, lowercase letters, digits and `-`.
    #[arg(long)]
    pub name: String,
    #[command(flatten)]
    pub inputs: InputArgs,
    /// Apply a plan saved with `plan --out`; refused if the stack changed since.
    #[arg(long, value_name = "FILE")]
    pub plan: Option<PathBuf>,
    /// Use the built-in template as this stackform ships it, not the source the stack was last deployed from.
    #[arg(long)]
    pub upgrade_template: bool,
    /// Let the stack expire this long from now (e.g. `4h`, `2d`): every resource is tagged
    /// `stackform:expires-at` and `stackform reap` destroys it once expired.
    #[arg(long, value_name = "DURATION", value_parser = humantime::parse_duration)]
    pub ttl: Option<std::time::Duration>,
    /// The stack's environment; a production stack's resources are protected from deletion,
    /// and destroying it takes `--confirm NAME`. Kept from the last deploy when not given.
    #[arg(long, value_enum)]
    pub environment: Option<Environment>,
    /// Reach the cloud through this service connector (`stackform connector list`); recorded
    /// with the stack.
    #[arg(long, value_name = "NAME")]
    pub connector: Option<String>,
    #[command(flatten)]
    pub targeting: Targeting,
    #[command(flatten)]
    pub run: RunArgs,
}

#[derive(Debug, Args)]
pub struct Targeting {
    /// Only this resource and what it depends on (repeatable); the rest is left as it is.
    #[arg(long = "target", value_name = "ADDRESS")]
    pub targets: Vec<String>,
    /// Replace this resource even though nothing forces it (repeatable).
    #[arg(long = "replace", value_name = "ADDRESS")]
    pub replace: Vec<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ExportFormat {
    Stackform,
    Zenml,
    /// `import` blocks (`imports.tf.json`) for `terraform plan -generate-config-out=...`.
    Terraform,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Environment {
    Dev,
    Staging,
    Production,
}

impl Environment {
    pub fn as_str(self) -> &'static str {
        match self {
            Environment::Dev => "dev",
            Environment::Staging => "staging",
            Environment::Production => "production",
        }
    }
}

#[derive(Debug, Args)]
pub struct DestroyArgs {
    /// The stack to destroy.
    pub name: String,
    /// Keep the volumes the cluster's storage driver made (reported, exit 3) instead of deleting them.
    #[arg(long)]
    pub retain_volumes: bool,
    /// The stack's name again: required instead of --yes for a production stack (protected
    /// resources are kept either way).
    #[arg(long, value_name = "NAME")]
    pub confirm: Option<String>,
    /// Destroy only this resource and what depends on it (repeatable); the stack stays.
    #[arg(long = "target", value_name = "ADDRESS")]
    pub targets: Vec<String>,
    #[command(flatten)]
    pub run: RunArgs,
}

#[derive(Debug, Args)]
pub struct SweepArgs {
    /// The stack's name, as its `stackform:stack` tag holds it.
    #[arg(
        long,
        value_name = "NAME",
        required_unless_present = "stack_id",
        conflicts_with = "stack_id"
    )]
    pub stack: Option<String>,
    /// The stack's id, as its `stackform:stack-id` tag holds it.
    #[arg(long, value_name = "ID")]
    pub stack_id: Option<uuid::Uuid>,
    /// The AWS region to search besides the global services (default: the environment's).
    #[arg(long)]
    pub region: Option<String>,
    /// `--yes` deletes what was found; without it the sweep only shows what it would delete.
    #[command(flatten)]
    pub run: RunArgs,
}

#[derive(Debug, Args)]
pub struct ImportArgs {
    /// The stack.
    pub name: String,
    /// The resource's address in the template.
    pub address: String,
    /// The cloud's id for it (a bucket's name, a VPC's id, ...).
    pub id: String,
    /// The template (default: the one the stack was deployed from).
    #[arg(long)]
    pub template: Option<String>,
    #[command(flatten)]
    pub inputs: InputArgs,
}

#[derive(Debug, Args)]
pub struct ReapArgs {
    /// The AWS region to search for stacks by their tags (default: the environment's).
    #[arg(long)]
    pub region: Option<String>,
    /// `--yes` destroys the expired stacks; without it, reap only lists them.
    #[command(flatten)]
    pub run: RunArgs,
}

// Parsed once per run: the size of the largest variant does not matter.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Subcommand)]
pub enum ConnectorCommand {
    /// Register a connector; key material is read as KEY=VALUE lines on stdin (or --from-file), never from arguments.
    Register {
        name: String,
        /// aws, gcp, azure, kubernetes or docker.
        #[arg(long = "type", value_name = "TYPE")]
        kind: String,
        /// e.g. aws: implicit, profile, access-keys, session-token, assume-role.
        #[arg(long, default_value = "implicit")]
        auth_method: String,
        #[arg(long)]
        region: Option<String>,
        #[arg(long)]
        profile: Option<String>,
        #[arg(long, value_name = "ARN")]
        role_arn: Option<String>,
        #[arg(long)]
        external_id: Option<String>,
        /// e.g. `1h` (assume-role).
        #[arg(long)]
        session_duration: Option<String>,
        /// Any other setting of the auth method, as KEY=VALUE (repeatable).
        #[arg(long = "setting", value_name = "KEY=VALUE")]
        settings: Vec<String>,
        /// Only stacks of this environment may use it (repeatable).
        #[arg(long = "environment", value_enum)]
        environments: Vec<Environment>,
        /// Take key KEY's value from the file at PATH (repeatable).
        #[arg(long = "from-file", value_name = "KEY=PATH")]
        from_file: Vec<String>,
    },
    /// The registered connectors.
    List,
    /// A connector's settings (key material named, never shown).
    Describe { name: String },
    /// Delete a connector and its key material (refused while a stack uses it).
    Delete { name: String },
    /// Ask the cloud who the connector's credentials are, and whether they may do what a template's resources need.
    Verify {
        name: String,
        /// The template whose resource types' actions to check (a built-in name or a file);
        /// by default the built-in template of the connector's cloud.
        #[arg(long)]
        template: Option<String>,
    },
    /// Set up docker or kubectl to use the connector: a docker config with an ECR login, or a kubeconfig whose user runs `stackform connector token` for a fresh EKS token on every use.
    Login {
        name: String,
        /// docker-registry or kubernetes-cluster.
        #[arg(long)]
        resource_type: String,
        /// The cluster (kubernetes-cluster: NAME, or LOCATION/NAME on GKE), or the registry host (docker-registry on gcp: REGION-docker.pkg.dev).
        #[arg(long, value_name = "ID")]
        resource_id: Option<String>,
    },
    /// A token for a cluster (EKS: presigned; GKE: the connector's access token) as a Kubernetes ExecCredential (what the kubeconfig of `connector login` runs).
    Token {
        name: String,
        #[arg(long)]
        cluster: String,
    },
    /// What the connector can reach: buckets, registries, clusters.
    ListResources {
        name: String,
        /// s3-bucket, docker-registry or kubernetes-cluster.
        #[arg(long)]
        resource_type: Option<String>,
    },
}

#[derive(Debug, Subcommand)]
pub enum SecretCommand {
    /// Create a secret from KEY=VALUE lines on stdin (values never go on the command line).
    Create {
        name: String,
        /// Take KEY's value from the file at PATH (repeatable).
        #[arg(long = "from-file", value_name = "KEY=PATH")]
        from_file: Vec<String>,
    },
    /// Set keys of a secret (KEY=VALUE lines on stdin, or --from-file); other keys are kept.
    Update {
        name: String,
        #[arg(long = "from-file", value_name = "KEY=PATH")]
        from_file: Vec<String>,
        /// Remove this key (repeatable).
        #[arg(long = "remove-key", value_name = "KEY")]
        remove_key: Vec<String>,
    },
    /// The secrets in the store, with their keys.
    List,
    /// A secret's keys; values are shown only with --reveal.
    Get {
        name: String,
        #[arg(long)]
        reveal: bool,
    },
    /// Delete a secret.
    Delete { name: String },
}

#[derive(Debug, Subcommand)]
pub enum StackCommand {
    /// Every stack in STACKFORM_HOME.
    List,
    /// A stack's components, outputs, resources and status.
    Describe { name: String },
    /// Register a stack made of resources that already exist, reached through a connector (never deleted by stackform).
    Register {
        name: String,
        #[arg(long, value_name = "NAME")]
        connector: String,
        /// e.g. s3://ml-artifacts
        #[arg(long, value_name = "URI")]
        artifact_store: Option<String>,
        /// e.g. 123456789012.dkr.ecr.eu-west-1.amazonaws.com/ml
        #[arg(long, value_name = "URI")]
        container_registry: Option<String>,
        /// kubernetes:CLUSTER
        #[arg(long, value_name = "kubernetes:CLUSTER")]
        orchestrator: Option<String>,
        /// Take each component not given from what `connector list-resources` finds, when it
        /// finds exactly one of that kind (else the candidates are listed).
        #[arg(long)]
        discover: bool,
        /// Take the components from a Terraform state file (format version 4): ZenML-module
        /// outputs, or resources of known types (`aws_s3_bucket`, `aws_ecr_repository`,
        /// `aws_eks_cluster`, ...).
        #[arg(long, value_name = "PATH")]
        from_terraform_state: Option<PathBuf>,
        /// With --from-terraform-state: take COMPONENT from the output named OUTPUT (repeatable).
        #[arg(long = "map", value_name = "COMPONENT=OUTPUT")]
        maps: Vec<String>,
        #[arg(long, value_enum)]
        environment: Option<Environment>,
    },
    /// Export a stack: `stackform` (template, inputs, environment and connector names; for `stack import`), `zenml` (the stack YAML `zenml stack import` reads) or `terraform` (import blocks, written into the directory --out names).
    Export {
        name: String,
        #[arg(long, value_enum, default_value_t = ExportFormat::Stackform)]
        format: ExportFormat,
        /// Write to PATH (mode 0600) instead of stdout; for `terraform`, the directory to write into.
        #[arg(long, value_name = "PATH")]
        out: Option<PathBuf>,
    },
    /// Create a stack from a stackform export; `stackform deploy --name NAME` then deploys it.
    Import {
        file: PathBuf,
        /// The new stack's name (default: the exported one).
        #[arg(long)]
        name: Option<String>,
        #[arg(long, value_enum)]
        environment: Option<Environment>,
        /// Reach the cloud through this connector instead of the exported one.
        #[arg(long, value_name = "NAME")]
        connector: Option<String>,
    },
    /// Protect a stack's resources (or one) from deletion: destroy keeps them, plans that would delete or replace them fail.
    Protect {
        name: String,
        /// Only this resource.
        #[arg(long, value_name = "ADDRESS")]
        resource: Option<String>,
    },
    /// Remove the protection of a stack's resources (or one).
    Unprotect {
        name: String,
        /// Only this resource.
        #[arg(long, value_name = "ADDRESS")]
        resource: Option<String>,
    },
}

#[derive(Debug, Subcommand)]
pub enum StateCommand {
    /// Print a stack's state (sensitive values are sealed).
    Show { name: String },
    /// Release a stack's lock (with --force even while held, for shared filesystems).
    Unlock {
        name: String,
        #[arg(long)]
        force: bool,
    },
    /// Move a resource to another address (after renaming it in the template): no cloud call, no replacement.
    Mv {
        name: String,
        from: String,
        to: String,
    },
    /// Let a resource go: it stays in the cloud, unmanaged (the census reports it and leaves it).
    Rm { name: String, address: String },
    /// Move a stack's state to another backend (`local`, `file://PATH`, `s3://BUCKET/PREFIX`):
    /// copied with its lineage, serial and resources, read back and compared, then switched.
    Migrate {
        name: String,
        /// Where the state goes.
        #[arg(long, value_name = "URL")]
        to: String,
        /// Wait this long for a command holding the stack's lock (e.g. `30s`).
        #[arg(long, default_value = "0s", value_parser = humantime::parse_duration)]
        lock_timeout: std::time::Duration,
    },
    /// Rebuild a lost or corrupt state from the cloud: every resource tagged with the stack's id, at its recorded address. A corrupt state is set aside (`state.json.corrupt`).
    Rebuild {
        name: String,
        /// The stack's id (the `stackform:stack-id` tag). Default: the one its state's backup records.
        #[arg(long, value_name = "ID")]
        stack_id: Option<uuid::Uuid>,
        /// The template the stack was deployed from (a built-in name or a file). Default: the one its state's backup records.
        #[arg(long)]
        template: Option<String>,
        #[command(flatten)]
        inputs: InputArgs,
    },
}

#[derive(Debug, Subcommand)]
pub enum TemplateCommand {
    /// List the built-in templates and those of installed integrations.
    List,
    /// Print a built-in or integration template's source.
    Show {
        /// A template's name (`stackform template list`).
        template: String,
    },
    /// Check a template file for errors without deploying anything.
    Validate {
        /// A template file, or a built-in template's name.
        file: String,
        #[command(flatten)]
        inputs: InputArgs,
    },
}

#[derive(Debug, Args)]
pub struct InputArgs {
    /// Set an input: `--var region=eu-west-1` (repeatable; lists and maps as JSON).
    #[arg(long = "var", value_name = "K=V")]
    pub vars: Vec<String>,
    /// Read inputs from a YAML or JSON file of `name: value` pairs (repeatable; later wins).
    #[arg(long = "var-file", value_name = "FILE")]
    pub var_files: Vec<PathBuf>,
}

#[derive(Debug, Args)]
pub struct PlanArgs {
    /// A built-in template's name or a template file (not with --refresh-only); without one, the
    /// template the stack records, as `deploy --name NAME` uses.
    pub template: Option<String>,
    /// The stack's name: 2-21 characters, lowercase letters, digits and `-`.
    #[arg(long)]
    pub name: String,
    #[command(flatten)]
    pub inputs: InputArgs,
    /// Save the plan to FILE, for `deploy --plan FILE`.
    #[arg(long, value_name = "FILE")]
    pub out: Option<PathBuf>,
    /// Exit 5 when the plan has changes, 0 when it has none.
    #[arg(long)]
    pub detailed_exitcode: bool,
    #[command(flatten)]
    pub targeting: Targeting,
    /// Only what changed in the cloud since the stack's last record (drift), nothing planned for
    /// the template; nothing is recorded.
    #[arg(long, conflicts_with_all = ["template", "out"])]
    pub refresh_only: bool,
    /// Read every resource from the cloud before planning, as deploy does (`--refresh=false`
    /// plans against the state as recorded).
    #[arg(long, default_value_t = true, action = clap::ArgAction::Set, value_name = "BOOL")]
    pub refresh: bool,
    /// Plan with the built-in template as this stackform ships it, as `deploy --upgrade-template`.
    #[arg(long)]
    pub upgrade_template: bool,
    /// Wait this long for another command holding the stack's lock (e.g. `30s`, `2m`).
    #[arg(long, value_name = "DURATION", value_parser = humantime::parse_duration, default_value = "0s")]
    pub lock_timeout: std::time::Duration,
}
