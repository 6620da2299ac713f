//! `claude-memory doctor`: the checks of `cm_server::doctor`, with the
//! running engine asked over HTTP. Exit 0 when nothing fails, 1 otherwise.

use std::path::Path;

use anyhow::{Result, bail};
use cm_server::doctor::{EngineSeen, Outcome, render, run_checks};

use crate::{output, paths};

pub fn run(project: Option<&Path>, json: bool) -> Result<()> {
    let path_var = std::env::var_os("PATH").unwrap_or_default();
    let config = paths::load_config()?;
    let projects = match project {
        Some(p) => vec![std::path::absolute(p)?],
        None => {
            // Every known project, and the one of the working directory.
            let mut all = paths::registry()?.projects();
            let here = std::env::current_dir().ok().and_then(|d| cm_engine::resolve_existing(&d, false));
            all.extend(here.filter(|h| !all.contains(h)));
            all
        }
    };
    let engine = paths::home().ok().and_then(|home| crate::service::engine_status(&home).ok().flatten()).map(
        |(info, _, status)| EngineSeen {
            url: info.url.to_string(),
            version: status["version"].as_str().unwrap_or("?").to_owned(),
            model: status["model"]["id"].as_str().map(str::to_owned),
        },
    );
    // Only reads: no model, no registry; each project's store opened once.
    let reader = cm_engine::Engine::new(cm_core::Config::default(), None);
    let report = run_checks(&paths::home()?, &config, &path_var, &projects, engine.as_ref(), &reader);
    tokio::runtime::Handle::current().block_on(reader.close());
    output::print(json, &report, render)?;
    let failed = report.checks.iter().filter(|c| c.outcome == Outcome::Fail).count();
    if failed > 0 {
        bail!("{failed} check{} failed", if failed == 1 { "" } else { "s" });
    }
    Ok(())
}
