// Run inside the README's several-processes example (see readme-local-cluster.test.ts): waits until
// the frontend lists both workers, asks for a chat completion with the openai SDK, prints one JSON line.
import OpenAI from 'openai';

const deadline = Date.now() + 90_000;
const get = async (url) => {
  try {
    const res = await fetch(url);
    return { status: res.status, body: await res.json().catch(() => null) };
  } catch {
    return { status: 0, body: null };
  }
};

let health;
let workers;
for (;;) {
  health = await get('http://127.0.0.1:8000/health');
  workers = [
    (await get('http://127.0.0.1:9090/health')).status,
    (await get('http://127.0.0.1:9091/health')).status,
  ];
  if ((health.body?.instances?.length ?? 0) >= 2 && workers.every((s) => s === 200)) break;
  if (Date.now() > deadline) {
    console.log(`probe: ${JSON.stringify({ error: 'timed out waiting for two workers', health, workers })}`);
    process.exit(1);
  }
  await new Promise((r) => setTimeout(r, 250));
}
const client = new OpenAI({ baseURL: 'http://127.0.0.1:8000/v1', apiKey: 'unused' });
const chat = await client.chat.completions.create({
  model: 'mocker',
  messages: [{ role: 'user', content: 'hi' }],
  max_tokens: 8,
});
console.log(
  `probe: ${JSON.stringify({
    instances: health.body.instances.map((i) => i.instance_id),
    workers,
    finishReason: chat.choices[0]?.finish_reason,
    completionTokens: chat.usage?.completion_tokens,
  })}`,
);
