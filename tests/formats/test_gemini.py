"""Gemini API / Vertex AI records (formats/adapters/gemini.py), block by block on the sample."""

import orjson
import pytest

from conftest import SAMPLES
from pipeline import through_pipeline, write_jsonl


def segs(rec):
    return [(s["role"], s["gate"], s["rule"], s.get("name"), s["text"]) for s in rec["segments"]]


def test_request_every_part_gates_block_by_block(cag, tmp_path):
    rest, snake = through_pipeline(cag, tmp_path, SAMPLES / "gemini_contents.jsonl")
    assert rest["format"] == snake["format"] == "gemini"
    assert segs(rest) == [
        ("tools", "context", "tools-field", None,
         '[{"name":"get_sales","description":"Monthly sales totals (thousands of units) for one region and year.",'
         '"parameters":{"type":"OBJECT","properties":{"region":{"type":"STRING"},"year":{"type":"INTEGER"}},'
         '"required":["region","year"]}},{"codeExecution":{}}]'),
        ("system", "context", "role-default", None,
         "You are a careful data analyst. Look figures up with the tools and show your working."),
        ("user", "world", "role-default", None,
         "Here is last quarter's dashboard. Which region grew fastest in 2024, and by how much?\n<inline_data image/png>"),
        ("model", "agent", "role-default", None,
         "<think>The dashboard shows the regions but not the monthly totals, so I need the raw figures for both.</think>\n"
         '<tool_call>{"name":"get_sales","arguments":{"region":"north","year":2024}}</tool_call>\n'
         '<tool_call>{"name":"get_sales","arguments":{"region":"south","year":2024}}</tool_call>'),
        ("tool", "world", "role-default", "get_sales", '{"jan":120,"dec":180}'),
        ("tool", "world", "role-default", "get_sales", "<error>region 'south' is archived; use 'south-2'</error>"),
        ("model", "agent", "role-default", None,
         "North went from 120 to 180. Computing the growth rate:\n```python\nprint(round((180 - 120) / 120 * 100, 1))\n```"),
        ("tool", "world", "role-default", "code_execution", "50.0\n"),
        ("model", "agent", "role-default", None,
         "North grew 50.0% in 2024. South's figures are archived under 'south-2', so I could not compare it yet."),
        ("user", "world", "role-default", None, "Check it against the annual report.\n<file_data application/pdf>"),
        ("model", "agent", "role-default", None,
         "The annual report agrees: North is the fastest-growing region, up 50% in 2024."),
    ]
    assert rest["meta"] == {"generationConfig": {"temperature": 0.2}}
    # the Python SDK's snake_case: system_instruction, function_declarations, function_call,
    # thought_signature, inline_data/mime_type, role function with function_response
    assert segs(snake) == [
        ("tools", "context", "tools-field", None,
         '[{"name":"run_shell","description":"Run one shell command and return its output.","parameters":'
         '{"type":"OBJECT","properties":{"command":{"type":"STRING"}},"required":["command"]}}]'),
        ("system", "context", "role-default", None, "You help with Linux servers. Run commands only through run_shell."),
        ("user", "world", "role-default", None,
         "The disk alert fired again. Here is the screenshot; how full is the root disk?\n<inline_data image/jpeg>"),
        ("model", "agent", "role-default", None,
         "<think>The screenshot is cropped; df will give the exact figure.</think>\n"
         '<tool_call>{"name":"run_shell","arguments":{"command":"df -h /"}}</tool_call>'),
        ("tool", "world", "role-default", "run_shell",
         '{"stdout":"Filesystem  Size  Used Avail Use% Mounted on\\n/dev/sda1    50G   46G  4.0G  92% /\\n",'
         '"exit_code":0}'),
        ("model", "agent", "role-default", None, "The root disk is 92% full (46G of 50G used, 4.0G free)."),
    ]
    assert snake["meta"] == {"generation_config": {"temperature": 0.0}}
    for r in (rest, snake):  # signatures and inline bytes never reach the text
        text = "".join(s["text"] for s in r["segments"])
        assert "CiQBVKhc" not in text and "EpUBCp" not in text and "iVBORw0K" not in text and "/9j/" not in text


def test_recorded_response_is_its_first_candidate(cag, tmp_path):
    (r,) = through_pipeline(cag, tmp_path, SAMPLES / "gemini_response.json")
    assert r["format"] == "gemini"
    assert segs(r) == [("model", "agent", "role-default", None, "Paris has the Eiffel Tower; Lyon is known for its food.")]
    assert r["meta"] == {"usageMetadata": {"promptTokenCount": 14, "candidatesTokenCount": 31, "totalTokenCount": 45},
                         "modelVersion": "gemini-2.5-flash", "responseId": "k3xnaPqBJ5vMz7IP4NyQwA4",
                         "alternative_candidates": 1}  # the second candidate is not read, only counted


def test_world_parts_inside_a_model_content_are_their_own_segments(cag, tmp_path):
    """A function response replayed in a model content (as Inspect AI's harness sends it) and a
    function content's text are the world's; a lone thoughtSignature and Inspect AI's redacted
    reasoning text never show their data."""
    f = write_jsonl(tmp_path / "g.jsonl", [{"contents": [
        {"parts": [{"text": "List the files."}]},  # no role: the API reads it as the user's
        {"role": "model", "parts": [
            {"text": '<think redacted="true" internal="eyJ4Ijo1fQ==">\nEswcCskcARFN\n</think>'},
            {"functionCall": {"name": "ls", "args": {}}, "thoughtSignature": "EswcCskcARFN"},
            {"thoughtSignature": "QUJDRA=="}]},
        {"role": "model", "parts": [{"functionResponse": {"name": "ls", "id": "c1", "response": {"output": "a.txt"}}},
                                    {"text": "There is one file, a.txt."}]},
        {"role": "function", "parts": [{"text": "(function log rotated)"}]}]}])
    (r,) = through_pipeline(cag, tmp_path, f)
    assert segs(r) == [
        ("user", "world", "role-default", None, "List the files."),
        ("model", "agent", "role-default", None, '<redacted_thinking>\n<tool_call>{"name":"ls","arguments":{}}</tool_call>'),
        ("tool", "world", "role-default", "ls", "a.txt"),
        ("model", "agent", "role-default", None, "There is one file, a.txt."),
        ("function", "world", "role-default", None, "(function log rotated)")]
    assert r["segments"][2]["tool_call_id"] == "c1"
    assert "EswcCskcARFN" not in orjson.dumps(r["segments"]).decode()


def test_failed_code_execution_is_flagged(cag, tmp_path):
    f = write_jsonl(tmp_path / "c.jsonl", [{"contents": [
        {"role": "user", "parts": [{"text": "Divide 1 by 0 in Python."}]},
        {"role": "model", "parts": [{"executable_code": {"language": "PYTHON", "code": "1/0"}},
                                    {"code_execution_result": {"outcome": "OUTCOME_FAILED",
                                                               "output": "ZeroDivisionError: division by zero"}}]}]}])
    (r,) = through_pipeline(cag, tmp_path, f)
    assert segs(r)[1:] == [("model", "agent", "role-default", None, "```python\n1/0\n```"),
                           ("tool", "world", "role-default", "code_execution",
                            "<error>ZeroDivisionError: division by zero</error>")]


def test_contents_are_not_read_as_another_format(cag, tmp_path):
    """`contents` with `parts` used to reach no reader (or, with --messages-key, an OpenAI
    reader that made empty segments): now it is Gemini's, by shape."""
    f = write_jsonl(tmp_path / "t.jsonl", [{"contents": [{"role": "user", "parts": [{"text": "hi"}]},
                                                          {"role": "model", "parts": [{"text": "hello"}]}]}])
    code, out, err = cag("tag", f)
    assert code == 0, err
    assert [(s["role"], s["gate"], s["text"]) for s in orjson.loads(out)["segments"]] == [
        ("user", "world", "hi"), ("model", "agent", "hello")]


@pytest.mark.parametrize("rec,msg", [
    ({"contents": [{"role": "user", "parts": [{"text": "a"}, {"widget": {"x": 1}}]}]},
     "field 'contents[0].parts[1]': unknown part {widget} (cag reads parts with text, functionCall"),
    ({"contents": [{"role": "assistant", "parts": [{"text": "a"}]}]},
     "field 'contents[0].role': expected 'user', 'model' or 'function', got 'assistant'"),
    ({"contents": [{"role": "model", "parts": [{"functionCall": {"args": {}}}]}]},
     "field 'contents[0].parts[0].functionCall': expected a functionCall {name, args}, got {args}"),
    ({"systemInstruction": {"parts": [{"inlineData": {"mimeType": "image/png", "data": "x"}}]}, "contents": []},
     "field 'systemInstruction.parts[0]': expected a text part {text} in the system instruction, got {inlineData}"),
    ({"candidates": [{"finishReason": "SAFETY", "index": 0}]},
     "field 'candidates[0].content': this candidate has no content parts (finishReason SAFETY)"),
    ({"method": "generateContentStream", "response": [{"candidates": [{"content": {"parts": [{"text": "x"}]}}]}]},
     "field 'response': this is a gemini-cli replay record ({method, response: [streamed chunks]}): API answers only"),
])
def test_bad_input_is_one_line_naming_file_line_field_and_shape(cag, tmp_path, rec, msg):
    f = write_jsonl(tmp_path / "bad.jsonl", [rec])
    code, _, err = cag("tag", f)
    assert code == 1 and f"{f}:1: {msg}" in err and err.count("\n") == 1, err


def test_contents_of_strings_is_not_gemini(cag, tmp_path):
    f = write_jsonl(tmp_path / "docs.jsonl", [{"contents": ["chapter one", "chapter two"]}])
    code, _, err = cag("tag", f)
    assert code == 1 and "cannot tell the format: this record has the keys contents" in err
