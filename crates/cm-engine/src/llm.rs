//! Every LLM call of the engine goes through [`Engine::ask_llm`]: bounded by a
//! deadline, counted in the project's token usage, and never an error — a
//! failed or slow call is `None` and the caller falls back to offline work.

use std::time::Duration;

use cm_core::LlmPurpose;
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
}
