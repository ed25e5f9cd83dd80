// A v3 thread stream through the released @langchain/langgraph-sdk: start a run, collect its messages' text and
// the final values, then print them as JSON. Usage: node thread_stream.mjs <api url> <assistant> <transport>
import { Client } from "@langchain/langgraph-sdk";

const [apiUrl, assistantId, transport] = process.argv.slice(2);
const client = new Client({ apiUrl });
const thread = client.threads.stream({ assistantId, transport });
await thread.run.start({
  input: { messages: [{ role: "user", content: "hi" }] },
  config: { configurable: { tokens: 20 } },
});
const texts = [];
const reading = (async () => {
  for await (const message of thread.messages) texts.push(message.text);
})();
const output = await thread.output;
await reading;
const resolved = await Promise.all(texts);
await thread.close();
// `output` holds LangChain message objects: keep what the test compares.
const contents = (output?.messages ?? []).map((m) => m.content ?? m.kwargs?.content);
console.log(JSON.stringify({ threadId: thread.threadId, texts: resolved, contents }));
