//! `LlmClient` against a scripted fake chat-completions server: the exact
//! request of each provider, usage, retries, timeouts, concurrency, and
//! that the key never shows.

use std::time::{Duration, Instant};

use cm_llm::{LlmClient, LlmConfig, LlmError, Provider, Secret};
use cm_testkit::openai::{FakeServer, Reply};

const KEY: &str = "sk-test-0123456789-very-secret";

fn config(provider: Provider) -> LlmConfig {
    LlmConfig { provider, timeout_ms: 2_000, retry_base_ms: 10, ..LlmConfig::default() }
}

fn openai(server: &FakeServer) -> LlmConfig {
    config(Provider::OpenAi { model: "gpt-test".into(), base_url: Some(server.url.clone()) })
}

fn key() -> Option<Secret> {
    Some(Secret::new(KEY))
}

#[tokio::test]
async fn azure_sends_deployment_path_api_version_and_api_key_header() {
    let server = FakeServer::start(vec![Reply::answer("hello from azure", 12, 4)]).await;
    let client = LlmClient::new(
        config(Provider::Azure {
            endpoint: format!("{}/", server.url),
            deployment: "my-deployment".into(),
            api_version: "2024-10-21".into(),
        }),
        key(),
    )
    .unwrap();
    let completion = client.chat("be brief", "say hello").await.unwrap();
    assert_eq!(completion.text, "hello from azure");
    assert_eq!((completion.usage.prompt_tokens, completion.usage.completion_tokens), (12, 4));

    let requests = server.requests();
    assert_eq!(requests.len(), 1);
    let r = &requests[0];
    assert_eq!(r.method, "POST");
    assert_eq!(r.path, "/openai/deployments/my-deployment/chat/completions");
    assert_eq!(r.query.as_deref(), Some("api-version=2024-10-21"));
    assert_eq!(r.header("api-key"), Some(KEY));
    assert_eq!(r.header("authorization"), None);
    assert_eq!(r.header("content-type"), Some("application/json"));
    let messages = r.body["messages"].as_array().unwrap();
    assert_eq!(messages.len(), 2);
    assert_eq!(messages[0]["role"], "system");
    assert_eq!(messages[0]["content"], "be brief");
    assert_eq!(messages[1]["role"], "user");
    assert_eq!(messages[1]["content"], "say hello");
    assert_eq!(r.body["temperature"], 0.0);
    assert!(r.body.get("stream").is_none_or(|s| s == false), "{}", r.body);
}

#[tokio::test]
async fn openai_sends_v1_path_bearer_and_model() {
    let server = FakeServer::start(vec![Reply::answer("hi", 5, 2)]).await;
    let client = LlmClient::new(openai(&server), key()).unwrap();
    client.chat("s", "u").await.unwrap();
    let r = &server.requests()[0];
    assert_eq!(r.method, "POST");
    assert_eq!(r.path, "/v1/chat/completions");
    assert_eq!(r.query, None);
    assert_eq!(r.header("authorization"), Some(format!("Bearer {KEY}").as_str()));
    assert_eq!(r.header("api-key"), None);
    assert_eq!(r.body["model"], "gpt-test");
}

#[tokio::test]
async fn compatible_sends_bearer_only_with_a_key() {
    let server = FakeServer::start(vec![]).await;
    let provider = Provider::Compatible { base_url: format!("{}/v1", server.url), model: "llama3".into() };
    LlmClient::new(config(provider.clone()), None).unwrap().chat("s", "u").await.unwrap();
    LlmClient::new(config(provider), key()).unwrap().chat("s", "u").await.unwrap();
    let requests = server.requests();
    assert_eq!(requests[0].path, "/v1/chat/completions");
    assert_eq!(requests[0].header("authorization"), None);
    assert_eq!(requests[0].body["model"], "llama3");
    assert_eq!(requests[1].header("authorization"), Some(format!("Bearer {KEY}").as_str()));
}

#[tokio::test]
async fn usage_accumulates_across_calls_and_clones() {
    let server = FakeServer::start(vec![Reply::answer("a", 10, 3), Reply::answer("b", 7, 2)]).await;
    let client = LlmClient::new(openai(&server), key()).unwrap();
    client.chat("s", "u").await.unwrap();
    client.clone().chat("s", "u").await.unwrap();
    let usage = client.usage();
    assert_eq!((usage.prompt_tokens, usage.completion_tokens), (17, 5));
    assert_eq!(client.requests(), 2);
}

#[tokio::test]
async fn rate_limit_is_retried_after_retry_after() {
    let server = FakeServer::start(vec![
        Reply::status(429, "slow down").with_header("retry-after-ms", "50"),
        Reply::answer("finally", 1, 1),
    ])
    .await;
    let client = LlmClient::new(openai(&server), key()).unwrap();
    let started = Instant::now();
    let completion = client.chat("s", "u").await.unwrap();
    assert_eq!(completion.text, "finally");
    assert!(started.elapsed() >= Duration::from_millis(50));
    assert_eq!(server.requests().len(), 2);
}

#[tokio::test]
async fn persistent_rate_limit_ends_in_rate_limited() {
    let script = (0..4).map(|_| Reply::status(429, "no").with_header("retry-after", "0")).collect();
    let server = FakeServer::start(script).await;
    let client = LlmClient::new(openai(&server), key()).unwrap();
    let e = client.chat("s", "u").await.unwrap_err();
    assert!(matches!(e, LlmError::RateLimited { retry_after_ms: Some(0) }), "{e:?}");
    assert_eq!(server.requests().len(), 4);
}

#[tokio::test]
async fn server_errors_are_retried_max_retries_times_then_fail() {
    let cfg = openai_cfg_with_retries(2);
    let script = (0..3).map(|_| Reply::status(500, "internal trouble")).collect();
    let server = FakeServer::start(script).await;
    let client = LlmClient::new(cfg(&server), key()).unwrap();
    let e = client.chat("s", "u").await.unwrap_err();
    match e {
        LlmError::Http { status: 500, message } => assert_eq!(message, "internal trouble"),
        other => panic!("{other:?}"),
    }
    assert_eq!(server.requests().len(), 3);
}

fn openai_cfg_with_retries(n: u32) -> impl Fn(&FakeServer) -> LlmConfig {
    move |server| LlmConfig { max_retries: n, ..openai(server) }
}

#[tokio::test]
async fn a_non_json_server_error_keeps_its_status() {
    let server = FakeServer::start(vec![
        Reply::Status { status: 503, body: "upstream unavailable".into(), headers: vec![] },
        Reply::answer("recovered", 1, 1),
    ])
    .await;
    let client = LlmClient::new(openai(&server), key()).unwrap();
    assert_eq!(client.chat("s", "u").await.unwrap().text, "recovered");
    assert_eq!(server.requests().len(), 2);
}

#[tokio::test]
async fn client_errors_are_not_retried() {
    let server = FakeServer::start(vec![Reply::status(400, "bad model name")]).await;
    let client = LlmClient::new(openai(&server), key()).unwrap();
    let e = client.chat("s", "u").await.unwrap_err();
    assert!(matches!(&e, LlmError::Http { status: 400, message } if message == "bad model name"), "{e:?}");
    assert_eq!(server.requests().len(), 1);
}

#[tokio::test]
async fn a_hung_server_times_out_quickly_without_retries() {
    let server = FakeServer::start(vec![Reply::Hang(Duration::from_secs(30))]).await;
    let cfg = LlmConfig { timeout_ms: 300, ..openai(&server) };
    let client = LlmClient::new(cfg, key()).unwrap();
    let started = Instant::now();
    let e = client.chat("s", "u").await.unwrap_err();
    assert!(matches!(e, LlmError::Timeout(300)), "{e:?}");
    assert!(started.elapsed() < Duration::from_secs(2), "{:?}", started.elapsed());
    assert_eq!(server.requests().len(), 1);
}

#[tokio::test]
async fn no_more_requests_in_flight_than_the_concurrency_limit() {
    let script = (0..6)
        .map(|i| Reply::Delayed(Duration::from_millis(150), Box::new(Reply::answer(&i.to_string(), 1, 1))));
    let server = FakeServer::start(script.collect()).await;
    let cfg = LlmConfig { concurrency: 2, ..openai(&server) };
    let client = LlmClient::new(cfg, key()).unwrap();
    let calls: Vec<_> = (0..6)
        .map(|_| {
            let client = client.clone();
            tokio::spawn(async move { client.chat("s", "u").await })
        })
        .collect();
    for call in calls {
        call.await.unwrap().unwrap();
    }
    assert_eq!(server.requests().len(), 6);
    assert_eq!(server.max_in_flight(), 2);
    assert_eq!(client.usage().prompt_tokens, 6);
}

#[tokio::test]
async fn connection_failures_are_retried_then_reported() {
    // A port that was just free: nothing listens there.
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let cfg =
        config(Provider::Compatible { base_url: format!("http://127.0.0.1:{port}"), model: "m".into() });
    let client = LlmClient::new(LlmConfig { max_retries: 1, ..cfg }, None).unwrap();
    let e = client.chat("s", "u").await.unwrap_err();
    assert!(matches!(e, LlmError::Connect(_)), "{e:?}");
}

#[tokio::test]
async fn a_body_that_is_not_a_completion_is_a_bad_response() {
    let server =
        FakeServer::start(vec![Reply::Status { status: 200, body: "<html>".into(), headers: vec![] }]).await;
    let client = LlmClient::new(openai(&server), key()).unwrap();
    let e = client.chat("s", "u").await.unwrap_err();
    assert!(matches!(e, LlmError::BadResponse(_)), "{e:?}");
    assert_eq!(server.requests().len(), 1);
}

#[tokio::test]
async fn the_key_never_shows_in_debug_or_errors() {
    // A server that echoes the key back in its error message.
    let server =
        FakeServer::start(vec![Reply::status(401, &format!("Incorrect API key provided: {KEY}"))]).await;
    let cfg = openai(&server);
    let client = LlmClient::new(cfg.clone(), key()).unwrap();
    let e = client.chat("s", "u").await.unwrap_err();
    for text in [
        format!("{e}"),
        format!("{e:?}"),
        format!("{client:?}"),
        format!("{cfg:?}"),
        format!("{:?}", Secret::new(KEY)),
        serde_json::to_string(&cfg).unwrap(),
    ] {
        assert!(!text.contains(KEY) && !text.contains("very-secret"), "leaked: {text}");
    }
    assert!(matches!(&e, LlmError::Http { status: 401, message } if message.contains("***")), "{e:?}");
}

#[tokio::test]
async fn test_connection_says_what_happened() {
    let server = FakeServer::start(vec![Reply::answer("OK", 1, 1), Reply::status(401, "invalid key")]).await;
    let client = LlmClient::new(openai(&server), key()).unwrap();
    let ok = client.test_connection().await;
    assert!(ok.ok, "{ok:?}");
    assert!(ok.message.starts_with("Connected to OpenAI model `gpt-test`"), "{}", ok.message);
    let bad = client.test_connection().await;
    assert!(!bad.ok);
    assert!(
        bad.message.contains("refused the API key") && bad.message.contains("invalid key"),
        "{}",
        bad.message
    );
    assert_eq!(server.requests().len(), 2, "no retries in a connection test");
}

fn anthropic(server: &FakeServer) -> LlmConfig {
    config(Provider::Anthropic { model: "claude-test".into(), base_url: Some(server.url.clone()) })
}

#[tokio::test]
async fn anthropic_sends_the_messages_api_request() {
    let server = FakeServer::start(vec![Reply::answer("hello from claude", 21, 6)]).await;
    let client = LlmClient::new(anthropic(&server), key()).unwrap();
    let completion = client.chat("be brief", "say hello").await.unwrap();
    assert_eq!(completion.text, "hello from claude");
    assert_eq!((completion.usage.prompt_tokens, completion.usage.completion_tokens), (21, 6));
    assert_eq!(client.usage().prompt_tokens, 21);

    let requests = server.requests();
    assert_eq!(requests.len(), 1);
    let r = &requests[0];
    assert_eq!((r.method.as_str(), r.path.as_str()), ("POST", "/v1/messages"));
    assert_eq!(r.header("x-api-key"), Some(KEY));
    assert_eq!(r.header("anthropic-version"), Some("2023-06-01"));
    assert_eq!(r.header("authorization"), None);
    assert_eq!(r.body["model"], "claude-test");
    assert_eq!(r.body["system"], "be brief");
    assert_eq!(r.body["messages"], serde_json::json!([{"role": "user", "content": "say hello"}]));
    assert!(r.body["max_tokens"].as_u64().is_some_and(|n| n > 0), "the Messages API requires max_tokens");
    assert!(LlmClient::new(anthropic(&server), None).is_err(), "Anthropic needs a key");
}

#[tokio::test]
async fn anthropic_overload_and_rate_limits_are_retried_bad_requests_are_not() {
    let server = FakeServer::start(vec![
        Reply::status(429, "rate limited").with_header("retry-after", "0"),
        Reply::status(529, "Overloaded"),
        Reply::answer("fine", 1, 1),
        Reply::status(400, "max_tokens: field required"),
    ])
    .await;
    let client = LlmClient::new(anthropic(&server), key()).unwrap();
    assert_eq!(client.chat("s", "u").await.unwrap().text, "fine");
    let e = client.chat("s", "u").await.unwrap_err();
    assert!(
        matches!(&e, LlmError::Http { status: 400, message } if message == "max_tokens: field required"),
        "{e:?}"
    );
    assert_eq!(server.requests().len(), 4);
}

#[tokio::test]
async fn an_anthropic_answer_without_text_is_a_bad_response_that_still_counts() {
    let refusal = serde_json::json!({
        "id": "msg_x", "type": "message", "role": "assistant", "model": "m",
        "content": [], "stop_reason": "refusal", "usage": {"input_tokens": 9, "output_tokens": 0}
    });
    let server =
        FakeServer::start(vec![Reply::Status { status: 200, body: refusal.to_string(), headers: vec![] }])
            .await;
    let client = LlmClient::new(anthropic(&server), key()).unwrap();
    let e = client.chat("s", "u").await.unwrap_err();
    assert!(matches!(&e, LlmError::BadResponse(m) if m.contains("refused")), "{e:?}");
    assert_eq!(client.usage().prompt_tokens, 9, "the tokens were spent");
}

#[test]
fn claude_code_needs_the_program_not_a_key() {
    let missing = LlmConfig {
        provider: Provider::ClaudeCode { model: None, command: Some("/nonexistent/claude".into()) },
        ..LlmConfig::default()
    };
    let e = LlmClient::new(missing, None).unwrap_err();
    assert!(matches!(&e, LlmError::NotConfigured(m) if m.contains("was not found")), "{e}");
    let sh = LlmConfig {
        provider: Provider::ClaudeCode { model: Some("haiku".into()), command: Some("/bin/sh".into()) },
        ..LlmConfig::default()
    };
    let client = LlmClient::new(sh, None).unwrap();
    assert_eq!(client.description(), "Claude Code (`claude -p`, model `haiku`)");
}

/// A `claude` that fills its stderr pipe before it reads the message, then
/// answers with the message's size: the pipes must be drained while the
/// message is written, or the run stalls until its timeout.
#[cfg(unix)]
#[tokio::test]
async fn a_long_prompt_and_a_chatty_claude_never_stall_each_other() {
    use std::os::unix::fs::PermissionsExt as _;
    let dir = tempfile::tempdir().unwrap();
    let claude = dir.path().join("claude");
    std::fs::write(
        &claude,
        "#!/bin/sh\nhead -c 300000 /dev/zero | tr '\\0' x >&2\nn=$(wc -c)\n\
         printf '{\"type\":\"result\",\"subtype\":\"success\",\"is_error\":false,\"result\":\"read %s bytes\",\"usage\":{\"input_tokens\":1,\"output_tokens\":1}}' \"$n\"\n",
    )
    .unwrap();
    std::fs::set_permissions(&claude, std::fs::Permissions::from_mode(0o755)).unwrap();
    let config = LlmConfig {
        provider: Provider::ClaudeCode { model: None, command: Some(claude.to_string_lossy().into_owned()) },
        timeout_ms: 10_000,
        max_retries: 0,
        ..LlmConfig::default()
    };
    let client = LlmClient::new(config, None).unwrap();
    let prompt = "y".repeat(400_000);
    let answer = client.chat("system", &prompt).await.unwrap();
    assert_eq!(answer.text.trim(), "read 400000 bytes");
}
