"""Hostile uploads in a real browser: the same field / value / fix messages as edits, and the
model in use (and its map) stays."""

import json

import pytest

from model_core.examples import EXAMPLES_DIR

pytestmark = pytest.mark.ui

SPEC = json.loads((EXAMPLES_DIR / "three_shapes.json").read_text())
DEEP = 50_000


def _spec_text(**changes) -> bytes:
    return json.dumps({**SPEC, **changes}).encode()


#: file name, content, what the message must show: field (named as on screen), value, fix
UPLOADS = [
    ("deep.json",
     b'{"kind": "multivariate_normal", "data": ' + b"[" * DEEP + b"1" + b"]" * DEEP + b"}",
     ["upload", f"nested {DEEP + 1} deep", f"got {DEEP + 1} levels", "remove the extra brackets"]),
    ("twice.json",
     _spec_text()[:-1] + b', "data": [1, 2]}',
     ["data", "the key 'data' appears twice", "[1, 2]", "remove one of the two 'data'"]),
    ("huge.json",
     _spec_text(background=[1e300, 48.0]),
     ["b, bin SR1", "too large", "1e+300", "rescale the model"]),
]


def test_hostile_uploads_are_explained_and_keep_the_model(open_page):
    app = open_page()
    page = app.page
    before = app.map_sum()
    for name, content, shown in UPLOADS:
        page.locator("input[type='file']").set_input_files(files=[{
            "name": name, "mimeType": "application/json", "buffer": content}])
        alert = f".le-error:has-text('{name}')"  # this file's message, not the last one
        page.locator(alert).wait_for(state="visible")
        text = app.text(alert)
        for fragment in shown:
            assert fragment in text, (name, fragment, text)
        assert "Fix:" in text and len(text) < 800
        page.locator(".le-status", has_text="rejected").wait_for()
        assert f"in use: {SPEC['name']}" in app.text(".le-status")
        assert app.map_sum() == before
    assert app.console_errors == []
