"""The served app's settings that the browser cannot observe quickly."""

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
