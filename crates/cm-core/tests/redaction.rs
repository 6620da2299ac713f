//! Corpus tests for secret redaction.
//!
//! Fake secrets are generated at run time from short templates (`{A36}` is 36
//! random alphanumerics) rather than written out, so the repository itself
//! never contains strings that secret scanners and push protection would
//! flag, while every value still has the real prefix, alphabet and length.

use cm_core::redact::{KINDS, redact};

/// A small deterministic PRNG (xorshift64*), so failures reproduce exactly.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }

    fn pick<T: Copy>(&mut self, items: &[T]) -> T {
        items[self.below(items.len())]
    }
}

const UPPER: &str = "ABCDEFGHIJKLMNOPQRSTUVWXYZ";
const LOWER: &str = "abcdefghijklmnopqrstuvwxyz";
const DIGITS: &str = "0123456789";

/// Expands `{X<n>}` macros: `A` mixed alphanumerics, `a` lower-case
/// alphanumerics, `C` upper-case alphanumerics, `h` lower-case hex, `D`
/// digits, `B` standard base64 (with `+` and `/`), `U` base64url (with `-`
/// and `_`, never first or last so word boundaries stay put).
fn expand(template: &str, rng: &mut Rng) -> String {
    let mut out = String::new();
    let mut rest = template;
    while let Some(open) = rest.find('{') {
        let Some(close) = rest[open..].find('}').map(|c| open + c) else { break };
        let spec = &rest[open + 1..close];
        let mut chars = spec.chars();
        let class = chars.next();
        let Ok(n) = chars.as_str().parse::<usize>() else {
            out.push_str(&rest[..=open]);
            rest = &rest[open + 1..];
            continue;
        };
        let alphabet: String = match class {
            Some('A') => format!("{UPPER}{LOWER}{DIGITS}"),
            Some('a') => format!("{LOWER}{DIGITS}"),
            Some('C') => format!("{UPPER}{DIGITS}"),
            Some('h') => "0123456789abcdef".to_owned(),
            Some('D') => DIGITS.to_owned(),
            Some('B') => format!("{UPPER}{LOWER}{DIGITS}+/"),
            Some('U') => format!("{UPPER}{LOWER}{DIGITS}-_"),
            _ => panic!("unknown macro {spec}"),
        };
        let alphabet: Vec<char> = alphabet.chars().collect();
        out.push_str(&rest[..open]);
        for i in 0..n {
            // Keep `-`/`_`/`+`/`/` off the ends so the value has clean edges.
            let inner = if i == 0 || i + 1 == n { alphabet.len().min(62) } else { alphabet.len() };
            out.push(alphabet[rng.below(inner)]);
        }
        rest = &rest[close + 1..];
    }
    out.push_str(rest);
    out
}

/// One positive case: `template` marks each secret with `«…»`; `kinds` gives
/// the expected kind of each, in order.
struct Case {
    template: &'static str,
    kinds: &'static [&'static str],
}

const fn case(template: &'static str, kinds: &'static [&'static str]) -> Case {
    Case { template, kinds }
}

/// The input text, the expected output, and the secrets themselves.
fn build(case: &Case, seed: u64) -> (String, String, Vec<String>) {
    let mut rng = Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1);
    let expanded = expand(case.template, &mut rng);
    let mut input = String::new();
    let mut expected = String::new();
    let mut secrets = Vec::new();
    let mut rest = expanded.as_str();
    while let Some(open) = rest.find('«') {
        let close = rest[open..].find('»').map(|c| open + c).expect("balanced «»");
        input.push_str(&rest[..open]);
        expected.push_str(&rest[..open]);
        let secret = &rest[open + '«'.len_utf8()..close];
        input.push_str(secret);
        let kind = case.kinds.get(secrets.len()).expect("a kind for every secret");
        expected.push_str(&format!("[REDACTED:{kind}]"));
        secrets.push(secret.to_owned());
        rest = &rest[close + '»'.len_utf8()..];
    }
    input.push_str(rest);
    expected.push_str(rest);
    assert_eq!(secrets.len(), case.kinds.len(), "kinds for {:?}", case.template);
    (input, expected, secrets)
}

const POSITIVE: &[Case] = &[
    // --- Prose -----------------------------------------------------------
    case("My Anthropic key is «sk-ant-api03-{U93}AA» — please rotate it tomorrow.", &["anthropic-key"]),
    case("Use this fine-grained token: «github_pat_11A{A19}_{A59}» for the CI job.", &["github-token"]),
    case("The staging admin password: «{A10}9»", &["password"]),
    case("**Password:** «{A12}7»\n**User:** admin", &["password"]),
    case(
        "DEBUG google.auth: refreshed access token «ya29.a0{U100}» (expires in 3599s)",
        &["google-oauth-token"],
    ),
    case(
        "Heads up: I pasted «-----BEGIN RSA PRIVATE KEY-----\n{B64}\n{B64}» by mistake.\n\nIgnore it.",
        &["private-key"],
    ),
    // --- Shell, .env, CLI ------------------------------------------------
    case("OPENAI_API_KEY=«sk-proj-{U64}»\nexport PATH=$PATH:~/bin", &["openai-key"]),
    case(
        "NODE_ENV=production\nPORT=8080\nJWT_SECRET=«{A32}»\nDB_PASSWORD=\"«{A12}!»\"\n",
        &["env-secret", "password"],
    ),
    case("export AWS_SECRET_ACCESS_KEY=«{B40}»\nexport AWS_REGION=eu-west-1", &["aws-secret-key"]),
    // Right before a closing tag, as in a structured memory's XML.
    case("<what>Connect with DB_PASSWORD=«{A12}»</what><do>use the vault</do>", &["password"]),
    case("$env:GITHUB_TOKEN = \"«ghp_{A36}»\"", &["github-token"]),
    case("ENV API_TOKEN=«{A32}»\nRUN make build", &["env-secret"]),
    case("STRIPE_WEBHOOK_SECRET=«whsec_{A32}»", &["stripe-key"]),
    case("SENDGRID_API_KEY='«SG.{U22}.{U43}»'", &["sendgrid-key"]),
    case(
        "TWILIO_ACCOUNT_SID=AC{h32}\nTWILIO_API_KEY=«SK{h32}»\nTWILIO_AUTH_TOKEN=«{h32}»",
        &["twilio-key", "env-secret"],
    ),
    case("TELEGRAM_BOT_TOKEN=«{D10}:AA{U33}»", &["telegram-token"]),
    case("SLACK_WEBHOOK_URL=https://hooks.slack.com/services/«T{C8}/B{C10}/{A24}»", &["slack-webhook"]),
    case("vault login -method=userpass username=alice password=«{A12}»", &["password"]),
    case("psql --password=«{A12}» -h db.internal -U app", &["password"]),
    case("npx vercel deploy --prod --token «{A24}»", &["env-secret"]),
    case("huggingface-cli login --token «hf_{A34}»", &["huggingface-token"]),
    case("mysql -h 127.0.0.1 -u root -p«{A12}» shop < dump.sql", &["password"]),
    case("curl -u deploy:«{A16}» https://ci.example.com/api/json", &["password"]),
    case("echo done && docker login -u ci -p «{A24}» registry.example.com", &["password"]),
    case("machine api.heroku.com login me@example.com password «{h32}»", &["password"]),
    case("git remote set-url origin https://«ghp_{A36}»@github.com/acme/api.git", &["github-token"]),
    // --- HTTP and logs ---------------------------------------------------
    case(
        "curl -H \"Authorization: Bearer «eyJ{U20}.eyJ{U40}.{U43}»\" https://api.example.com/v1/me",
        &["jwt"],
    ),
    case("curl -s -H 'Authorization: Bearer «{A40}»' https://api.example.com/items", &["bearer"]),
    case("GET /admin HTTP/1.1\nHost: example.com\nAuthorization: Basic «{B26}==»\n", &["basic-auth"]),
    case("curl -H \"Authorization: token «ghp_{A36}»\" https://api.github.com/user", &["github-token"]),
    case(
        "curl --header \"PRIVATE-TOKEN: «glpat-{U20}»\" https://gitlab.example.com/api/v4/projects",
        &["gitlab-token"],
    ),
    case("curl -H \"X-Api-Key: «{A32}»\" https://api.example.com/v2/search", &["env-secret"]),
    case("GET /v1/data?api_key=«{A32}»&format=json HTTP/1.1", &["env-secret"]),
    case(
        "https://maps.googleapis.com/maps/api/geocode/json?address=Paris&key=«AIza{U35}»",
        &["google-api-key"],
    ),
    case("2024-05-01T12:00:00Z ERROR auth failed token=«{A32}» user=alice ip=10.0.0.7", &["env-secret"]),
    case(
        "Traceback (most recent call last):\n  File \"app/db.py\", line 12, in connect\n    \
         engine = create_engine(url)\nsqlalchemy.exc.OperationalError: could not connect \
         dsn=postgresql://svc:«{A20}»@10.1.2.3:5432/prod",
        &["url-password"],
    ),
    case("DATABASE_URL=postgres://app:«{A16}»@db.internal:5432/app?sslmode=require", &["url-password"]),
    case("REDIS_URL=redis://:«{A32}»@cache.example.com:6379/0", &["url-password"]),
    case("smtp://alerts@example.com:«{A12}»@smtp.example.com:587 is the relay we use", &["url-password"]),
    case(
        "Server=tcp:sql.example.net,1433;Database=shop;User ID=sa;Password=«{A16}»;Encrypt=True;",
        &["password"],
    ),
    case(
        "DefaultEndpointsProtocol=https;AccountName=acme;AccountKey=«{B86}==»;EndpointSuffix=core.windows.net",
        &["azure-key"],
    ),
    case("https://discord.com/api/webhooks/1234567890123456789/«{U68}»", &["discord-webhook"]),
    // --- Code ------------------------------------------------------------
    case("client = OpenAI(api_key=\"«sk-{A48}»\")", &["openai-key"]),
    case("stripe.api_key = \"«sk_live_{A24}»\"", &["stripe-key"]),
    case("password = \"«{A16}»\"\nuser = \"admin\"", &["password"]),
    case("let api_key: &str = \"«{A32}»\";", &["env-secret"]),
    case("const config = { apiKey: '«{A32}»', region: 'us-east-1' };", &["env-secret"]),
    case("const slack = new WebClient(\"«xoxb-{D13}-{D13}-{A24}»\");", &["slack-token"]),
    case("client.run(\"«MTA1{A20}.G{U5}.{U35}Ab1»\")", &["discord-token"]),
    case("apiToken := \"«{A32}»\"", &["env-secret"]),
    case("$config = ['db_password' => '«{A12}»', 'db_host' => 'localhost'];", &["password"]),
    case("config.secret_key_base = \"«{h64}»\"", &["env-secret"]),
    case("r = requests.get(url, auth=(\"admin\", \"«{A14}»\"), timeout=5)", &["password"]),
    case("headers: { \"Authorization\": \"Bearer «{A32}»\", \"Accept\": \"application/json\" }", &["bearer"]),
    // --- Config files ----------------------------------------------------
    case(
        "services:\n  db:\n    environment:\n      POSTGRES_USER: app\n      POSTGRES_PASSWORD: «{A20}»\n",
        &["password"],
    ),
    case("apiVersion: v1\nkind: Secret\nstringData:\n  api-token: «{A40}»\n", &["env-secret"]),
    case("jobs:\n  deploy:\n    env:\n      DEPLOY_KEY: «{A40}»\n", &["env-secret"]),
    case(
        "{\"client_id\": \"1234.apps.googleusercontent.com\", \"client_secret\": \"«GOCSPX-{U28}»\", \
         \"redirect_uris\": [\"http://localhost\"]}",
        &["google-oauth-secret"],
    ),
    case("{\"username\": \"admin\", \"password\": \"«hunter2-{A8}»\"}", &["password"]),
    case(
        "{\"AccessKeyId\": \"«ASIA{C16}»\", \"SecretAccessKey\": \"«{B40}»\"}",
        &["aws-access-key", "aws-secret-key"],
    ),
    case(
        "[default]\naws_access_key_id = «AKIA{C16}»\naws_secret_access_key = «{B40}»\nregion = us-east-1\n",
        &["aws-access-key", "aws-secret-key"],
    ),
    case(
        "[registries.private]\nindex = \"https://crates.example.com\"\ntoken = \"«{A32}»\"",
        &["env-secret"],
    ),
    case("[database]\nhost = db.local\npassword = «{A14}»\n", &["password"]),
    case("//registry.npmjs.org/:_authToken=«npm_{A36}»", &["npm-token"]),
    case("[pypi]\nusername = __token__\npassword = «pypi-AgEIcHlwaS5vcmc{U60}»\n", &["pypi-token"]),
    case(
        "<server>\n  <id>nexus</id>\n  <username>deploy</username>\n  <password>«{A18}»</password>\n</server>",
        &["password"],
    ),
    case("spring.datasource.password=«{A16}»\nspring.datasource.url=jdbc:mysql://db/app", &["password"]),
    case("{\"id_token\": \"«eyJ{U30}.eyJ{U80}.{U86}»\", \"token_type\": \"Bearer\"}", &["jwt"]),
    case(
        "< HTTP/2 200\n< Set-Cookie: sessionid=«{a32}»; Path=/; HttpOnly; Secure\n> Cookie: theme=dark; PHPSESSID=«{a26}»",
        &["cookie", "cookie"],
    ),
    case("apiVersion: v1\nkind: Secret\ndata:\n  password: «{B16}==»\n", &["password"]),
    case("private String dbPassword = \"«{A14}»\";", &["password"]),
    case("jdbc:postgresql://db:5432/app?user=app&password=«{A12}»&ssl=true", &["password"]),
    // --- Private keys ----------------------------------------------------
    case(
        "Deploy key:\n«-----BEGIN OPENSSH PRIVATE KEY-----\n{B70}\n{B70}\n{B20}==\n-----END OPENSSH PRIVATE KEY-----»\nAdd it to the server.",
        &["private-key"],
    ),
    case(
        "«-----BEGIN EC PRIVATE KEY-----\n{B64}\n{B48}\n-----END EC PRIVATE KEY-----»\n«-----BEGIN PRIVATE KEY-----\n{B64}\n-----END PRIVATE KEY-----»",
        &["private-key", "private-key"],
    ),
    case(
        "{\"type\": \"service_account\", \"private_key\": \"«-----BEGIN PRIVATE KEY-----\\n{B64}\\n{B64}\\n-----END PRIVATE KEY-----»\\n\", \"client_email\": \"svc@proj.iam.gserviceaccount.com\"}",
        &["private-key"],
    ),
    case(
        "«-----BEGIN PGP PRIVATE KEY BLOCK-----\n\n{B64}\n{B64}\n={B4}\n-----END PGP PRIVATE KEY BLOCK-----»",
        &["private-key"],
    ),
];

/// Ordinary text that must come out byte-identical.
const NEGATIVE: &[&str] = &[
    "Fixed in commit 3f2a9c1e4b5d6a7f8e9d0c1b2a3f4e5d6c7b8a9f; see also 9c1e4b5 and abc1234def.",
    "Request id 550e8400-e29b-41d4-a716-446655440000 failed at 2024-05-01T12:30:45Z.",
    "sha256: e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855  dist/app.tar.gz",
    "docker pull ghcr.io/acme/api@sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
    "Lockfile hash: 9f86d081884c7d659a2feaf0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08",
    "Clone https://github.com/org/repo and connect to postgres://localhost:5432/db",
    "Visit http://user@example.com:8080/path or write to mailto:alice@example.com",
    "NODE_ENV=production\nPORT=8080\nLOG_LEVEL=debug\n",
    "API_KEY=\nSECRET_KEY=<your-key>\nGITHUB_TOKEN=${GITHUB_TOKEN}\nDB_PASSWORD=$DB_PASSWORD\n",
    "export API_KEY=your_api_key_here\nPASSWORD=changeme\nTOKEN=xxxxxxxx\n",
    "password: ********\nsecret: \"\"\n\"password\": null\n",
    "The password reset flow uses a token that expires after 15 minutes.",
    "Password must be at least 12 characters. Token: see below.",
    "The password: field on the login form must not autofill.",
    "Bumped serde to 1.0.197 and tokio to 1.37.0; Node v20.11.1 on 2024-05-01.",
    "Server listens on 192.168.1.10:8080 and [::1]:443.",
    "The payload is base64 SGVsbG8gV29ybGQhIFRoaXMgaXMgYmFzZTY0IGVuY29kZWQ= and decodes to a greeting.",
    "Config lives in ~/.config/claude-memory/config.toml and /etc/ssl/certs/ca.pem.",
    "max_tokens: 4096\ntemperature: 0.2\nTOKENIZERS_PARALLELISM=false\n",
    "GIT_AUTHOR_NAME=Jane\nAUTHOR=jane\nPWD=/home/alice/project\nOLDPWD=/home/alice\n",
    "curl -H \"Authorization: Bearer $OPENAI_API_KEY\" https://api.openai.com/v1/models",
    "Bearer tokens are sent in the Authorization header; the token_type is \"Bearer\".",
    "Set the `Authorization: Bearer <token>` header. The Authorization: header is required.",
    "token = os.environ[\"GITHUB_TOKEN\"]\napi_key = os.getenv(\"API_KEY\")\npassword = getpass.getpass()\n",
    "const token = process.env.API_TOKEN;\nconst secret = config.auth.secret;\nconst t = await getToken();\n",
    "pub struct Login {\n    pub username: String,\n    pub password: String,\n    pub token: Option<String>,\n}",
    "def login(username: str, password: str) -> bool:\n    return check(password=password)\n",
    "env:\n  NPM_TOKEN: ${{ secrets.NPM_TOKEN }}\n  GITHUB_TOKEN: ${{ secrets.GITHUB_TOKEN }}\n",
    "apiVersion: v1\nkind: Secret\nmetadata:\n  name: db-credentials\nspec:\n  secretName: tls-secret\n",
    "-----BEGIN PUBLIC KEY-----\nMIIBIjANBgkqhkiG9w0BAQEFAAOCAQ8AMIIBCgKCAQEA\n-----END PUBLIC KEY-----",
    "GOOGLE_APPLICATION_CREDENTIALS=/var/secrets/google/key.json",
    "git clone git@github.com:acme/api.git && cd api && git log -1 --format=%H",
    "The sk- prefix marks OpenAI keys, ghp_ marks GitHub tokens and AKIA marks AWS key ids.",
    "Use pk_live_51H8abcdEFGHijklMNOP on the checkout page; it is publishable.",
    "next_token: eyJsYXN0IjoiMTIzIn0=\npageToken=CAoQAA\n",
    "fetch(url, { credentials: 'include' });\nauth: true\nwithCredentials = true\n",
    "docker run -u 1000:1000 -p 8080:80 nginx:1.25",
    "Auth: done\nPassword: n/a\nSSH_AUTH_SOCK=/tmp/ssh-XXXX/agent.123\n",
    "<what>Rotated the signing key</what><when>2024-05-01</when><do>use the vault</do>",
    "Use --token to pass it, or run `gh auth login --with-token < token.txt`.",
    "Renamed AWS_ACCESS_KEY_ID in the docs; TOKEN_EXPIRY=3600 and PASSWORD_MIN_LENGTH=12 stay.",
    "Unicode: café, 日本語, emoji 🦀, RTL שלום, zero\u{200b}width — and a key: value pair.",
    "Already clean: token=[REDACTED:env-secret] and https://u:[REDACTED:url-password]@h.example",
    "valueFrom: arn:aws:secretsmanager:us-east-1:123456789012:secret:db-password\nredis-cli GET user:42:token:abc",
    "Status: token: expired\nFixed auth: now uses OAuth and the session cookie: see ticket 42.",
    "< Set-Cookie: theme=dark; sidebar=collapsed; Path=/; Max-Age=3600; SameSite=Lax\nWWW-Authenticate: Bearer realm=\"api\"",
    "def connect(host, token=None, password=\"\"):\n    var token = cts.Token;\n    password: ENV.fetch(\"DB_PASSWORD\")",
];

#[test]
fn redact_positive_corpus() {
    assert!(POSITIVE.len() >= 40, "corpus has {} cases", POSITIVE.len());
    // Collect every failure before failing, so one run shows them all.
    let mut failures = Vec::new();
    for (i, case) in POSITIVE.iter().enumerate() {
        let (input, expected, secrets) = build(case, i as u64 + 1);
        let out = redact(&input);
        for secret in &secrets {
            if out.text.contains(secret.as_str()) {
                failures.push(format!("case {i}: secret {secret:?} survived in {:?}", out.text));
            }
        }
        if !out.text.contains("[REDACTED:") {
            failures.push(format!("case {i}: nothing redacted in {:?}", out.text));
        }
        if out.text != expected {
            failures.push(format!(
                "case {i}:\n  input    {input:?}\n  output   {:?}\n  expected {expected:?}",
                out.text
            ));
        }
        if out.kinds != case.kinds {
            failures.push(format!("case {i}: kinds {:?}, expected {:?}", out.kinds, case.kinds));
        }
        for kind in case.kinds {
            if !KINDS.contains(kind) {
                failures.push(format!("case {i}: kind {kind} missing from KINDS"));
            }
        }
    }
    assert!(failures.is_empty(), "{} failures:\n{}", failures.len(), failures.join("\n"));
}

#[test]
fn redact_positive_corpus_across_seeds() {
    // Different random bodies shift where `-`, `_`, `+` and `/` fall; the
    // spans must not depend on that.
    for seed in 100..130 {
        for (i, case) in POSITIVE.iter().enumerate() {
            let (input, expected, _) = build(case, seed * 1000 + i as u64);
            assert_eq!(redact(&input).text, expected, "case {i}, seed {seed}");
        }
    }
}

#[test]
fn redact_negative_corpus_is_untouched() {
    assert!(NEGATIVE.len() >= 20, "corpus has {} cases", NEGATIVE.len());
    for text in NEGATIVE {
        let out = redact(text);
        assert_eq!(out.text, *text, "mangled");
        assert!(out.kinds.is_empty(), "kinds {:?} for {text:?}", out.kinds);
    }
}

#[test]
fn redact_is_idempotent_on_the_corpora() {
    for (i, case) in POSITIVE.iter().enumerate() {
        let (input, _, _) = build(case, i as u64 + 1);
        let once = redact(&input);
        let twice = redact(&once.text);
        assert_eq!(twice.text, once.text, "case {i}");
        assert!(twice.kinds.is_empty(), "case {i}: {:?}", twice.kinds);
    }
    for text in NEGATIVE {
        assert_eq!(redact(&redact(text).text).text, *text);
    }
}

#[test]
fn redact_is_idempotent_on_random_mixtures() {
    // Glue corpus pieces together with random separators so rules meet each
    // other at every kind of boundary, then check a second pass is a no-op.
    let glue = [" ", "\n", "", "=", ": ", "\"", "'", "&", ";", ",", "@", "://", "\t", " # ", "é", "\r\n"];
    let mut rng = Rng(0x5EED_1234_ABCD_0001);
    for round in 0..400 {
        let mut text = String::new();
        for _ in 0..rng.below(8) + 1 {
            if rng.below(3) == 0 {
                text.push_str(rng.pick(NEGATIVE));
            } else {
                let i = rng.below(POSITIVE.len());
                text.push_str(&build(&POSITIVE[i], rng.next()).0);
            }
            text.push_str(rng.pick(&glue));
        }
        let once = redact(&text);
        let twice = redact(&once.text);
        assert_eq!(twice.text, once.text, "round {round}: {text:?}");
        assert!(twice.kinds.is_empty(), "round {round}");
    }
}

#[test]
fn redact_reports_kinds_in_order_of_appearance() {
    let input = expand("First TOKEN={A20}x9 then ghp_{A36} and DB_PASSWORD={A10}1", &mut Rng(7));
    let out = redact(&input);
    assert_eq!(out.kinds, ["env-secret", "github-token", "password"], "{}", out.text);
}

#[test]
fn redact_never_panics_on_random_unicode() {
    let pieces = [
        "a",
        "Z",
        "0",
        "_",
        "-",
        "=",
        ":",
        "/",
        "@",
        "\"",
        "'",
        "`",
        "\\",
        "\n",
        "\r",
        "\t",
        " ",
        "{",
        "}",
        "[",
        "]",
        "(",
        ")",
        "<",
        ">",
        "$",
        "%",
        "*",
        ".",
        ",",
        ";",
        "&",
        "?",
        "#",
        "!",
        "é",
        "ß",
        "日本",
        "🦀",
        "\u{200b}",
        "\u{0301}",
        "\u{202e}",
        "\u{feff}",
        "Ω",
        "ﬁ",
        "sk-",
        "ghp_",
        "AKIA",
        "eyJ",
        "Bearer ",
        "password",
        "TOKEN",
        "secret",
        "://",
        "-----BEGIN PRIVATE KEY-----",
        "-----END PRIVATE KEY-----",
        "[REDACTED:",
        "Authorization: ",
        "--token ",
        "xoxb-",
        "hf_",
        "\\n",
    ];
    let mut rng = Rng(0xDEAD_BEEF_CAFE_F00D);
    for _ in 0..2000 {
        let n = rng.below(200);
        let text: String = (0..n).map(|_| rng.pick(&pieces)).collect();
        let once = redact(&text);
        let twice = redact(&once.text);
        assert_eq!(twice.text, once.text, "input {text:?}");
    }
    // Arbitrary code points, not only the curated ones.
    for _ in 0..200 {
        let text: String =
            (0..rng.below(500)).filter_map(|_| char::from_u32((rng.next() % 0x11_0000) as u32)).collect();
        let _ = redact(&text);
    }
}

#[test]
fn redact_handles_huge_and_adversarial_input() {
    let mut rng = Rng(42);
    let mut big = String::with_capacity(2 << 20);
    while big.len() < 2 << 20 {
        big.push_str(match rng.below(12) {
            0 => "password = \"hunter2x\"\n",
            1 => "日本語のテキスト ",
            2 => "🦀 ",
            3 => "token=abc123def456 ",
            4 => "https://u:p4ss@example.com/ ",
            _ => "ordinary words in a long note ",
        });
    }
    // Inputs built to make a naive scanner quadratic: many rejected keys
    // whose values run to the end of the line, unterminated quotes and key
    // blocks, and one enormous unbroken value.
    let adversarial = [
        big,
        "token=(".repeat(200_000),
        "password_hint=password_hint=".repeat(50_000),
        "token: \"".repeat(200_000),
        "-----BEGIN PRIVATE KEY-----".repeat(50_000),
        "Bearer ".repeat(200_000),
        "a:b@".repeat(200_000),
        format!("SECRET={}", "x1".repeat(1_000_000)),
        "--token --token ".repeat(100_000),
    ];
    for text in &adversarial {
        // Linear time is a property of the regex engine and the bounded scans,
        // measured (not asserted) here: a quadratic rule would make this hang.
        let out = redact(text);
        assert!(!out.text.is_empty());
    }
}
