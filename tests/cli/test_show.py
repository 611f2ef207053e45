"""`cag show`: the token view, checked against the label builder; the HTML page parsed."""

from html.parser import HTMLParser

from conftest import SAMPLES


class Page(HTMLParser):
    """Collects every token span (classes, text) per transcript section, and the legend."""

    def __init__(self):
        super().__init__()
        self.sections, self.legend, self._tok, self._stack, self.scripts = [], [], None, [], 0

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        cls = (a.get("class") or "").split()
        self._stack.append(tag)
        if tag == "script" or (tag == "link" and a.get("rel") == "stylesheet"):
            self.scripts += 1
        if tag == "section":
            self.sections.append({"id": a["data-id"], "tokens": [], "summary": ""})
        if tag == "span" and "t" in cls:
            self._tok = [cls, ""]
        elif tag == "span" and self.sections == []:
            self.legend.append(cls)
        if tag == "p" and "summary" in cls:
            self._tok = ["summary", ""]

    def handle_endtag(self, tag):
        self._stack.pop()
        if self._tok is not None and tag in ("span", "p"):
            if self._tok[0] == "summary":
                self.sections[-1]["summary"] = self._tok[1]
            else:
                self.sections[-1]["tokens"].append(tuple(self._tok))
            self._tok = None

    def handle_data(self, data):
        if self._tok is not None:
            self._tok[1] += data


def test_html_marks_exactly_what_the_label_builder_supervises(cag, tmp_path, byte_tok):
    from causal_agents.transcripts.labels import CLASS_NAMES, encode
    from causal_agents.transcripts.provenance import TagOptions, tag_record

    out = tmp_path / "v.html"
    code, _, err = cag("show", SAMPLES / "openai_functions.jsonl", "--html", out)
    assert code == 0, err
    page = Page()
    page.feed(out.read_text(encoding="utf-8"))
    assert page.scripts == 0  # self-contained
    assert [c[0] for c in page.legend[:4]] == list(CLASS_NAMES)
    assert [s["id"] for s in page.sections] == ["openai_functions.jsonl:1", "openai_functions.jsonl:2"]
    rec = tag_record({"functions": [{"name": "get_current_weather", "description": "Current weather", "parameters": {
        "type": "object", "properties": {"location": {"type": "string"}}, "required": ["location"]}}],
        "messages": orjson_messages()}, {"file": "x", "line": 1}, TagOptions())
    enc = encode(rec, byte_tok)
    toks = page.sections[0]["tokens"]
    assert "".join(t for _, t in toks) == enc.text
    assert [c[1] for c, _ in toks] == [CLASS_NAMES[k] for k in enc.classes]
    assert [c[2] == "sup" for c, _ in toks] == enc.supervised("do").tolist()
    assert page.sections[0]["summary"] == f"{len(enc):,} tokens; --mask do supervises {int(enc.supervised('do').sum()):,}"


def orjson_messages():
    import orjson

    return orjson.loads((SAMPLES / "openai_functions.jsonl").read_bytes().splitlines()[0])["messages"]


def test_id_mask_and_n(cag, tmp_path):
    out = tmp_path / "v.html"
    assert cag("show", SAMPLES / "sharegpt.jsonl", "--id", "sg-002", "--mask", "obs", "--html", out)[0] == 0
    page = Page()
    page.feed(out.read_text())
    assert [s["id"] for s in page.sections] == ["sg-002"]
    sup = [c for c, _ in page.sections[0]["tokens"] if "sup" in c]
    assert any("agent" in c for c in sup)  # obs supervises the agent's turns
    code, out, err = cag("show", SAMPLES / "truth_dialogues.jsonl", "-n", "2")
    assert code == 0 and out.decode().count("\n== ") + out.decode().startswith("== ") == 2


def test_bad_input(cag, tmp_path):
    code, _, err = cag("show", SAMPLES / "sharegpt.jsonl", "--mask", "both")
    assert code == 2 and "expected obs or do" in err
    code, _, err = cag("show", SAMPLES / "sharegpt.jsonl", "--id", "nope")
    assert code == 1 and "no transcript has id 'nope'" in err
    code, _, err = cag("show", SAMPLES / "sharegpt.jsonl", "-n", "0")
    assert code == 2
    assert not (tmp_path / "x.html").exists()
    code, _, err = cag("show", SAMPLES / "sharegpt.jsonl", "--id", "nope", "--html", tmp_path / "x.html")
    assert code == 1 and not (tmp_path / "x.html").exists()


def test_loss_weights_are_marked_and_summed_as_training_weighs_them(cag, tmp_path, byte_tok):
    """A fractional loss_weight: supervised tokens drawn dashed, with their weight as a tooltip,
    and the summary's summed weight is the token weighting's own sum (what metrics.jsonl's
    supervised_weight adds up). A weight-0 message: struck through, never supervised."""
    import re

    from causal_agents.training.data import token_weights
    from causal_agents.transcripts.labels import encode
    from causal_agents.transcripts.tagging import iter_tagged

    out = tmp_path / "w.html"
    assert cag("show", SAMPLES / "parts_value.jsonl", "--mask", "obs", "--html", out)[0] == 0
    text = out.read_text(encoding="utf-8")
    page = Page()
    page.feed(text)
    (rec,) = list(iter_tagged([str(SAMPLES / "parts_value.jsonl")]))
    enc = encode(rec, byte_tok)
    seg_w = [rec["segments"][k]["weight"] for k in enc.segment]
    toks = page.sections[0]["tokens"]
    assert [("part" in c) for c, _ in toks] == [bool(s) and w == 0.5 for s, w in zip(enc.supervised("obs"), seg_w)]
    assert [("w0" in c) for c, _ in toks] == [w == 0 for w in seg_w]
    assert any("w0" in c for c, _ in toks) and not any("w0" in c and "sup" in c for c, _ in toks)
    assert text.count('title="loss weight 0.5"') == sum(w == 0.5 for w in seg_w)
    total = float(token_weights(enc, "obs", "token").sum())
    assert f"(summed loss weight {total:,.4g})" in page.sections[0]["summary"] and total < enc.supervised("obs").sum()
    assert re.search(r"supervised at a loss weight below 1", text) and "weight-0 message" in text
    code, shown, _ = cag("show", SAMPLES / "parts_value.jsonl", "--mask", "obs")
    assert code == 0 and f"(summed loss weight {total:,.4g})" in shown.decode()


def test_each_message_says_who_wrote_it_and_why(cag, tmp_path):
    out = tmp_path / "m.html"
    assert cag("show", SAMPLES / "multi_agent.jsonl", "-n", "1", "--self", "solver", "--self", "planner",
               "--html", out)[0] == 0
    import re

    titles = re.findall(r'<span class="seg" title="([^"]*)">', out.read_text(encoding="utf-8"))
    assert titles == ["system: context (rule role-default)", "user: world (rule role-default)",
                      "assistant, author planner: agent (rule self)", "assistant, author solver: agent (rule self)",
                      "assistant, author teacher: world (rule other-author)",
                      "assistant, author solver: agent (rule self)"]
