//! What a project's store recorded (hook answers, jobs, clusters, LLM
//! usage), read through the engine so adapters never hold a store: the
//! engine decides when a project exists and which database is current.

use cm_store::{Cluster, HookCall, Injection, Job, LlmUsage, TimelineEntry};

use crate::{Engine, Project, Result};

impl Engine {
    /// The latest injections, newest first; of one memory with `memory_id`.
    pub async fn injections(
        &self,
        project: &Project,
        memory_id: Option<i64>,
        limit: usize,
    ) -> Result<Vec<Injection>> {
        Ok(self.store(project).await?.injections(memory_id, limit).await?)
    }

    /// Injections per day (`YYYY-MM-DD`, count) over the last `days` days.
    pub async fn injections_per_day(&self, project: &Project, days: u32) -> Result<Vec<(String, i64)>> {
        Ok(self.store(project).await?.injections_per_day(days).await?)
    }

    /// The project's history, newest first (see [`cm_store::Store::timeline`]).
    pub async fn timeline(
        &self,
        project: &Project,
        session: Option<&str>,
        before: Option<i64>,
        limit: usize,
    ) -> Result<Vec<TimelineEntry>> {
        Ok(self.store(project).await?.timeline(session, before, limit).await?)
    }

    /// The latest call of each hook event.
    pub async fn hook_calls(&self, project: &Project) -> Result<Vec<HookCall>> {
        Ok(self.store(project).await?.hook_calls().await?)
    }

    /// Background jobs, newest first; only those in `state` when given.
    pub async fn jobs(&self, project: &Project, state: Option<&str>, limit: usize) -> Result<Vec<Job>> {
        Ok(self.store(project).await?.jobs(state, limit).await?)
    }

    /// The project's clusters.
    pub async fn clusters(&self, project: &Project) -> Result<Vec<Cluster>> {
        Ok(self.store(project).await?.clusters().await?)
    }

    /// Tokens and requests the project's LLM calls used.
    pub async fn llm_usage(&self, project: &Project) -> Result<LlmUsage> {
        Ok(self.store(project).await?.llm_usage().await?)
    }

    /// Tokens the LLM used for the project today (UTC), as the daily limits count them.
    pub async fn llm_tokens_today(&self, project: &Project) -> Result<u64> {
        Ok(self.store(project).await?.llm_tokens_today().await?)
    }

    /// Tokens the LLM used today in every known project but `except`, as
    /// the daily limit for all projects counts them; a project whose usage
    /// cannot be read adds none.
    pub async fn llm_tokens_today_in_all(&self, except: Option<&Project>) -> u64 {
        let mut tokens = 0;
        for project in self.known_projects().await {
            if except.is_none_or(|e| e.root() != project.root()) {
                tokens += self.llm_tokens_today(&project).await.unwrap_or(0);
            }
        }
        tokens
    }
}
