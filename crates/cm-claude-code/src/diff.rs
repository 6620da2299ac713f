//! Unified diffs of two texts, line by line (Myers' O(ND) algorithm).
//!
//! Setup shows what it would change before it changes anything; the files are
//! small and the edits few, so the plain algorithm over the lines between the
//! common prefix and suffix is plenty.

use std::fmt::Write as _;

/// Lines of context around each change, as `diff -u`.
const CONTEXT: usize = 3;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Op {
    Equal,
    Delete,
    Insert,
}

/// `diff -u old new`, labelled `old_label` and `new_label` (`/dev/null` for a
/// side that does not exist). Empty when the texts are equal.
pub(crate) fn unified(old: &str, new: &str, old_label: &str, new_label: &str) -> String {
    let a: Vec<&str> = old.split_inclusive('\n').collect();
    let b: Vec<&str> = new.split_inclusive('\n').collect();
    let ops = edit_script(&a, &b);
    if ops.iter().all(|op| *op == Op::Equal) {
        return String::new();
    }
    let mut out = format!("--- {old_label}\n+++ {new_label}\n");
    // Positions in `a` and `b` before each op.
    let mut pos = Vec::with_capacity(ops.len() + 1);
    let (mut i, mut j) = (0, 0);
    for op in &ops {
        pos.push((i, j));
        match op {
            Op::Equal => (i, j) = (i + 1, j + 1),
            Op::Delete => i += 1,
            Op::Insert => j += 1,
        }
    }
    pos.push((i, j));

    let changes: Vec<usize> = (0..ops.len()).filter(|&n| ops[n] != Op::Equal).collect();
    let mut c = 0;
    while c < changes.len() {
        // One hunk holds every change whose context would touch the previous one's.
        let first = changes[c];
        let mut last = first;
        while c + 1 < changes.len() && changes[c + 1] - last - 1 <= 2 * CONTEXT {
            c += 1;
            last = changes[c];
        }
        let start = first.saturating_sub(CONTEXT);
        let end = (last + 1 + CONTEXT).min(ops.len());
        let (a0, b0) = pos[start];
        let (a1, b1) = pos[end];
        let _ = writeln!(out, "@@ -{} +{} @@", range(a0, a1 - a0), range(b0, b1 - b0));
        for (n, op) in ops.iter().enumerate().take(end).skip(start) {
            let (i, j) = pos[n];
            let (sign, line) = match op {
                Op::Equal => (' ', a[i]),
                Op::Delete => ('-', a[i]),
                Op::Insert => ('+', b[j]),
            };
            out.push(sign);
            out.push_str(line);
            if !line.ends_with('\n') {
                out.push_str("\n\\ No newline at end of file\n");
            }
        }
        c += 1;
    }
    out
}

/// `start,count` as in a hunk header: 1-based, the count left out when it is
/// one, and the line before when it is zero.
fn range(start: usize, count: usize) -> String {
    match count {
        0 => format!("{start},0"),
        1 => format!("{}", start + 1),
        _ => format!("{},{count}", start + 1),
    }
}

/// The shortest edit script turning `a` into `b`.
fn edit_script(a: &[&str], b: &[&str]) -> Vec<Op> {
    let prefix = a.iter().zip(b).take_while(|(x, y)| x == y).count();
    let suffix = a[prefix..].iter().rev().zip(b[prefix..].iter().rev()).take_while(|(x, y)| x == y).count();
    let mut ops = vec![Op::Equal; prefix];
    ops.extend(myers(&a[prefix..a.len() - suffix], &b[prefix..b.len() - suffix]));
    ops.extend(std::iter::repeat_n(Op::Equal, suffix));
    ops
}

fn myers(a: &[&str], b: &[&str]) -> Vec<Op> {
    let (n, m) = (a.len() as isize, b.len() as isize);
    let max = (n + m) as usize;
    let offset = max as isize + 1;
    let mut v = vec![0isize; 2 * max + 3];
    // trace[d]: the furthest x on each diagonal k in -d..=d after round d.
    let mut trace: Vec<Vec<isize>> = Vec::new();
    let at = |k: isize| (k + offset) as usize;
    'search: for d in 0..=max as isize {
        for k in (-d..=d).step_by(2) {
            let mut x = if k == -d || (k != d && v[at(k - 1)] < v[at(k + 1)]) {
                v[at(k + 1)]
            } else {
                v[at(k - 1)] + 1
            };
            let mut y = x - k;
            while x < n && y < m && a[x as usize] == b[y as usize] {
                x += 1;
                y += 1;
            }
            v[at(k)] = x;
            if x >= n && y >= m {
                trace.push(v[at(-d)..=at(d)].to_vec());
                break 'search;
            }
        }
        trace.push(v[at(-d)..=at(d)].to_vec());
    }

    // Walk back from (n, m) through the rounds.
    let mut ops = Vec::new();
    let (mut x, mut y) = (n, m);
    for d in (1..trace.len() as isize).rev() {
        let prev = &trace[d as usize - 1];
        let get = |k: isize| prev[(k + d - 1) as usize];
        let k = x - y;
        let prev_k = if k == -d || (k != d && get(k - 1) < get(k + 1)) { k + 1 } else { k - 1 };
        let prev_x = get(prev_k);
        let prev_y = prev_x - prev_k;
        while x > prev_x && y > prev_y {
            ops.push(Op::Equal);
            x -= 1;
            y -= 1;
        }
        if x == prev_x {
            ops.push(Op::Insert);
        } else {
            ops.push(Op::Delete);
        }
        (x, y) = (prev_x, prev_y);
    }
    ops.extend(std::iter::repeat_n(Op::Equal, x as usize));
    ops.reverse();
    ops
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Applies a unified diff produced here to `old`, to check it is faithful.
    fn apply(old: &str, diff: &str) -> String {
        let a: Vec<&str> = old.split_inclusive('\n').collect();
        let mut out = String::new();
        let mut i = 0;
        let mut lines = diff.split_inclusive('\n').skip(2).peekable();
        while let Some(line) = lines.next() {
            if let Some(header) = line.strip_prefix("@@ -") {
                let old_start: usize = header.split([',', ' ']).next().unwrap().parse().unwrap();
                let count_zero = header.split(' ').next().unwrap().ends_with(",0");
                let upto = if count_zero { old_start } else { old_start - 1 };
                while i < upto {
                    out.push_str(a[i]);
                    i += 1;
                }
                continue;
            }
            let no_eol = lines.peek().is_some_and(|l| l.starts_with('\\'));
            let body = &line[1..];
            let body = if no_eol { body.strip_suffix('\n').unwrap() } else { body };
            match &line[..1] {
                " " => {
                    out.push_str(body);
                    i += 1;
                }
                "-" => i += 1,
                "+" => out.push_str(body),
                "\\" => {}
                other => panic!("unexpected line {other:?}"),
            }
        }
        while i < a.len() {
            out.push_str(a[i]);
            i += 1;
        }
        out
    }

    fn check(old: &str, new: &str) -> String {
        let d = unified(old, new, "a", "b");
        assert_eq!(apply(old, &d), new, "diff:\n{d}");
        d
    }

    #[test]
    fn equal_texts_have_no_diff() {
        assert_eq!(unified("a\nb\n", "a\nb\n", "a", "b"), "");
    }

    #[test]
    fn insertion_shows_context_and_header() {
        let old = "1\n2\n3\n4\n5\n6\n7\n8\n";
        let new = "1\n2\n3\n4\nnew\n5\n6\n7\n8\n";
        let d = check(old, new);
        assert_eq!(d, "--- a\n+++ b\n@@ -2,6 +2,7 @@\n 2\n 3\n 4\n+new\n 5\n 6\n 7\n");
    }

    #[test]
    fn creation_and_removal() {
        assert_eq!(check("", "x\ny\n"), "--- a\n+++ b\n@@ -0,0 +1,2 @@\n+x\n+y\n");
        assert_eq!(check("x\n", ""), "--- a\n+++ b\n@@ -1 +0,0 @@\n-x\n");
    }

    #[test]
    fn distant_changes_make_separate_hunks() {
        let old: String = (0..30).map(|n| format!("{n}\n")).collect();
        let new: String = (0..30)
            .map(|n| match n {
                3 => "three\n".to_owned(),
                25 => "twenty-five\n".to_owned(),
                n => format!("{n}\n"),
            })
            .collect();
        let d = check(&old, &new);
        assert_eq!(d.matches("@@ -").count(), 2, "{d}");
    }

    #[test]
    fn missing_final_newline_is_marked() {
        let d = check("{\n}", "{\n  \"a\": 1\n}\n");
        assert!(d.contains("-}\n\\ No newline at end of file\n"), "{d}");
    }

    #[test]
    fn scrambled_edits_round_trip() {
        let old = "a\nb\nc\nd\ne\nf\ng\nh\ni\nj\nk\n";
        for new in
            ["b\nc\nx\nd\ne\ng\nh\ny\nz\nk\nl\n", "", "k\nj\ni\nh\n", "a\nb\nc\nd\ne\nf\ng\nh\ni\nj\nk\n"]
        {
            check(old, new);
        }
    }
}
