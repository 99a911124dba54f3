"""What a user of the Python openai SDK does against the frontend (python-clients.test.ts runs it).

Usage: openai_client.py <base_url> <model>. Prints one JSON object with what each call returned;
an exception fails the script (exit status 1).
"""

import json
import sys

import openai

base_url, model = sys.argv[1], sys.argv[2]
client = openai.OpenAI(base_url=base_url, api_key="unused", max_retries=0)
out = {"sdk": openai.__version__}
messages = [{"role": "user", "content": "Hello!"}]

# vLLM's and Dynamo's extension fields travel as extra_body, as users send them.
raw = client.chat.completions.with_raw_response.create(
    model=model,
    messages=messages,
    max_tokens=8,
    extra_body={"min_tokens": 8, "top_k": 5, "nvext": {"ignore_eos": True}, "guided_choice": ["a"]},
    extra_headers={"x-request-id": "py-1"},
)
chat = raw.parse()
out["chat"] = {
    "finish_reason": chat.choices[0].finish_reason,
    "completion_tokens": chat.usage.completion_tokens,
    "request_id": raw.headers.get("x-request-id"),
    "ignored": raw.headers.get("x-dynamo-ignored-fields"),
}

chunks = with_usage = 0
for chunk in client.chat.completions.create(
    model=model,
    messages=messages,
    max_tokens=6,
    stream=True,
    stream_options={"include_usage": True},
    extra_body={"stream_options": {"include_usage": True, "continuous_usage_stats": True}},
):
    chunks += 1
    with_usage += chunk.usage is not None
out["stream"] = {"chunks": chunks, "with_usage": with_usage}

completion = client.completions.create(model=model, prompt="Once upon", max_tokens=5)
out["completion"] = {"tokens": completion.usage.completion_tokens}

response = client.responses.create(model=model, input="Hi", instructions="Be brief.", max_output_tokens=6)
out["responses"] = {"status": response.status, "output_tokens": response.usage.output_tokens}

# The mocker stops at max_output_tokens: the stream ends with response.incomplete, which the SDK's
# get_final_response() does not take (it wants response.completed), so the last event says how it ended.
with client.responses.stream(model=model, input=[{"role": "user", "content": "Hi"}], max_output_tokens=6) as stream:
    events = list(stream)
deltas = sum(1 for event in events if event.type == "response.output_text.delta")
last = events[-1]
out["responses_stream"] = {
    "deltas": deltas,
    "last": last.type,
    "status": last.response.status,
    "output_tokens": last.response.usage.output_tokens,
}

try:
    client.chat.completions.create(model="no-such-model", messages=messages)
    out["not_found"] = None
except openai.NotFoundError as err:
    out["not_found"] = err.status_code

print(json.dumps(out))
