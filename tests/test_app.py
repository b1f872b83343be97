"""The served app's settings that the browser cannot observe quickly."""

import pytest

import app


def test_closed_sessions_end_within_a_few_seconds():
    """Bokeh ignores misspelt options silently: its defaults (a session lives 15 s after
    its tab closes, checked every 17 s) would keep a closed tab's contour run going for
    up to half a minute."""
    server = app.serve(0, start=False)
    try:
        tornado = server._tornado
        assert tornado._unused_session_lifetime_milliseconds == app.SESSION_LIFETIME_MS == 5000
        assert tornado._check_unused_sessions_milliseconds == app.SESSION_CHECK_MS == 1000
    finally:
        server.stop()


@pytest.fixture
def served(monkeypatch):
    """What ``pn.serve`` is called with (nothing is served)."""
    calls = []
    monkeypatch.setattr(app.pn, "serve", lambda panel, **options: calls.append(options))
    yield calls
    app.pn.config.nthreads = None  # stops the thread pool a test asked for


def test_the_command_line_reaches_pn_serve(served):
    app.main(["--address", "0.0.0.0", "--port", "8080", "--num-procs", "4", "--num-threads",
              "2", "--admin", "--unused-session-lifetime", "60000", "--check-unused-sessions",
              "2000", "--allow-websocket-origin", "explorer.example.org",
              "--allow-websocket-origin", "lab.example.org:443", "--prefix", "/explorer",
              "--use-xheaders"])
    (options,) = served
    assert options["address"] == "0.0.0.0" and options["port"] == 8080
    assert options["num_procs"] == 4 and options["admin"] is True
    assert app.pn.config.nthreads == 2  # Panel takes the thread count from its config
    assert options["unused_session_lifetime_milliseconds"] == 60000
    assert options["check_unused_sessions_milliseconds"] == 2000
    assert options["websocket_origin"] == ["0.0.0.0:8080", "localhost:8080",
                                           "explorer.example.org", "lab.example.org:443"]
    assert options["prefix"] == "/explorer" and options["use_xheaders"] is True
    assert options["show"] is False


def test_the_defaults_serve_this_machine_with_short_lived_closed_sessions(served):
    app.main([])
    (options,) = served
    assert options["address"] == "127.0.0.1" and options["port"] == 5006
    assert options["num_procs"] == 1 and options["admin"] is False
    assert app.pn.config.nthreads is None
    assert options["unused_session_lifetime_milliseconds"] == app.SESSION_LIFETIME_MS
    assert options["websocket_origin"] == ["127.0.0.1:5006", "localhost:5006"]


@pytest.mark.parametrize("option, value, message", [
    ("--num-procs", "-1", "-1 is below 0"), ("--num-threads", "0", "0 is below 1"),
    ("--port", "web", "'web' is not a whole number"),
    ("--check-unused-sessions", "0", "0 is below 1")])
def test_bad_options_are_named(served, capsys, option, value, message):
    with pytest.raises(SystemExit):
        app.main([option, value])
    assert f"argument {option}: {message}" in capsys.readouterr().err and served == []
