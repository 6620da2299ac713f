//! Saves through the engine with an LLM behind a local server speaking the
//! OpenAI and Azure chat-completions protocols: good XML, REJECT, malformed
//! output, 429 then success, a timeout. No save ever fails because of it.

use std::sync::Arc;
use std::time::Duration;

use cm_core::{Config, MemoryType, NewMemory, SaveAction, Source};
use cm_engine::{Engine, Project};
use cm_llm::{LlmClient, LlmConfig, Provider, Secret};
use cm_testkit::openai::{FakeServer, Reply};

const GOOD: &str = "<memory type=\"bug\" domain=\"testing\"><what>The login test is flaky because the fixture \
    clock is not frozen.</what><do>freeze the clock in conftest; rerun the suite</do><summary>Freeze the fixture \
    clock</summary><keywords>login, flaky, clock</keywords></memory>";

async fn setup(script: Vec<Reply>, azure: bool) -> (FakeServer, Engine, Project, tempfile::TempDir) {
    let server = FakeServer::start(script).await;
    let provider = if azure {
        Provider::Azure {
            endpoint: server.url.clone(),
            deployment: "gpt-mem".into(),
            api_version: "2024-10-21".into(),
        }
    } else {
        Provider::OpenAi { model: "gpt-test".into(), base_url: Some(server.url.clone()) }
    };
    let config = LlmConfig { provider, timeout_ms: 500, retry_base_ms: 10, ..LlmConfig::default() };
    let client = LlmClient::new(config, Some(Secret::new("sk-test-key"))).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let project = Project::at(dir.path()).unwrap();
    let mut engine_config = Config::default();
    engine_config.structure.timeout_ms = 3_000;
    let engine = Engine::new(engine_config, None);
    engine.set_llm(Some(Arc::new(client)));
    (server, engine, project, dir)
}

fn note() -> NewMemory {
    NewMemory::new(
        "login test flaky again: clock not frozen in the fixture, froze it in conftest",
        Source::Mcp,
    )
    .unwrap()
}

#[tokio::test]
async fn good_xml_over_azure_is_stored_and_the_request_has_azures_shape() {
    let (server, engine, project, _dir) = setup(vec![Reply::answer(GOOD, 120, 40)], true).await;
    let out = engine.save(&project, note()).await.unwrap();
    let m = engine.get(&project, out.id.unwrap()).await.unwrap();
    assert_eq!((m.memory_type, m.domain.as_str()), (MemoryType::Bug, "testing"));
    assert!(m.structured.unwrap().contains("<do>freeze the clock in conftest; rerun the suite</do>"));
    let req = &server.requests()[0];
    assert_eq!(req.path, "/openai/deployments/gpt-mem/chat/completions");
    assert_eq!(req.query.as_deref(), Some("api-version=2024-10-21"));
    assert_eq!(req.header("api-key"), Some("sk-test-key"));
    assert_eq!(req.header("authorization"), None);
    let body = req.body.to_string();
    assert!(body.contains("REJECT") && body.contains("clock not frozen"), "the prompt and the note: {body}");
    let usage = engine.stats(&project).await.unwrap().llm;
    assert_eq!(
        (usage.total.requests, usage.total.prompt_tokens, usage.total.completion_tokens),
        (1, 120, 40)
    );
    assert_eq!(usage.by_purpose["structure"].requests, 1, "counted per project and purpose");
}

#[tokio::test]
async fn reject_over_openai_refuses_the_save() {
    let (server, engine, project, _dir) =
        setup(vec![Reply::answer("REJECT: session-only chatter", 50, 5)], false).await;
    let out = engine.save(&project, note()).await.unwrap();
    assert_eq!(out.action, SaveAction::Rejected);
    assert_eq!(engine.stats(&project).await.unwrap().total, 0);
    let req = &server.requests()[0];
    assert_eq!(req.path, "/v1/chat/completions");
    assert_eq!(req.header("authorization"), Some("Bearer sk-test-key"));
    assert_eq!(req.body["model"], "gpt-test");
}

#[tokio::test]
async fn malformed_answers_errors_rate_limits_and_timeouts_never_fail_a_save() {
    let scripts: Vec<(&str, Vec<Reply>, usize)> = vec![
        ("malformed", vec![Reply::answer("<memory><when>sometimes</when>", 10, 10)], 1),
        (
            "429 then success",
            vec![
                Reply::status(429, "slow down").with_header("retry-after-ms", "20"),
                Reply::answer(GOOD, 1, 1),
            ],
            2,
        ),
        ("server errors", vec![Reply::status(500, "boom"); 4], 4),
        ("timeout", vec![Reply::Hang(Duration::from_secs(5))], 1),
    ];
    for (name, script, requests) in scripts {
        let (server, engine, project, _dir) = setup(script, false).await;
        let out = engine.save(&project, note()).await.unwrap();
        assert_eq!(out.action, SaveAction::Created, "{name}");
        let m = engine.get(&project, out.id.unwrap()).await.unwrap();
        assert!(m.structured.is_some(), "{name}: structured by the LLM or offline");
        assert_eq!(server.requests().len(), requests, "{name}");
        if name == "429 then success" {
            assert_eq!(m.memory_type, MemoryType::Bug, "the retried answer was used");
        }
    }
}
