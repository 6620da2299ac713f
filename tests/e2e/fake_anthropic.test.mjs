// The fake Anthropic API itself: scripted turns, the SSE event sequence, non-streaming answers,
// side requests and recording.

import { after, before, test } from "node:test";
import assert from "node:assert/strict";

import { countOccurrences, requestText, startFakeAnthropic } from "./fake-anthropic.mjs";

let fake;
before(async () => {
  fake = await startFakeAnthropic();
});
after(() => fake.close());

const tools = [{ name: "Bash", description: "run", input_schema: { type: "object" } }];
const post = (path, body) =>
  fetch(`${fake.url}${path}`, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify(body) });

function parseSse(text) {
  return text
    .split("\n\n")
    .filter(Boolean)
    .map((chunk) => {
      const [eventLine, dataLine] = chunk.split("\n");
      const data = JSON.parse(dataLine.replace(/^data: /, ""));
      assert.equal(eventLine, `event: ${data.type}`);
      return data;
    });
}

test("streams a scripted tool call, then a text turn, in Anthropic's event order", async () => {
  fake.reset();
  fake.script({ text: "Let me look.", toolUse: { name: "Bash", input: { command: "ls -la" } } }, { text: "Done." });
  const body = { model: "m", stream: true, tools, system: [{ type: "text", text: "SYS" }], messages: [{ role: "user", content: "hi CTX-1" }] };
  const res = await post("/v1/messages?beta=true", body);
  assert.match(res.headers.get("content-type"), /^text\/event-stream/);
  const events = parseSse(await res.text());
  assert.deepEqual(
    events.map((e) => e.type),
    [
      "message_start",
      "content_block_start",
      "content_block_delta",
      "content_block_delta",
      "content_block_stop",
      "content_block_start",
      "content_block_delta",
      "content_block_delta",
      "content_block_stop",
      "message_delta",
      "message_stop",
    ],
  );
  const text = events.filter((e) => e.delta?.type === "text_delta").map((e) => e.delta.text).join("");
  assert.equal(text, "Let me look.");
  const json = events.filter((e) => e.delta?.type === "input_json_delta").map((e) => e.delta.partial_json).join("");
  assert.deepEqual(JSON.parse(json), { command: "ls -la" });
  assert.equal(events[5].content_block.type, "tool_use");
  assert.equal(events[5].content_block.name, "Bash");
  assert.equal(events.at(-2).delta.stop_reason, "tool_use");

  const second = parseSse(await (await post("/v1/messages", body)).text());
  assert.equal(second.at(-2).delta.stop_reason, "end_turn");
  assert.equal(fake.pending(), 0);
  // Queue empty: the default text.
  const third = parseSse(await (await post("/v1/messages", body)).text());
  const thirdText = third.filter((e) => e.delta?.type === "text_delta").map((e) => e.delta.text).join("");
  assert.equal(thirdText, fake.defaultText);

  assert.equal(fake.mainRequests().length, 3);
  assert.equal(fake.requests[0].query, "?beta=true");
  const recorded = requestText(fake.requests[0].body);
  assert.equal(countOccurrences(recorded, "CTX-1"), 1);
  assert.equal(countOccurrences(recorded, "SYS"), 1);
});

test("side requests without tools do not use up scripted turns; non-streaming answers are JSON", async () => {
  fake.reset();
  fake.script({ text: "main answer" });
  const side = await (await post("/v1/messages", { model: "m", max_tokens: 1, messages: [{ role: "user", content: "title?" }] })).json();
  assert.equal(side.type, "message");
  assert.deepEqual(side.content, [{ type: "text", text: fake.defaultText }]);
  assert.equal(side.stop_reason, "end_turn");
  assert.equal(fake.pending(), 1);
  const main = await (await post("/v1/messages", { model: "m", tools, messages: [{ role: "user", content: "q" }] })).json();
  assert.deepEqual(main.content, [{ type: "text", text: "main answer" }]);

  const count = await (await post("/v1/messages/count_tokens", { model: "m", messages: [] })).json();
  assert.equal(typeof count.input_tokens, "number");
  const other = await fetch(`${fake.url}/api/anything`);
  assert.equal(other.status, 200);
  assert.equal(fake.requests.length, 4);
});
