//! Team memory: a project linked to a team database on PostgreSQL
//! (`cm-team`), what it shares, and the sync.
//!
//! Local SQLite stays the working copy. A sync (run in the background by the
//! service, or by `claude-memory team sync`) does three things:
//!
//! 1. **The rule**: live memories of the project's shared types, from its
//!    confidence up, are marked shared (never a private one).
//! 2. **Publish**: every change the outbox holds goes out as the memory's
//!    current version, redacted again, private ones as tombstones; a failure
//!    stays queued and is retried by the next sync (publishing is idempotent).
//! 3. **Pull**: the team's changes after the project's cursor, oldest first,
//!    are applied (newer local versions win, tombstones delete a teammate's
//!    memory), embedded here so search and hooks find them with no network
//!    call, and the cursor moves after each batch.
//!
//! A memory is *private* when it has the tag `private` or holds a
//! `<private>` region: it is never shared, by hand or by rule.

use cm_core::{Domain, Memory, MemoryType, NewMemory, Source};
use cm_store::{Applied, Incoming, Outgoing, Store, TeamCounts, TeamLink};
use cm_team::{Published, TeamDb, TeamMemory, TeamUrl};
use serde::Serialize;

use crate::engine::embed_text;
use crate::redaction::Redact;
use crate::{Engine, Error, Project, Result};

/// The tag that keeps a memory from ever leaving this machine.
pub const PRIVATE_TAG: &str = "private";

/// Changes published or pulled per round trip.
const BATCH: usize = 200;

/// Whether a memory must never leave this machine.
pub fn is_private(m: &Memory) -> bool {
    m.tags.iter().any(|t| t.eq_ignore_ascii_case(PRIVATE_TAG))
        || [Some(m.content.as_str()), m.summary.as_deref(), m.structured.as_deref()]
            .into_iter()
            .flatten()
            .any(|t| t.to_ascii_lowercase().contains("<private>"))
}

/// What `team link` asks for.
#[derive(Debug, Clone)]
pub struct LinkRequest {
    /// The team database (its password, if any, is used to check the link
    /// and never stored here).
    pub url: TeamUrl,
    /// The team project's key.
    pub team_key: String,
    /// Who this person is to the team.
    pub author: String,
    /// This machine.
    pub origin: String,
    /// Types shared without being marked.
    pub share_types: Vec<MemoryType>,
    /// From this confidence up.
    pub share_min_confidence: f64,
}

/// What one sync did.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, schemars::JsonSchema)]
pub struct SyncReport {
    /// Memories the rule marked shared.
    pub shared_by_rule: usize,
    /// Changes the team took.
    pub published: usize,
    /// Changes that failed to publish (queued for the next sync).
    pub failed: usize,
    /// Teammates' memories new here.
    pub inserted: usize,
    /// Memories here that took the team's newer version.
    pub updated: usize,
    /// Teammates' memories deleted from the team, and here.
    pub deleted: usize,
}

/// A project's team, as `team status` shows it.
#[derive(Debug, Clone, PartialEq, Serialize, schemars::JsonSchema)]
pub struct TeamStatus {
    /// The link.
    pub link: TeamLink,
    /// Shared, pulled and pending counts.
    pub counts: TeamCounts,
}

/// A team project key from a git `origin` URL: host and path, lower-cased,
/// without scheme, user, port, `.git` or trailing slash, so
/// `git@github.com:Acme/Shop.git` and `https://github.com/acme/shop` meet.
pub fn normalize_origin(url: &str) -> Option<String> {
    let url = url.trim();
    let rest = match url.split_once("://") {
        Some((_, rest)) => rest.to_owned(),
        // scp-like: user@host:path
        None => url.replacen(':', "/", 1),
    };
    let rest = rest.rsplit_once('@').map_or(rest.as_str(), |(_, r)| r);
    let (host, path) = rest.split_once('/')?;
    let host = host.split(':').next().unwrap_or(host);
    let path = path.trim_matches('/').trim_end_matches(".git").trim_matches('/');
    if host.is_empty() || path.is_empty() {
        return None;
    }
    Some(format!("{host}/{path}").to_lowercase())
}

/// A new global id: 128 random bits in hex.
fn new_gid() -> String {
    format!("{:032x}", rand::random::<u128>())
}

fn team_error(e: cm_team::Error) -> Error {
    Error::Team(e.to_string())
}

impl Engine {
    /// Links `project` to a team database: checks that it answers as the
    /// given role with a current schema, then records the link (not the
    /// password). Relinking to the same team keeps the pull position.
    pub async fn team_link(&self, project: &Project, req: LinkRequest) -> Result<TeamStatus> {
        if req.team_key.trim().is_empty() {
            return Err(Error::Team(
                "the team project needs a name: give --name, or link from a git clone with an origin"
                    .to_owned(),
            ));
        }
        if req.author.trim().is_empty() {
            return Err(Error::Team("the author name is empty".to_owned()));
        }
        let db = TeamDb::connect(&req.url).await.map_err(team_error)?;
        db.project(&req.team_key).await.map_err(team_error)?;
        db.close().await;
        let store = self.store_or_create(project).await?;
        store
            .set_team_link(&TeamLink {
                url: req.url.url.clone(),
                team_key: req.team_key,
                author: req.author,
                origin: req.origin,
                share_types: req.share_types,
                share_min_confidence: req.share_min_confidence,
                pull_cursor: 0,
                last_sync_at: None,
                last_error: None,
                linked_at: cm_store::now_ms(),
            })
            .await?;
        self.team_status(project).await?.ok_or_else(|| Error::Team("the link was not recorded".to_owned()))
    }

    /// Removes `project`'s link; its memories, shared or pulled, stay.
    pub async fn team_unlink(&self, project: &Project) -> Result<bool> {
        Ok(self.store(project).await?.remove_team_link().await?)
    }

    /// `project`'s team link, if it is linked (one row: cheap enough for a
    /// background loop over every project).
    pub async fn linked_team(&self, project: &Project) -> Result<Option<TeamLink>> {
        Ok(self.store(project).await?.team_link().await?)
    }

    /// `project`'s team link and counts, if it is linked.
    pub async fn team_status(&self, project: &Project) -> Result<Option<TeamStatus>> {
        let store = self.store(project).await?;
        let Some(link) = store.team_link().await? else { return Ok(None) };
        Ok(Some(TeamStatus { link, counts: store.team_counts().await? }))
    }

    /// Marks memory `id` shared with the team (or no longer), to be
    /// published by the next sync. A private memory is refused.
    pub async fn share(&self, project: &Project, id: i64, shared: bool) -> Result<Memory> {
        let store = self.store(project).await?;
        if store.team_link().await?.is_none() {
            return Err(Error::Team(
                "this project is not linked to a team: run `claude-memory team link <postgres-url>` first"
                    .to_owned(),
            ));
        }
        let memory = store.get(id).await?;
        if shared && is_private(&memory) {
            return Err(Error::Team(format!(
                "memory {id} is private (tag `private` or a <private> region): it never leaves this machine"
            )));
        }
        if shared && memory.archived {
            return Err(Error::Team(format!("memory {id} is archived: restore it before sharing")));
        }
        let gid = new_gid();
        Ok(store.set_shared(id, shared, &gid).await?)
    }

    /// Syncs `project` with its team now: the rule, publish, pull. The
    /// outcome (or the error) is recorded for `team status`.
    #[tracing::instrument(skip_all, fields(project = %project.root().display()))]
    pub async fn team_sync(&self, project: &Project, password: Option<&str>) -> Result<SyncReport> {
        let store = self.store(project).await?;
        let Some(link) = store.team_link().await? else {
            return Err(Error::Team("this project is not linked to a team".to_owned()));
        };
        let url = TeamUrl { url: link.url.clone(), password: password.map(str::to_owned) };
        let result = self.sync_with(&store, &link, &url).await;
        if let Err(e) = &result {
            store.record_team_sync(None, Some(&e.to_string())).await?;
        }
        result
    }

    async fn sync_with(&self, store: &Store, link: &TeamLink, url: &TeamUrl) -> Result<SyncReport> {
        let db = TeamDb::connect(url).await.map_err(team_error)?;
        let result = self.sync_on(store, link, &db).await;
        db.close().await;
        result
    }

    async fn sync_on(&self, store: &Store, link: &TeamLink, db: &TeamDb) -> Result<SyncReport> {
        let remote = db.project(&link.team_key).await.map_err(team_error)?;
        let mut report = SyncReport::default();

        for m in store.share_candidates(&link.share_types, link.share_min_confidence, 10_000).await? {
            if !is_private(&m) {
                store.set_shared(m.id, true, &new_gid()).await?;
                report.shared_by_rule += 1;
            }
        }

        loop {
            let batch = store.team_outbox(BATCH).await?;
            let mut progressed = false;
            let versions: Vec<(TeamMemory, i64)> = batch.iter().map(|out| outgoing(link, out)).collect();
            // One transaction for the batch; if the team refuses it, one
            // at a time, so a single bad version cannot hold back the rest.
            // The versions after the server went away are not tried: each
            // would wait for a connection in vain (seconds apiece). Those
            // published before it are recorded, the rest stay queued.
            let outcomes: Vec<std::result::Result<Published, cm_team::Error>> =
                match db.publish_batch(remote, &versions).await {
                    Ok(all) => all.into_iter().map(Ok).collect(),
                    Err(e @ cm_team::Error::Offline(_)) => return Err(team_error(e)),
                    Err(_) => {
                        let mut each = Vec::with_capacity(versions.len());
                        for (version, validations) in &versions {
                            let outcome = db.publish(remote, version, *validations).await;
                            let offline = matches!(outcome, Err(cm_team::Error::Offline(_)));
                            each.push(outcome);
                            if offline {
                                break;
                            }
                        }
                        each
                    }
                };
            for ((out, (version, _)), outcome) in batch.iter().zip(&versions).zip(outcomes) {
                match outcome {
                    Ok(published) => {
                        let adopted = match &published {
                            Published::Adopted(gid) => Some(gid.as_str()),
                            _ => None,
                        };
                        store.team_published(&out.gid, out.queued_at, version.updated_at, adopted).await?;
                        report.published += 1;
                        progressed = true;
                    }
                    // The server is gone: stop, everything left stays queued.
                    Err(e @ cm_team::Error::Offline(_)) => return Err(team_error(e)),
                    Err(e) => {
                        tracing::warn!(gid = %out.gid, error = %e, "a team publish failed; it stays queued");
                        store.team_publish_failed(&out.gid, &e.to_string()).await?;
                        report.failed += 1;
                    }
                }
            }
            if batch.len() < BATCH || !progressed {
                break;
            }
        }

        let mut cursor = link.pull_cursor;
        loop {
            let changes = db.pull(remote, cursor, &link.author, BATCH as i64).await.map_err(team_error)?;
            let Some(last) = changes.last().map(|c| c.change_seq) else { break };
            let incoming: Vec<Incoming> = changes.into_iter().filter_map(incoming).collect();
            let texts: Vec<String> =
                incoming.iter().map(|i| embed_text(&i.memory.content, i.memory.summary.as_deref())).collect();
            let vectors = if texts.is_empty() { None } else { self.embed_or_skip(store, &texts).await? };
            for (n, item) in incoming.iter().enumerate() {
                let vector = vectors.as_ref().map(|(space, v)| (space, v[n].as_slice()));
                match store.apply_team(item, vector).await? {
                    Applied::Inserted(_) => report.inserted += 1,
                    Applied::Updated(_) => report.updated += 1,
                    Applied::Deleted(_) => report.deleted += 1,
                    Applied::Unchanged => {}
                }
            }
            cursor = last;
            store.record_team_sync(Some(cursor), None).await?;
        }
        store.record_team_sync(Some(cursor), None).await?;
        Ok(report)
    }
}

/// The version to publish for an outbox entry, with this person's
/// validation count: the memory redacted again, or a tombstone when it is
/// gone, no longer shared, or private.
fn outgoing(link: &TeamLink, out: &Outgoing) -> (TeamMemory, i64) {
    let live = out.memory.as_ref().filter(|m| (m.shared || m.team_author.is_some()) && !is_private(m));
    match live {
        Some(m) => {
            let mut m = m.clone();
            m.redact();
            let hash = cm_core::text::content_hash(&m.content);
            let validations = m.evidence_count;
            (
                TeamMemory {
                    gid: out.gid.clone(),
                    content: m.content,
                    structured: m.structured,
                    summary: m.summary,
                    memory_type: m.memory_type.as_str().to_owned(),
                    domain: m.domain.as_str().to_owned(),
                    tags: m.tags,
                    keywords: m.keywords,
                    confidence: m.confidence,
                    content_hash: hash,
                    author: link.author.clone(),
                    origin: link.origin.clone(),
                    created_at: m.created_at,
                    updated_at: m.updated_at,
                    archived: m.archived,
                    deleted: false,
                    embedding: None,
                },
                validations,
            )
        }
        None => {
            let now = cm_store::now_ms();
            (
                TeamMemory {
                    gid: out.gid.clone(),
                    content: "(deleted)".to_owned(),
                    structured: None,
                    summary: None,
                    memory_type: MemoryType::Fact.as_str().to_owned(),
                    domain: "general".to_owned(),
                    tags: Vec::new(),
                    keywords: Vec::new(),
                    confidence: 0.5,
                    content_hash: String::new(),
                    author: link.author.clone(),
                    origin: link.origin.clone(),
                    created_at: now,
                    updated_at: now,
                    archived: true,
                    deleted: true,
                    embedding: None,
                },
                0,
            )
        }
    }
}

/// A pulled change as a local write, redacted like every write; `None`
/// when the team's row is not a memory this version understands.
fn incoming(change: cm_team::Pulled) -> Option<Incoming> {
    let t = change.memory;
    let mut memory = if t.deleted {
        NewMemory::new("(deleted)", Source::Import).ok()?
    } else {
        let mut m = NewMemory::new(&t.content, Source::Import).ok()?;
        m.memory_type = t.memory_type.parse().ok()?;
        m.domain = Domain::parse(&t.domain).ok()?;
        m.structured = t.structured;
        m.summary = t.summary;
        m.tags = t.tags;
        m.keywords = t.keywords;
        m.confidence = t.confidence;
        m
    };
    memory.redact();
    if !t.deleted && memory.tags.iter().any(|tag| tag.eq_ignore_ascii_case(PRIVATE_TAG)) {
        // A private memory in the team database is someone else's mistake:
        // never take it in.
        return None;
    }
    Some(Incoming {
        gid: t.gid,
        memory,
        author: t.author,
        created_at: t.created_at,
        updated_at: t.updated_at,
        archived: t.archived,
        deleted: t.deleted,
        others_validations: change.others_validations,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn origins_of_one_repository_meet() {
        let key = Some("github.com/acme/shop".to_owned());
        assert_eq!(normalize_origin("git@github.com:Acme/Shop.git"), key);
        assert_eq!(normalize_origin("https://github.com/acme/shop"), key);
        assert_eq!(normalize_origin("https://user:token@github.com/acme/shop.git/"), key);
        assert_eq!(normalize_origin("ssh://git@github.com:22/acme/shop.git"), key);
        assert_eq!(normalize_origin("not a url"), None);
    }
}
