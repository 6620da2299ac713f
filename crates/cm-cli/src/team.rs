//! `claude-memory team …`, `share` and `unshare`: a project's team memory on
//! PostgreSQL, from the command line.

use std::io::BufRead;

use anyhow::{Context, Result};
use clap::Subcommand;
use cm_core::MemoryType;
use cm_engine::team::TeamStatus;
use cm_engine::{Engine, Project};
use cm_server::team::LinkInput;
use cm_team::TeamUrl;

use crate::{output, paths};

/// `claude-memory team …`.
#[derive(Debug, Subcommand)]
pub enum TeamCommand {
    /// Link this project to a team database (PostgreSQL). Teammates' clones
    /// with the same git origin, or linked with the same --name, share it.
    /// The password (in the URL, --password-stdin or
    /// CLAUDE_MEMORY_TEAM_PASSWORD) goes to the OS keychain, never a file
    /// when a keychain exists. TLS: add ?sslmode=verify-full&sslrootcert=CA.pem.
    Link {
        /// postgres://ROLE:PASSWORD@HOST:PORT/DATABASE?sslmode=… (password, port and options optional)
        url: String,
        /// The team project's name (default: this clone's normalised git origin).
        #[arg(long)]
        name: Option<String>,
        /// Who you are to the team (default: git's user.name, else your login).
        #[arg(long)]
        author: Option<String>,
        /// Memory types shared without marking them, comma-separated
        /// (e.g. decision,bug,pattern); default: only memories you `share`.
        #[arg(long, value_delimiter = ',')]
        share_types: Vec<String>,
        /// The confidence from which --share-types shares.
        #[arg(long, default_value_t = 0.8)]
        min_confidence: f64,
        /// Read the password from the first line of stdin.
        #[arg(long)]
        password_stdin: bool,
    },
    /// Unlink this project (its memories, shared or pulled, stay here).
    Unlink,
    /// Publish this project's changes and pull the team's now.
    Sync,
    /// The link, what is shared, pulled and waiting, and the last sync.
    Status,
    /// Install or upgrade the team schema (the database admin's step, as a
    /// role that may create roles and extensions).
    Migrate {
        /// postgres://ADMIN:PASSWORD@HOST:PORT/DATABASE (password and port optional)
        url: String,
    },
}

/// Runs a `team` command on `project`.
pub async fn run(engine: &Engine, project: &Project, command: TeamCommand, json: bool) -> Result<()> {
    let home = paths::home()?;
    match command {
        TeamCommand::Link { url, name, author, share_types, min_confidence, password_stdin } => {
            let password = if password_stdin {
                let mut line = String::new();
                std::io::stdin()
                    .lock()
                    .read_line(&mut line)
                    .context("cannot read the password from stdin")?;
                Some(line.trim_end_matches(['\r', '\n']).to_owned())
            } else {
                None
            };
            let share_types =
                share_types.iter().map(|t| t.trim().parse::<MemoryType>()).collect::<Result<Vec<_>, _>>()?;
            let input =
                LinkInput { url, password, name, author, share_types, min_confidence: Some(min_confidence) };
            let linked = cm_server::team::link(engine, &home, project, input).await?;
            output::print(json, &linked, |l| {
                let mut text =
                    format!("linked to {} as team project {}", l.team.link.url, l.team.link.team_key);
                if let Some(place) = &l.password_stored_in {
                    text.push_str(&format!("\npassword stored in {place}"));
                }
                text.push_str(
                    "\nshare a memory with `claude-memory share ID`; the engine syncs in the background",
                );
                text
            })
        }
        TeamCommand::Unlink => {
            let removed = engine.team_unlink(project).await?;
            output::print(json, &serde_json::json!({ "unlinked": removed }), |_| {
                if removed {
                    "unlinked; this project's memories stay".to_owned()
                } else {
                    "this project has no team".to_owned()
                }
            })
        }
        TeamCommand::Sync => {
            let report = cm_server::team::sync_project(engine, &home, project).await?;
            output::print(json, &report, |r| {
                format!(
                    "published {} ({} failed, queued), shared by the rule {}; pulled {} new, {} updated, {} deleted",
                    r.published, r.failed, r.shared_by_rule, r.inserted, r.updated, r.deleted
                )
            })
        }
        TeamCommand::Status => {
            let status = engine.team_status(project).await?;
            output::print(json, &status, |s| match s {
                None => "this project has no team (link one with `claude-memory team link <postgres-url>`)"
                    .to_owned(),
                Some(s) => status_text(s),
            })
        }
        TeamCommand::Migrate { url } => migrate(&url, json).await,
    }
}

/// `team migrate URL`: needs no project (the admin may run it anywhere).
pub async fn migrate(url: &str, json: bool) -> Result<()> {
    let mut url = TeamUrl::parse(url)?;
    if url.password.is_none() {
        url.password = std::env::var(cm_llm::TEAM_ENV_VAR).ok().filter(|p| !p.is_empty());
    }
    cm_team::migrate(&url).await?;
    output::print(json, &serde_json::json!({ "migrated": true }), |_| {
        "the team schema is current. Give each team a login role in the group claude_memory_teams:\n  \
         CREATE ROLE team_x LOGIN PASSWORD '…' IN ROLE claude_memory_teams;"
            .to_owned()
    })
}

/// `share ID` / `unshare ID`.
pub async fn share(engine: &Engine, project: &Project, id: i64, shared: bool, json: bool) -> Result<()> {
    let m = engine.share(project, id, shared).await?;
    output::print(json, &m, |m| {
        if shared {
            format!("memory {} is shared with the team from the next sync", m.id)
        } else {
            format!("memory {} leaves the team at the next sync (it stays here)", m.id)
        }
    })
}

fn status_text(s: &TeamStatus) -> String {
    let l = &s.link;
    let rule = if l.share_types.is_empty() {
        "only memories you share".to_owned()
    } else {
        let types: Vec<&str> = l.share_types.iter().map(|t| t.as_str()).collect();
        format!("{} from confidence {:.2}, and memories you share", types.join(", "), l.share_min_confidence)
    };
    let last = match (&l.last_error, l.last_sync_at) {
        (Some(e), _) => format!("team offline: {e}"),
        (None, Some(at)) => format!("last sync {}", output::time(at)),
        (None, None) => "not synced yet".to_owned(),
    };
    format!(
        "team database {}\nteam project  {}\nyou           {} ({})\nshares        {rule}\nshared {}, pulled from teammates {}, waiting to publish {}\n{last}",
        l.url, l.team_key, l.author, l.origin, s.counts.shared, s.counts.pulled, s.counts.pending
    )
}
