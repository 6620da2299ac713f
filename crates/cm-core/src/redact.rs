//! Secret redaction: every note passes through [`redact`] before it is stored.
//!
//! A memory is plain text that lives for months in a SQLite file, gets
//! searched, embedded and pasted back into prompts, so a credential that slips
//! into one leaks again and again. This module replaces each secret it
//! recognises with `[REDACTED:<kind>]`, where `<kind>` is a short stable slug
//! (see [`KINDS`]), and leaves everything else byte-for-byte untouched.
//!
//! # What is recognised
//!
//! Rules are tried in priority order; where two rules claim overlapping text
//! the earlier one wins, so the most specific kind is reported.
//!
//! 1. **Private keys** (`private-key`): the whole armoured block from
//!    `-----BEGIN … PRIVATE KEY-----` to the matching `END` line, for RSA, EC,
//!    DSA, OPENSSH, ENCRYPTED, PGP (`PRIVATE KEY BLOCK`) and plain PKCS#8,
//!    including blocks embedded in JSON with `\n` escapes. A block whose `END`
//!    line is missing (a truncated paste) is redacted up to the end of its
//!    base64 body. Public keys and certificates are public and kept.
//! 2. **Vendor tokens with a recognisable prefix**, which are unambiguous
//!    wherever they appear: `anthropic-key` (`sk-ant-…`), `openai-key`
//!    (`sk-proj-…`, `sk-svcacct-…`, `sk-admin-…`, legacy `sk-` + 32 or more
//!    alphanumerics), `github-token` (`ghp_`, `gho_`, `ghu_`, `ghs_`, `ghr_`,
//!    `github_pat_`), `gitlab-token` (`glpat-` and the other `gl…-` prefixes,
//!    runner tokens), `slack-token` (`xoxb-`, `xoxp-`, `xapp-` …),
//!    `slack-webhook` (the path of a `hooks.slack.com` URL), `stripe-key`
//!    (`sk_live_`, `sk_test_`, `rk_…`, `whsec_`), `google-api-key` (`AIza…`),
//!    `google-oauth-secret` (`GOCSPX-…`), `google-oauth-token` (`ya29.…`),
//!    `aws-access-key` (`AKIA`/`ASIA`… + 16), `npm-token` (`npm_`),
//!    `pypi-token` (`pypi-AgE…`), `huggingface-token` (`hf_`), `sendgrid-key`
//!    (`SG.x.y`), `twilio-key` (`SK` + 32 hex), `discord-token`,
//!    `discord-webhook`, `telegram-token`, and `jwt` (three base64url parts
//!    whose first two decode to JSON objects, i.e. both start with `eyJ`).
//! 3. **Secrets identified by context**, where the value alone would be
//!    indistinguishable from ordinary data: `aws-secret-key` (40 base64
//!    characters after an `aws_secret_access_key`-style name) and `azure-key`
//!    (the `AccountKey=`/`SharedAccessKey=` of a connection string).
//! 4. **URL passwords** (`url-password`): only the password of
//!    `scheme://user:password@host`; the scheme, user and host stay, because
//!    they are what makes a note about a database useful.
//! 5. **HTTP credentials**: `bearer` for the credential after
//!    `Authorization: Bearer|Token|Bot …` or a bare `Bearer <token>` that looks
//!    like a token (at least 16 characters with a digit, so prose such as
//!    "Bearer tokens expire" is kept); `basic-auth` for
//!    `Authorization: Basic …`; `password` for `curl -u user:password`,
//!    `mysql -pPASSWORD`, `docker login -p PASSWORD`, `.netrc` lines and
//!    Python `auth=("user", "password")` tuples; `cookie` for the values of
//!    session-like cookies (`sessionid`, `PHPSESSID`, `…auth…`, `…token…`) in
//!    `Cookie:`/`Set-Cookie:` headers, while preference cookies and
//!    attributes are kept.
//! 6. **Secret-named assignments**: the value of `KEY=value`,
//!    `export KEY=value`, `KEY: value` (YAML, HTTP headers), `key = "value"`
//!    (TOML, INI, Python, JS, Rust `let key: &str = "…"`), `"key": "value"`
//!    (JSON), `key => 'value'`, `key := "value"`, query strings
//!    (`?api_key=…&`), connection strings (`;Password=…;`), `--token value`
//!    flags and `<password>…</password>` elements. The key name is kept and
//!    only the value is replaced. The kind is `password` when the name is
//!    password-like (PASSWORD, PASSWD, PASSPHRASE, …PWD, …_PASS) and
//!    `env-secret` otherwise (SECRET, …TOKEN, API_KEY, ACCESS_KEY,
//!    PRIVATE_KEY, CREDENTIAL, …AUTH, AUTHORIZATION, and `<owner>_KEY` for
//!    owners like SSH, DEPLOY, LICENSE, CLIENT, SESSION, WEBHOOK, STRIPE).
//!
//! # The boundary: what is deliberately kept
//!
//! * **High-entropy strings without context are not redacted.** Git commit
//!   hashes (full and short), SHA-256 checksums, Docker digests
//!   (`sha256:…`), UUIDs and base64 in prose look exactly like random keys,
//!   and memories about builds and commits are full of them; a rule that
//!   caught unlabelled random strings would destroy far more than it
//!   protected. A secret is only recognised by a vendor prefix, a structure
//!   (PEM, JWT), or a name that says it is secret.
//! * **Names that merely mention a secret word are not secret-named.** The
//!   name is split into words (`_`, `-`, `.`, camelCase); a trailing word that
//!   describes metadata rather than the secret keeps the value: `max_tokens`,
//!   `TOKEN_EXPIRY`, `PASSWORD_MIN_LENGTH`, `AUTH_URL`, `secretName`,
//!   `token_type`, `credential.helper`, `AWS_ACCESS_KEY_ID`,
//!   `GIT_AUTHOR_NAME`, `TOKENIZERS_PARALLELISM`, pagination cursors such as
//!   `next_token`, and the shell's `PWD`/`OLDPWD`. A bare `key` is too generic
//!   (`sort_key`, `cache_key`) to count.
//! * **Placeholders are kept**, because they carry no secret and are exactly
//!   what documentation notes contain: empty values, `<your-key>`, `$VAR`,
//!   `${VAR}`, `${{ secrets.X }}`, `%VAR%`, `{{ var }}`, masks such as
//!   `********` or `xxxx`, elided values containing `...`, values starting
//!   with `your`, words like `changeme`, `none`, `null`, `true`, `required`,
//!   single characters, YAML tags (`!vault`, `!secret name`) and aliases
//!   (`*default`), and values that are already `[REDACTED:…]`.
//! * **Code is kept**: an unquoted value that is an expression rather than a
//!   literal (`os.environ["X"]`, `getToken()`, `self.token`,
//!   `process.env.TOKEN`, a type such as `String` or `Option<String>`) names
//!   where a secret comes from, not the secret. Likewise `password=password`,
//!   the usual way of passing a variable through.
//! * **Paths and plain URLs are kept** as values of secret-named keys
//!   (`GOOGLE_APPLICATION_CREDENTIALS=/path/sa.json`); a password inside a URL
//!   is still caught by the URL rule.
//! * **Prose is kept.** Secret words in sentences ("the password reset flow
//!   uses a token") have no separator and value. After a colon, or an `=`
//!   surrounded by spaces, an unquoted value only counts when it ends the
//!   line (or is followed by a comment, a closing bracket or quote, or a
//!   comma), so "Token: see below" survives while a YAML `token: abc123`
//!   does not. Space-separated flags (`--token X`) need a value with a digit
//!   or symbol or 16+ characters, so "use --token to pass it" survives.
//! * **Publishable keys** (`pk_live_…`) and identifiers that are not secret
//!   (AWS account IDs, Twilio account SIDs, OAuth client IDs) are kept.
//!
//! * **Colon-separated paths are not labels**: in
//!   `arn:aws:secretsmanager:…:secret:db` or a Redis key `user:42:token:abc`
//!   the word before a colon is a path segment, so a key that follows a colon
//!   and is followed by one is ignored.
//!
//! Known gaps, accepted to keep false positives down: a secret in a sentence
//! with no label or separator ("I set the password to hunter2") is not
//! found; unquoted values with spaces are only redacted up to the first
//! space (`PASSWORD=correct horse` keeps `horse`); multi-line values (YAML
//! block scalars, Python triple-quoted strings), space-separated
//! `Dockerfile ENV KEY value` lines, `.pgpass` lines and PuTTY key files are
//! not handled; values over 4 KiB inside quotes are left alone; password
//! hashes (`password_hash = "$argon2id$…"`) are kept.
//!
//! # Guarantees
//!
//! [`redact`] never panics, runs in time linear in the input (all patterns
//! are compiled by the `regex` crate, which has no backtracking, and every
//! hand-written scan is bounded or consumes what it scans), and is
//! idempotent: markers already in the text are never matched again, and the
//! rules are re-run until a pass finds nothing, so the output is a fixed
//! point and redacting redacted text changes nothing.

use std::collections::BTreeMap;
use std::sync::LazyLock;

use regex::Regex;

/// What [`redact`] found and replaced.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Redacted {
    /// The text with every secret replaced by `[REDACTED:<kind>]`.
    pub text: String,
    /// The kinds of secret replaced, in order of appearance.
    pub kinds: Vec<&'static str>,
}

impl Redacted {
    /// Whether anything was replaced.
    pub fn is_redacted(&self) -> bool {
        !self.kinds.is_empty()
    }
}

/// Every kind [`redact`] can report, so callers and docs can list them.
pub const KINDS: &[&str] = &[
    "private-key",
    "anthropic-key",
    "openai-key",
    "github-token",
    "gitlab-token",
    "slack-token",
    "slack-webhook",
    "stripe-key",
    "google-api-key",
    "google-oauth-secret",
    "google-oauth-token",
    "aws-access-key",
    "aws-secret-key",
    "azure-key",
    "npm-token",
    "pypi-token",
    "huggingface-token",
    "sendgrid-key",
    "twilio-key",
    "discord-token",
    "discord-webhook",
    "telegram-token",
    "jwt",
    "url-password",
    "bearer",
    "basic-auth",
    "cookie",
    "password",
    "env-secret",
];

/// The text every replacement starts with.
const MARKER_PREFIX: &str = "[REDACTED:";

/// Longest quoted value, in bytes, that is considered. A quoted string longer
/// than this is data (a blob, a document), not a credential, and bounding the
/// scan keeps rejected candidates from making the whole pass quadratic.
const MAX_QUOTED: usize = 4096;

/// Length, in bytes, after which an unquoted value is redacted without the
/// placeholder and code checks; see [`scan_unquoted`].
const MAX_UNQUOTED_CHECKED: usize = 4096;

/// Longest key name considered; longer identifiers are not configuration keys.
const MAX_KEY: usize = 128;

/// Whether `text` says anything beside its redaction markers: a note that
/// was nothing but a secret (and a label or two) is worth nothing stored.
pub fn only_secrets(text: &str) -> bool {
    let mut rest = text;
    let mut said = String::new();
    while let Some(at) = rest.find(MARKER_PREFIX) {
        said.push_str(&rest[..at]);
        rest = rest[at..].split_once(']').map_or("", |(_, after)| after);
    }
    said.push_str(rest);
    text.contains(MARKER_PREFIX)
        && said.split(|c: char| !c.is_alphanumeric()).filter(|w| w.len() > 1).count() <= 1
}

/// Replaces every secret in `text` by `[REDACTED:<kind>]`.
///
/// See the module documentation for what counts as a secret and what is
/// deliberately kept.
pub fn redact(text: &str) -> Redacted {
    // A span that lost to a higher-priority rule may still hold a secret
    // once the winner is replaced (`xoxb-…` run into a private key block is
    // matched again, shorter, next to the marker). Passes repeat until one
    // finds nothing, which is what makes the result a fixed point and
    // `redact` idempotent; each pass only turns unmarked text into markers, so
    // the loop ends, and in practice a second pass rarely finds anything.
    let mut current: Option<String> = None;
    let mut found: Vec<(usize, &'static str)> = Vec::new();
    for _ in 0..MAX_PASSES {
        let input = current.as_deref().unwrap_or(text);
        match redact_pass(input, &found) {
            Some((next, next_found)) => {
                current = Some(next);
                found = next_found;
            }
            None => break,
        }
    }
    Redacted {
        text: current.unwrap_or_else(|| text.to_owned()),
        kinds: found.into_iter().map(|(_, kind)| kind).collect(),
    }
}

/// Upper bound on passes; chains of overlapping candidates are short, so this
/// is never reached on real text and only bounds adversarial input.
const MAX_PASSES: usize = 8;

/// One pass over `text`: `None` when nothing new was found, otherwise the
/// rewritten text and the position and kind of every marker this call to
/// [`redact`] has written so far (`prior` holds those from earlier passes, at
/// their positions in `text`), sorted by position.
fn redact_pass(text: &str, prior: &[(usize, &'static str)]) -> Option<(String, Vec<(usize, &'static str)>)> {
    // Every rule proposes spans against the pass's input, in priority order;
    // the first span to claim a byte wins. Working on one text (not
    // rewriting it rule by rule) keeps offsets simple and lets a general rule
    // (an env line) defer to a specific one (the OpenAI key inside it).
    let mut candidates = Vec::new();
    private_keys(text, &mut candidates);
    vendor_tokens(text, &mut candidates);
    url_passwords(text, &mut candidates);
    http_credentials(text, &mut candidates);
    cookies(text, &mut candidates);
    command_line_passwords(text, &mut candidates);
    assignments(text, &mut candidates);
    flags(text, &mut candidates);
    xml_elements(text, &mut candidates);

    let mut claimed = Claimed::default();
    // Markers already in the text (from the caller or an earlier pass) are
    // claimed first, without a kind, so no rule can re-redact them or a span
    // around them.
    for m in MARKER.find_iter(text) {
        claimed.try_claim(m.start(), m.end(), None);
    }
    let mut added = false;
    for c in candidates {
        if c.start < c.end {
            added |= claimed.try_claim(c.start, c.end, Some(c.kind));
        }
    }
    if !added {
        return None;
    }

    let mut out = String::with_capacity(text.len());
    let mut found = Vec::with_capacity(prior.len() + 1);
    let mut prior = prior.iter().peekable();
    let mut last = 0;
    for (&start, &(end, kind)) in &claimed.spans {
        out.push_str(&text[last..start]);
        match kind {
            // An existing marker: keep it, and carry its position over if
            // this call wrote it in an earlier pass.
            None => {
                while prior.next_if(|&&(pos, _)| pos < start).is_some() {}
                if let Some(&(_, kind)) = prior.next_if(|&&(pos, _)| pos == start) {
                    found.push((out.len(), kind));
                }
                out.push_str(&text[start..end]);
            }
            Some(kind) => {
                found.push((out.len(), kind));
                out.push_str(MARKER_PREFIX);
                out.push_str(kind);
                out.push(']');
            }
        }
        last = end;
    }
    out.push_str(&text[last..]);
    Some((out, found))
}

/// A proposed replacement of `text[start..end]`.
#[derive(Debug, Clone, Copy)]
struct Span {
    start: usize,
    end: usize,
    kind: &'static str,
}

impl Span {
    fn new(start: usize, end: usize, kind: &'static str) -> Self {
        Span { start, end, kind }
    }
}

/// Disjoint claimed byte ranges, keyed by start; `None` marks an existing
/// marker that must be left as it is.
#[derive(Debug, Default)]
struct Claimed {
    spans: BTreeMap<usize, (usize, Option<&'static str>)>,
}

impl Claimed {
    /// Claims `start..end` unless it overlaps a range already claimed.
    ///
    /// The ranges are disjoint, so sorting by start also sorts by end: only
    /// the last range starting before `end` can reach into the new one.
    fn try_claim(&mut self, start: usize, end: usize, kind: Option<&'static str>) -> bool {
        if let Some((_, &(prev_end, _))) = self.spans.range(..end).next_back()
            && prev_end > start
        {
            return false;
        }
        self.spans.insert(start, (end, kind));
        true
    }
}

/// Compiles a constant pattern; a failure is a bug in this file, caught by
/// the tests, never a runtime condition.
fn re(pattern: &str) -> Regex {
    Regex::new(pattern).expect("valid regex")
}

/// A marker this module wrote, in this or an earlier pass.
static MARKER: LazyLock<Regex> = LazyLock::new(|| re(r"\[REDACTED:[a-z0-9-]+\]"));

// ---------------------------------------------------------------------------
// Private keys
// ---------------------------------------------------------------------------

/// A complete armoured private key. `(?s)` lets the body span lines, and the
/// lazy `.*?` stops at the first `END` line so two keys stay two spans.
static PRIVATE_KEY_BLOCK: LazyLock<Regex> = LazyLock::new(|| {
    re(r"(?s)-----BEGIN[A-Z0-9 ]*PRIVATE KEY(?: BLOCK)?-----.*?-----END[A-Z0-9 ]*PRIVATE KEY(?: BLOCK)?-----")
});

/// The start of a private key whose `END` line is missing, with the base64
/// and armour-header lines that follow it (real or `\n`-escaped newlines).
static PRIVATE_KEY_OPEN: LazyLock<Regex> = LazyLock::new(|| {
    re(
        r"-----BEGIN[A-Z0-9 ]*PRIVATE KEY(?: BLOCK)?-----(?:[ \t]*(?:\r?\n|\\n)[ \t]*(?:[A-Za-z0-9+/=]{4,}(?:\.\.\.|…)?|(?:Proc-Type|DEK-Info|Comment|Version|Hash):[^\n]*))*",
    )
});

fn private_keys(text: &str, out: &mut Vec<Span>) {
    for m in PRIVATE_KEY_BLOCK.find_iter(text).chain(PRIVATE_KEY_OPEN.find_iter(text)) {
        out.push(Span::new(m.start(), m.end(), "private-key"));
    }
}

// ---------------------------------------------------------------------------
// Vendor tokens
// ---------------------------------------------------------------------------

/// A token recognised by its own shape: `group` is the part to replace, and
/// `check` rejects matches that fit the pattern but not the real format.
struct TokenRule {
    kind: &'static str,
    regex: Regex,
    group: usize,
    check: fn(&str) -> bool,
}

fn token(kind: &'static str, pattern: &str) -> TokenRule {
    TokenRule { kind, regex: re(pattern), group: 0, check: |_| true }
}

fn token_group(kind: &'static str, pattern: &str, group: usize) -> TokenRule {
    TokenRule { kind, regex: re(pattern), group, check: |_| true }
}

/// Most specific first: an Anthropic key also starts with `sk-`.
static TOKEN_RULES: LazyLock<Vec<TokenRule>> = LazyLock::new(|| {
    vec![
        token("anthropic-key", r"\bsk-ant-[A-Za-z0-9_-]{20,}"),
        token("openai-key", r"\bsk-(?:proj|svcacct|admin|None)-[A-Za-z0-9_-]{20,}"),
        token("openai-key", r"\bsk-[A-Za-z0-9]{32,}\b"),
        token("github-token", r"\bgh[pousr]_[A-Za-z0-9]{36,}\b"),
        token("github-token", r"\bgithub_pat_[A-Za-z0-9_]{40,}"),
        token("gitlab-token", r"\bgl(?:pat|ptt|dt|rt|ft|soat|cbt|imt|oas|agent)-[A-Za-z0-9_-]{20,}"),
        token("gitlab-token", r"\bGR1348941[A-Za-z0-9_-]{20,}"),
        token_group(
            "slack-webhook",
            r"\bhooks\.slack\.com/(?:services|workflows|triggers)/([A-Za-z0-9_/-]{20,})",
            1,
        ),
        token("slack-token", r"\bxox[abeoprs]-[A-Za-z0-9-]{10,}"),
        token("slack-token", r"\bxapp-[0-9]-[A-Za-z0-9-]{10,}"),
        token("stripe-key", r"\b[sr]k_(?:live|test)_[A-Za-z0-9]{10,}"),
        token("stripe-key", r"\bwhsec_[A-Za-z0-9]{20,}"),
        token("google-api-key", r"\bAIza[0-9A-Za-z_-]{35}"),
        token("google-oauth-secret", r"\bGOCSPX-[A-Za-z0-9_-]{20,}"),
        token("google-oauth-token", r"\bya29\.[0-9A-Za-z_-]{20,}"),
        token("aws-access-key", r"\b(?:AKIA|ASIA|ABIA|ACCA|A3T[A-Z0-9])[A-Z0-9]{16}\b"),
        // The secret half of an AWS key pair is 40 characters of base64 with
        // no prefix, so it is only recognised next to its usual names (env,
        // credentials file, JSON, `aws configure` prompt).
        token_group(
            "aws-secret-key",
            r#"(?i)(?:secret[_ -]?access[_ -]?key|aws[_ -]?secret[_ -]?key)["']?[ \t]*(?:\[[^\]\n]{0,20}\][ \t]*)?(?::=|=>|=|:)[ \t]*["']?([A-Za-z0-9/+]{40})(?:[^A-Za-z0-9/+=]|$)"#,
            1,
        ),
        token_group("azure-key", r"(?i)\b(?:AccountKey|SharedAccessKey)=([A-Za-z0-9+/]{20,}={0,2})", 1),
        token("npm-token", r"\bnpm_[A-Za-z0-9]{36}\b"),
        token("pypi-token", r"\bpypi-AgE[A-Za-z0-9_-]{50,}"),
        token("huggingface-token", r"\bhf_[A-Za-z0-9]{30,}\b"),
        token("sendgrid-key", r"\bSG\.[A-Za-z0-9_-]{22}\.[A-Za-z0-9_-]{43}"),
        token("twilio-key", r"\bSK[0-9a-fA-F]{32}\b"),
        TokenRule {
            kind: "discord-token",
            regex: re(r"\b[MNO][A-Za-z0-9]{23,25}\.[A-Za-z0-9_-]{6}\.[A-Za-z0-9_-]{27,40}"),
            group: 0,
            check: looks_like_discord_token,
        },
        token_group(
            "discord-webhook",
            r"\bdiscord(?:app)?\.com/api/webhooks/[0-9]{5,}/([A-Za-z0-9_-]{20,})",
            1,
        ),
        token("telegram-token", r"\b[0-9]{8,10}:AA[A-Za-z0-9_-]{33}"),
        token("jwt", r"\beyJ[A-Za-z0-9_-]{10,}\.eyJ[A-Za-z0-9_-]{10,}\.[A-Za-z0-9_-]*"),
    ]
});

/// A Discord token's shape also fits long dotted identifiers
/// (`NotificationServiceProvide.Config.…`), so require what random base64
/// has and names do not: digits in the first and last parts, and mixed case
/// in the last.
fn looks_like_discord_token(s: &str) -> bool {
    let mut parts = s.split('.');
    let (Some(first), Some(_), Some(last)) = (parts.next(), parts.next(), parts.next()) else {
        return false;
    };
    let has_digit = |p: &str| p.bytes().any(|b| b.is_ascii_digit());
    has_digit(first)
        && has_digit(last)
        && last.bytes().any(|b| b.is_ascii_uppercase())
        && last.bytes().any(|b| b.is_ascii_lowercase())
}

fn vendor_tokens(text: &str, out: &mut Vec<Span>) {
    for rule in TOKEN_RULES.iter() {
        for caps in rule.regex.captures_iter(text) {
            let Some(m) = caps.get(rule.group) else { continue };
            if (rule.check)(m.as_str()) {
                out.push(Span::new(m.start(), m.end(), rule.kind));
            }
        }
    }
}

// ---------------------------------------------------------------------------
// URL passwords
// ---------------------------------------------------------------------------

/// `scheme://user:password@`. The user may itself contain `@` (an e-mail
/// address), and the greedy password runs to the last `@` before the path,
/// so a password containing a raw `@` is still covered whole.
static URL_PASSWORD: LazyLock<Regex> =
    LazyLock::new(|| re(r#"\b[A-Za-z][A-Za-z0-9+.-]{0,30}://[^\s:/?#\[\]"'<>]*:([^\s/?#"'<>]+)@"#));

fn url_passwords(text: &str, out: &mut Vec<Span>) {
    for caps in URL_PASSWORD.captures_iter(text) {
        let Some(pass) = caps.get(1) else { continue };
        if !is_placeholder(pass.as_str()) {
            out.push(Span::new(pass.start(), pass.end(), "url-password"));
        }
    }
}

// ---------------------------------------------------------------------------
// HTTP credentials
// ---------------------------------------------------------------------------

/// `Bearer <token>` anywhere: in headers, in logs, in prose.
static BEARER: LazyLock<Regex> = LazyLock::new(|| re(r"(?i)\bbearer[ \t]+([A-Za-z0-9._~+/-]+=*)"));

/// An `Authorization` header (or JSON/dict entry) with an optional scheme.
static AUTHORIZATION: LazyLock<Regex> = LazyLock::new(|| {
    re(
        r#"(?i)\b(?:proxy-)?authorization["']?[ \t]*[:=][ \t]*["']?[ \t]*(?:(basic|bearer|token|bot|apikey|api-key|sso-key)[ \t]+)?([A-Za-z0-9._~+/:-]+=*)"#,
    )
});

/// Words that name an authentication scheme rather than being a credential.
const AUTH_SCHEMES: &[&str] =
    &["basic", "bearer", "token", "bot", "apikey", "api-key", "sso-key", "digest", "negotiate", "ntlm"];

fn http_credentials(text: &str, out: &mut Vec<Span>) {
    for caps in AUTHORIZATION.captures_iter(text) {
        let Some(cred) = caps.get(2) else { continue };
        let value = cred.as_str();
        if is_placeholder(value)
            || is_all_caps_name(value)
            || AUTH_SCHEMES.contains(&value.to_ascii_lowercase().as_str())
        {
            continue;
        }
        let scheme = caps.get(1).map(|s| s.as_str().to_ascii_lowercase());
        let kind = match scheme.as_deref() {
            Some("basic") => "basic-auth",
            Some(_) => "bearer",
            // Without a scheme the header value could be prose ("Authorization:
            // required"), so demand something token-shaped.
            None if looks_like_token(value, 8) => "bearer",
            None => continue,
        };
        out.push(Span::new(cred.start(), cred.end(), kind));
    }
    for caps in BEARER.captures_iter(text) {
        let Some(tok) = caps.get(1) else { continue };
        let value = tok.as_str();
        if is_placeholder(value) || is_all_caps_name(value) {
            continue;
        }
        // Inside an `Authorization` header the scheme says it all; in free
        // text "Bearer" is often just a word, so the token must look random.
        let in_header = preceding_line(text, tok.start(), 256).to_ascii_lowercase().contains("authorization");
        if in_header || looks_like_token(value, 16) {
            out.push(Span::new(tok.start(), tok.end(), "bearer"));
        }
    }
}

/// A `Cookie:` or `Set-Cookie:` header, as pasted from `curl -v`, browser
/// tools or server logs.
static COOKIE_HEADER: LazyLock<Regex> =
    LazyLock::new(|| re(r#"(?i)\b(?:set-)?cookie[ \t]*:[ \t]*([^\n"']*)"#));

/// Cookie names that hold a session or credential (`sessionid`, `PHPSESSID`,
/// `connect.sid`, `next-auth.session-token`, `remember_token`); other cookies
/// (preferences, consent, attributes such as `Path` and `Expires`) are kept.
const SESSION_COOKIE_WORDS: &[&str] = &["sess", "token", "auth", "jwt", "remember"];

/// Whether a cookie name (lower case) holds a session or credential. `sid`
/// only counts at the end (`connect.sid`), so `sidebar=collapsed` is kept.
fn is_session_cookie(name: &str) -> bool {
    SESSION_COOKIE_WORDS.iter().any(|w| name.contains(w)) || name.ends_with("sid")
}

fn cookies(text: &str, out: &mut Vec<Span>) {
    for caps in COOKIE_HEADER.captures_iter(text) {
        let Some(header) = caps.get(1) else { continue };
        let mut offset = header.start();
        for pair in header.as_str().split(';') {
            let pair_start = offset;
            offset += pair.len() + 1;
            let Some(eq) = pair.find('=') else { continue };
            let name = pair[..eq].trim().to_ascii_lowercase();
            let raw = &pair[eq + 1..];
            let value = raw.trim();
            if !is_session_cookie(&name) || value.len() < 8 || is_placeholder(value) {
                continue;
            }
            let start = pair_start + eq + 1 + (raw.len() - raw.trim_start().len());
            out.push(Span::new(start, start + value.len(), "cookie"));
        }
    }
}

/// Whether `value` looks like a random token rather than a word: at least
/// `min_len` bytes and containing a digit, or at least 20 bytes long.
fn looks_like_token(value: &str, min_len: usize) -> bool {
    (value.len() >= min_len && value.bytes().any(|b| b.is_ascii_digit())) || value.len() >= 20
}

/// `TOKEN`, `ACCESS_TOKEN`, `API_KEY`: an upper-case name standing in for a
/// value in documentation, never a real credential (those mix case or digits).
fn is_all_caps_name(value: &str) -> bool {
    value.bytes().all(|b| b.is_ascii_uppercase() || b == b'_')
        && value.bytes().any(|b| b.is_ascii_uppercase())
}

/// The text of the current line before `pos`, at most `max` bytes of it.
fn preceding_line(text: &str, pos: usize, max: usize) -> &str {
    let mut from = pos.saturating_sub(max);
    while !text.is_char_boundary(from) {
        from += 1;
    }
    let before = &text[from..pos];
    match before.rfind('\n') {
        Some(nl) => &before[nl + 1..],
        None => before,
    }
}

// ---------------------------------------------------------------------------
// Passwords on command lines and in credential files
// ---------------------------------------------------------------------------

static COMMAND_PASSWORDS: LazyLock<Vec<Regex>> = LazyLock::new(|| {
    vec![
        // `curl -u user:password` (also `--user` and `--user=`). Restricted to
        // curl lines because `-u 1000:1000` means a uid:gid to docker.
        re(r#"\bcurl\b[^\n]*?[ \t](?:-u|--user)(?:[ \t]+|=)["']?[^\s:"'$]+:([^\s"']+)"#),
        // `mysql -uroot -pPASSWORD`: the password is glued to `-p`.
        re(r"\b(?:mysql|mysqldump|mysqladmin|mariadb)\b[^\n]*?[ \t]-p([^\s-][^\s]*)"),
        // `docker login -u user -p PASSWORD`.
        re(r"\b(?:docker|podman)[ \t]+login\b[^\n]*?[ \t]-p[ \t]+([^\s]+)"),
        // `.netrc`: `machine host login user password PASSWORD`.
        re(r"\bmachine[ \t]+\S+[^\n]*?[ \t]password[ \t]+(\S+)"),
        // Python requests: `auth=("user", "password")`, `HTTPBasicAuth("user", "password")`.
        re(
            r#"(?:\bauth[ \t]*=[ \t]*\(|\bHTTP(?:Basic|Digest)Auth\()[ \t]*["'][^"'\n]*["'][ \t]*,[ \t]*["']([^"'\n]+)["']"#,
        ),
    ]
});

fn command_line_passwords(text: &str, out: &mut Vec<Span>) {
    for regex in COMMAND_PASSWORDS.iter() {
        for caps in regex.captures_iter(text) {
            let Some(pass) = caps.get(1) else { continue };
            let value = pass.as_str().trim_matches(|c| c == '"' || c == '\'');
            if is_placeholder(value) {
                continue;
            }
            let offset = pass.as_str().find(value).unwrap_or(0);
            let start = pass.start() + offset;
            out.push(Span::new(start, start + value.len(), "password"));
        }
    }
}

// ---------------------------------------------------------------------------
// Secret-named assignments
// ---------------------------------------------------------------------------

/// A key followed by an assignment separator. The value is parsed by hand
/// (see [`assignments`]) so quoting, escapes and line context can be judged,
/// and so a rejected candidate never swallows the text after it.
static ASSIGN: LazyLock<Regex> =
    LazyLock::new(|| re(r#"(?P<key>[A-Za-z_][A-Za-z0-9_.-]*)["'`]?(?P<sep>[ \t]*(?::=|=>|={1,3}|:)[ \t]*)"#));

/// A type annotation between a `:` and the `=` of a typed declaration:
/// `let key: &str = "…"`, `key: str = "…"`, `const key: string = "…"`.
static TYPE_ANNOTATION: LazyLock<Regex> =
    LazyLock::new(|| re(r"^[&'*A-Za-z_][A-Za-z0-9_<>:&'*\[\], .|?]{0,80}?[ \t]*=[ \t]*"));

/// `;Key=` or `&key=`: the start of the next field of a connection or query
/// string, where an unquoted value ends.
static NEXT_FIELD: LazyLock<Regex> = LazyLock::new(|| re(r"^[;&][A-Za-z_][A-Za-z0-9_ .-]{0,40}="));

fn assignments(text: &str, out: &mut Vec<Span>) {
    let mut pos = 0;
    while pos < text.len() {
        let Some(caps) = ASSIGN.captures_at(text, pos) else { break };
        let (Some(whole), Some(key), Some(sep)) = (caps.get(0), caps.name("key"), caps.name("sep")) else {
            break;
        };
        // The match is never empty (a key character and a separator), so
        // this always moves forward.
        pos = whole.end();
        let Some(kind) = key_kind(key.as_str()) else { continue };
        let sep_text = sep.as_str().trim();
        // In `arn:aws:secretsmanager:…:secret:name` or a Redis key
        // `user:42:token:abc` the colons separate path segments; a key written
        // after a colon and followed by one is such a segment, not a label.
        // (Ruby's `:password => "…"` uses `=>` and is unaffected.)
        if sep_text == ":" && text[..key.start()].ends_with(':') {
            continue;
        }
        let mut vstart = whole.end();

        // Markdown bold around a label: `**Password:** value`.
        if let Some(rest) = text[vstart..].strip_prefix("**") {
            vstart = text.len() - rest.trim_start_matches([' ', '\t']).len();
        }

        // `key: Type = "value"`: skip the type, then require a literal.
        if sep_text == ":"
            && let Some(m) = TYPE_ANNOTATION.find(&text[vstart..])
        {
            let after = vstart + m.end();
            if text[after..].starts_with(['"', '\'', '`']) && !m.as_str().trim_end().ends_with("==") {
                vstart = after;
            }
        }

        if text[vstart..].starts_with(['"', '\'', '`']) {
            let Some((s, e)) = scan_quoted(text, vstart) else { continue };
            let value = &text[s..e];
            if is_placeholder(value) || same_as_key(value, key.as_str()) {
                continue;
            }
            out.push(Span::new(s, e, kind));
            pos = e;
            continue;
        }

        let Some(value) = scan_unquoted(text, vstart) else { continue };
        // Only a bare `KEY=value` (shell, .env, query string, flag) may be
        // followed by more text; after `:` or a spaced `=` the value must end
        // the line, which is what separates `token: abc123` from prose.
        let spaced = sep.as_str().contains([' ', '\t']) || sep_text != "=";
        if spaced && !value.unchecked && !rest_of_line_ok(text, value.end) {
            continue;
        }
        let v = &text[value.start..value.end];
        if !value.unchecked && (is_placeholder(v) || is_code(v) || same_as_key(v, key.as_str())) {
            continue;
        }
        out.push(Span::new(value.start, value.end, kind));
        pos = value.end;
    }
}

/// `--token VALUE`: a long flag and its space-separated value. The
/// `--token=VALUE` form is an ordinary assignment.
static FLAG: LazyLock<Regex> = LazyLock::new(|| re(r"--(?P<key>[A-Za-z][A-Za-z0-9-]*)[ \t]+"));

fn flags(text: &str, out: &mut Vec<Span>) {
    for caps in FLAG.captures_iter(text) {
        let (Some(whole), Some(key)) = (caps.get(0), caps.name("key")) else { continue };
        // The flag must start a word (`--x` after a space, not `a--x`); this
        // is checked here rather than in the pattern so the space before one
        // flag is not consumed by the match of the flag before it.
        if !text[..whole.start()].ends_with([' ', '\t', '\n']) && whole.start() != 0 {
            continue;
        }
        let Some(kind) = key_kind(key.as_str()) else { continue };
        let vstart = whole.end();
        let (s, e) = if text[vstart..].starts_with(['"', '\'']) {
            match scan_quoted(text, vstart) {
                Some(range) => range,
                None => continue,
            }
        } else {
            match scan_unquoted(text, vstart) {
                Some(v) => (v.start, v.end),
                None => continue,
            }
        };
        let value = &text[s..e];
        // A following flag is not a value, and in prose ("use --token to
        // pass it") the next word is a word: demand a token-like value.
        if value.starts_with('-') || is_placeholder(value) || is_code(value) {
            continue;
        }
        let symbolic = value.bytes().any(|b| !b.is_ascii_alphabetic());
        if symbolic || value.len() >= 16 {
            out.push(Span::new(s, e, kind));
        }
    }
}

/// `<password>value</password>`, as in Maven's `settings.xml`.
static XML_ELEMENT: LazyLock<Regex> =
    LazyLock::new(|| re(r"<(?P<key>[A-Za-z_][A-Za-z0-9_.:-]*)>(?P<value>[^<\n]+)</"));

fn xml_elements(text: &str, out: &mut Vec<Span>) {
    for caps in XML_ELEMENT.captures_iter(text) {
        let (Some(key), Some(value)) = (caps.name("key"), caps.name("value")) else { continue };
        let Some(kind) = key_kind(key.as_str()) else { continue };
        if !is_placeholder(value.as_str()) {
            out.push(Span::new(value.start(), value.end(), kind));
        }
    }
}

/// The inside of the quoted string starting at `start` (which holds the
/// quote): same-line, backslash escapes honoured, at most [`MAX_QUOTED`] bytes.
fn scan_quoted(text: &str, start: usize) -> Option<(usize, usize)> {
    let quote = text[start..].chars().next()?;
    let inner = start + quote.len_utf8();
    let mut escaped = false;
    for (i, c) in text[inner..].char_indices() {
        if i > MAX_QUOTED || c == '\n' {
            return None;
        }
        if escaped {
            escaped = false;
        } else if c == '\\' {
            escaped = true;
        } else if c == quote {
            return Some((inner, inner + i));
        }
    }
    None
}

/// An unquoted value: `text[start..end]`, and whether it was too long to be
/// checked for placeholders and code.
#[derive(Debug, Clone, Copy)]
struct Unquoted {
    start: usize,
    end: usize,
    unchecked: bool,
}

/// The unquoted value starting at `start`: up to whitespace or a quote, cut
/// before the next `;Key=`/`&key=` field, without trailing punctuation.
///
/// A value longer than [`MAX_UNQUOTED_CHECKED`] is returned whole and marked
/// unchecked: the caller redacts it without further judgement, and since it
/// is then consumed, scanning it costs linear time overall.
fn scan_unquoted(text: &str, start: usize) -> Option<Unquoted> {
    let mut end = start;
    for (i, c) in text[start..].char_indices() {
        if c.is_whitespace() || matches!(c, '"' | '\'' | '`') {
            break;
        }
        // A closing tag ends the value: `<what>DB_PASSWORD=…</what>`.
        if c == '<' && text[start + i..].starts_with("</") {
            break;
        }
        if (c == ';' || c == '&') && i <= MAX_UNQUOTED_CHECKED && NEXT_FIELD.is_match(&text[start + i..]) {
            break;
        }
        end = start + i + c.len_utf8();
    }
    let unchecked = end - start > MAX_UNQUOTED_CHECKED;
    let trimmed = text[start..end].trim_end_matches([',', ';', ')', '}', ']', '>', '.']);
    let end = start + trimmed.len();
    (end > start).then_some(Unquoted { start, end, unchecked })
}

/// Whether what follows an unquoted value on its line lets the value stand
/// alone: nothing, a comment, a closing bracket or quote, a comma, or a line
/// continuation. Looks at a constant number of characters.
fn rest_of_line_ok(text: &str, end: usize) -> bool {
    let rest = text[end..].trim_start_matches([' ', '\t']);
    match rest.chars().next() {
        None | Some('\n' | '\r' | '#' | ',' | ';' | ')' | '}' | ']' | '"' | '\'' | '`' | '\\') => true,
        Some('/') => rest.starts_with("//") || rest.starts_with("/*"),
        Some(_) => false,
    }
}

/// Whether `value` just repeats the key (`password=password`,
/// `token: token`), the usual way of passing a variable through.
fn same_as_key(value: &str, key: &str) -> bool {
    let norm = |s: &str| {
        s.bytes().filter(u8::is_ascii_alphanumeric).map(|b| b.to_ascii_lowercase()).collect::<Vec<_>>()
    };
    let key = key.rsplit(['.', '-']).next().unwrap_or(key);
    norm(value) == norm(key)
}

// ---------------------------------------------------------------------------
// Key names
// ---------------------------------------------------------------------------

/// Last words that describe something about a secret rather than the secret
/// itself: `TOKEN_EXPIRY`, `PASSWORD_MIN_LENGTH`, `secretName`, `AUTH_URL`.
// A table: one word per line would bury it.
#[rustfmt::skip]
const METADATA_WORDS: &[&str] = &[
    "age", "alg", "algo", "algorithm", "arn", "at", "audience", "backend", "button", "cache", "changed",
    "cmd", "command", "count", "created", "date", "desc", "description", "dir", "directory", "disable",
    "disabled", "display", "enable", "enabled", "endpoint", "env", "error", "exp", "expiration",
    "expires", "expiry", "field", "file", "filename", "files", "form", "format", "hash", "header",
    "help", "helper", "hint", "host", "hostname", "icon", "id", "ids", "index", "input", "issuer",
    "kind", "label", "len", "length", "lifetime", "limit", "location", "lookup", "manager", "max",
    "maxlength", "message", "method", "min", "minlength", "mode", "msg", "name", "names", "page",
    "path", "pattern", "placeholder", "policy", "port", "prefix", "prompt", "provider", "reason", "ref",
    "regex", "region", "required", "reset", "rotation", "route", "schema", "scope", "scopes", "size",
    "sock", "socket", "source", "state", "status", "stdin", "store", "strategy", "strength", "suffix",
    "template", "time", "timeout", "ttl", "type", "updated", "uri", "url", "urls", "validation", "var",
    "version", "visibility", "visible",
];

/// Names ending in a secret word that are nonetheless not secrets:
/// pagination cursors and .NET cancellation tokens.
const NON_SECRET_SUFFIXES: &[&str] =
    &["pagetoken", "nexttoken", "continuationtoken", "cancellationtoken", "synctoken", "resumetoken"];

/// Owners that make `<owner>_KEY` a secret; a bare `key` (`sort_key`,
/// `cache_key`, `primary_key`) is far too generic.
// A table: one word per line would bury it.
#[rustfmt::skip]
const KEY_OWNERS: &[&str] = &[
    "access", "account", "admin", "aes", "anthropic", "api", "app", "auth", "client", "cohere",
    "deploy", "encryption", "gemini", "gpg", "groq", "hmac", "jwt", "licence", "license", "mailgun",
    "master", "mistral", "openai", "pgp", "private", "root", "rsa", "secret", "sendgrid", "service",
    "session", "shared", "signing", "ssh", "storage", "stripe", "subscription", "twilio", "webhook",
    "write",
];

/// The kind for the value of `key`, or `None` when the name is not secret.
fn key_kind(key: &str) -> Option<&'static str> {
    if key.len() > MAX_KEY {
        return None;
    }
    let words = key_words(key);
    let last = words.last()?.as_str();
    if METADATA_WORDS.contains(&last) {
        return None;
    }
    let joined = words.concat();
    // The shell's working directories, not passwords.
    if joined == "pwd" || joined == "oldpwd" {
        return None;
    }
    if NON_SECRET_SUFFIXES.iter().any(|s| joined.ends_with(s)) {
        return None;
    }
    if ["password", "passwd", "passphrase"].iter().any(|w| joined.contains(w))
        || joined.ends_with("pwd")
        || last == "pass"
    {
        return Some("password");
    }
    let owned_key =
        last == "key" && words.len() >= 2 && KEY_OWNERS.contains(&words[words.len() - 2].as_str());
    if ["secret", "apikey", "credential", "privatekey", "accesskey"].iter().any(|w| joined.contains(w))
        || ["token", "auth", "authorization"].iter().any(|w| joined.ends_with(w))
        || owned_key
    {
        return Some("env-secret");
    }
    None
}

/// Lower-case words of a key: split on punctuation and on camelCase
/// boundaries (`dbPassword` → db, password; `APIKey` → api, key).
fn key_words(key: &str) -> Vec<String> {
    let mut words = Vec::new();
    for part in key.split(|c: char| !c.is_ascii_alphanumeric()) {
        let chars: Vec<char> = part.chars().collect();
        let mut current = String::new();
        for (i, &c) in chars.iter().enumerate() {
            let boundary = i > 0
                && c.is_ascii_uppercase()
                && (chars[i - 1].is_ascii_lowercase()
                    || chars[i - 1].is_ascii_digit()
                    || (chars[i - 1].is_ascii_uppercase()
                        && chars.get(i + 1).is_some_and(char::is_ascii_lowercase)));
            if boundary && !current.is_empty() {
                words.push(std::mem::take(&mut current));
            }
            current.push(c.to_ascii_lowercase());
        }
        if !current.is_empty() {
            words.push(current);
        }
    }
    words
}

// ---------------------------------------------------------------------------
// Values that are not secrets
// ---------------------------------------------------------------------------

/// Values that stand for a secret without being one. Compared after
/// lower-casing and dropping punctuation, so `change-me` matches `changeme`.
// A table: one word per line would bury it.
#[rustfmt::skip]
const PLACEHOLDER_WORDS: &[&str] = &[
    "api", "basic", "bearer", "changeit", "changeme", "default", "digest", "disabled", "done", "dummy",
    "empty", "enabled", "example", "expired", "false", "fixme", "hidden", "include", "invalid", "jwt",
    "kerberos", "ldap", "masked", "missing", "na", "nil", "no", "none", "notset", "ntlm", "null",
    "oauth", "oauth2", "off", "oidc", "ok", "omit", "on", "optional", "pending", "placeholder",
    "redacted", "removed", "replaceme", "required", "revoked", "rotated", "sameorigin", "saml",
    "secret", "set", "tbd", "todo", "token", "true", "undefined", "unknown", "unset", "valid", "yes",
];

/// Whether `value` is a placeholder, template, mask or otherwise no secret.
fn is_placeholder(value: &str) -> bool {
    let v = value.trim();
    let mut chars = v.chars();
    let Some(first) = chars.next() else { return true };
    // Single characters are flags (`0`, `1`, `y`), never credentials.
    if chars.next().is_none() {
        return true;
    }
    if v.contains(MARKER_PREFIX) {
        return true;
    }
    // Variables and templates in every common syntax: `$VAR`, `${VAR}`,
    // `$(cmd)`, `${{ secrets.X }}`, `{{ var }}`, `#{var}`, `%VAR%`, `<your-key>`,
    // `{token}`.
    if matches!(first, '$' | '<')
        || (first == '%' && v.ends_with('%'))
        || v.contains("${")
        || v.contains("{{")
        || v.contains("$(")
        || v.contains("#{")
        || (v.contains('{') && v.contains('}'))
    {
        return true;
    }
    // YAML tags (`!vault`, `!secret name`) and aliases (`*default`, `&anchor`).
    if matches!(first, '!' | '*' | '&') && v[1..].starts_with(|c: char| c.is_ascii_alphabetic()) {
        return true;
    }
    // Masks and elisions: `********`, `xxxx-xxxx`, `•••`, `sk-...`, `abc…`.
    if v.chars().all(|c| matches!(c, '*' | 'x' | 'X' | '•' | '·' | '.' | '…' | '#' | '-' | '_' | ' '))
        || v.contains("...")
        || v.contains('…')
        || v.starts_with("***")
    {
        return true;
    }
    let lower = v.to_ascii_lowercase();
    if lower.starts_with("your") || lower.contains("redacted") {
        return true;
    }
    let norm: String = lower.chars().filter(char::is_ascii_alphanumeric).collect();
    PLACEHOLDER_WORDS.contains(&norm.as_str()) || is_path_or_url(v)
}

/// File paths and URLs name where a secret lives, not the secret; a password
/// inside a URL is caught separately by the URL rule.
fn is_path_or_url(v: &str) -> bool {
    if v.starts_with("~/") || v.starts_with("./") || v.starts_with("../") {
        return true;
    }
    if let Some(rest) = v.strip_prefix('/') {
        return rest.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'/' | b'.' | b'_' | b'-'));
    }
    let bytes = v.as_bytes();
    if bytes.len() > 2 && bytes[0].is_ascii_alphabetic() && bytes[1] == b':' && bytes[2] == b'\\' {
        return true;
    }
    match v.find("://") {
        Some(i) if i > 0 => {
            v[..i].bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'+' | b'.' | b'-'))
        }
        _ => false,
    }
}

/// Type names that follow `key:` in struct fields and signatures.
// A table: one word per line would bury it.
#[rustfmt::skip]
const TYPE_NAMES: &[&str] = &[
    "any", "bool", "boolean", "buffer", "bytes", "char", "double", "f32", "f64", "float", "i32", "i64",
    "int", "integer", "number", "object", "optional", "secret", "secretstring", "str", "string", "u32",
    "u64", "u8", "uint8array", "unknown", "usize",
];

/// Words that start an expression, not a literal (`token = await getToken()`).
const KEYWORDS: &[&str] = &["async", "await", "function", "lambda", "new", "self", "this", "yield"];

/// Whether an unquoted value is code (an expression, a type) rather than a
/// literal secret.
fn is_code(v: &str) -> bool {
    if v.contains(['(', '[', '{', '<']) || v.contains("::") || v.contains("->") {
        return true;
    }
    let lower = v.to_ascii_lowercase();
    if TYPE_NAMES.contains(&lower.as_str()) || KEYWORDS.contains(&lower.as_str()) {
        return true;
    }
    // A dotted path of identifiers: `self.token`, `process.env.API_TOKEN`,
    // `config.db.password` (and host names, which are not secret either).
    let is_ident = |s: &str| {
        s.starts_with(|c: char| c.is_ascii_alphabetic() || c == '_' || c == '$')
            && s.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'$')
    };
    v.contains('.') && v.split('.').all(is_ident)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_note_of_nothing_but_secrets_is_told_from_one_that_says_something() {
        for only in [
            "AKIAIOSFODNN7EXAMPLE",
            "password=hunter2hunter2",
            "token: ghp_AbCdEfGhIjKlMnOpQrStUvWxYz0123456789",
        ] {
            assert!(only_secrets(&redact(only).text), "{only}");
        }
        for says in [
            "The deploy key is AKIAIOSFODNN7EXAMPLE",
            "GITHUB_TOKEN=ghp_AbCdEfGhIjKlMnOpQrStUvWxYz0123456789",
            "a note",
        ] {
            assert!(!only_secrets(&redact(says).text), "{says}");
        }
    }

    #[test]
    fn redact_key_words_split_on_case_and_punctuation() {
        assert_eq!(key_words("dbPassword"), ["db", "password"]);
        assert_eq!(key_words("APIKey"), ["api", "key"]);
        assert_eq!(key_words("AWS_SECRET_ACCESS_KEY"), ["aws", "secret", "access", "key"]);
        assert_eq!(key_words("x-auth-token"), ["x", "auth", "token"]);
        assert_eq!(key_words("spring.datasource.password"), ["spring", "datasource", "password"]);
    }

    #[test]
    fn redact_key_kind_separates_secrets_from_metadata() {
        for key in ["DB_PASSWORD", "passwd", "MYSQL_PWD", "SMTP_PASS", "dbPassword", "PGPASSWORD"] {
            assert_eq!(key_kind(key), Some("password"), "{key}");
        }
        for key in [
            "GITHUB_TOKEN",
            "client_secret",
            "apiKey",
            "x-api-key",
            "AWS_SECRET_ACCESS_KEY",
            "_authToken",
            "BASIC_AUTH",
            "Authorization",
            "SSH_KEY",
            "SECRET_KEY_BASE",
            "GOOGLE_CREDENTIALS",
        ] {
            assert_eq!(key_kind(key), Some("env-secret"), "{key}");
        }
        for key in [
            "max_tokens",
            "TOKENIZERS_PARALLELISM",
            "TOKEN_EXPIRY",
            "PASSWORD_MIN_LENGTH",
            "AUTH_URL",
            "secretName",
            "token_type",
            "GIT_AUTHOR_NAME",
            "AUTHOR",
            "AWS_ACCESS_KEY_ID",
            "PWD",
            "OLDPWD",
            "next_token",
            "sort_key",
            "key",
            "NODE_ENV",
            "credential.helper",
        ] {
            assert_eq!(key_kind(key), None, "{key}");
        }
    }

    #[test]
    fn redact_placeholders_and_code_are_recognised() {
        for v in [
            "",
            "<your-key>",
            "${API_KEY}",
            "$TOKEN",
            "********",
            "xxxx",
            "changeme",
            "your_api_key_here",
            "sk-...",
            "null",
            "!vault",
        ] {
            assert!(is_placeholder(v), "{v:?}");
        }
        for v in ["hunter2", "s3cr3t-P@ss", "abc123def456"] {
            assert!(!is_placeholder(v), "{v:?}");
        }
        for v in [
            "os.environ[\"X\"]",
            "getToken()",
            "self.token",
            "process.env.API_TOKEN",
            "String",
            "Option<String>",
        ] {
            assert!(is_code(v) || is_placeholder(v), "{v:?}");
        }
    }

    #[test]
    fn redact_claims_resolve_overlaps_in_priority_order() {
        let mut claimed = Claimed::default();
        assert!(claimed.try_claim(5, 10, Some("a")));
        assert!(!claimed.try_claim(0, 6, Some("b")));
        assert!(!claimed.try_claim(9, 12, Some("b")));
        assert!(!claimed.try_claim(6, 8, Some("b")));
        assert!(claimed.try_claim(10, 12, Some("b")));
        assert!(claimed.try_claim(0, 5, Some("c")));
    }
}
