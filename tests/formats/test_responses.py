"""OpenAI Responses API items (format `responses`): every item kind of the sample, segment by
segment; encrypted content never rendered; Alpaca rows not captured; bad items named."""

import orjson
import pytest

from conftest import SAMPLES
from pipeline import call, tag_lines, through_pipeline, write_jsonl

SAMPLE = SAMPLES / "responses_items.jsonl"
ENC = "gAAAAABpZmFrZS1lbmNyeXB0ZWQtcmVhc29uaW5nLWJsb2ItZm9yLWNhZy1zYW1wbGU="


def seg(s):
    out = (s["role"], s["gate"], s["rule"], s["text"])
    return out + ((s.get("name"), s.get("tool_call_id")) if s["role"] == "tool" else ())


@pytest.fixture
def recs(cag):
    return tag_lines(cag, SAMPLE)


def test_request_with_input_items(recs):
    r = recs[0]
    assert r["format"] == "responses" and r["id"] == "req_slugify_1" and r["meta"] == {"model": "gpt-5"}
    segs = r["segments"]
    assert segs[0]["role"] == "tools" and segs[0]["rule"] == "tools-field" and '"name":"get_file"' in segs[0]["text"]
    patch = ("*** Begin Patch\n*** Update File: src/widgets/slug.py\n@@\n-def slugify(title):\n-    return "
             "title.lower().replace(' ', '-')\n+import re\n+\n+def slugify(title):\n+    return re.sub(r'[^a-z0-9]+', "
             "'-', title.lower()).strip('-')\n*** End Patch")
    assert [seg(s) for s in segs[1:]] == [
        ("system", "context", "role-default",
         "You are a coding assistant working in the user's repository. Prefer small, tested changes."),
        ("user", "world", "role-default", "slugify() turns 'Hello, World!' into 'hello,-world!'. Fix it; the "
         "screenshot shows the failing test.<input_image>"),
        ("assistant", "agent", "role-default", "<think>**Reading the slug helper**\n\nI should look at how slugify is "
         "written before changing it.</think>\n" + call("get_file", {"path": "src/widgets/slug.py"})),
        ("tool", "world", "role-default", "def slugify(title):\n    return title.lower().replace(' ', '-')\n",
         "get_file", "call_get_1"),
        ("assistant", "agent", "role-default", "<redacted_thinking>\n" + call("apply_patch", patch)),
        ("tool", "world", "role-default", "Success. Updated the following files:\nM src/widgets/slug.py",
         "apply_patch", "call_patch_1"),
        ("assistant", "agent", "role-default", call("local_shell", {
            "type": "exec", "command": ["pytest", "-q", "tests/test_slug.py"], "working_directory": "/home/dev/widgets",
            "timeout_ms": 60000, "env": {}})),
        ("tool", "world", "role-default", "..                                                                       "
         "[100%]\n2 passed in 0.04s", "local_shell", "call_shell_1"),
        ("assistant", "agent", "role-default", call("web_search", {
            "type": "search", "query": "python slugify unicode normalize NFKD"})),
        ("tool", "world", "role-default", '[{"type":"url","url":"https://docs.python.org/3/library/unicodedata.html"}]',
         "web_search", "ws_01"),
        ("assistant", "agent", "role-default", "Fixed: slugify now collapses every run of non-alphanumerics into one "
         "'-', so 'Hello, World!' gives 'hello-world'. Both slug tests pass."),
        ("user", "world", "role-default", "Does it handle accented letters?"),
        ("developer", "context", "role-default", "Answer in two sentences at most."),
    ]


def test_response_object_output_is_one_turn_until_a_result(recs):
    r = recs[1]
    assert r["id"] == "resp_0a1b2c3d4e5f" and r["meta"]["object"] == "response" and "output" not in r["meta"]
    segs = r["segments"]
    assert segs[0]["role"] == "tools" and '"file_search"' in segs[0]["text"]
    assert [seg(s) for s in segs[1:]] == [
        ("system", "context", "role-default", "Answer questions about the uploaded sales report."),
        ("assistant", "agent", "role-default", "<think>**Finding the quarter totals**\n\nThe report should list "
         "revenue per quarter; I'll search it, then sum with Python.</think>\n<think>Search the report for quarterly "
         "revenue, then add Q1..Q4.</think>\n" + call("file_search", {"queries": ["quarterly revenue 2025"]})),
        ("tool", "world", "role-default", '[{"file_id":"file-7Hq","filename":"sales_2025.pdf","score":0.92,'
         '"text":"Q1 1.2M, Q2 1.5M, Q3 1.1M, Q4 1.9M"}]', "file_search", "fs_11"),
        ("assistant", "agent", "role-default", call("code_interpreter", {
            "code": "print(sum([1.2, 1.5, 1.1, 1.9]))", "container_id": "cntr_42"})),
        ("tool", "world", "role-default", "5.7", "code_interpreter", "ci_11"),
        ("assistant", "agent", "role-default", "Revenue for 2025 was 5.7M (Q4 was the strongest quarter at 1.9M)."),
    ]


def test_hosted_tools_mcp_computer_and_compaction(recs):
    segs = recs[2]["segments"]
    assert segs[0]["role"] == "tools" and '"server_label":"github"' in segs[0]["text"]
    issues = {"repo": "acme/widgets", "state": "open"}
    assert [seg(s) for s in segs[1:]] == [
        ("context", "context", "role-default", "<compaction encrypted>"),
        ("user", "world", "role-default", "List the open bugs in acme/widgets, chart them by label, and open the "
         "dashboard.<input_file labels.csv>"),
        ("tool", "world", "role-default", '{"server_label":"github","tools":[{"name":"list_issues","input_schema":'
         '{"type":"object","properties":{"repo":{"type":"string"},"state":{"type":"string"}}}}]}',
         "mcp_list_tools", "mcpl_01"),
        ("assistant", "agent", "role-default", call("list_issues", issues)),  # the approval request is the call
        ("tool", "world", "role-default", '{"approve":true,"reason":"read-only call"}', "list_issues", "mcpr_01"),
        # the approved mcp_call repeats the request's call: only its output is new
        ("tool", "world", "role-default", '[{"number":12,"labels":["bug","ui"]},{"number":15,"labels":["bug"]}]',
         "list_issues", "mcpr_01"),
        ("assistant", "agent", "role-default", call("get_issue", {"repo": "acme/widgets", "number": 99})),
        ("tool", "world", "role-default", "<error>issue 99 not found</error>", "get_issue", "mcp_02"),
        ("assistant", "agent", "role-default", call("image_generation", {
            "prompt": "A bar chart of open bugs by label: bug 2, ui 1"})),
        ("tool", "world", "role-default", "<image generated>", "image_generation", "ig_01"),
        ("assistant", "agent", "role-default", call("computer", {"type": "click", "x": 412, "y": 96, "button": "left"})),
        ("tool", "world", "role-default", "<computer_screenshot>", "computer", "call_cu_1"),
        ("assistant", "agent", "role-default", call("shell", {
            "commands": ["gh issue list -R acme/widgets --label bug --json number"], "timeout_ms": 30000})),
        ("tool", "world", "role-default", '[{"stdout":"[{\\"number\\":12},{\\"number\\":15}]\\n","stderr":"",'
         '"outcome":{"type":"exit","exit_code":0}}]', "shell", "call_sh_1"),
        ("assistant", "agent", "role-default", call("apply_patch", {
            "type": "create_file", "path": "docs/bugs.md", "diff": "+# Open bugs\n+- #12 (ui)\n+- #15\n"})),
        ("tool", "world", "role-default", "<error>docs/ does not exist</error>", "apply_patch", "call_ap_1"),
        ("assistant", "agent", "role-default", "I can't open the dashboard: it needs a login I don't have."),
    ]


def test_sample_through_the_pipeline_and_no_encrypted_content(cag, tmp_path):
    recs = through_pipeline(cag, tmp_path, SAMPLE)
    assert [r["format"] for r in recs] == ["responses"] * 3
    assert ENC in SAMPLE.read_text()  # the sample has it, the output never
    code, out, _ = cag("tag", SAMPLE)
    assert code == 0 and ENC.encode() not in out and b"base64" not in out
    code, out, _ = cag("show", SAMPLE)
    assert code == 0 and ENC.encode() not in out


@pytest.mark.parametrize("rec,fmt", [
    ({"instruction": "Translate", "input": "thanks", "output": "merci"}, "alpaca"),
    ({"instruction": "Translate", "input": "thanks", "output": "merci", "model": "gpt-4"}, "alpaca"),
    ({"model": "gpt-5", "input": "Say hi."}, "responses"),
    ({"instructions": "Be brief.", "input": [{"role": "user", "content": "hi"}]}, "responses"),
    ({"output": [{"type": "message", "role": "assistant", "content": [{"type": "output_text", "text": "hi"}]}]},
     "responses"),
])
def test_detection_by_shape(rec, fmt):
    from causal_agents.formats.adapters import detect_format

    assert detect_format(rec) == fmt


def test_string_input_and_string_content(cag, tmp_path):
    f = write_jsonl(tmp_path / "s.jsonl", [{"model": "gpt-5", "input": "Say hi.", "output": [
        {"type": "message", "role": "assistant", "content": "Hi."},
        {"type": "reasoning", "summary": []}]}])  # an empty reasoning item adds nothing
    code, out, err = cag("tag", f)
    assert code == 0, err
    (r,) = [orjson.loads(x) for x in out.splitlines()]
    assert [seg(s) for s in r["segments"]] == [("user", "world", "role-default", "Say hi."),
                                              ("assistant", "agent", "role-default", "Hi.")]


@pytest.mark.parametrize("item,msg", [
    ({"type": "frobnicate", "x": 1}, "input[1]': unknown item type {type: 'frobnicate', x}"),
    ("not an item", "input[1]': expected an item object, got str"),
    ({"type": "message", "role": "user", "content": [{"type": "input_video", "url": "v"}]},
     "input[1].content[0]': unknown content part {type: 'input_video', url}"),
    ({"type": "item_reference", "id": "msg_9"}, "input[1]': an item_reference ('msg_9') names an item stored by OpenAI"),
    ({"type": "function_call", "arguments": "{}", "call_id": "c"}, "input[1].name': expected a string, got null"),
    ({"type": "reasoning", "summary": [{"type": "summary_text"}]},
     "input[1].summary[0]': expected a {type: summary_text, text} part, got {type: 'summary_text'}"),
])
def test_bad_items_name_the_record_and_item(cag, tmp_path, item, msg):
    f = write_jsonl(tmp_path / "b.jsonl", [{"model": "gpt-5", "input": [{"role": "user", "content": "hi"}, item]}])
    code, _, err = cag("tag", f)
    assert code == 1 and f"{f}:1: field '{msg}" in err and err.count("\n") == 1, err
