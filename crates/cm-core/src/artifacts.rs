//! The files and commands a memory names, and what a shell command removes
//! or moves: what staleness and implicit feedback compare. Pure text work,
//! no file system.
//!
//! A *file* is a token that looks like a path to a source or config file:
//! a known extension (`src/db/migrate.rs`, `package.json`) or a well-known
//! name (`Makefile`), never a URL or `Node.js`. A *command* is a backticked
//! span or a known program followed by its subcommand (`cargo test
//! --workspace`, `pnpm install`). Each is marked *avoid* when its sentence
//! says not to use it before naming it ("never run `npm install`", "use
//! pnpm instead of npm install").

/// A file or command a memory names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Named {
    /// As written (a command's words joined by single spaces).
    pub text: String,
    /// Its sentence says not to use it.
    pub avoid: bool,
}

/// Extensions of the files memories name.
const EXTENSIONS: &[&str] = &[
    "bash", "c", "cc", "cfg", "cjs", "conf", "cpp", "cs", "css", "csv", "dart", "env", "ex", "exs", "go",
    "gradle", "h", "hpp", "html", "ini", "java", "js", "json", "jsonc", "jsx", "kt", "lock", "lua", "md",
    "mjs", "mod", "php", "proto", "ps1", "py", "rb", "rs", "scss", "sh", "sql", "sum", "svelte", "swift",
    "toml", "ts", "tsx", "txt", "vue", "xml", "yaml", "yml", "zsh",
];

/// File names without an extension that are files of a project.
const BARE_FILES: &[&str] = &["Dockerfile", "Makefile", "Justfile", "Procfile", "Gemfile", "Rakefile"];

/// `<name>.js` that are libraries, not files.
const JS_LIBRARIES: &[&str] = &[
    "node", "next", "vue", "nuxt", "express", "d3", "three", "chart", "react", "angular", "ember", "backbone",
];

/// Programs whose invocations memories name.
const PROGRAMS: &[&str] = &[
    "bazel",
    "bun",
    "bundle",
    "cargo",
    "cmake",
    "composer",
    "deno",
    "docker",
    "docker-compose",
    "dotnet",
    "fly",
    "flyctl",
    "gh",
    "git",
    "go",
    "gradle",
    "helm",
    "just",
    "kubectl",
    "make",
    "mix",
    "mvn",
    "node",
    "npm",
    "npx",
    "php",
    "pip",
    "pip3",
    "pnpm",
    "poetry",
    "pytest",
    "python",
    "python3",
    "rake",
    "ruff",
    "rustup",
    "terraform",
    "tox",
    "uv",
    "uvx",
    "yarn",
];

/// Words that end a command written in prose ("run cargo test before
/// pushing").
const PROSE: &[&str] = &[
    "a", "after", "and", "as", "because", "before", "but", "first", "for", "from", "if", "in", "instead",
    "is", "it", "not", "on", "or", "so", "than", "that", "the", "then", "to", "unless", "when", "which",
    "while", "with", "without", "works", "fails", "breaks",
];

/// Phrases that, before a file or command in the same sentence, say not to
/// use it.
const NEGATIONS: &[&str] = &[
    "never",
    "don't",
    "dont",
    "do not",
    "avoid",
    "not ",
    "no longer",
    "stop using",
    "instead of",
    "rather than",
    "must not",
    "shouldn't",
    "should not",
    "deprecated",
];

/// Words that make a memory a warning.
const WARNINGS: &[&str] = &[
    "never",
    "don't",
    "do not",
    "avoid",
    "careful",
    "beware",
    "warning",
    "fails",
    "fail",
    "breaks",
    "broken",
    "crash",
    "crashes",
    "must not",
    "will not work",
    "doesn't work",
    "does not work",
    "error",
];

/// Whether a memory's text warns of something (a word of `WARNINGS`).
pub fn is_warning(text: &str) -> bool {
    let lower = format!(" {} ", text.to_lowercase());
    WARNINGS.iter().any(|w| {
        lower.match_indices(w).any(|(i, _)| {
            let before = lower[..i].chars().next_back().is_none_or(|c| !c.is_alphanumeric());
            let after = lower[i + w.len()..].chars().next().is_none_or(|c| !c.is_alphanumeric());
            before && after
        })
    })
}

/// Sentences of `text`: split at `. `, `! `, `? `, `; ` and line breaks, so
/// the dots of paths and versions stay inside.
fn sentences(text: &str) -> Vec<&str> {
    let mut out = Vec::new();
    let mut start = 0;
    let bytes = text.as_bytes();
    for (i, &b) in bytes.iter().enumerate() {
        let end = match b {
            b'\n' => true,
            b'.' | b'!' | b'?' | b';' => bytes.get(i + 1).is_none_or(|n| n.is_ascii_whitespace()),
            _ => false,
        };
        if end {
            out.push(&text[start..i]);
            start = i + 1;
        }
    }
    out.push(&text[start..]);
    out.into_iter().filter(|s| !s.trim().is_empty()).collect()
}

/// Whether the part of a sentence before an artifact says not to use it.
fn negated(before: &str) -> bool {
    // Only the clause it stands in: "never edit x, use y" avoids x, not y.
    let clause = before.rsplit(',').next().unwrap_or(before);
    let lower = format!(" {}", clause.to_lowercase());
    NEGATIONS.iter().any(|n| lower.contains(&format!(" {n}")))
}

/// Trims the punctuation prose puts around a path or a word.
fn trim_token(t: &str) -> &str {
    t.trim_matches(|c: char| {
        matches!(c, '`' | '\'' | '"' | '(' | ')' | '[' | ']' | '{' | '}' | ',' | ':' | '<' | '>' | '*')
    })
    .trim_end_matches(['.', '!', '?', ';'])
}

/// Whether `token` (trimmed) names a file.
pub fn is_file(token: &str) -> bool {
    if token.is_empty() || token.contains("://") || token.starts_with('-') || token.len() > 300 {
        return false;
    }
    if !token.chars().all(|c| c.is_alphanumeric() || matches!(c, '/' | '.' | '_' | '-' | '~' | '@' | '+')) {
        return false;
    }
    let name = token.rsplit('/').next().unwrap_or(token);
    if BARE_FILES.contains(&name) {
        return true;
    }
    let Some((stem, ext)) = name.rsplit_once('.') else { return false };
    if stem.is_empty() && !token.contains('/') {
        // `.env`, `.gitignore` alone are words of prose as often as files.
        return false;
    }
    let ext_ok = EXTENSIONS.contains(&ext);
    let library = ext == "js" && !token.contains('/') && JS_LIBRARIES.contains(&stem.to_lowercase().as_str());
    ext_ok && !library && !token.contains('@')
}

/// The files `text` names, each once, in order.
pub fn files(text: &str) -> Vec<Named> {
    let mut out: Vec<Named> = Vec::new();
    for sentence in sentences(text) {
        let mut offset = 0;
        for raw in sentence.split_whitespace() {
            let at = sentence[offset..].find(raw).map_or(offset, |i| offset + i);
            offset = at + raw.len();
            let token = trim_token(raw);
            if is_file(token) && !out.iter().any(|n| n.text == token) {
                out.push(Named { text: token.to_owned(), avoid: negated(&sentence[..at]) });
            }
        }
    }
    out
}

/// Shell words of a command (quotes removed; no expansion).
pub fn shell_words(command: &str) -> Vec<String> {
    let mut words = Vec::new();
    let mut cur = String::new();
    let mut quote: Option<char> = None;
    let mut has = false;
    for c in command.chars() {
        match (quote, c) {
            (Some(q), c) if c == q => quote = None,
            (Some(_), c) => cur.push(c),
            (None, '\'' | '"') => {
                quote = Some(c);
                has = true;
            }
            (None, c) if c.is_whitespace() => {
                if has || !cur.is_empty() {
                    words.push(std::mem::take(&mut cur));
                }
                has = false;
            }
            (None, c) => cur.push(c),
        }
    }
    if has || !cur.is_empty() {
        words.push(cur);
    }
    words
}

/// The simple commands of a shell line: split at `&&`, `||`, `;`, `|` and
/// line breaks, each as its words.
pub fn simple_commands(command: &str) -> Vec<Vec<String>> {
    let mut parts = vec![String::new()];
    let mut quote: Option<char> = None;
    let chars: Vec<char> = command.chars().collect();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        match (quote, c) {
            (Some(q), c) if c == q => quote = None,
            (Some(_), _) => {}
            (None, '\'' | '"') => quote = Some(c),
            (None, ';' | '|' | '&' | '\n') => {
                parts.push(String::new());
                i += 1;
                continue;
            }
            _ => {}
        }
        if let Some(p) = parts.last_mut() {
            p.push(c);
        }
        i += 1;
    }
    parts.iter().map(|p| shell_words(p)).filter(|w| !w.is_empty()).collect()
}

/// The commands `text` names, each once, in order: backticked spans that
/// start with a program-like word, and known programs in prose with the
/// words that follow up to the first word of prose (at most five).
pub fn commands(text: &str) -> Vec<Named> {
    let mut out: Vec<Named> = Vec::new();
    let mut push = |words: Vec<String>, avoid: bool| {
        if words.len() < 2 && !words.first().is_some_and(|w| w.contains('/')) {
            return;
        }
        let text = words.join(" ");
        if !out.iter().any(|n| n.text == text) {
            out.push(Named { text, avoid });
        }
    };
    for sentence in sentences(text) {
        // Backticked spans.
        let mut rest = sentence;
        let mut consumed = 0;
        while let Some(open) = rest.find('`') {
            let Some(len) = rest[open + 1..].find('`') else { break };
            let span = &rest[open + 1..open + 1 + len];
            let words = shell_words(span);
            let first = words.first().map(String::as_str).unwrap_or_default();
            let program_like =
                PROGRAMS.contains(&first) || first.starts_with("./") || first.starts_with("scripts/");
            if program_like && !is_file(span.trim()) {
                push(words, negated(&sentence[..consumed + open]));
            }
            consumed += open + len + 2;
            rest = &rest[open + len + 2..];
        }
        // Programs in prose (outside backticks).
        let plain: String = {
            let mut inside = false;
            sentence
                .chars()
                .map(|c| {
                    if c == '`' {
                        inside = !inside;
                        ' '
                    } else if inside {
                        '\u{1}'
                    } else {
                        c
                    }
                })
                .collect()
        };
        let tokens: Vec<(usize, &str)> = {
            let mut v = Vec::new();
            let mut offset = 0;
            for raw in plain.split_whitespace() {
                let at = plain[offset..].find(raw).map_or(offset, |i| offset + i);
                offset = at + raw.len();
                v.push((at, raw));
            }
            v
        };
        let mut i = 0;
        while i < tokens.len() {
            let (at, raw) = tokens[i];
            let word = trim_token(raw);
            if PROGRAMS.contains(&word) {
                let mut words = vec![word.to_owned()];
                let mut j = i + 1;
                while j < tokens.len() && words.len() < 6 {
                    let (_, raw) = tokens[j];
                    let w = trim_token(raw);
                    let lower = w.to_lowercase();
                    let wordish = !w.is_empty()
                        && w.chars().all(|c| c.is_ascii_alphanumeric() || "-_./:=@+".contains(c))
                        && !w.contains('\u{1}');
                    if !wordish || PROSE.contains(&lower.as_str()) {
                        break;
                    }
                    words.push(w.to_owned());
                    // A sentence's punctuation ends the command.
                    if raw.ends_with([',', ':', ')']) {
                        break;
                    }
                    j += 1;
                }
                push(words, negated(&sentence[..at.min(sentence.len())]));
                i = j.max(i + 1);
            } else {
                i += 1;
            }
        }
    }
    out
}

/// Whether shell line `run` runs `command`: its words appear, in order and
/// next to each other, in one of the line's simple commands.
pub fn runs(run: &str, command: &str) -> bool {
    let want = shell_words(command);
    if want.is_empty() {
        return false;
    }
    simple_commands(run).iter().any(|words| words.windows(want.len()).any(|w| w == want.as_slice()))
}

/// What a shell line does to files: paths it removes and paths it moves
/// (from, to), as written (relative to the working directory or absolute).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FileOps {
    /// `rm`, `git rm`, `unlink` targets.
    pub removed: Vec<String>,
    /// `mv`, `git mv` sources and destinations.
    pub moved: Vec<(String, String)>,
}

/// The files a shell line removes or moves (`rm`, `unlink`, `git rm`, `mv`,
/// `git mv`; after `sudo` and `VAR=value` prefixes).
pub fn file_ops(command: &str) -> FileOps {
    let mut ops = FileOps::default();
    for words in simple_commands(command) {
        let mut words: &[String] = &words;
        while let Some(first) = words.first() {
            let assignment = first.contains('=') && !first.starts_with('-') && !first.starts_with('/');
            if first == "sudo" || first == "command" || assignment {
                words = &words[1..];
            } else {
                break;
            }
        }
        let (verb, args) = match words {
            [git, verb, args @ ..] if git == "git" && (verb == "rm" || verb == "mv") => (verb.as_str(), args),
            [verb, args @ ..] if matches!(verb.as_str(), "rm" | "unlink" | "mv") => (verb.as_str(), args),
            _ => continue,
        };
        let mut paths = Vec::new();
        let mut options_done = false;
        for a in args {
            if !options_done && a == "--" {
                options_done = true;
            } else if options_done || !a.starts_with('-') {
                paths.push(a.clone());
            }
        }
        match verb {
            "mv" if paths.len() >= 2 => {
                let to = paths.pop().unwrap_or_default();
                ops.moved.extend(paths.into_iter().map(|p| (p, to.clone())));
            }
            "mv" => {}
            _ => ops.removed.extend(paths),
        }
    }
    ops
}

/// Whether the project-relative path `path` is the file a memory names as
/// `named`: the same path, or `named` is its trailing components
/// (`migrate.rs`, `db/migrate.rs` for `src/db/migrate.rs`).
pub fn names_path(named: &str, path: &str) -> bool {
    let named = named.trim_start_matches("./");
    !named.is_empty() && (path == named || path.ends_with(&format!("/{named}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn texts(v: Vec<Named>) -> Vec<(String, bool)> {
        v.into_iter().map(|n| (n.text, n.avoid)).collect()
    }

    #[test]
    fn files_are_paths_with_known_extensions() {
        let f = texts(files(
            "Migrations live in src/db/migrate.rs (see `Cargo.toml`). Node.js 20 and Vue.js; see https://x.io/a.rs. \
             Never edit package-lock.json, use the Makefile.",
        ));
        assert_eq!(
            f,
            vec![
                ("src/db/migrate.rs".into(), false),
                ("Cargo.toml".into(), false),
                ("package-lock.json".into(), true),
                ("Makefile".into(), false)
            ]
        );
        assert!(files("Python 3.12 is required; e.g. the v1.2 release.").is_empty());
    }

    #[test]
    fn commands_in_backticks_and_prose() {
        let c = texts(commands(
            "Run `pnpm test --filter web` before pushing. Never run npm install; use pnpm install instead of \
             npm ci. Deploy with fly deploy --remote-only, then check.",
        ));
        assert_eq!(
            c,
            vec![
                ("pnpm test --filter web".into(), false),
                ("npm install".into(), true),
                ("pnpm install".into(), false),
                ("npm ci".into(), true),
                ("fly deploy --remote-only".into(), false),
            ]
        );
        // A program alone names no command.
        assert!(commands("We use git for everything").is_empty());
    }

    #[test]
    fn runs_matches_words_in_one_simple_command() {
        assert!(runs("cd web && pnpm test --filter web -- --watch", "pnpm test --filter web"));
        assert!(!runs("pnpm install && test -f x", "pnpm test"));
        assert!(runs("cargo test --workspace", "cargo test"));
    }

    #[test]
    fn file_ops_of_shell_lines() {
        let ops =
            file_ops("rm -f src/old.rs && git mv 'src/a b.rs' src/c.rs; sudo rm -rf -- -weird; mv x y dir/");
        assert_eq!(ops.removed, vec!["src/old.rs".to_owned(), "-weird".to_owned()]);
        assert_eq!(
            ops.moved,
            vec![
                ("src/a b.rs".to_owned(), "src/c.rs".to_owned()),
                ("x".to_owned(), "dir/".to_owned()),
                ("y".to_owned(), "dir/".to_owned())
            ]
        );
        assert_eq!(file_ops("cargo test && echo rm x"), FileOps::default());
    }

    #[test]
    fn warnings_and_paths() {
        assert!(is_warning("Never run the migration twice"));
        assert!(is_warning("cargo build fails without protoc"));
        assert!(!is_warning("Use pnpm in this repository"));
        assert!(names_path("migrate.rs", "src/db/migrate.rs"));
        assert!(names_path("./src/db/migrate.rs", "src/db/migrate.rs"));
        assert!(!names_path("grate.rs", "src/db/migrate.rs"));
    }
}
