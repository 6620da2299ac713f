//! The in-memory vector index: one per embedding space, a cache of the
//! database and never its replacement.
//!
//! sqlite-vec's quantised scan copies every chunk of the space and sorts in
//! SQL, which dominated search time on large projects (24 ms of a 34 ms
//! hybrid search at 100k × 1024-d). The index keeps, per vector, its sign
//! bits and the columns search filters on; a search scans them in memory,
//! keeps the `rescore_factor × k` nearest by Hamming distance among the rows
//! that pass the filters, and re-scores those with the float vectors read
//! from the database, so every similarity it returns is exact and filters
//! apply before the limit.
//!
//! It follows the database through `vector_changes`, a log whose sequence
//! number is the database's vector generation: the store appends to it in
//! every transaction that writes or deletes a vector, and triggers append
//! when a memory's filterable columns change or it is deleted. Before each
//! use the index reads the log past its own position and re-reads those
//! memories (one indexed range query when nothing changed), so writes by
//! this process, another `Store` on the file, or another process are all
//! seen. A gap in the log (pruned past the index's position) reloads it
//! whole. Nothing is ever read from the index that the database does not
//! hold at that moment except filter columns a concurrent, not yet
//! committed write is changing — the same view a snapshot would give.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, RwLock};

use cm_core::{Domain, MemoryType, SearchRequest};
use sqlx::AssertSqlSafe;
use sqlx::{Row, SqliteConnection};

use crate::Result;
use crate::search::json_rows;
use crate::vectors::Space;

/// Every loaded index of one store, by space id. Shared by the store's clones.
#[derive(Debug, Default)]
pub(crate) struct Indexes {
    spaces: Mutex<HashMap<i64, Arc<Entry>>>,
}

#[derive(Debug)]
pub(crate) struct Entry {
    /// Held while the index is brought up to date, so two searches never
    /// apply changes read at different moments out of order.
    refresh: tokio::sync::Mutex<()>,
    data: RwLock<SpaceIndex>,
}

/// Small strings (types, domains) as numbers.
#[derive(Debug, Default)]
struct Interner {
    ids: HashMap<String, u32>,
}

impl Interner {
    fn id(&mut self, s: &str) -> u32 {
        let next = self.ids.len() as u32;
        *self.ids.entry(s.to_owned()).or_insert(next)
    }

    fn get(&self, s: &str) -> Option<u32> {
        self.ids.get(s).copied()
    }
}

/// One space's vectors as sign bits, with their filter columns.
#[derive(Debug)]
struct SpaceIndex {
    /// Position in `vector_changes` this index reflects; `None` until loaded.
    position: Option<i64>,
    /// 64-bit words per vector.
    words: usize,
    ids: Vec<i64>,
    slot_of: HashMap<i64, usize>,
    bits: Vec<u64>,
    archived: Vec<bool>,
    types: Vec<u32>,
    domains: Vec<u32>,
    confidence: Vec<f64>,
    labels: Interner,
}

/// A memory's row as the index keeps it, read from the database.
#[derive(Debug)]
struct Row_ {
    id: i64,
    bits: Vec<u64>,
    archived: bool,
    memory_type: String,
    domain: String,
    confidence: f64,
}

/// The sign bits of `v`, packed into `words` 64-bit words (bit i set when v[i] > 0,
/// like sqlite-vec's `vec_quantize_binary`).
fn sign_bits(v: &[f32], words: usize) -> Vec<u64> {
    let mut out = vec![0u64; words];
    for (i, x) in v.iter().enumerate() {
        if *x > 0.0 {
            out[i / 64] |= 1 << (i % 64);
        }
    }
    out
}

impl SpaceIndex {
    fn new(dimension: usize) -> Self {
        SpaceIndex {
            position: None,
            words: dimension.div_ceil(64),
            ids: Vec::new(),
            slot_of: HashMap::new(),
            bits: Vec::new(),
            archived: Vec::new(),
            types: Vec::new(),
            domains: Vec::new(),
            confidence: Vec::new(),
            labels: Interner::default(),
        }
    }

    fn clear(&mut self) {
        let words = self.words;
        *self = SpaceIndex { words, ..SpaceIndex::new(0) };
    }

    fn upsert(&mut self, row: Row_) {
        let memory_type = self.labels.id(&row.memory_type);
        let domain = self.labels.id(&row.domain);
        let slot = match self.slot_of.get(&row.id) {
            Some(&slot) => slot,
            None => {
                let slot = self.ids.len();
                self.ids.push(row.id);
                self.slot_of.insert(row.id, slot);
                self.bits.resize(self.bits.len() + self.words, 0);
                self.archived.push(false);
                self.types.push(0);
                self.domains.push(0);
                self.confidence.push(0.0);
                slot
            }
        };
        self.bits[slot * self.words..(slot + 1) * self.words].copy_from_slice(&row.bits);
        self.archived[slot] = row.archived;
        self.types[slot] = memory_type;
        self.domains[slot] = domain;
        self.confidence[slot] = row.confidence;
    }

    fn remove(&mut self, id: i64) {
        let Some(slot) = self.slot_of.remove(&id) else { return };
        let last = self.ids.len() - 1;
        if slot != last {
            let moved = self.ids[last];
            self.slot_of.insert(moved, slot);
            let w = self.words;
            self.bits.copy_within(last * w..(last + 1) * w, slot * w);
        }
        self.ids.swap_remove(slot);
        self.bits.truncate(last * self.words);
        self.archived.swap_remove(slot);
        self.types.swap_remove(slot);
        self.domains.swap_remove(slot);
        self.confidence.swap_remove(slot);
    }

    /// The ids of the `n` vectors nearest to `query` in Hamming distance
    /// among those passing `req`'s filters, nearest first.
    fn nearest(&self, query: &[u64], req: &SearchRequest, n: usize) -> Vec<i64> {
        // A label never seen cannot match anything.
        let memory_type = match req.memory_type {
            Some(t) => match self.labels.get(MemoryType::as_str(t)) {
                Some(id) => Some(id),
                None => return Vec::new(),
            },
            None => None,
        };
        let domain = match &req.domain {
            Some(d) => match self.labels.get(Domain::as_str(d)) {
                Some(id) => Some(id),
                None => return Vec::new(),
            },
            None => None,
        };
        let w = self.words;
        let mut scored: Vec<(u32, u32)> = Vec::with_capacity(self.ids.len());
        for slot in 0..self.ids.len() {
            if (!req.include_archived && self.archived[slot])
                || memory_type.is_some_and(|t| self.types[slot] != t)
                || domain.is_some_and(|d| self.domains[slot] != d)
                || req.min_confidence.is_some_and(|c| self.confidence[slot] < c)
            {
                continue;
            }
            let row = &self.bits[slot * w..(slot + 1) * w];
            let distance: u32 = row.iter().zip(query).map(|(a, b)| (a ^ b).count_ones()).sum();
            scored.push((distance, slot as u32));
        }
        if scored.len() > n {
            scored.select_nth_unstable(n);
            scored.truncate(n);
        }
        scored.sort_unstable();
        scored.into_iter().map(|(_, slot)| self.ids[slot as usize]).collect()
    }

    #[cfg(test)]
    fn len(&self) -> usize {
        self.ids.len()
    }
}

impl Indexes {
    fn entry(&self, space: &Space) -> Arc<Entry> {
        let mut spaces = self.spaces.lock().unwrap_or_else(|e| e.into_inner());
        // One model is searched at a time: an index of another space (the
        // model before a switch) would only hold memory.
        spaces.retain(|id, _| *id == space.id);
        spaces
            .entry(space.id)
            .or_insert_with(|| {
                Arc::new(Entry {
                    refresh: tokio::sync::Mutex::new(()),
                    data: RwLock::new(SpaceIndex::new(space.dimension)),
                })
            })
            .clone()
    }

    /// `space`'s index, brought up to date with the database first (loaded
    /// whole the first time).
    pub(crate) async fn refresh(&self, conn: &mut SqliteConnection, space: &Space) -> Result<Arc<Entry>> {
        let entry = self.entry(space);
        let refreshing = entry.refresh.lock().await;
        let position = entry.data.read().unwrap_or_else(|e| e.into_inner()).position;
        sync(conn, space, &entry.data, position).await?;
        drop(refreshing);
        Ok(entry)
    }

    /// How many vectors `space`'s index holds, or `None` while it is not loaded.
    pub(crate) fn loaded(&self, space: &Space) -> Option<usize> {
        let spaces = self.spaces.lock().unwrap_or_else(|e| e.into_inner());
        let data = spaces.get(&space.id)?.data.read().unwrap_or_else(|e| e.into_inner());
        data.position.map(|_| data.ids.len())
    }

    /// The ids of the `n` vectors of `space` nearest to `vector` by sign
    /// bits among those passing `req`'s filters, with the index first
    /// brought up to date with the database.
    pub(crate) async fn candidates(
        &self,
        conn: &mut SqliteConnection,
        space: &Space,
        vector: &[f32],
        req: &SearchRequest,
        n: usize,
    ) -> Result<Vec<i64>> {
        let entry = self.refresh(conn, space).await?;
        // Milliseconds of CPU on a large space (about 30 ms at 1M vectors):
        // off the async workers, which serve hooks and the dashboard.
        let query = sign_bits(vector, space.dimension.div_ceil(64));
        let req = req.clone();
        tokio::task::spawn_blocking(move || {
            entry.data.read().unwrap_or_else(|e| e.into_inner()).nearest(&query, &req, n)
        })
        .await
        .map_err(|e| crate::Error::Data(format!("the vector scan failed: {e}")))
    }
}

/// Brings `data` (at `position`) up to date: nothing when the log has
/// nothing past it, the changed memories when it has them without a gap,
/// everything otherwise. The log is read before the rows, so the rows are
/// at least as new as the position recorded; re-reading a memory twice is
/// harmless.
async fn sync(
    conn: &mut SqliteConnection,
    space: &Space,
    data: &RwLock<SpaceIndex>,
    position: Option<i64>,
) -> Result<()> {
    let words = space.dimension.div_ceil(64);
    if let Some(position) = position {
        let changes: Vec<(i64, i64)> =
            sqlx::query_as("SELECT seq, memory_id FROM vector_changes WHERE seq > ?1 ORDER BY seq")
                .bind(position)
                .fetch_all(&mut *conn)
                .await?;
        let Some(&(first, _)) = changes.first() else { return Ok(()) };
        if first == position + 1 {
            let last = changes.last().map_or(position, |c| c.0);
            let mut ids: Vec<i64> = changes.into_iter().map(|(_, id)| id).collect();
            ids.sort_unstable();
            ids.dedup();
            let rows = read_rows(conn, space, Some(&ids), words, CHUNK_ROWS).await?;
            let mut index = data.write().unwrap_or_else(|e| e.into_inner());
            for id in &ids {
                index.remove(*id);
            }
            for row in rows {
                index.upsert(row);
            }
            index.position = Some(last);
            return Ok(());
        }
        // Pruned past our position: reload.
    }
    let last: i64 =
        sqlx::query_scalar("SELECT coalesce(max(seq), 0) FROM vector_changes").fetch_one(&mut *conn).await?;
    let rows = read_rows(conn, space, None, words, CHUNK_ROWS).await?;
    let mut index = data.write().unwrap_or_else(|e| e.into_inner());
    index.clear();
    for row in rows {
        index.upsert(row);
    }
    index.position = Some(last);
    tracing::debug!(space = %space.table, vectors = index.ids.len(), "vector index loaded");
    Ok(())
}

/// Rows read by one query when the index loads or catches up.
const CHUNK_ROWS: usize = 8192;

/// The memories of `ids` (every memory when `None`) that have a vector in
/// `space`, as the index keeps them.
///
/// SQLite's driver hands rows from its worker thread to the caller one at a
/// time (5–9 µs each), which made loading a million vectors take 18 s. So
/// each query hands over a chunk whole, as two aggregates over the same
/// rows (SQLite steps them in one order): the columns as one JSON array and
/// the sign bits SQLite computes (`vec_quantize_binary`, the same bits as
/// `sign_bits`) as one blob. The whole space is read in chunks by id, so a
/// million float vectors never sit in memory at once, and not in one read
/// transaction, which would hold back checkpoints for seconds: a write
/// between two chunks is in the change log past the position `sync` read
/// first, so the next use re-reads what it changed.
async fn read_rows(
    conn: &mut SqliteConnection,
    space: &Space,
    ids: Option<&[i64]>,
    words: usize,
    chunk_rows: usize,
) -> Result<Vec<Row_>> {
    let mut rows = Vec::with_capacity(ids.map_or(space.vector_count.max(0) as usize, <[i64]>::len));
    match ids {
        Some(ids) => {
            for chunk in ids.chunks(chunk_rows) {
                let list = serde_json::Value::from(chunk.to_vec()).to_string();
                read_chunk(conn, space, Chunk::Ids(&list), words, &mut rows).await?;
            }
        }
        None => {
            let mut after = i64::MIN;
            loop {
                let start = rows.len();
                read_chunk(conn, space, Chunk::After(after, chunk_rows), words, &mut rows).await?;
                match rows[start..].iter().map(|r| r.id).max() {
                    Some(last) if rows.len() - start == chunk_rows => after = last,
                    _ => break,
                }
            }
        }
    }
    Ok(rows)
}

/// Which rows one `read_chunk` reads.
enum Chunk<'a> {
    /// The memories of a JSON array of ids.
    Ids(&'a str),
    /// The next vectors by memory id after this one, at most this many.
    After(i64, usize),
}

/// Appends one chunk's rows to `rows` (see `read_rows`).
async fn read_chunk(
    conn: &mut SqliteConnection,
    space: &Space,
    chunk: Chunk<'_>,
    words: usize,
    rows: &mut Vec<Row_>,
) -> Result<()> {
    let columns = "m.id, m.archived, m.memory_type, m.domain, m.confidence, \
                   vec_quantize_binary(f.embedding) AS bits";
    let table = &space.table;
    let from = match chunk {
        Chunk::Ids(_) => format!(
            "SELECT {columns} FROM json_each(?1) AS j
             CROSS JOIN memories m ON m.id = j.value
             JOIN {table}_full f ON f.memory_id = m.id"
        ),
        Chunk::After(..) => format!(
            "SELECT {columns} FROM {table}_full f CROSS JOIN memories m ON m.id = f.memory_id
             WHERE f.memory_id > ?1 ORDER BY f.memory_id LIMIT ?2"
        ),
    };
    let sql = format!(
        "SELECT json_group_array(json_array(id, archived, memory_type, domain, confidence)) AS meta,
                unhex(group_concat(hex(bits), '')) AS bits
         FROM ({from})"
    );
    let query = sqlx::query(AssertSqlSafe(sql));
    let row = match chunk {
        Chunk::Ids(list) => query.bind(list),
        Chunk::After(after, limit) => query.bind(after).bind(limit as i64),
    }
    .fetch_one(&mut *conn)
    .await?;
    let meta: Vec<(i64, i64, String, String, f64)> =
        json_rows(row.try_get::<&str, _>("meta")?, "index rows")?;
    let bits: Vec<u8> = row.try_get::<Option<Vec<u8>>, _>("bits")?.unwrap_or_default();
    let per_row = space.dimension.div_ceil(8);
    if bits.len() != meta.len() * per_row {
        return Err(crate::Error::Data(format!(
            "index rows: {} bytes of sign bits for {} vectors of {} dimensions",
            bits.len(),
            meta.len(),
            space.dimension
        )));
    }
    for ((id, archived, memory_type, domain, confidence), bits) in meta.into_iter().zip(bits.chunks(per_row))
    {
        rows.push(Row_ {
            id,
            bits: packed_words(bits, words),
            archived: archived != 0,
            memory_type,
            domain,
            confidence,
        });
    }
    Ok(())
}

/// Bits packed 8 to a byte, lowest first (`vec_quantize_binary`'s layout),
/// as `words` 64-bit words in `sign_bits`'s layout.
fn packed_words(bytes: &[u8], words: usize) -> Vec<u64> {
    let mut out = vec![0u64; words];
    for (word, chunk) in out.iter_mut().zip(bytes.chunks(8)) {
        let mut le = [0u8; 8];
        le[..chunk.len()].copy_from_slice(chunk);
        *word = u64::from_le_bytes(le);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(id: i64, v: &[f32], domain: &str) -> Row_ {
        Row_ {
            id,
            bits: sign_bits(v, 1),
            archived: false,
            memory_type: "fact".into(),
            domain: domain.into(),
            confidence: 0.5,
        }
    }

    /// The index compares the query's bits (`sign_bits`, in Rust) with the
    /// stored vectors' bits (`vec_quantize_binary`, in SQLite): they must be
    /// the same bits, or the scan would rank by noise (searches of small
    /// spaces would not show it: they re-score every vector).
    #[tokio::test]
    async fn sqlite_quantizes_like_sign_bits() {
        let dir = tempfile::tempdir().unwrap();
        let store = crate::Store::open(&dir.path().join("memory.db")).await.unwrap();
        let mut conn = store.pool().acquire().await.unwrap();
        for dim in [8_usize, 64, 72, 384, 1024] {
            let v: Vec<f32> = (0..dim).map(|i| ((i * 7919 % 13) as f32 - 6.0) / 7.0).collect();
            let bytes: Vec<u8> = sqlx::query_scalar("SELECT vec_quantize_binary(?1)")
                .bind(crate::vectors::vector_blob(&v))
                .fetch_one(&mut *conn)
                .await
                .unwrap();
            let words = dim.div_ceil(64);
            assert_eq!(packed_words(&bytes, words), sign_bits(&v, words), "{dim} dimensions");
        }
    }

    /// Rows are read in chunks: every vector once, whole, with its columns,
    /// whether the chunks divide the space evenly or not, for the whole
    /// space and for a list of ids.
    #[tokio::test]
    async fn rows_are_read_whole_across_chunks() {
        use cm_core::{MemoryType, NewMemory, Source};
        let dir = tempfile::tempdir().unwrap();
        let store = crate::Store::open(&dir.path().join("memory.db")).await.unwrap();
        let dim = 72;
        let space = store.ensure_space("m", dim).await.unwrap();
        let vectors: Vec<Vec<f32>> =
            (0..10).map(|i| (0..dim).map(|j| ((i * 31 + j * 17) % 11) as f32 - 5.0).collect()).collect();
        let kind = |i: usize| if i.is_multiple_of(3) { MemoryType::Fact } else { MemoryType::Pattern };
        let memories: Vec<(NewMemory, i64)> = (0..10)
            .map(|i| (NewMemory::new(&format!("note {i}"), Source::Import).unwrap().with_type(kind(i)), 0))
            .collect();
        let ids = store.insert_record(&memories, Some((&space, &vectors))).await.unwrap();
        let space = store.space("m").await.unwrap().unwrap();
        let words = dim.div_ceil(64);
        let expected: Vec<(i64, Vec<u64>, String)> =
            (0..10).map(|i| (ids[i], sign_bits(&vectors[i], words), kind(i).as_str().to_owned())).collect();
        let mut conn = store.pool().acquire().await.unwrap();
        for chunk_rows in [1, 3, 5, 10, 11] {
            let rows = read_rows(&mut conn, &space, None, words, chunk_rows).await.unwrap();
            let mut got: Vec<(i64, Vec<u64>, String)> =
                rows.iter().map(|r| (r.id, r.bits.clone(), r.memory_type.clone())).collect();
            got.sort();
            assert_eq!(got, expected, "whole space, chunks of {chunk_rows}");
            let some = [ids[9], ids[2], ids[4]];
            let rows = read_rows(&mut conn, &space, Some(&some), words, chunk_rows).await.unwrap();
            let mut got: Vec<i64> = rows.iter().map(|r| r.id).collect();
            got.sort();
            assert_eq!(got, vec![ids[2], ids[4], ids[9]], "ids, chunks of {chunk_rows}");
        }
    }

    #[test]
    fn removing_a_slot_keeps_the_others_whole() {
        let mut index = SpaceIndex::new(8);
        index.upsert(row(1, &[1.0; 8], "a"));
        index.upsert(row(2, &[-1.0; 8], "b"));
        index.upsert(row(3, &[1.0, 1.0, 1.0, 1.0, -1.0, -1.0, -1.0, -1.0], "c"));
        index.remove(1);
        assert_eq!(index.len(), 2);
        let req = SearchRequest::new("q", 10);
        assert_eq!(index.nearest(&sign_bits(&[-1.0; 8], 1), &req, 10), vec![2, 3]);
        let mut only_c = req.clone();
        only_c.domain = Some(Domain::parse("c").unwrap());
        assert_eq!(index.nearest(&sign_bits(&[-1.0; 8], 1), &only_c, 10), vec![3]);
        index.upsert(row(3, &[-1.0; 8], "a"));
        assert_eq!(index.nearest(&sign_bits(&[-1.0; 8], 1), &only_c, 10), Vec::<i64>::new());
        assert_eq!(index.len(), 2);
    }
}
