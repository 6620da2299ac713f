//! Superseded memories, detected offline when a memory is saved.
//!
//! "We use MySQL" and, a month later, "we moved the database to Postgres"
//! must not both be injected with equal weight. When a new memory is saved,
//! the older live memories its own search finds are checked one by one; an
//! older memory is marked superseded by the new one only when all of these
//! hold, because a wrong supersede hides a right memory:
//!
//! - both are knowledge that can go out of date (`decision`, `fact`,
//!   `pattern`, `bug`) in the same domain — never a person's `preference`;
//! - they are on the same subject: at least [`MIN_SHARED`] meaningful words
//!   in common, cue words left out. Vectors only choose the candidates: on
//!   all-MiniLM-L6-v2, "We switched the deploy pipeline to GitHub Actions"
//!   and "The deploy docs moved to the wiki" are closer than its calibrated
//!   cluster threshold (0.40), yet about different things, so no similarity
//!   stands in for a second shared word;
//! - the new text says that something changed: a cue such as "moved to",
//!   "switched", "no longer", "upgraded" (see [`CUES`]), or a different
//!   version of the same named thing ("Node 18" → "Node 20");
//! - the new one says something the older did not (what replaced it), and
//!   either drops something the older said (what was replaced) or the older
//!   told of no change itself. So a restatement of the same change ("we
//!   moved to Postgres", then "we moved to Postgres last month") supersedes
//!   nothing, though both carry a cue.
//!
//! The older memory is kept, listed and searchable with `superseded_by` set;
//! hooks stop injecting it, and [`Engine::unsupersede`] undoes the mark.

use std::collections::HashSet;

use cm_core::text::{is_stopword, words};
use cm_core::{Memory, MemoryType, SearchRequest};
use cm_store::{Space, Store};

use crate::{Engine, Project, Result};

/// Meaningful words two memories must share to be on the same subject. One
/// shared word ("database", "deploy") is too weak: unrelated notes share a
/// word all the time.
pub const MIN_SHARED: usize = 2;

/// Older memories checked per save: the top of the new memory's own search.
const CANDIDATES: usize = 5;

/// Words and phrases that say the text replaces something (matched as whole
/// lower-case words, so "Moved" and "moved  to" count and "remover" does not).
pub const CUES: &[&str] = &[
    // Verbs of a change; the object may sit between ("moved the database
    // to Postgres"), so the verb alone is the cue.
    "moved",
    "moving",
    "switched",
    "switching",
    "migrated",
    "migrating",
    "replaced",
    "replaces",
    "deprecated",
    "upgraded",
    "bumped",
    "downgraded",
    "superseded",
    // Phrases.
    "instead of",
    "no longer",
    "not anymore",
    "now use",
    "now uses",
    "now using",
    "changed to",
    "in favour of",
    "in favor of",
];

/// The words of [`CUES`]: left out when deciding whether two texts share a
/// subject, so "moved to" in both does not make them about the same thing.
fn cue_words() -> HashSet<&'static str> {
    CUES.iter().flat_map(|c| c.split(' ')).collect()
}

/// Types whose content a later memory can overtake.
fn supersedable(t: MemoryType) -> bool {
    matches!(t, MemoryType::Decision | MemoryType::Fact | MemoryType::Pattern | MemoryType::Bug)
}

/// Whether `text` carries one of the [`CUES`] of a change.
pub fn has_change_cue(text: &str) -> bool {
    let joined = format!(" {} ", words(text).collect::<Vec<_>>().join(" "));
    CUES.iter().any(|cue| joined.contains(&format!(" {cue} ")))
}

/// `(name, version)` pairs: a version-like token (`18`, `v20`, `3.12.1`)
/// with the word before it ("node 18", "python 3.12").
fn versions(text: &str) -> Vec<(String, String)> {
    let tokens: Vec<String> = text
        .split(|c: char| !(c.is_alphanumeric() || c == '.'))
        .map(|t| t.trim_matches('.').to_lowercase())
        .filter(|t| !t.is_empty())
        .collect();
    let is_version = |t: &str| {
        let t = t.strip_prefix('v').unwrap_or(t);
        t.starts_with(|c: char| c.is_ascii_digit()) && t.chars().all(|c| c.is_ascii_digit() || c == '.')
    };
    tokens
        .windows(2)
        .filter(|w| is_version(&w[1]) && w[0].chars().all(char::is_alphabetic) && !is_stopword(&w[0]))
        .map(|w| (w[0].clone(), w[1].trim_start_matches('v').to_owned()))
        .collect()
}

/// Whether `new` names a different version of something `old` names with a
/// version ("Node 18" → "Node 20"), and not the old version as well, and
/// drops nothing else `old` said: "Decision 3: module m3 …" and "Decision 4:
/// module m4 …" are two numbered items, not two versions of one.
pub fn version_changed(old: &str, new: &str) -> bool {
    let (old_v, new_v) = (versions(old), versions(new));
    let bumped = new_v
        .iter()
        .any(|pair| !old_v.contains(pair) && old_v.iter().any(|(n, ov)| *n == pair.0 && *ov != pair.1));
    if !bumped {
        return false;
    }
    let version_words: HashSet<String> = old_v.iter().flat_map(|(_, v)| words(v)).collect();
    let new_words: HashSet<String> = words(new).collect();
    words(old).filter(|w| !new_words.contains(w)).all(|w| version_words.contains(&w))
}

/// Meaningful words, cue words left out.
fn subject_words(text: &str) -> HashSet<String> {
    let cues = cue_words();
    words(text).filter(|w| !is_stopword(w) && !cues.contains(w.as_str())).collect()
}

/// Whether the newer memory `new` supersedes the older `old`. Pure, so the
/// rules are tested without a database.
pub fn supersedes(old: &Memory, new: &Memory) -> bool {
    // Older means saved before: an earlier id (two memories mined in one
    // transaction share their time) and no later time.
    if old.id >= new.id
        || old.archived
        || old.superseded_by.is_some()
        || old.created_at > new.created_at
        || !supersedable(old.memory_type)
        || !supersedable(new.memory_type)
        || old.domain != new.domain
    {
        return false;
    }
    let (o, n) = (subject_words(&old.content), subject_words(&new.content));
    let shared = o.intersection(&n).count();
    let same_subject = shared >= MIN_SHARED;
    let changed = has_change_cue(&new.content) || version_changed(&old.content, &new.content);
    // The new text must say something the older did not (what replaced it).
    // If it drops nothing either, it may still name the old thing beside the
    // new ("from MySQL to Postgres") — unless the older memory already told
    // of a change: then the new one restates it.
    let adds = n.difference(&o).next().is_some();
    let drops = o.difference(&n).next().is_some();
    let differs = adds && (drops || !has_change_cue(&old.content));
    same_subject && changed && differs
}

impl Engine {
    /// After `new` was saved (with its vector, if any): marks the older live
    /// memories it overtakes as superseded by it. Returns their ids. A
    /// failure is logged, never the save's: the memory is saved either way.
    pub(crate) async fn supersede_older(
        &self,
        store: &Store,
        new_id: i64,
        vector: Option<(&Space, &[f32])>,
    ) -> Vec<i64> {
        match self.try_supersede_older(store, new_id, vector).await {
            Ok(ids) => ids,
            Err(e) => {
                tracing::warn!(error = %e, memory = new_id, "supersede check failed; the memory is saved");
                Vec::new()
            }
        }
    }

    async fn try_supersede_older(
        &self,
        store: &Store,
        new_id: i64,
        vector: Option<(&Space, &[f32])>,
    ) -> Result<Vec<i64>> {
        let new = store.get(new_id).await?;
        // Most saves tell of no change: they need no search.
        let may_change = has_change_cue(&new.content) || !versions(&new.content).is_empty();
        if !supersedable(new.memory_type) || !may_change {
            return Ok(Vec::new());
        }
        let mut req = SearchRequest::new(new.content.clone(), CANDIDATES + 1);
        // Finding candidates is not an access by anyone.
        req.touch = false;
        // Neighbouring turns lend relevance to what answers a question, not
        // to what says the same as the new memory.
        let config = cm_core::SearchConfig { neighbour_weight: 0.0, ..self.config().search.clone() };
        let results = store.search(&req, vector, &config).await?;
        let mut superseded = Vec::new();
        for hit in results.hits.iter().filter(|h| h.memory.id != new_id).take(CANDIDATES) {
            if supersedes(&hit.memory, &new) {
                store.set_superseded(hit.memory.id, Some(new_id)).await?;
                tracing::info!(memory = hit.memory.id, by = new_id, "superseded by a newer memory");
                superseded.push(hit.memory.id);
            }
        }
        Ok(superseded)
    }

    /// Marks memory `id` live again (clears `superseded_by`): the undo of a
    /// supersede, offline or by hand.
    pub async fn unsupersede(&self, project: &Project, id: i64) -> Result<Memory> {
        let store = self.store(project).await?;
        Ok(store.set_superseded(id, None).await?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cues_are_whole_phrases() {
        assert!(has_change_cue("We moved the main database to Postgres."));
        assert!(has_change_cue("The API no longer returns XML"));
        assert!(!has_change_cue("The remover tool is fast"));
        assert!(!has_change_cue("We use MySQL for the main database"));
    }

    #[test]
    fn versions_of_the_same_thing() {
        assert!(version_changed("The project runs on Node 18", "The project now runs on Node 20"));
        assert!(version_changed("python 3.11 is required", "Python 3.12 is required"));
        assert!(!version_changed("The project runs on Node 18", "The project runs on Node 18 LTS"));
        assert!(!version_changed("The project runs on Node 18", "Postgres 16 is the database"));
        assert!(!version_changed("Upgrade from Node 18 to Node 20", "Upgrade from Node 18 to Node 20"));
        assert!(!version_changed(
            "Decision 3: module m3 keeps its own error enum",
            "Decision 4: module m4 keeps its own error enum"
        ));
    }
}
