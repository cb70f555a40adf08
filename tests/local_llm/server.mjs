// A small OpenAI-compatible HTTP wrapper around node-llama-cpp, for the opt-in
// integration test of local model endpoints (tests/test_local_runtime.py).
//
//   node server.mjs --model PATH.gguf --port 0 [--threads 1] [--ctx 4096]
//
// It prints one line `LISTENING <port>` on stdout once the model is loaded.
// Supported: GET /v1/models; POST /v1/chat/completions with messages, max_tokens
// (or max_completion_tokens), temperature, seed, and response_format of type
// json_schema, json_object (optionally with "schema", as llama.cpp's own server
// accepts) or text. Like llama.cpp's Python server, a json_schema response_format
// can be refused with HTTP 500 (--refuse-json-schema) so that the client's
// fallback is exercised. finish_reason is "length" when max_tokens cut the answer.
// One request is evaluated at a time (the runtime keeps only one sequence warm).
// GET /stats returns {"requests": N}: how many completions were asked for.
import http from "node:http";
import {getLlama, LlamaChatSession} from "node-llama-cpp";

const args = Object.fromEntries(
  process.argv.slice(2).reduce((acc, cur, i, all) => {
    if (cur.startsWith("--")) {
      const next = all[i + 1];
      acc.push([cur.slice(2), next && !next.startsWith("--") ? next : "true"]);
    }
    return acc;
  }, []),
);
const modelPath = args.model;
if (!modelPath) {
  console.error("usage: node server.mjs --model PATH.gguf [--port N]");
  process.exit(2);
}
const threads = Number(args.threads ?? 1);
const llama = await getLlama({gpu: false, build: "never", logLevel: "error"});
const model = await llama.loadModel({modelPath});
const context = await model.createContext({contextSize: Number(args.ctx ?? 4096), threads});
const sequence = context.getSequence();
const modelName = args.name ?? "smollm2-135m-instruct";
const refuseJsonSchema = args["refuse-json-schema"] === "true";
let stats = {requests: 0};
let queue = Promise.resolve();

function send(res, status, body) {
  const data = JSON.stringify(body);
  res.writeHead(status, {"content-type": "application/json", "content-length": Buffer.byteLength(data)});
  res.end(data);
}

async function grammarFor(format) {
  if (!format || format.type === "text") return undefined;
  if (format.type === "json_schema") return llama.createGrammarForJsonSchema(format.json_schema.schema);
  if (format.type === "json_object") {
    return format.schema ? llama.createGrammarForJsonSchema(format.schema) : llama.getGrammarFor("json");
  }
  throw new Error(`unsupported response_format type ${format.type}`);
}

async function complete(body) {
  const messages = body.messages ?? [];
  const system = messages.filter((m) => m.role === "system").map((m) => m.content).join("\n\n");
  const turns = messages.filter((m) => m.role !== "system");
  const last = turns.pop();
  if (!last || last.role !== "user") throw Object.assign(new Error("the last message must be from the user"), {status: 400});
  const history = [];
  if (system) history.push({type: "system", text: system});
  for (const m of turns) {
    history.push(m.role === "assistant" ? {type: "model", response: [m.content]} : {type: "user", text: m.content});
  }
  const session = new LlamaChatSession({contextSequence: sequence, autoDisposeSequence: false});
  try {
    session.setChatHistory(history);
    const grammar = await grammarFor(body.response_format);
    const maxTokens = body.max_completion_tokens ?? body.max_tokens ?? 512;
    const started = Date.now();
    const out = await session.promptWithMeta(last.content, {
      grammar, maxTokens, temperature: body.temperature ?? 0, seed: body.seed ?? 0,
    });
    const promptText = messages.map((m) => m.content).join("\n");
    const promptTokens = model.tokenize(promptText).length;
    const completionTokens = model.tokenize(out.responseText).length;
    return {
      id: `chatcmpl-local-${stats.requests}`,
      object: "chat.completion",
      created: Math.floor(started / 1000),
      model: modelName,
      choices: [{
        index: 0,
        message: {role: "assistant", content: out.responseText},
        finish_reason: out.stopReason === "maxTokens" ? "length" : "stop",
      }],
      usage: {prompt_tokens: promptTokens, completion_tokens: completionTokens,
              total_tokens: promptTokens + completionTokens},
    };
  } finally {
    session.dispose({disposeSequence: false});
  }
}

const server = http.createServer((req, res) => {
  let raw = "";
  req.on("data", (chunk) => { raw += chunk; });
  req.on("end", () => {
    if (req.method === "GET" && req.url === "/stats") return send(res, 200, stats);
    if (req.method === "GET" && req.url.endsWith("/models")) {
      return send(res, 200, {object: "list", data: [{id: modelName, object: "model", owned_by: "local"}]});
    }
    if (req.method !== "POST" || !req.url.endsWith("/chat/completions")) {
      return send(res, 404, {error: {message: `no route ${req.method} ${req.url}`}});
    }
    let body;
    try { body = JSON.parse(raw); } catch { return send(res, 400, {error: {message: "body is not JSON"}}); }
    if (refuseJsonSchema && body.response_format?.type === "json_schema") {
      return send(res, 500, {error: {message: "Internal error: response_format type json_schema is not supported"}});
    }
    stats.requests += 1;
    queue = queue.then(() => complete(body)).then(
      (answer) => send(res, 200, answer),
      (err) => send(res, err.status ?? 500, {error: {message: String(err.message ?? err)}}),
    );
  });
});
server.listen(Number(args.port ?? 0), "127.0.0.1", () => {
  console.log(`LISTENING ${server.address().port}`);
});
