//! A scripted fake of the OpenAI chat-completions API on 127.0.0.1: a
//! minimal HTTP/1.1 responder that records every request and answers each
//! with the next scripted reply (a good answer once the script runs out).
//! A request to `…/v1/messages` is answered in the shape of Anthropic's
//! Messages API instead (content blocks, `input_tokens`/`output_tokens`).
//!
//! cm-llm's client tests drive `LlmClient` against it directly; cm-server's
//! LLM tests put a client on it behind a real engine.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::http::read_request;
use tokio::io::AsyncWriteExt;
use tokio::net::{TcpListener, TcpStream};

/// One request as the server saw it.
#[derive(Debug, Clone)]
pub struct Recorded {
    pub method: String,
    pub path: String,
    pub query: Option<String>,
    /// Names lower-cased.
    pub headers: Vec<(String, String)>,
    pub body: serde_json::Value,
}

impl Recorded {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(n, _)| n == name).map(|(_, v)| v.as_str())
    }
}

/// How the server answers one request.
#[derive(Debug, Clone)]
pub enum Reply {
    /// A chat completion with this text and usage.
    Answer { text: String, prompt_tokens: u64, completion_tokens: u64 },
    /// Any status with a body and extra headers.
    Status { status: u16, body: String, headers: Vec<(String, String)> },
    /// Say nothing for this long, then close.
    Hang(Duration),
    /// Wait, then answer.
    Delayed(Duration, Box<Reply>),
}

impl Reply {
    pub fn answer(text: &str, prompt_tokens: u64, completion_tokens: u64) -> Reply {
        Reply::Answer { text: text.to_owned(), prompt_tokens, completion_tokens }
    }

    pub fn status(status: u16, message: &str) -> Reply {
        let body = serde_json::json!({"error": {"message": message, "type": "test_error", "param": null, "code": null}});
        Reply::Status { status, body: body.to_string(), headers: Vec::new() }
    }

    pub fn with_header(self, name: &str, value: &str) -> Reply {
        match self {
            Reply::Status { status, body, mut headers } => {
                headers.push((name.to_owned(), value.to_owned()));
                Reply::Status { status, body, headers }
            }
            other => other,
        }
    }
}

#[derive(Debug, Default)]
struct State {
    script: Mutex<VecDeque<Reply>>,
    requests: Mutex<Vec<Recorded>>,
    in_flight: AtomicUsize,
    max_in_flight: AtomicUsize,
}

/// The running fake; it stops with the test's runtime.
#[derive(Debug)]
pub struct FakeServer {
    pub url: String,
    state: Arc<State>,
}

impl FakeServer {
    pub async fn start(script: Vec<Reply>) -> FakeServer {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let state = Arc::new(State { script: Mutex::new(script.into()), ..State::default() });
        let s = state.clone();
        tokio::spawn(async move {
            loop {
                let Ok((stream, _)) = listener.accept().await else { return };
                let s = s.clone();
                tokio::spawn(async move {
                    let _ = serve(stream, s).await;
                });
            }
        });
        FakeServer { url, state }
    }

    pub fn requests(&self) -> Vec<Recorded> {
        self.state.requests.lock().unwrap().clone()
    }

    pub fn max_in_flight(&self) -> usize {
        self.state.max_in_flight.load(Ordering::SeqCst)
    }
}

async fn serve(mut stream: TcpStream, state: Arc<State>) -> std::io::Result<()> {
    // One request per connection; every answer says `Connection: close`.
    let Some(request) = read_request(&mut stream).await? else { return Ok(()) };
    let anthropic = request.path().ends_with("/v1/messages");
    let body = serde_json::from_slice(&request.body).unwrap_or(serde_json::Value::Null);
    let (path, query) = (request.path().to_owned(), request.query().map(str::to_owned));
    let recorded = Recorded { method: request.method, path, query, headers: request.headers, body };
    state.requests.lock().unwrap().push(recorded);

    let now = state.in_flight.fetch_add(1, Ordering::SeqCst) + 1;
    state.max_in_flight.fetch_max(now, Ordering::SeqCst);
    let reply = state.script.lock().unwrap().pop_front().unwrap_or_else(|| Reply::answer("OK", 3, 1));
    let result = respond(&mut stream, reply, anthropic).await;
    state.in_flight.fetch_sub(1, Ordering::SeqCst);
    result
}

async fn respond(stream: &mut TcpStream, reply: Reply, anthropic: bool) -> std::io::Result<()> {
    let mut reply = reply;
    loop {
        match reply {
            Reply::Delayed(d, next) => {
                tokio::time::sleep(d).await;
                reply = *next;
            }
            Reply::Hang(d) => {
                tokio::time::sleep(d).await;
                return Ok(());
            }
            Reply::Answer { text, prompt_tokens, completion_tokens } if anthropic => {
                let body = serde_json::json!({
                    "id": "msg_test",
                    "type": "message",
                    "role": "assistant",
                    "model": "test-model",
                    "content": [{"type": "text", "text": text}],
                    "stop_reason": "end_turn",
                    "stop_sequence": null,
                    "usage": {"input_tokens": prompt_tokens, "output_tokens": completion_tokens}
                });
                return write(stream, 200, &body.to_string(), &[]).await;
            }
            Reply::Answer { text, prompt_tokens, completion_tokens } => {
                let body = serde_json::json!({
                    "id": "chatcmpl-test",
                    "object": "chat.completion",
                    "created": 1_700_000_000,
                    "model": "test-model",
                    "choices": [{
                        "index": 0,
                        "message": {"role": "assistant", "content": text, "refusal": null},
                        "logprobs": null,
                        "finish_reason": "stop"
                    }],
                    "usage": {
                        "prompt_tokens": prompt_tokens,
                        "completion_tokens": completion_tokens,
                        "total_tokens": prompt_tokens + completion_tokens
                    },
                    "system_fingerprint": null
                });
                return write(stream, 200, &body.to_string(), &[]).await;
            }
            Reply::Status { status, body, headers } => return write(stream, status, &body, &headers).await,
        }
    }
}

async fn write(
    stream: &mut TcpStream,
    status: u16,
    body: &str,
    headers: &[(String, String)],
) -> std::io::Result<()> {
    let mut out = format!(
        "HTTP/1.1 {status} X\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n",
        body.len()
    );
    for (n, v) in headers {
        out.push_str(&format!("{n}: {v}\r\n"));
    }
    out.push_str("\r\n");
    out.push_str(body);
    stream.write_all(out.as_bytes()).await?;
    stream.shutdown().await
}
