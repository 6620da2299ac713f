//! Every LLM call of the engine goes through [`Engine::ask_llm`]: bounded by a
//! deadline, counted in the project's token usage, held to the day's token
//! limits, and never an error — a failed, slow or refused call is `None` and
//! the caller falls back to offline work.

use std::time::Duration;

use cm_core::{LlmPurpose, TokenLimits};
use cm_store::LlmCall;

use crate::{Engine, Project};

impl Engine {
    /// Asks the LLM, if one is set up, with `system` and `user` for
    /// `purpose`, waiting at most `timeout`. Returns the answer's text, or
    /// `None` (no LLM, an error, too slow) after logging why. The call and
    /// its tokens are counted in `project`'s usage.
    pub(crate) async fn ask_llm(
        &self,
        project: &Project,
        purpose: LlmPurpose,
        (system, user): (String, String),
        timeout: Duration,
    ) -> Option<String> {
        let llm = self.llm()?;
        if llm.background_only() && purpose == LlmPurpose::Structure {
            // Structuring happens while a save waits: a provider that takes
            // seconds to start is left to background work.
            return None;
        }
        if let Some(why) = self.over_limit(project, llm.daily_limits()).await {
            tracing::info!(
                llm = llm.name(),
                purpose = purpose.as_str(),
                "{why}; working offline until the day ends (UTC)"
            );
            return None;
        }
        // A program started for each call needs longer than a request.
        let timeout = if llm.background_only() { timeout.saturating_mul(4) } else { timeout };
        let answer = match tokio::time::timeout(timeout, llm.complete(&system, &user)).await {
            Ok(Ok(answer)) => Some(answer),
            Ok(Err(e)) => {
                tracing::warn!(llm = llm.name(), purpose = purpose.as_str(), error = %e, "LLM call failed; working offline");
                None
            }
            Err(_) => {
                tracing::warn!(
                    llm = llm.name(),
                    purpose = purpose.as_str(),
                    timeout_ms = timeout.as_millis() as u64,
                    "LLM too slow; working offline"
                );
                None
            }
        };
        let call = LlmCall {
            purpose: purpose.as_str(),
            tokens: answer.as_ref().map(|a| (a.prompt_tokens, a.completion_tokens)),
        };
        match self.store(project).await {
            Ok(store) => {
                if let Err(e) = store.record_llm_call(call).await {
                    tracing::warn!(error = %e, "could not count the LLM call");
                }
            }
            Err(e) => tracing::warn!(error = %e, "could not count the LLM call"),
        }
        answer.map(|a| a.text)
    }

    /// Why `project` may not use the LLM any more today, if it may not.
    async fn over_limit(&self, project: &Project, limits: TokenLimits) -> Option<String> {
        if limits.per_project == 0 && limits.total == 0 {
            return None;
        }
        // Usage that cannot be read is not zero: without it the limit cannot hold.
        let here = match self.llm_tokens_today(project).await {
            Ok(n) => n,
            Err(e) => return Some(format!("the project's LLM usage cannot be read ({e})")),
        };
        if limits.per_project > 0 && here >= limits.per_project {
            return Some(format!(
                "the project used {here} LLM tokens today, its limit is {}",
                limits.per_project
            ));
        }
        if limits.total > 0 {
            let everywhere = here + self.llm_tokens_today_in_all(Some(project)).await;
            if everywhere >= limits.total {
                return Some(format!(
                    "{everywhere} LLM tokens were used today, the limit is {}",
                    limits.total
                ));
            }
        }
        None
    }
}
