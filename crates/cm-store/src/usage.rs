//! Tokens the LLM used for a project, counted per UTC day and purpose.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use sqlx::Row;

use crate::{Result, Store, now_ms};

/// Totals of LLM calls.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct LlmTotals {
    /// Calls that got an answer.
    pub requests: i64,
    /// Calls that failed (the work fell back to offline processing).
    pub failures: i64,
    /// Tokens sent.
    pub prompt_tokens: i64,
    /// Tokens generated.
    pub completion_tokens: i64,
}

impl std::ops::AddAssign for LlmTotals {
    fn add_assign(&mut self, other: LlmTotals) {
        self.requests += other.requests;
        self.failures += other.failures;
        self.prompt_tokens += other.prompt_tokens;
        self.completion_tokens += other.completion_tokens;
    }
}

/// A project's LLM usage: in all, by purpose, and per day.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct LlmUsage {
    /// Everything.
    pub total: LlmTotals,
    /// By purpose (`structure`, `extract`, `merge`).
    pub by_purpose: BTreeMap<String, LlmTotals>,
    /// By UTC day (`YYYY-MM-DD`), oldest first.
    pub by_day: BTreeMap<String, LlmTotals>,
}

/// One call to count: `None` tokens for a failed call.
#[derive(Debug, Clone, Copy, PartialEq, Eq, schemars::JsonSchema)]
pub struct LlmCall<'a> {
    /// What it was for.
    pub purpose: &'a str,
    /// Tokens sent and generated, or `None` when the call failed.
    pub tokens: Option<(u64, u64)>,
}

impl Store {
    /// Counts one LLM call made for this project today.
    pub async fn record_llm_call(&self, call: LlmCall<'_>) -> Result<()> {
        let (requests, failures, prompt, completion) = match call.tokens {
            Some((p, c)) => (1, 0, p as i64, c as i64),
            None => (0, 1, 0, 0),
        };
        sqlx::query(
            "INSERT INTO llm_usage (day, purpose, requests, failures, prompt_tokens, completion_tokens)
             VALUES (strftime('%Y-%m-%d', ?1 / 1000, 'unixepoch'), ?2, ?3, ?4, ?5, ?6)
             ON CONFLICT (day, purpose) DO UPDATE SET
                requests = requests + excluded.requests,
                failures = failures + excluded.failures,
                prompt_tokens = prompt_tokens + excluded.prompt_tokens,
                completion_tokens = completion_tokens + excluded.completion_tokens",
        )
        .bind(now_ms())
        .bind(call.purpose)
        .bind(requests)
        .bind(failures)
        .bind(prompt)
        .bind(completion)
        .execute(&mut *self.writer().await?)
        .await?;
        Ok(())
    }

    /// Tokens (sent plus generated) used for this project today (UTC).
    pub async fn llm_tokens_today(&self) -> Result<u64> {
        let tokens: i64 = sqlx::query_scalar(
            "SELECT COALESCE(SUM(prompt_tokens + completion_tokens), 0) FROM llm_usage
             WHERE day = strftime('%Y-%m-%d', ?1 / 1000, 'unixepoch')",
        )
        .bind(now_ms())
        .fetch_one(self.pool())
        .await?;
        Ok(tokens.max(0) as u64)
    }

    /// The project's LLM usage so far.
    pub async fn llm_usage(&self) -> Result<LlmUsage> {
        let rows = sqlx::query(
            "SELECT day, purpose, requests, failures, prompt_tokens, completion_tokens
             FROM llm_usage ORDER BY day, purpose",
        )
        .fetch_all(self.pool())
        .await?;
        let mut usage = LlmUsage::default();
        for row in &rows {
            let t = LlmTotals {
                requests: row.try_get("requests")?,
                failures: row.try_get("failures")?,
                prompt_tokens: row.try_get("prompt_tokens")?,
                completion_tokens: row.try_get("completion_tokens")?,
            };
            usage.total += t;
            *usage.by_purpose.entry(row.try_get("purpose")?).or_default() += t;
            *usage.by_day.entry(row.try_get("day")?).or_default() += t;
        }
        Ok(usage)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn calls_add_up_by_purpose_and_day() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&dir.path().join("m.db")).await.unwrap();
        assert_eq!(store.llm_usage().await.unwrap(), LlmUsage::default());
        for call in [
            LlmCall { purpose: "structure", tokens: Some((100, 20)) },
            LlmCall { purpose: "structure", tokens: Some((50, 10)) },
            LlmCall { purpose: "extract", tokens: Some((1000, 200)) },
            LlmCall { purpose: "extract", tokens: None },
        ] {
            store.record_llm_call(call).await.unwrap();
        }
        let usage = store.llm_usage().await.unwrap();
        assert_eq!(
            usage.total,
            LlmTotals { requests: 3, failures: 1, prompt_tokens: 1150, completion_tokens: 230 }
        );
        assert_eq!(usage.by_purpose["structure"].prompt_tokens, 150);
        assert_eq!(usage.by_purpose["extract"].failures, 1);
        assert_eq!(usage.by_day.len(), 1);
        assert_eq!(store.llm_tokens_today().await.unwrap(), 1380);
        sqlx::query("UPDATE llm_usage SET day = '2000-01-01' WHERE purpose = 'extract'")
            .execute(store.pool())
            .await
            .unwrap();
        assert_eq!(store.llm_tokens_today().await.unwrap(), 180, "only today's tokens");
        assert!(store.record_llm_call(LlmCall { purpose: "dreaming", tokens: None }).await.is_err());
    }
}
