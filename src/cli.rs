//! The command line: `serve`, `check-config`, `migrate`, `admin`, `demo`, `simulate-manager`.

use std::io::{BufRead, IsTerminal, Write};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use clap::{Args, Parser, Subcommand};
use secrecy::SecretString;
use url::Url;

use crate::config::{self, ConfigReport, Settings};
use crate::store::Database;
use crate::store::sql::{AdminName, NewAuditEntry};

#[derive(Parser)]
#[command(name = "portico", version, about = "One portal in front of several API manager instances")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Args)]
struct ConfigArg {
    /// Configuration file [default: config/portico.toml when it exists, else the embedded defaults]
    #[arg(long, env = config::CONFIG_PATH_ENV, value_name = "PATH")]
    config: Option<PathBuf>,
}

#[derive(Subcommand)]
enum Command {
    /// Run the portal.
    Serve(ConfigArg),
    /// Validate the configuration and print every problem (exit 1 when there is an error).
    CheckConfig(ConfigArg),
    /// Apply database migrations.
    Migrate(ConfigArg),
    /// Manage admin accounts.
    Admin {
        #[command(flatten)]
        config: ConfigArg,
        #[command(subcommand)]
        action: AdminAction,
    },
    /// Everything local: simulated managers, the embedded store, a temporary database.
    Demo {
        /// Where the portal listens.
        #[arg(long, default_value = "127.0.0.1:8080")]
        listen: SocketAddr,
    },
    /// Run one simulated API manager.
    SimulateManager {
        #[arg(long)]
        listen: SocketAddr,
        /// Run as a slave that authenticates logins against this master (e.g. http://127.0.0.1:8075).
        #[arg(long)]
        master: Option<Url>,
        /// JSON data file (users, organizations, APIs, applications) [default: the demo master data]
        #[arg(long)]
        data: Option<PathBuf>,
    },
}

#[derive(Subcommand)]
enum AdminAction {
    /// Add an admin account (password from stdin when it is not a terminal).
    Add { username: String },
    /// Change an admin's password (password from stdin when it is not a terminal).
    Passwd { username: String },
    /// List admin accounts.
    List,
}

/// Runs the command line and returns the process exit code.
pub fn run() -> ExitCode {
    let cli = Cli::parse();
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(dispatch(cli.command)) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

async fn dispatch(command: Command) -> anyhow::Result<ExitCode> {
    match command {
        Command::Serve(c) => serve(c).await,
        Command::CheckConfig(c) => Ok(check_config(c).await),
        Command::Migrate(c) => migrate(c).await,
        Command::Admin { config, action } => admin(config, action).await,
        Command::Demo { listen } => crate::demo::run(listen).await.map(|()| ExitCode::SUCCESS),
        Command::SimulateManager { listen, master, data } => {
            crate::simulator::run_cli(listen, master, data).await.map(|()| ExitCode::SUCCESS)
        }
    }
}

/// `--config`, else `PORTICO_CONFIG` (clap reads it), else the default path when it exists.
fn config_path(arg: ConfigArg) -> Option<PathBuf> {
    arg.config.or_else(|| {
        let default = PathBuf::from(config::DEFAULT_CONFIG_PATH);
        default.exists().then_some(default)
    })
}

/// Loads settings, printing problems to stderr; `None` when there is an error.
fn load_settings(arg: ConfigArg) -> Option<Settings> {
    let report: ConfigReport = config::load(config_path(arg).as_deref());
    if !report.problems.is_empty() {
        eprint!("{}", report.render());
    }
    report.settings
}

async fn check_config(arg: ConfigArg) -> ExitCode {
    let path = config_path(arg);
    let report = config::load(path.as_deref());
    match &path {
        Some(p) => println!("checking {}", p.display()),
        None => println!("checking the embedded defaults (no config file)"),
    }
    print!("{}", report.render());
    let remote_ok = match &report.settings {
        Some(settings) => check_remote_secrets(settings).await,
        None => true,
    };
    if report.has_errors() || !remote_ok { ExitCode::FAILURE } else { ExitCode::SUCCESS }
}

/// Reads every Key Vault and Vault reference once and says whether it could be read (and which
/// version), never what it holds. `false` when any could not be read.
async fn check_remote_secrets(settings: &Settings) -> bool {
    let remote: Vec<_> =
        crate::secrets::references(settings).into_iter().filter(|(_, r)| r.is_remote()).collect();
    if remote.is_empty() {
        return true;
    }
    let secrets = match crate::secrets::Secrets::new(settings, std::sync::Arc::new(crate::clock::SystemClock))
    {
        Ok(s) => s,
        Err(e) => {
            println!("error: cannot prepare the secret resolver: {e}");
            return false;
        }
    };
    let mut all_read = true;
    for (key, reference) in remote {
        match secrets.fetch(reference).await {
            Ok(fetched) => match fetched.version {
                Some(v) => println!("ok      {key}: {} (version {v})", reference.describe()),
                None => println!("ok      {key}: {}", reference.describe()),
            },
            Err(e) => {
                all_read = false;
                println!("error   {key}: {e}");
            }
        }
    }
    all_read
}

async fn serve(arg: ConfigArg) -> anyhow::Result<ExitCode> {
    let Some(settings) = load_settings(arg) else {
        return Ok(ExitCode::FAILURE);
    };
    // Held until the server stops: the last log lines are written out then.
    let _logs = crate::telemetry::init(&settings.log);
    let app = crate::startup::Application::build(settings).await?;
    tracing::info!(address = %app.address(), "Portico is listening");
    app.run_until_stopped().await?;
    Ok(ExitCode::SUCCESS)
}

async fn open_database(arg: ConfigArg) -> anyhow::Result<Option<Database>> {
    let Some(settings) = load_settings(arg) else {
        return Ok(None);
    };
    let secrets = crate::secrets::Secrets::new(&settings, std::sync::Arc::new(crate::clock::SystemClock))?;
    let url = secrets.resolve(&settings.database.url).await.context("database.url")?;
    let db = Database::connect(&url, 2).await.context("cannot open the database (database.url)")?;
    Ok(Some(db))
}

async fn migrate(arg: ConfigArg) -> anyhow::Result<ExitCode> {
    let Some(db) = open_database(arg).await? else {
        return Ok(ExitCode::FAILURE);
    };
    let applied = db.migrate().await?;
    println!("{applied} migration(s) applied; the database schema is up to date");
    Ok(ExitCode::SUCCESS)
}

async fn admin(arg: ConfigArg, action: AdminAction) -> anyhow::Result<ExitCode> {
    let Some(db) = open_database(arg).await? else {
        return Ok(ExitCode::FAILURE);
    };
    db.migrate().await?;
    match action {
        AdminAction::List => {
            let admins = db.list_admins().await?;
            if admins.is_empty() {
                println!("no admin accounts; add one with `portico admin add NAME`");
            }
            for a in admins {
                println!("{}", a.username);
            }
        }
        AdminAction::Add { username } => {
            let name = AdminName::parse(&username)?;
            let hash = crate::password::hash(read_new_password()?).await?;
            db.create_admin(&name, &hash).await?;
            audit_cli(&db, "admin.add", &name).await?;
            println!("admin {name} added");
        }
        AdminAction::Passwd { username } => {
            let name = AdminName::parse(&username)?;
            let hash = crate::password::hash(read_new_password()?).await?;
            db.set_admin_password(&name, &hash).await?;
            audit_cli(&db, "admin.passwd", &name).await?;
            println!("password of admin {name} changed");
        }
    }
    Ok(ExitCode::SUCCESS)
}

async fn audit_cli(db: &Database, action: &str, name: &AdminName) -> anyhow::Result<()> {
    db.audit(NewAuditEntry {
        actor: "cli",
        action,
        target: Some(name.as_str()),
        detail: None,
        client_ip: None,
    })
    .await?;
    Ok(())
}

/// Asks twice on a terminal; reads one line from stdin otherwise (scripts, pipes).
fn read_new_password() -> anyhow::Result<SecretString> {
    if std::io::stdin().is_terminal() {
        let first = rpassword::prompt_password("New password: ")?;
        let second = rpassword::prompt_password("Repeat it: ")?;
        anyhow::ensure!(first == second, "the two passwords differ");
        Ok(SecretString::from(first))
    } else {
        let mut line = String::new();
        std::io::stdin().lock().read_line(&mut line)?;
        let password = line.trim_end_matches(['\r', '\n']).to_owned();
        anyhow::ensure!(!password.is_empty(), "no password on standard input");
        std::io::stderr().flush()?;
        Ok(SecretString::from(password))
    }
}
